"""Stage ``playlists``: the listening test's study file from the comparison's outputs.

Chooses the spaces (``listening.spaces``, or the ``listening.k`` that agree least at
``listening.cutoff``), the reference tracks (``listening.references``, or
``listening.n_references`` far apart in ``listening.reference_space``, from different
``listening.group_by`` groups of ``data.tracks``; a missing column is an error) and, from the
pipeline's neighbour tables, each reference's top ``listening.playlist_length`` neighbours
per space.  Writes ``results/listening/study.json``: ``{"study": {reference: {space: [ids]}},
"spaces": [...], "settings": {...}, "S_n": {...}}`` (the study in the shape the paper's
authors used, plus what made it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.config import as_dict
from nnsim.errors import InputError, preview
from nnsim.files import atomic_dir
from nnsim.listening.checks import add_checks
from nnsim.listening.playlists import far_apart, most_dissimilar, playlist_agreement, playlists
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.stages.space_lists import find_space
from nnsim.tables import TableStore
from nnsim.tracking import stage_run


def reference_groups(cfg: Settings, ids: np.ndarray) -> np.ndarray | None:
    """The ``listening.group_by`` column of ``data.tracks`` for ``ids`` (None: no grouping).

    A column or file that is not there is an error naming it, never a silent fallback to
    ungrouped references; with ``data.tracks: null`` the grouping is off, and said so.
    """
    col, tracks = cfg.listening.group_by, cfg.data.tracks
    if not col:
        return None
    if not tracks:
        log.info("listening.group_by=%s not used: data.tracks is null (no metadata)", col)
        return None
    path = Path(tracks)
    if not path.is_file():
        raise InputError(
            f"data.tracks={tracks}: file not found (listening.group_by={col} reads it). Give "
            "the metadata CSV (track_id + columns), or set listening.group_by=null."
        )
    meta = pd.read_csv(path, dtype=str)
    if "track_id" not in meta.columns or col not in meta.columns:
        raise InputError(
            f"{path}: listening.group_by={col!r} needs the columns track_id and {col}; found "
            f"{', '.join(map(str, meta.columns))}. Set listening.group_by to one of them or null."
        )
    lookup = dict(zip(meta["track_id"], meta[col].fillna(""), strict=True))
    return np.asarray([lookup.get(t, "") for t in ids])


def run(cfg: Settings, args: argparse.Namespace) -> None:
    cfg.listening.check_against(cfg.cutoffs, cfg.neighbors)  # before any work
    lcfg = cfg.listening
    d, cut = str(lcfg.distance), int(lcfg.cutoff)
    sim = pd.read_csv(Path(cfg.paths.results_dir) / "compare" / d / "similarity.csv")
    sim = sim[sim["cutoff"] == cut]
    names = sorted(set(sim["src"]) | set(sim["dst"]))
    S = np.eye(len(names))
    pos = {n: i for i, n in enumerate(names)}
    for a, b, v in zip(sim["src"], sim["dst"], sim["similarity"].astype(float), strict=True):
        S[pos[a], pos[b]] = S[pos[b], pos[a]] = v
    if lcfg.spaces:
        unknown = [s for s in lcfg.spaces if s not in pos]
        if unknown:
            raise InputError(
                f"listening.spaces names {preview(unknown)}, not in the comparison "
                f"({preview(names)}); fix conf/listening/."
            )
        chosen = list(lcfg.spaces)
    else:
        chosen = most_dissimilar(S, names, min(int(lcfg.k), len(names)))
    store = TableStore(Path(cfg.paths.neighbors_dir) / d, d)
    tables = {name: store.indices(name) for name in chosen}
    ids = store.shared_ids(chosen)
    if lcfg.references:
        where = {t: i for i, t in enumerate(ids)}
        missing = [t for t in lcfg.references if t not in where]
        if missing:
            raise InputError(
                f"listening.references names tracks not in the comparison: {preview(missing)}."
            )
        refs = [where[t] for t in lcfg.references]
    space = find_space(cfg, str(lcfg.reference_space))
    rows = {t: i for i, t in enumerate(space.ids)} if space.ids is not None else {}
    X = space.X[[rows[t] for t in ids]] if rows else space.X
    if not lcfg.references:
        groups = reference_groups(cfg, ids)
        refs = far_apart(X, int(lcfg.n_references), seed=int(lcfg.seed), groups=groups)
    study = playlists(tables, ids, refs, int(lcfg.playlist_length))
    study = add_checks(
        study,
        lcfg.attention.kinds,
        ids=[str(t) for t in ids],
        X=X,
        distance=d,
        length=int(lcfg.playlist_length),
    )
    out = Path(cfg.paths.results_dir) / "listening"
    doc = {
        "study": study,
        "spaces": chosen,
        "settings": {k: v for k, v in as_dict(lcfg).items() if not isinstance(v, dict)},
        "S_n": {f"{a}|{b}": S[pos[a], pos[b]] for a in chosen for b in chosen if a < b},
        # per reference and space: S_n at listening.cutoff with the other tested spaces
        "agreement": playlist_agreement(tables, refs, ids, cut),
        "synthetic": bool(cfg.data.synthetic),
    }
    with stage_run(cfg, "playlists", {"listening": as_dict(lcfg)}) as tr, atomic_dir(out) as tmp:
        (tmp / "study.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tr.log_artifacts(tmp / "study.json")
    log.info("study: %d references x %d spaces (%s)", len(study), len(chosen), ", ".join(chosen))


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
