"""Latent spaces: a float32 matrix of tracks, their ids and metadata.

A *space* is a matrix ``(n_tracks, dim)`` stored as ``.npy``; its track ids live in a
sidecar text file (one id per line, ``<stem>.ids.txt`` beside the matrix by default) and its
metadata (``name``, ``kind``, ``dataset``, ``architecture``, ``layer``, ...) in a JSON
manifest (``<stem>.json``).  Spaces are compared only after alignment on shared track ids.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nnsim.errors import ConfigError, InputError, preview

log = logging.getLogger(__name__)


@dataclass
class Space:
    """One latent space of a set of tracks.

    Attributes
    ----------
    name : str
        Unique name used in every table and figure.
    X : np.ndarray [shape=(n_tracks, dim), dtype=float32]
        The vectors, one row per track.
    ids : np.ndarray [shape=(n_tracks,), dtype=str] or None
        Track ids of the rows, or None when rows are identified by position only.
    meta : dict
        Free metadata (``kind``, ``dataset``, ``architecture``, ``layer``, provenance...).
    source : str
        Where the space came from (a path), for error messages.
    """

    name: str
    X: np.ndarray
    ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "<array>"

    def __post_init__(self) -> None:
        self.X = as_matrix(self.X, self.source)
        if self.ids is not None:
            self.ids = check_ids(self.ids, self.X.shape[0], self.source)

    @property
    def n_tracks(self) -> int:
        """Number of rows (tracks)."""
        return int(self.X.shape[0])

    @property
    def dim(self) -> int:
        """Number of columns (dimensions)."""
        return int(self.X.shape[1])


def zero_rows(X: np.ndarray) -> np.ndarray:
    """Rows that are all zeros (their cosine direction is undefined).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]

    Returns
    -------
    np.ndarray [shape=(m,), dtype=int64]
        0-based row indices.
    """
    return np.flatnonzero(~np.any(X != 0, axis=1))


def as_matrix(X: Any, source: str = "<array>") -> np.ndarray:
    """Check that ``X`` is a finite 2-D numeric array and return it as C-ordered float32.

    Parameters
    ----------
    X : array_like [shape=(n, d)]
        Candidate matrix.
    source : str
        Name of the file or object, used in error messages.

    Returns
    -------
    np.ndarray [shape=(n, d), dtype=float32]

    Raises
    ------
    InputError
        Not 2-D, not numeric, empty, or with NaN/inf rows (the rows are listed).
    """
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise InputError(
            f"{source}: expected a numeric matrix, found dtype {arr.dtype}. "
            "Save the space as a float array, e.g. np.save(path, X.astype('float32'))."
        )
    if arr.ndim != 2:
        raise InputError(
            f"{source}: expected a 2-D array (tracks x dimensions), found shape {arr.shape}. "
            "Reshape it to (n_tracks, dim) before saving."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{source}: the matrix is empty (shape {arr.shape}).")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        finite_in = np.isfinite(arr).all(axis=1)
        too_big = finite_in & (np.abs(arr) > np.finfo(np.float32).max).any(axis=1)
        if too_big.any():
            bad = np.flatnonzero(too_big)
            raise InputError(
                f"{source}: {bad.size} row(s) hold finite {arr.dtype} values beyond float32's "
                f"range (|x| > 3.4e38; 0-based rows: {preview(bad)}). Spaces are compared in "
                "float32: rescale the space (S_n does not depend on its scale)."
            )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise InputError(
            f"{source}: {bad.size} row(s) contain NaN or inf (0-based rows: {preview(bad)}). "
            "Fix or remove these tracks (and their ids) before comparing."
        )
    return arr


def check_ids(ids: Sequence[Any] | np.ndarray, n_rows: int, source: str) -> np.ndarray:
    """Validate track ids against the number of rows.

    Parameters
    ----------
    ids : sequence [shape=(n_rows,)]
        Track ids; converted to stripped strings.
    n_rows : int
        Rows of the matrix they label.
    source : str
        Name of the ids file, for error messages.

    Returns
    -------
    np.ndarray [shape=(n_rows,), dtype=str]

    Raises
    ------
    InputError
        Count differs from ``n_rows``, or some ids are repeated (listed).
    """
    arr = np.asarray([str(i).strip() for i in ids], dtype=str)
    if arr.shape[0] != n_rows:
        raise InputError(
            f"{source}: {arr.shape[0]} track ids for a matrix of {n_rows} rows. "
            "The ids file needs exactly one id per row, in row order."
        )
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dups = uniq[counts > 1]
        raise InputError(
            f"{source}: {dups.size} duplicate track id(s): {preview(dups)}. "
            "Each track must appear once; remove or rename the repeated rows."
        )
    return arr


def read_ids(path: str | Path) -> np.ndarray:
    """Read a track-id sidecar (one id per line; blank lines ignored).

    Parameters
    ----------
    path : str or Path
        Text file.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=str]
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: track-id file not found. Give an existing file (one id per line).")
    lines = [ln.strip() for ln in _read_text(p, "track-id file").splitlines()]
    return np.asarray([ln for ln in lines if ln], dtype=str)


