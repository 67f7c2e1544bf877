"""The listening test in the browser (Flask, server-rendered forms; no JavaScript needed).

Pages: welcome and consent (``/``) → one page per reference track in the participant's own
random order (``/next``, answers posted to ``/submit``) → optional demographics → thanks.
Audio is served from ``/audio/<track id>`` for the tracks of the study file only; a player
starts at ``start`` seconds and stops after ``play`` seconds (an HTML media fragment, so the
native controls let a participant hear more).

Why Flask: it is already installed with MLflow (no new server stack), its server-rendered
forms work with any browser and keep all state on the server (SQLite), and Werkzeug serves
byte ranges, which a browser needs to start a player at 0:30.
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask, abort, redirect, render_template_string, request, send_file, session
from werkzeug.exceptions import HTTPException

from nnsim.listening.store import DEMOGRAPHICS, Participant, Store
from nnsim.listening.study import Study
from nnsim.listening.templates import (
    DEMOGRAPHICS_PAGE,
    ERROR_PAGE,
    REFERENCE_PAGE,
    THANKS_PAGE,
    WELCOME_PAGE,
)
from nnsim.settings import ListeningAppSettings

log = logging.getLogger("nnsim.listening")

#: The pages' one script (pauses other players, keeps unsubmitted ratings over a reload).
_SCRIPT = Path(__file__).with_name("assets") / "listening.js"

#: The 4-point scale without a neutral option (the paper's).
#: The paper's 4-point scale (0..3), no neutral option.
SCALE: tuple[str, ...] = ("not similar", "somewhat similar", "quite similar", "very similar")


@dataclass(frozen=True)
class Player:
    """Where a player starts and how long it plays by default (seconds)."""

    start: float
    play: float


def clip_window(duration: float | None, player: Player) -> tuple[float, float]:
    """The (start, end) of a track's default excerpt.

    ``player.start`` (0:30) unless the track is too short to play ``player.play`` seconds from
    there; then the last ``player.play`` seconds (or the whole track).
    """
    if duration is None or duration <= 0:
        return player.start, player.start + player.play
    start = min(player.start, max(0.0, duration - player.play))
    return start, min(duration, start + player.play)


def other_windows(duration: float | None, player: Player, n: int) -> list[tuple[float, float]]:
    """``n`` excerpts of a track other than its default one (the ``same`` attention check).

    Starts evenly spaced over the track, the one nearest the default excerpt left out; a
    track too short (or of unknown length) repeats its default excerpt.
    """
    start, end = clip_window(duration, player)
    length = end - start
    if duration is None or duration < 2 * length or n < 1:
        return [(start, end)] * n
    step = (duration - length) / n
    starts = [i * step for i in range(n + 1)]
    starts.remove(min(starts, key=lambda c: abs(c - start)))
    return [(round(c, 1), round(c + length, 1)) for c in sorted(starts)]


_PLATFORM_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class NewSessionLimit:
    """At most ``per_minute`` new participations per network address in any 60 s (0: none)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = int(per_minute)
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> bool:
        """Whether ``address`` may start one more participation now (counts it when so)."""
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._seen.setdefault(address, collections.deque())
            while q and now - q[0] >= 60.0:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


