"""The LatentJam layout (Tovstogan et al.'s Zenodo release) read and written losslessly.

A LatentJam folder holds one ``.npy`` per space (shape ``(n_tracks, dim)``, rows in the order
of ``large-jamendo-ids.txt``), ``small-indices.txt`` (0-based rows of the small subset) and
``small-jamendo-ids.txt`` (their ids).  Names carry the metadata:
``cb-<dataset>-<architecture>-<layer>`` for content-based spaces (``cb-msd-musicnn-embeddings``,
``cb-audioset-vggish-embeddings``) and ``cf-<factors>`` for collaborative filtering; other names
are kept with kind ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnsim.errors import InputError, preview
from nnsim.spaces import Space, as_matrix, read_ids, read_indices, read_npy

IDS_FILE = "large-jamendo-ids.txt"
SMALL_INDICES_FILE = "small-indices.txt"
SMALL_IDS_FILE = "small-jamendo-ids.txt"

_CB = re.compile(r"^cb-(?P<dataset>[a-z0-9]+)-(?P<architecture>[a-z0-9]+)-(?P<layer>[a-z0-9]+)$")
_CF = re.compile(r"^cf-(?P<factors>[0-9]+)$")


def parse_name(stem: str) -> dict[str, Any]:
    """Metadata from a LatentJam file stem (``kind`` ``unknown`` when the name is not parsed)."""
    if m := _CB.match(stem):
        return {"kind": "cb", **m.groupdict()}
    if m := _CF.match(stem):
        return {"kind": "cf", "factors": int(m.group("factors"))}
    return {"kind": "unknown"}


def latentjam_name(space: Space) -> str:
    """The LatentJam file stem of a space (its own name when its metadata do not say more)."""
    meta = space.meta
    if meta.get("kind") == "cb" and all(meta.get(k) for k in ("dataset", "architecture", "layer")):
        return f"cb-{meta['dataset']}-{meta['architecture']}-{meta['layer']}"
    if meta.get("kind") == "cf" and meta.get("factors"):
        return f"cf-{int(meta['factors'])}"
    return space.name


@dataclass
class LatentJam:
    """Spaces of a LatentJam folder and its subset.

    Attributes
    ----------
    spaces : list of Space
        One per ``.npy``, sorted by name, sharing ``ids``.
    ids : np.ndarray [shape=(n,), dtype=str]
    small_indices : np.ndarray [shape=(m,), dtype=int64] or None
    """

    spaces: list[Space]
    ids: np.ndarray
    small_indices: np.ndarray | None


def read_latentjam(folder: str | Path) -> LatentJam:
    """Read a LatentJam-style folder, checking every file before returning.

    Raises
    ------
    InputError
        Naming the file: no spaces or no id file, row counts that differ from the ids,
        duplicate ids, indices out of range or repeated, small ids that do not match.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: LatentJam folder not found. Download the release there.")
    ids_path = root / IDS_FILE
    if not ids_path.is_file():
        raise InputError(f"{ids_path}: missing; a LatentJam folder names its rows in {IDS_FILE}.")
    ids = read_ids(ids_path)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        lines = [i + 1 for i, t in enumerate(ids) if t in set(dup.tolist())]
        raise InputError(
            f"{ids_path}: duplicate track id(s) {preview(dup)} on lines {preview(lines)}."
        )
    # .npy in any case (a release unpacked on another system may say .NPY), files and links
    files = sorted(f for f in root.iterdir() if f.suffix.lower() == ".npy")
    if not files:
        raise InputError(f"{root}: no .npy spaces found (one file per space expected).")
    spaces = []
    for f in files:
        X = read_npy(f, mmap=True)
        if X.ndim != 2:
            raise InputError(
                f"{f}: a {X.ndim}-D array of shape {X.shape}; a space is 2-D (one row per "
                f"track of {ids_path.name}, one column per dimension). Reshape it to "
                f"({ids.size}, dim) before saving."
            )
        if X.shape[0] != ids.size:
            raise InputError(
                f"{f}: {X.shape[0]} rows but {ids_path.name} lists {ids.size} tracks; every "
                "space needs one row per id, in that order."
            )
        meta = parse_name(f.stem)
        meta["source_file"] = f.name
        spaces.append(Space(f.stem, as_matrix(X, str(f)), ids, meta, str(f)))
    small = None
    idx_path = root / SMALL_INDICES_FILE
    if idx_path.is_file():
        small = read_indices(idx_path, ids.size)
        sid_path = root / SMALL_IDS_FILE
        if sid_path.is_file():
            sids = read_ids(sid_path)
            if sids.size != small.size or not np.array_equal(sids, ids[small]):
                bad = [
                    i + 1 for i, (a, b) in enumerate(zip(sids, ids[small], strict=False)) if a != b
                ]
                raise InputError(
                    f"{sid_path}: does not match {SMALL_INDICES_FILE} ({sids.size} ids for "
                    f"{small.size} indices; first differing lines {preview(bad, 5)})."
                )
    return LatentJam(spaces, ids, small)


def check_same_tracks(spaces: Sequence[Space]) -> np.ndarray:
    """The shared row ids of spaces to export, or an error naming the space that differs."""
    if not spaces:
        raise InputError("no spaces to export; run the pipeline (extract, cf) first.")
    ref = spaces[0]
    if ref.ids is None:
        raise InputError(f"{ref.name}: has no track ids; LatentJam rows are named by ids.")
    for s in spaces[1:]:
        if s.ids is None or not np.array_equal(s.ids, ref.ids):
            only = 0 if s.ids is None else len(set(s.ids) ^ set(ref.ids))
            raise InputError(
                f"{s.name}: its track ids differ from {ref.name}'s ({only} ids in one but not "
                "the other, or another order). LatentJam spaces share one row order: set "
                "release.align=true to align every space on the shared tracks."
            )
    return ref.ids