def _read_text(path: Path, what: str) -> str:
    """A UTF-8 text file's content, or an error naming the file and the line that is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: the {what} is not UTF-8 text (byte {exc.start}). "
            "Save it as UTF-8 (e.g. `iconv -t UTF-8`)."
        ) from None


def _read_manifest(path: Path) -> dict[str, Any]:
    """A space's ``<stem>.json`` metadata: a JSON object, or an error naming file and line."""
    text = _read_text(path, "metadata file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}). The metadata file beside a "
            'space must be a JSON object such as {"kind": "cb", "dataset": "msd"}; '
            "fix it or delete it."
        ) from None
    if not isinstance(obj, dict):
        raise InputError(
            f"{path}, line 1: the metadata must be a JSON object ({{...}}), found a "
            f"{type(obj).__name__}. Fix it or delete it."
        )
    return obj


_NPY_MAGIC = b"\x93NUMPY"


def ids_sidecar(npy_path: str | Path) -> Path:
    """Default path of the track-id sidecar of a space file: ``<stem>.ids.txt``."""
    p = Path(npy_path)
    return p.with_name(p.stem + ".ids.txt")


def read_npy(path: str | Path, *, mmap: bool = False) -> np.ndarray:
    """Read one space's ``.npy`` file, with an error naming the file for anything else.

    Parameters
    ----------
    path : str or Path
    mmap : bool
        Map the file read-only instead of reading it (large LatentJam spaces).

    Returns
    -------
    np.ndarray
        As stored (its shape and dtype are checked by :func:`as_matrix`).

    Raises
    ------
    InputError
        Missing, a folder, a broken link, empty, text, an ``.npz`` archive, Python objects,
        or truncated.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a space. Each space is one .npy file.")
    if p.is_symlink() and not p.exists():
        raise InputError(f"{p}: a broken symbolic link (to {os.readlink(p)}). Fix or remove it.")
    if not p.is_file():
        raise InputError(f"{p}: space file not found. Check the path (relative to --data-dir).")
    with open(p, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        kind = "an empty file" if not head else f"a file starting with {head!r}"
        if head[:2] == b"PK":
            kind = "a zip archive (an .npz renamed?)"
        elif head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
            kind = "a text file"
        raise InputError(
            f"{p}: not a .npy file ({kind}). Save each space on its own with np.save(path, X) "
            "from a float matrix."
        )
    try:
        X = np.load(p, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (ValueError, EOFError, OSError) as exc:  # object arrays, truncated files
        reason = "it holds Python objects" if "pickled" in str(exc) else str(exc)
        raise InputError(
            f"{p}: cannot read as a numeric .npy array ({reason}). "
            "Save it with np.save from a float matrix."
        ) from None
    return np.asarray(X) if not mmap else X


def load_space(
    path: str | Path,
    *,
    name: str | None = None,
    ids: str | Path | np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Space:
    """Load a space from ``.npy`` with its optional id sidecar and JSON manifest.

    Parameters
    ----------
    path : str or Path
        ``.npy`` file holding a ``(n_tracks, dim)`` array.
    name : str, optional
        Space name; defaults to the manifest's name or the file stem.
    ids : path or array, optional
        Track ids; by default ``<stem>.ids.txt`` is used when it exists.
    meta : mapping, optional
        Metadata overriding the manifest ``<stem>.json``.

    Returns
    -------
    Space
    """
    p = Path(path)
    X = read_npy(p)
    manifest: dict[str, Any] = {}
    man_path = p.with_suffix(".json")
    if man_path.is_file():
        manifest = _read_manifest(man_path)
    if meta:
        manifest.update({k: v for k, v in meta.items() if v is not None and v == v})
    ids_arr: np.ndarray | None
    ids_source = str(p)
    if ids is None:
        side = ids_sidecar(p)
        ids_arr = read_ids(side) if side.is_file() else None
        ids_source = str(side)
    elif isinstance(ids, (str, Path)):
        ids_arr = read_ids(ids)
        ids_source = str(ids)
    else:
        ids_arr = np.asarray(ids)
    Xf = as_matrix(X, str(p))
    if ids_arr is not None:
        ids_arr = check_ids(ids_arr, Xf.shape[0], ids_source)
    space_name = name or str(manifest.get("name") or p.stem)
    manifest["name"] = space_name
    return Space(space_name, Xf, ids_arr, manifest, str(p))


def save_space(space: Space, path: str | Path) -> Path:
    """Write a space as ``<path>.npy`` + ``<stem>.ids.txt`` + ``<stem>.json``.

    Parameters
    ----------
    space : Space
        Space to save.
    path : str or Path
        Target ``.npy`` path.

    Returns
    -------
    Path
        The ``.npy`` path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, space.X.astype(np.float32, copy=False))
    if space.ids is not None:
        ids_sidecar(p).write_text("\n".join(map(str, space.ids)) + "\n")
    meta = dict(space.meta)
    meta.update(name=space.name, dim=space.dim, n_tracks=space.n_tracks)
    text = json.dumps(meta, indent=2, sort_keys=True, default=str)
    p.with_suffix(".json").write_text(text + "\n")
    return p