def create_app(
    study: Study,
    store: Store,
    audio: Mapping[str, Path],
    durations: Mapping[str, float | None],
    player: Player,
    *,
    title: str,
    crowd: ListeningAppSettings | None = None,
    secure_cookies: bool = False,
) -> Flask:
    """The web app over one study and one responses store.

    Parameters
    ----------
    study : Study
        The loaded, checked study file.
    store : Store
        Where answers go (its ``study_hash`` is the study's).
    audio : mapping
        ``{track id: file}`` for every track of the study (nothing else is served).
    durations : mapping
        ``{track id: seconds or None}``; sets each player's excerpt.
    player : Player
        Default excerpt (start, length).
    title : str
        Page title.
    crowd : ListeningAppSettings, optional
        The crowd settings of ``listening.app`` (platform id parameter, completion code and
        address, new participations per address and minute); None: none of them.
    secure_cookies : bool
        Send the participant cookie over HTTPS only (set when served on a non-loopback host).
    """
    app = Flask("nnsim.listening", static_folder=None, template_folder=None)
    app.config.update(
        SECRET_KEY=store.secret,
        SESSION_COOKIE_NAME="nnsim_participant",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=_dt.timedelta(days=90),
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_SECURE=bool(secure_cookies),
    )
    platform_param = crowd.platform_param if crowd else None
    limit = NewSessionLimit(crowd.new_per_minute if crowd else 0)
    per = crowd.per_participant if crowd else None
    n_all = len(study.study)
    n_refs = min(per, n_all) if per else n_all  # references one participant rates
    # the time the audio takes: every reference and playlist track played once for `play` s
    # (a participant of a balanced subset: the mean reference's time, times how many)
    players = sum(1 + sum(len(pl) for pl in lists.values()) for lists in study.study.values())
    minutes = max(1, round(players * n_refs / n_all * player.play / 60))

    def page(template: str, status: int = 200, **kw: Any) -> tuple[str, int]:
        return render_template_string(template, title=title, **kw), status

    def current() -> Participant | None:
        pid = session.get("pid")
        return store.participant(pid) if isinstance(pid, str) else None

    def checked_participant() -> Participant:
        """The participant of a POST: known id and matching form token, else 403."""
        p = current()
        if p is None:
            abort(403, "unknown participant: start from the welcome page (consent first).")
        if not secrets.compare_digest(request.form.get("token", ""), p.token):
            abort(403, "this form does not belong to your session (token mismatch); reload it.")
        return p

    @app.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> tuple[str, int]:
        return page(ERROR_PAGE, exc.code or 500, code=exc.code, message=exc.description)

    @app.after_request
    def _headers(resp):  # type: ignore[no-untyped-def]
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; media-src 'self'; script-src 'self'; style-src 'unsafe-inline'; "
            "form-action 'self'"
        )
        return resp

    def platform_id(value: str | None) -> str | None:
        if not platform_param or not value:
            return None
        if not _PLATFORM_ID.fullmatch(value):
            abort(
                400,
                f"the address gives {platform_param}={value[:40]!r}, which is not a platform "
                "id (letters, digits, '_', '.', '-'; at most 128): open the study from the "
                "platform's link.",
            )
        return value

    def resume(p: Participant) -> Any:
        session.permanent = True
        session["pid"] = p.id
        return redirect("/next", 303)

    @app.get("/")
    def welcome():  # type: ignore[no-untyped-def]
        if current() is not None:
            return redirect("/next", 303)
        pfid = platform_id(request.args.get(platform_param or "", None))
        if pfid and (known := store.by_platform_id(pfid)) is not None:
            return resume(known)  # the same platform id again (another browser): carry on
        return page(
            WELCOME_PAGE,
            n_refs=n_refs,
            synthetic=study.synthetic,
            minutes=minutes,
            player=player,
            platform_id=pfid,
        )

    @app.post("/consent")
    def consent():  # type: ignore[no-untyped-def]
        if request.form.get("consent") != "yes":
            abort(400, "please tick the consent box to take part (nothing is recorded without).")
        if current() is None:
            pfid = platform_id(request.form.get("platform_id"))
            if pfid and (known := store.by_platform_id(pfid)) is not None:
                return resume(known)
            if not limit.allow(request.remote_addr or "?"):
                abort(
                    429,
                    "too many new participations from your network address in the last "
                    "minute; please wait a minute and reload this page.",
                )
            p = store.new_participant(
                study.study,
                platform_id=pfid,
                completion_code=crowd.completion_code if crowd else None,
                per_participant=per,
            )
            session.permanent = True
            session["pid"] = p.id
            log.info("participant %s consented", p.id)
        return redirect("/next", 303)

    def reference_page(
        p: Participant,
        step: int,
        ref: str,
        spaces: list[str],
        *,
        given: Mapping[int, int] | None = None,
        missing: list[int] | None = None,
        status: int = 200,
    ) -> tuple[str, int]:
        window = clip_window(durations.get(ref), player)

        def tracks(s: str) -> list[dict[str, Any]]:
            ids = study.study[ref][s]
            if s == "check:same":  # the reference itself, at other places of the track
                spots = other_windows(durations.get(ref), player, len(ids))
                return [{"id": t, "window": w} for t, w in zip(ids, spots, strict=True)]
            return [{"id": t, "window": clip_window(durations.get(t), player)} for t in ids]

        lists = [{"space": s, "position": j + 1, "tracks": tracks(s)} for j, s in enumerate(spaces)]
        return page(
            REFERENCE_PAGE,
            status,
            step=step,
            n_refs=len(p.plan),
            done=len(store.answered(p.id)),
            ref=ref,
            window=window,
            lists=lists,
            scale=list(enumerate(SCALE)),
            token=p.token,
            player=player,
            given=dict(given or {}),
            missing=list(missing or []),
        )

    @app.get("/next")
    def next_page():  # type: ignore[no-untyped-def]
        p = current()
        if p is None:
            return redirect("/", 303)
        done = store.answered(p.id)
        for i, (ref, spaces) in enumerate(p.plan):
            if ref not in done:
                return reference_page(p, i + 1, ref, spaces)
        if not p.finished:
            return page(
                DEMOGRAPHICS_PAGE, questions=DEMOGRAPHICS, token=p.token, n_refs=len(p.plan)
            )
        url = crowd.completion_url if crowd else None
        return page(
            THANKS_PAGE,
            n_refs=len(p.plan),
            n_skipped=len(store.skipped(p.id)),
            code=p.completion_code,
            completion_url=url.replace("{code}", quote(p.completion_code or "", safe=""))
            if url
            else None,
        )

    @app.post("/submit")
    def submit():  # type: ignore[no-untyped-def]
        p = checked_participant()
        ref = request.form.get("reference", "")
        plan = dict(p.plan)
        if ref not in plan:
            abort(400, f"unknown reference {ref!r}: not in this study.")
        spaces = plan[ref]
        # Fields are rating-<position shown>: the page never names the spaces (a blind test).
        fields = {f"rating-{j + 1}": s for j, s in enumerate(spaces)}
        unknown = sorted(k for k in request.form if k.startswith("rating-") and k not in fields)
        if unknown:
            abort(400, f"unknown playlist(s) {', '.join(unknown)} for reference {ref!r}.")
        for field in fields:
            v = request.form.get(field, "")
            if v not in {"", "0", "1", "2", "3"}:
                abort(400, f"rating {v!r} for playlist {field[7:]} is not one of 0, 1, 2, 3.")
        # the skip button (or the skip field of earlier pages): the reference is skipped and
        # its partial ratings, if any, are not kept (the button says so)
        if request.form.get("action") == "skip" or request.form.get("skip") == "yes":
            ratings = None
        else:
            given = {j + 1: int(v) for j, f in enumerate(fields) if (v := request.form.get(f, ""))}
            missing = [j + 1 for j in range(len(spaces)) if j + 1 not in given]
            if missing:  # the same page again, with what was given and what is missing
                step = 1 + [r for r, _ in p.plan].index(ref)
                return reference_page(
                    p, step, ref, spaces, given=given, missing=missing, status=400
                )
            ratings = {fields[f"rating-{j}"]: v for j, v in given.items()}
        if not store.submit(p, ref, ratings):
            log.info("participant %s: reference %s submitted again (kept the first)", p.id, ref)
        return redirect("/next", 303)

    @app.get("/static/listening.js")
    def script():  # type: ignore[no-untyped-def]
        return send_file(_SCRIPT, mimetype="text/javascript", conditional=True, max_age=300)

    @app.post("/demographics")
    def demographics():  # type: ignore[no-untyped-def]
        p = checked_participant()
        if len(store.answered(p.id)) < len(p.plan):
            abort(409, "the demographic questions come after the last reference.")
        answers = {}
        for key, options in DEMOGRAPHICS.items():
            v = request.form.get(key, "")
            if v and v not in options:
                abort(400, f"{key}: {v!r} is not one of the offered answers.")
            answers[key] = v
        store.finish(p.id, answers)
        return redirect("/next", 303)

    @app.get("/audio/<path:track>")
    def audio_file(track: str):  # type: ignore[no-untyped-def]
        path = audio.get(track)
        if path is None:
            abort(404, "no such track in this study.")
        return send_file(path, conditional=True, max_age=3600)

    return app
