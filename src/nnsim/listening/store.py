"""Durable answers of the listening test: one SQLite file in WAL mode.

Every submitted reference is committed at once, keyed by an anonymous participant id, so a
reload, a closed tab or a server restart loses nothing already submitted; submitting the same
reference twice keeps the first answer (idempotent).  The order in which references and
playlists were shown is drawn once per participant, stored with the participant and repeated in
every answer row (``position``), so that position effects can be studied.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nnsim.errors import InputError
from nnsim.files import atomic_write_text, check_file_target
from nnsim.listening.checks import is_check, participant_checks
from nnsim.settings import AttentionSettings

#: Columns of ``nnsim listening export`` (and of the simulated responses).
EXPORT_COLUMNS: tuple[str, ...] = (
    "participant",
    "reference",
    "reference_position",
    "space",
    "position",
    "rating",
    "skipped",
    "timestamp",
    "app_version",
    "study_hash",
)
#: Demographic questions (all optional) and their answers, as the paper reports them.
DEMOGRAPHICS: dict[str, tuple[str, ...]] = {
    "age_group": ("14-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "gender": ("female", "male", "non-binary", "another"),
    "musical_training": ("none", "some", "hobbyist", "professional"),
    "listening_hours": ("less than 1", "1-2", "2-4", "more than 4"),  # per day
}


def app_version() -> str:
    """nnsim's version, written into every answer row."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"nnsim {version('nnsim')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "nnsim (source)"