def read_space_list(
    list_path: str | Path,
    data_dir: str | Path | None = None,
    shared_ids: str | Path | None = None,
) -> list[Space]:
    """Load every space named in a list file (``name,file[,kind,dataset,architecture,layer,ids]``).

    Parameters
    ----------
    list_path : str or Path
        CSV with at least the columns ``name`` and ``file``; ``file`` (and ``ids`` if
        present) are relative to ``data_dir``.  Whitespace around values is stripped.
    data_dir : str or Path, optional
        Folder the files are relative to; defaults to the list's folder.
    shared_ids : str or Path, optional
        One id file for every space without ids of its own (LatentJam's
        ``large-jamendo-ids.txt``: all spaces share one row order).

    Returns
    -------
    list of Space
        In list order.  All files are checked before any is used.
    """
    lp = Path(list_path)
    if not lp.is_file():
        raise InputError(f"{lp}: space list not found. Give a CSV with the columns name,file.")
    base = Path(data_dir) if data_dir is not None else lp.parent
    if not base.is_dir():
        raise InputError(f"{base}: --data-dir is not a folder.")
    text = _read_text(lp, "space list")
    if not text.strip():
        raise InputError(
            f"{lp}: the space list is empty. Write a header line 'name,file' and one row per space."
        )
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, skipinitialspace=True, keep_default_na=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+), saw (\d+)", str(exc))
        where = f", line {m.group(1)}" if m else ""
        detail = f" ({m.group(2)} fields)" if m else ""
        raise InputError(
            f"{lp}{where}: a row has more fields than the header{detail}. Quote values that "
            "contain commas, or add the column to the header line."
        ) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("name", "file") if c not in df.columns]
    if missing:
        raise InputError(
            f"{lp}: missing column(s) {', '.join(missing)}; found header {list(df.columns)}. "
            "The list needs a header line 'name,file' "
            "(optional: kind,dataset,architecture,layer,ids)."
        )
    df = df.apply(lambda col: col.str.strip())
    if df.empty:
        raise InputError(f"{lp}: the list names no spaces. Add one row per space: name,file.")
    empty = df.index[(df["name"] == "") | (df["file"] == "")]
    if len(empty):
        rows = [int(i) + 2 for i in empty]  # 1-based lines, header is line 1
        raise InputError(f"{lp}: empty name or file on line(s) {preview(rows)}.")
    dup = df["name"][df["name"].duplicated()].unique()
    if len(dup):
        raise InputError(
            f"{lp}: duplicate space name(s) {preview(dup)}. Every space needs a unique name."
        )
    missing_files = [
        f"line {i + 2}: {base / f}" for i, f in enumerate(df["file"]) if not (base / f).is_file()
    ]
    if missing_files:
        raise InputError(
            f"{lp}: {len(missing_files)} space file(s) not found: {preview(missing_files, 5)}. "
            "Paths are relative to --data-dir."
        )
    common = read_ids(shared_ids) if shared_ids is not None else None
    spaces = []
    for _, row in df.iterrows():
        meta = {c: row[c] for c in df.columns if c not in ("name", "file", "ids") and row[c] != ""}
        ids: Path | np.ndarray | None = (
            base / row["ids"] if "ids" in df.columns and row["ids"] else None
        )
        path = base / row["file"]
        if ids is None and common is not None and not ids_sidecar(path).is_file():
            ids = common
        try:
            spaces.append(load_space(path, name=row["name"], ids=ids, meta=meta))
        except InputError as exc:
            if ids is common and common is not None:
                raise InputError(f"{exc} (ids from --ids {shared_ids})") from None
            raise
    return spaces


