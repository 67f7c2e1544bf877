"""Start the listening test on a study file: checks first, then a threaded server on loopback."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import soundfile as sf

from nnsim.errors import ConfigError, InputError
from nnsim.listening.app import Player, create_app
from nnsim.listening.store import Store, app_version
from nnsim.listening.study import Study, audio_files, check_spaces, load_study
from nnsim.net import check_host, is_loopback
from nnsim.settings import Settings

log = logging.getLogger("nnsim.listening")


def durations(files: Mapping[str, Path]) -> dict[str, float | None]:
    """Length of each audio file in seconds (``None`` when the header cannot tell)."""
    out: dict[str, float | None] = {}
    for t, f in files.items():
        try:
            out[t] = float(sf.info(str(f)).duration)
        except (RuntimeError, sf.LibsndfileError):
            out[t] = None
    return out


def prepare(
    cfg: Settings, *, study_path: str | None, db: str | None, audio_dir: str | None
) -> tuple[Study, Store, dict[str, Path]]:
    """Load and check everything the app serves (errors name the file and the fix).

    Parameters
    ----------
    cfg : mapping
        The pipeline's settings (``params.yaml``).
    study_path, db, audio_dir : str or None
        Overrides of the study file (default: the ``playlists`` stage's), the responses
        database (``listening.app.db``) and the audio folder (``data.audio_dir``).
    """
    lcfg = cfg.listening
    results = Path(cfg.paths.results_dir)
    study = load_study(study_path or results / "listening" / "study.json")
    sim_csv = results / "compare" / str(lcfg.distance) / "similarity.csv"
    if sim_csv.is_file():
        import pandas as pd

        sim = pd.read_csv(sim_csv, usecols=["src", "dst"])
        check_spaces(study, set(sim["src"]) | set(sim["dst"]), str(sim_csv))
    else:
        log.warning(
            "%s not found: the study's spaces are not checked against a comparison", sim_csv
        )
    audio_root = audio_dir or cfg.data.audio_dir
    if not audio_root:
        raise InputError("no audio folder: set data.audio_dir or pass --audio-dir.")
    files = audio_files(
        study.tracks,
        audio_root,
        metadata=None if audio_dir else cfg.data.tracks,
        extensions=cfg.audio.extensions,
        study_path=study.path,
    )
    store = Store(Path(db or lcfg.app.db), study.sha256, app_version())
    return study, store, files


def build_app(
    cfg: Settings,
    *,
    study_path: str | None,
    db: str | None,
    audio_dir: str | None,
    host: str,
) -> tuple[Any, Study, Store]:
    """The checked study, its store and the app over them (for any WSGI server)."""
    acfg = cfg.listening.app
    study, store, files = prepare(cfg, study_path=study_path, db=db, audio_dir=audio_dir)
    app = create_app(
        study,
        store,
        files,
        durations(files),
        Player(float(acfg.start), float(acfg.play)),
        title=str(acfg.title),
        crowd=acfg,
        secure_cookies=not is_loopback(host),  # off loopback the study must be behind HTTPS
    )
    return app, study, store


def wsgi() -> Any:
    """The app for a production WSGI server, e.g.
    ``gunicorn -k gthread -w 1 --threads 16 -b 127.0.0.1:8765 'nnsim.listening.serve:wsgi()'``.

    Reads ``NNSIM_PARAMS`` (default ``params.yaml``) and optionally ``NNSIM_STUDY``,
    ``NNSIM_DB``, ``NNSIM_AUDIO_DIR`` and ``NNSIM_PUBLIC_HOST`` (the address participants use,
    for the cookie's Secure flag; default loopback).
    """
    import os

    from nnsim.config import load_params

    cfg = load_params(os.environ.get("NNSIM_PARAMS", "params.yaml"))
    app, _, _ = build_app(
        cfg,
        study_path=os.environ.get("NNSIM_STUDY") or None,
        db=os.environ.get("NNSIM_DB") or None,
        audio_dir=os.environ.get("NNSIM_AUDIO_DIR") or None,
        host=os.environ.get("NNSIM_PUBLIC_HOST", "127.0.0.1"),
    )
    return app


def serve(
    cfg: Settings,
    *,
    study_path: str | None = None,
    db: str | None = None,
    audio_dir: str | None = None,
    host: str | None = None,
    port: int | None = None,
    allow_remote: bool = False,
) -> None:
    """Serve the study until Ctrl-C (threaded Werkzeug server)."""
    from werkzeug.serving import make_server

    acfg = cfg.listening.app
    host = host or str(acfg.host)
    port = int(acfg.port if port is None else port)
    if not 1 <= port <= 65535:
        raise ConfigError(
            f"--port {port} is out of range; it must be between 1 and 65535 (the default is "
            f"listening.app.port={acfg.port})."
        )
    check_host(host, allow_remote)
    app, study, store = build_app(cfg, study_path=study_path, db=db, audio_dir=audio_dir, host=host)
    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as exc:  # in use, privileged, not an address of this machine
        why = getattr(exc, "strerror", None) or "the address cannot be used"
        raise ConfigError(
            f"cannot serve on {host}:{port} ({why}). Choose another --port (or "
            "listening.app.port), or stop what listens there."
        ) from None
    n = len(store.rows())
    print(
        f"nnsim listening test: {len(study.study)} references x {len(study.spaces)} spaces "
        f"from {study.path}\n  answers: {store.path} ({n} rows so far)\n"
        f"  open http://{host}:{server.server_port}/  (Ctrl-C stops; answers are kept)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped; every submitted answer is saved.", flush=True)
    finally:
        server.server_close()
