"""The study file of a listening test: loading, checking, and where each track's audio is.

The study file is what the ``playlists`` stage writes (``results/listening/study.json``):
``{"study": {reference: {space: [track ids]}}, "spaces": [...], "settings": {...}, ...}``.
A hand-made file with only the ``study`` mapping (the paper's authors' shape) is accepted too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nnsim.errors import InputError, preview
from nnsim.listening.checks import is_check


@dataclass(frozen=True)
class Study:
    """A loaded study.

    Attributes
    ----------
    study : dict
        ``{reference: {space: [track ids, nearest first]}}``.
    spaces : list of str
        Every space named by a playlist, attention checks (``check:<kind>``) left out.
    sha256 : str
        Hash of the file's bytes (stored with every answer).
    path : pathlib.Path
        Where it was read from.
    synthetic : bool
        The study was made on the demo's synthetic audio.
    """

    study: dict[str, dict[str, list[str]]]
    spaces: list[str]
    sha256: str
    path: Path
    synthetic: bool

    @property
    def checks(self) -> list[str]:
        """The attention checks of the study (:mod:`nnsim.listening.checks`)."""
        return sorted({s for lists in self.study.values() for s in lists if is_check(s)})

    @property
    def tracks(self) -> set[str]:
        """Every track a participant may hear (references and playlist tracks)."""
        out = set(self.study)
        for lists in self.study.values():
            for ids in lists.values():
                out.update(ids)
        return out


def load_study(path: str | Path) -> Study:
    """Read and check a study file (clear errors naming the file and the entry).

    Parameters
    ----------
    path : str or Path
        JSON: ``{"study": {...}, ...}`` or the bare ``{reference: {space: [ids]}}`` mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no study file here; make it with `dvc repro playlists` or give --study."
        )
    raw = path.read_bytes()
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON study file ({exc}).") from None
    study = doc.get("study", doc) if isinstance(doc, dict) else None
    if not isinstance(study, dict) or not study:
        raise InputError(
            f"{path}: expected {{reference: {{space: [track ids]}}}} (or a 'study' key holding it)."
        )
    spaces: set[str] = set()
    for ref, lists in study.items():
        if not isinstance(lists, dict) or not lists:
            raise InputError(f"{path}: reference {ref!r} has no playlists ({{space: [ids]}}).")
        for space, ids in lists.items():
            if not isinstance(ids, list) or not ids or not all(isinstance(t, str) for t in ids):
                raise InputError(
                    f"{path}: reference {ref!r}, space {space!r}: the playlist must be a "
                    "non-empty list of track ids (strings)."
                )
            spaces.add(space)
    return Study(
        study={r: {s: list(ids) for s, ids in lists.items()} for r, lists in study.items()},
        spaces=sorted(s for s in spaces if not is_check(s)),
        sha256=hashlib.sha256(raw).hexdigest(),
        path=path,
        synthetic=bool(doc.get("synthetic", False)) if "study" in doc else False,
    )


def check_spaces(study: Study, known: Iterable[str], source: str) -> None:
    """Every space of the study must be one the comparison knows (``source`` names it)."""
    unknown = sorted(set(study.spaces) - set(known))
    if unknown:
        raise InputError(
            f"{study.path}: spaces {preview(unknown)} are not in the comparison ({source}); "
            "remake the study (dvc repro playlists) or fix listening.spaces."
        )


def locate_audio(
    tracks: Iterable[str],
    audio_dir: str | Path,
    *,
    metadata: str | Path | None,
    extensions: Iterable[str],
) -> dict[str, Path]:
    """Where the audio files of the tracks that have one are (absolute paths).

    Uses the ``file`` column of ``metadata`` (a CSV with ``track_id``) when there is one, else
    looks for ``<audio_dir>/**/<track id>.<ext>`` (MTG-Jamendo's ``NN/ID.mp3`` layout).  A
    track without a file is left out (see :func:`audio_files` for the checked version).
    """
    root = Path(audio_dir).resolve()
    want = sorted(set(tracks))
    found: dict[str, Path] = {}
    if metadata and Path(metadata).is_file():
        meta = pd.read_csv(metadata, dtype=str)
        if {"track_id", "file"} <= set(meta.columns):
            for t, f in zip(meta["track_id"], meta["file"], strict=True):
                if isinstance(f, str) and f:
                    found[t] = (root / f).resolve()
    exts = {e.lower().lstrip(".") for e in extensions}
    missing = [t for t in want if t not in found or not found[t].is_file()]
    if missing and root.is_dir():
        index: dict[str, Path] = {}
        for f in root.rglob("*"):
            if f.suffix.lower().lstrip(".") in exts and f.is_file():
                index.setdefault(f.stem, f.resolve())
        for t in missing:
            if t in index:
                found[t] = index[t]
    return {t: found[t] for t in want if t in found and found[t].is_file()}


def audio_files(
    tracks: Iterable[str],
    audio_dir: str | Path,
    *,
    metadata: str | Path | None,
    extensions: Iterable[str],
    study_path: Path,
) -> dict[str, Path]:
    """Where each track's audio file is (checked to exist, see :func:`locate_audio`).

    Returns
    -------
    dict
        ``{track id: absolute path}`` for every track; a track without audio is an error
        naming it.
    """
    root = Path(audio_dir).resolve()
    want = sorted(set(tracks))
    found = locate_audio(want, audio_dir, metadata=metadata, extensions=extensions)
    missing = [t for t in want if t not in found or not found[t].is_file()]
    if missing:
        raise InputError(
            f"{study_path}: {len(missing)} track(s) have no audio under {root}: "
            f"{preview(missing)}; point data.audio_dir (or --audio-dir) at the collection."
        )
    outside = [t for t in want if not found[t].is_relative_to(root)]
    if outside:
        raise InputError(
            f"{study_path}: the audio of {preview(outside)} lies outside {root}; only files "
            "under the audio folder are served."
        )
    return {t: found[t] for t in want}