def align_logged(spaces: Sequence[Space], what: str) -> tuple[list[Space], dict[str, int]]:
    """:func:`align_spaces`, with a warning ``"<what> <n> shared tracks; dropped ..."``."""
    aligned, dropped = align_spaces(spaces)
    lost = {name: k for name, k in dropped.items() if k}
    if lost:
        log.warning(
            "%s %d shared tracks; dropped %s",
            what,
            aligned[0].n_tracks,
            ", ".join(f"{k} from {name}" for name, k in lost.items()),
        )
    return aligned, dropped


def align_spaces(spaces: Sequence[Space]) -> tuple[list[Space], dict[str, int]]:
    """Restrict spaces to their shared tracks, in the order of the first space.

    Parameters
    ----------
    spaces : sequence of Space
        Either all with ids (aligned on the shared ids) or none (then all must have the
        same number of rows, matched by position).

    Returns
    -------
    aligned : list of Space
        Same order of tracks in every space.
    dropped : dict
        Number of rows each space lost.

    Raises
    ------
    InputError
        Mixed id/no-id spaces, row-count mismatch without ids, or no shared tracks.
    """
    if not spaces:
        raise InputError("no spaces to compare: give at least two.")
    with_ids = [s.ids is not None for s in spaces]
    if not any(with_ids):
        sizes = {s.name: s.n_tracks for s in spaces}
        if len(set(sizes.values())) > 1:
            raise InputError(
                f"spaces have different numbers of rows ({sizes}) and no track ids to align them. "
                "Give each space an ids sidecar (<stem>.ids.txt or an 'ids' column in the list)."
            )
        return list(spaces), {s.name: 0 for s in spaces}
    if not all(with_ids):
        no = [s.name for s, w in zip(spaces, with_ids, strict=True) if not w]
        raise InputError(
            f"spaces {preview(no)} have no track ids while others do. "
            "Give ids for all spaces or for none."
        )
    shared = set(spaces[0].ids)  # type: ignore[arg-type]
    for s in spaces[1:]:
        shared &= set(s.ids)  # type: ignore[arg-type]
    if not shared:
        raise InputError(
            "the spaces share no track ids: "
            + "; ".join(f"{s.name} starts with {preview(s.ids, 3)}" for s in spaces)  # type: ignore[arg-type]
            + ". Check that the id sidecars use the same id scheme."
        )
    order = np.asarray([i for i in spaces[0].ids if i in shared])  # type: ignore[union-attr]
    aligned, dropped = [], {}
    for s in spaces:
        pos = {tid: k for k, tid in enumerate(s.ids)}  # type: ignore[arg-type]
        rows = np.fromiter((pos[t] for t in order), dtype=np.int64, count=order.size)
        dropped[s.name] = s.n_tracks - order.size
        if dropped[s.name] == 0 and np.array_equal(rows, np.arange(s.n_tracks)):
            aligned.append(s)
        else:
            aligned.append(Space(s.name, s.X[rows], order, dict(s.meta), s.source))
    return aligned, dropped