#: Every answer row in export order (one query for the store and the export).
_ROWS_QUERY = (
    f"SELECT {', '.join(EXPORT_COLUMNS)} FROM responses "
    "ORDER BY participant, reference_position, position"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    study_hash TEXT NOT NULL,
    plan TEXT NOT NULL,
    consented_at REAL NOT NULL,
    demographics TEXT,
    finished_at REAL,
    platform_id TEXT,
    completion_code TEXT
);
CREATE TABLE IF NOT EXISTS responses (
    participant TEXT NOT NULL REFERENCES participants(id),
    reference TEXT NOT NULL,
    reference_position INTEGER NOT NULL,
    space TEXT NOT NULL,
    position INTEGER NOT NULL,
    rating INTEGER CHECK (rating BETWEEN 0 AND 3),
    skipped INTEGER NOT NULL CHECK (skipped IN (0, 1)),
    timestamp REAL NOT NULL,
    app_version TEXT NOT NULL,
    study_hash TEXT NOT NULL,
    PRIMARY KEY (participant, reference, space)
);
"""


@dataclass(frozen=True)
class Participant:
    """One anonymous participant: id, form token and the order shown to them.

    ``plan`` is ``[(reference, [space, ...]), ...]``: references in the order shown, each with
    its playlists in the order shown (position 1 first).
    """

    id: str
    token: str
    plan: list[tuple[str, list[str]]]
    demographics: dict[str, str] | None
    finished: bool
    platform_id: str | None = None
    completion_code: str | None = None


def draw_plan(
    study: Mapping[str, Mapping[str, Sequence[str]]],
    rng: np.random.Generator,
    *,
    per_participant: int | None = None,
    number: int = 0,
):
    """The references a participant rates, in order, and per reference its playlists' order.

    Parameters
    ----------
    study : mapping
        ``{reference: {space: [track ids]}}``.
    rng : numpy.random.Generator
        The participant's random stream.
    per_participant : int, optional
        Rate only this many references (``listening.app.per_participant``): participant
        ``number`` gets row ``number mod R`` of a cyclic Latin square over the R references
        (sorted), cut to its first ``per_participant`` (so over R participants every
        reference is rated equally often and at every position equally often).  None: every
        reference, in a random order.
    number : int
        How many participants came before (the row of the Latin square).

    Returns
    -------
    list of (str, list of str)
        ``[(reference, [space, ...]), ...]`` in the order to show.
    """
    refs = sorted(study)
    if per_participant is None or per_participant >= len(refs):
        order = [refs[i] for i in rng.permutation(len(refs))]
    else:
        k = number % len(refs)
        order = (refs[k:] + refs[:k])[: int(per_participant)]
    plan = []
    for r in order:
        spaces = sorted(study[r])
        plan.append((r, [spaces[i] for i in rng.permutation(len(spaces))]))
    return plan


class Store:
    """The responses database (SQLite, WAL mode; one connection per call, thread-safe).

    Parameters
    ----------
    path : pathlib.Path
        The database file (created with its folder when missing).
    study_hash : str
        sha256 of the study file served; a database holding answers to another study is
        refused (answers of two studies must not mix).
    app_version : str
        Written into every answer row.
    """

    def __init__(self, path: Path, study_hash: str, app_version: str) -> None:
        self.path = Path(path)
        self.study_hash = study_hash
        self.app_version = app_version
        check_file_target(self.path, "--db", "responses.sqlite")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._db() as db:
                tables = {
                    r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if tables and "responses" not in tables:
                    raise InputError(
                        f"--db {self.path}: an SQLite database of something else (tables "
                        f"{', '.join(sorted(tables))}); it was left as it is. Give the "
                        "study's database, or a new file name (--db or listening.app.db)."
                    )
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                # databases of earlier versions: add the new columns, keep every answer
                cols = {r[1] for r in db.execute("PRAGMA table_info(participants)")}
                for col in ("platform_id", "completion_code"):
                    if col not in cols:
                        db.execute(f"ALTER TABLE participants ADD COLUMN {col} TEXT")
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('secret', ?)", (secrets.token_hex(32),)
                )
                other = db.execute(
                    "SELECT DISTINCT study_hash FROM participants WHERE study_hash != ?",
                    (study_hash,),
                ).fetchall()
        except sqlite3.DatabaseError as exc:  # a text file, another program's database, ...
            raise InputError(
                f"--db {self.path}: not a responses database of nnsim ({exc}); it was left "
                "as it is. Give the study's database, or a new file name (--db or "
                "listening.app.db)."
            ) from None
        if other:
            raise InputError(
                f"{self.path} holds answers to another study file (sha256 "
                f"{other[0][0][:12]}…, this one is {study_hash[:12]}…); answers of two studies "
                "must not mix. Serve the other study file again, or give this study its own "
                "database (--db or listening.app.db)."
            )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    @property
    def secret(self) -> str:
        """A per-database secret (signs the participant cookie; survives restarts)."""
        with self._db() as db:
            return str(db.execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0])

    def new_participant(
        self,
        study: Mapping[str, Mapping[str, Sequence[str]]],
        *,
        platform_id: str | None = None,
        completion_code: str | None = None,
        per_participant: int | None = None,
    ) -> Participant:
        """Create a participant (after consent) with a fresh random order.

        Parameters
        ----------
        study : mapping
            ``{reference: {space: [track, ...]}}``.
        platform_id : str, optional
            The crowd platform's id of the participant (from the entry address).
        completion_code : str, optional
            The study's completion code; None: a random one for this participant.
        per_participant : int, optional
            References per participant, from a balanced design (:func:`draw_plan`).
        """
        pid = secrets.token_hex(8)
        token = secrets.token_urlsafe(24)
        code = completion_code or secrets.token_hex(4).upper()
        seed = int.from_bytes(secrets.token_bytes(8), "little")
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # the count and the insert: one participant at a time
            try:
                number = db.execute(
                    "SELECT COUNT(*) FROM participants WHERE study_hash=?", (self.study_hash,)
                ).fetchone()[0]
                plan = draw_plan(
                    study,
                    np.random.default_rng(seed),
                    per_participant=per_participant,
                    number=int(number),
                )
                db.execute(
                    "INSERT INTO participants (id, token, study_hash, plan, consented_at, "
                    "platform_id, completion_code) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (pid, token, self.study_hash, json.dumps(plan), time.time(), platform_id, code),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Participant(pid, token, plan, None, False, platform_id, code)

    def participant(self, pid: str) -> Participant | None:
        """The participant with this id, or ``None``."""
        return self._find("id", pid)

    def by_platform_id(self, platform_id: str) -> Participant | None:
        """The participant who came with this platform id (the first), or ``None``."""
        return self._find("platform_id", platform_id)

    def _find(self, column: str, value: str) -> Participant | None:
        with self._db() as db:
            row = db.execute(
                "SELECT id, token, plan, demographics, finished_at, platform_id, "
                f"completion_code FROM participants WHERE {column}=? ORDER BY consented_at "
                "LIMIT 1",
                (value,),
            ).fetchone()
        if row is None:
            return None
        plan = [(r, list(s)) for r, s in json.loads(row[2])]
        demo = json.loads(row[3]) if row[3] else None
        return Participant(row[0], row[1], plan, demo, row[4] is not None, row[5], row[6])

    def skipped(self, pid: str) -> set[str]:
        """References this participant skipped."""
        with self._db() as db:
            rows = db.execute(
                "SELECT DISTINCT reference FROM responses WHERE participant=? AND skipped=1",
                (pid,),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def answered(self, pid: str) -> set[str]:
        """References this participant has submitted."""
        with self._db() as db:
            rows = db.execute(
                "SELECT DISTINCT reference FROM responses WHERE participant=?", (pid,)
            ).fetchall()
        return {r[0] for r in rows}

    def submit(
        self,
        p: Participant,
        reference: str,
        ratings: Mapping[str, int] | None,
    ) -> bool:
        """Save one reference's answers in one transaction (``None``: skipped).

        Returns ``False`` (and changes nothing) when this reference was already submitted.
        Validation of ``reference``/``ratings`` against the plan is the caller's.
        """
        ref_pos = [r for r, _ in p.plan].index(reference) + 1
        spaces = dict(p.plan)[reference]
        now = time.time()
        rows = [
            (
                p.id,
                reference,
                ref_pos,
                s,
                i + 1,
                None if ratings is None else int(ratings[s]),
                int(ratings is None),
                now,
                self.app_version,
                self.study_hash,
            )
            for i, s in enumerate(spaces)
        ]
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                done = db.execute(
                    "SELECT 1 FROM responses WHERE participant=? AND reference=? LIMIT 1",
                    (p.id, reference),
                ).fetchone()
                if done is None:
                    db.executemany(
                        "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return done is None

    def finish(self, pid: str, demographics: Mapping[str, str]) -> None:
        """Store the (optional) demographics and mark the participant finished (first wins)."""
        with self._db() as db:
            db.execute(
                "UPDATE participants SET demographics=?, finished_at=? "
                "WHERE id=? AND finished_at IS NULL",
                (json.dumps(dict(demographics)), time.time(), pid),
            )

    def rows(self) -> list[dict[str, Any]]:
        """Every answer row, in the columns of :data:`EXPORT_COLUMNS`."""
        with self._db() as db:
            cur = db.execute(_ROWS_QUERY)
            return [dict(zip(EXPORT_COLUMNS, r, strict=True)) for r in cur.fetchall()]


def open_existing(path: Path) -> sqlite3.Connection:
    """Open a responses database for reading (clear error when it is not one)."""
    if not Path(path).is_file():
        raise InputError(
            f"{path}: no responses database here; serve the study first "
            "(nnsim listening serve) or give --db."
        )
    con = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        con.execute("SELECT 1 FROM responses LIMIT 1")
    except sqlite3.DatabaseError as exc:
        con.close()
        raise InputError(f"{path}: not a responses database of nnsim ({exc}).") from None
    return con


def export_csv(
    db_path: Path,
    out: Path,
    *,
    demographics_out: Path | None = None,
    attention: AttentionSettings | None = None,
) -> int:
    """Write every answer as CSV (:data:`EXPORT_COLUMNS`); returns the number of rows.

    ``timestamp`` is ISO 8601 UTC.  With ``demographics_out`` the per-participant answers go
    to a second CSV: demographics, whether they finished, their crowd platform id, their
    completion code and, with ``attention``, how many attention checks they rated and failed.
    """
    con = open_existing(db_path)
    try:
        rows = con.execute(_ROWS_QUERY).fetchall()
        cols = {r[1] for r in con.execute("PRAGMA table_info(participants)")}
        extra = [c if c in cols else "NULL" for c in ("platform_id", "completion_code")]
        demo = con.execute(
            f"SELECT id, demographics, finished_at, {', '.join(extra)} FROM participants"
        ).fetchall()
    finally:
        con.close()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    ts = EXPORT_COLUMNS.index("timestamp")
    for r in rows:
        r = list(r)
        r[ts] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r[ts]))
        w.writerow(["" if v is None else v for v in r])
    atomic_write_text(Path(out), buf.getvalue())
    if demographics_out is not None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        checks: dict[str, tuple[int, int]] = {}
        if attention is not None:
            frame = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
            frame = frame[frame["space"].map(is_check) & (frame["skipped"] == 0)]
            table = participant_checks(
                frame, pass_same=attention.pass_same, pass_far=attention.pass_far
            )
            checks = {
                str(p): (int(n), int(f))
                for p, n, f in zip(
                    table["participant"], table["checks"], table["failed"], strict=True
                )
            }
        head = ["participant", "finished", *DEMOGRAPHICS, "platform_id", "completion_code"]
        w.writerow(head + (["checks", "checks_failed"] if attention is not None else []))
        for pid, d, fin, platform, code in sorted(demo, key=lambda r: r[0]):
            answers = json.loads(d) if d else {}
            w.writerow(
                [
                    pid,
                    int(fin is not None),
                    *(answers.get(k, "") for k in DEMOGRAPHICS),
                    platform or "",
                    code or "",
                ]
                + (list(checks.get(pid, (0, 0))) if attention is not None else [])
            )
        atomic_write_text(Path(demographics_out), buf.getvalue())
    return len(rows)