def read_indices(path: str | Path, n_rows: int) -> np.ndarray:
    """Read a subset of row indices (one integer per line, e.g. LatentJam ``small-indices.txt``).

    Parameters
    ----------
    path : str or Path
        Text file of 0-based row indices.
    n_rows : int
        Rows of the aligned spaces; every index must be below it.

    Returns
    -------
    np.ndarray [shape=(m,), dtype=int64]
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: indices file not found.")
    text = _read_text(p, "indices file")
    vals, lines = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if not re.fullmatch(r"[+-]?[0-9]+", s):
            raise InputError(
                f"{p}, line {lineno}: {s!r} is not an integer row index. "
                "The file needs one 0-based row index per line (digits only)."
            )
        vals.append(int(s))
        lines.append(lineno)
    idx = np.asarray(vals, dtype=np.int64)
    if idx.size == 0:
        raise InputError(f"{p}: no indices found; give one 0-based row index per line.")
    line_no = np.asarray(lines, dtype=np.int64)
    bad = np.flatnonzero((idx < 0) | (idx >= n_rows))
    if bad.size:
        raise InputError(
            f"{p}: index(es) out of range for {n_rows} rows on line(s) {preview(line_no[bad])} "
            f"(values {preview(idx[bad])}). Indices are 0-based rows of the aligned spaces."
        )
    uniq, counts = np.unique(idx, return_counts=True)
    if (counts > 1).any():
        rep = uniq[counts > 1]
        where = [int(line_no[i]) for i in range(idx.size) if idx[i] in set(rep.tolist())]
        raise InputError(
            f"{p}: repeated indices {preview(rep)} (lines {preview(where)}); keep each row once."
        )
    return idx


def subset_rows(spaces: Sequence[Space], rows: np.ndarray) -> list[Space]:
    """Keep the given rows of every (aligned) space.

    Parameters
    ----------
    spaces : sequence of Space
        Aligned spaces.
    rows : np.ndarray [shape=(m,), dtype=int]
        Row indices to keep.

    Returns
    -------
    list of Space
    """
    return [
        Space(s.name, s.X[rows], None if s.ids is None else s.ids[rows], dict(s.meta), s.source)
        for s in spaces
    ]


@dataclass
class PreparedSpaces:
    """Spaces ready for comparison and what preparing them removed.

    Attributes
    ----------
    spaces : list of Space
        Aligned, restricted to the subset, without dropped rows.
    dropped_unshared : dict of str to int
        Rows each space lost by alignment on shared ids.
    dropped_zero : np.ndarray [shape=(z,)]
        Track positions (after alignment/subset) dropped as all-zero under cosine.
    n_shared : int
        Tracks shared by every space (before the subset).
    """

    spaces: list[Space]
    dropped_unshared: dict[str, int]
    dropped_zero: np.ndarray
    n_shared: int


def prepare_spaces(
    spaces: Sequence[Space],
    *,
    distance: str,
    cutoffs: Sequence[int] | np.ndarray,
    indices: np.ndarray | str | Path | None = None,
    drop_zero_rows: bool,
) -> PreparedSpaces:
    """Align spaces on shared ids, apply a row subset, and check everything before heavy work.

    Parameters
    ----------
    spaces : sequence of Space
        At least two spaces with unique names.
    distance : str
        ``cosine`` or ``euclidean`` (checked where the settings entered).
    cutoffs : sequence of int
        Checked cutoffs (the settings' ``cutoffs``); must all be below the final number of
        tracks.
    indices : np.ndarray [shape=(m,)] or path, optional
        Rows (of the aligned spaces) to keep, e.g. the paper's small subset, or a file of
        them (one 0-based index per line, LatentJam's ``small-indices.txt``).
    drop_zero_rows : bool
        Under cosine, drop tracks that are all-zero in any space (from every space) instead
        of raising.

    Returns
    -------
    PreparedSpaces
    """
    if len(spaces) < 2:
        raise InputError(f"need at least two spaces to compare, got {len(spaces)}.")
    names = [s.name for s in spaces]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputError(
            f"duplicate space name(s) {preview(dups)}; every space needs a unique name."
        )
    aligned, dropped = align_logged(spaces, "aligned on")
    n_shared = aligned[0].n_tracks
    if isinstance(indices, (str, Path)):
        indices = read_indices(indices, n_shared)
    if indices is not None:
        idx = np.asarray(indices, dtype=np.int64)
        bad = idx[(idx < 0) | (idx >= n_shared)]
        if bad.size:
            raise InputError(f"subset indices out of range for {n_shared} tracks: {preview(bad)}.")
        aligned = subset_rows(aligned, idx)
    zero = np.array([], dtype=np.int64)
    if distance == "cosine":
        per_space = {s.name: zero_rows(s.X) for s in aligned}
        bad_spaces = {k: v for k, v in per_space.items() if v.size}
        if bad_spaces:
            if not drop_zero_rows:
                detail = "; ".join(
                    f"{k}: rows {preview(v.tolist(), 5)}" for k, v in bad_spaces.items()
                )
                raise InputError(
                    f"all-zero rows have no cosine direction ({detail}). Use euclidean distance, "
                    "fix the vectors, or drop these tracks from every space (--drop-zero-rows)."
                )
            zero = np.unique(np.concatenate(list(bad_spaces.values())))
            keep = np.setdiff1d(np.arange(aligned[0].n_tracks), zero)
            if keep.size < 2:
                by_file = "; ".join(
                    f"{s.source} ({s.name}): {per_space[s.name].size} all-zero row(s)"
                    for s in aligned
                    if per_space[s.name].size
                )
                raise InputError(
                    f"--drop-zero-rows would leave {keep.size} of {aligned[0].n_tracks} tracks: "
                    f"{by_file}. These spaces have no cosine direction for (almost) any track; "
                    "compare them with euclidean distance or fix the vectors."
                )
            log.warning("dropping %d all-zero track(s) from every space", zero.size)
            aligned = subset_rows(aligned, keep)
    n = aligned[0].n_tracks
    too_big = [int(c) for c in cutoffs if c >= n]
    if too_big:
        fits = [int(c) for c in cutoffs if c < n]
        after = " after dropping the all-zero rows" if zero.size else ""
        raise ConfigError(
            f"cutoff {' '.join(map(str, too_big))} does not fit: the spaces share {n} tracks"
            f"{after} and a track is not its own neighbour, so n is at most {n - 1}. "
            + (f"Keep {' '.join(map(str, fits))}, or use" if fits else "Use")
            + f" cutoffs up to {n - 1}."
        )
    return PreparedSpaces(aligned, dropped, zero, n_shared)
