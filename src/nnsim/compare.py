"""Compare a set of spaces end to end: validate, align, neighbours, S_n, aggregates, tables.

This is the pure, array-in/tables-out layer behind ``nnsim compare`` and the pipeline's
``compare`` stage.  It does not touch the disk (see :mod:`nnsim.cli` for that).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.errors import InputError, preview
from nnsim.factors import DEFAULT_VARIABLES, factor_table
from nnsim.neighbors import check_distance, neighbors, zero_rows
from nnsim.similarity import Comparison, check_cutoffs, compare_tables
from nnsim.spaces import Space, align_spaces, read_indices, subset_rows

log = logging.getLogger(__name__)


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
    drop_zero_rows: bool = False,
) -> PreparedSpaces:
    """Align spaces on shared ids, apply a row subset, and check everything before heavy work.

    Parameters
    ----------
    spaces : sequence of Space
        At least two spaces with unique names.
    distance : str
        ``cosine`` or ``euclidean``.
    cutoffs : sequence of int
        Must all be below the final number of tracks.
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
    check_distance(distance)
    check_cutoffs(cutoffs)
    if len(spaces) < 2:
        raise InputError(f"need at least two spaces to compare, got {len(spaces)}.")
    names = [s.name for s in spaces]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputError(
            f"duplicate space name(s) {preview(dups)}; every space needs a unique name."
        )
    aligned, dropped = align_spaces(spaces)
    lost = {name: k for name, k in dropped.items() if k}
    if lost:
        log.warning(
            "aligned on %d shared tracks; dropped %s",
            aligned[0].n_tracks,
            ", ".join(f"{k} from {name}" for name, k in lost.items()),
        )
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
            log.warning("dropping %d all-zero track(s) from every space", zero.size)
            aligned = subset_rows(aligned, keep)
    check_cutoffs(cutoffs, aligned[0].n_tracks)
    return PreparedSpaces(aligned, dropped, zero, n_shared)


def compare_spaces(
    spaces: Sequence[Space],
    cutoffs: Sequence[int] | np.ndarray,
    distance: str = "cosine",
    *,
    measures: Sequence[str] = ("overlap",),
    rbo_p: float = 0.9,
    n_boot: int = 1000,
    ci_level: float = 0.95,
    seed: int = 0,
    max_block_mb: float = 256.0,
    show_progress: bool = False,
) -> Comparison:
    """Neighbour tables of every (prepared) space at the largest cutoff, then all pairs.

    Parameters
    ----------
    spaces : sequence of Space
        Aligned spaces (see :func:`prepare_spaces`).
    cutoffs : sequence of int
    distance : str
    measures, rbo_p, n_boot, ci_level, seed
        See :func:`nnsim.similarity.compare_tables`.
    max_block_mb : float
        Memory bound of one score block in the neighbour search.
    show_progress : bool

    Returns
    -------
    Comparison
    """
    cut = check_cutoffs(cutoffs, spaces[0].n_tracks)
    K = int(cut[-1])
    tables = {}
    for s in spaces:
        log.info("neighbours of %s (%d x %d, %s, K=%d)", s.name, s.n_tracks, s.dim, distance, K)
        tables[s.name], _ = neighbors(
            s.X, K, distance, max_block_mb=max_block_mb, show_progress=show_progress, name=s.name
        )
    return compare_tables(
        tables,
        cut,
        measures=measures,
        rbo_p=rbo_p,
        n_boot=n_boot,
        ci_level=ci_level,
        seed=seed,
        meta={s.name: s.meta for s in spaces},
        show_progress=show_progress,
    )


def similarity_frame(cmp: Comparison, distance: str) -> pd.DataFrame:
    """Long table: one row per unordered pair and cutoff (and extra measure columns).

    Returns
    -------
    pandas.DataFrame
        ``src, dst, distance, cutoff, similarity, ci_low, ci_high, chance`` then, per extra
        measure ``x``, ``x, x_ci_low, x_ci_high``.
    """
    rows = []
    chance = cmp.chance
    m = len(cmp.names)
    extra = [k for k in cmp.values if k != "overlap"]
    for i in range(m):
        for j in range(i + 1, m):
            for ci, cut in enumerate(cmp.cutoffs):
                row = {
                    "src": cmp.names[i],
                    "dst": cmp.names[j],
                    "distance": distance,
                    "cutoff": int(cut),
                    "similarity": cmp.values["overlap"][i, j, ci],
                    "ci_low": cmp.ci_low["overlap"][i, j, ci],
                    "ci_high": cmp.ci_high["overlap"][i, j, ci],
                    "chance": chance[ci],
                }
                for k in extra:
                    row[k] = cmp.values[k][i, j, ci]
                    row[f"{k}_ci_low"] = cmp.ci_low[k][i, j, ci]
                    row[f"{k}_ci_high"] = cmp.ci_high[k][i, j, ci]
                rows.append(row)
    return pd.DataFrame(rows)


def curves_frame(cmp: Comparison, distance: str) -> pd.DataFrame:
    """S_n for every n = 1..K and pair: ``src, dst, distance, n, similarity, chance``."""
    K = cmp.curves.shape[-1]
    n = np.arange(1, K + 1)
    frames = []
    m = len(cmp.names)
    for i in range(m):
        for j in range(i + 1, m):
            frames.append(
                pd.DataFrame(
                    {
                        "src": cmp.names[i],
                        "dst": cmp.names[j],
                        "distance": distance,
                        "n": n,
                        "similarity": cmp.curves[i, j],
                        "chance": n / (cmp.n_tracks - 1),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def factors_frame(
    cmp: Comparison, distance: str, variables: Sequence[str] = DEFAULT_VARIABLES
) -> pd.DataFrame:
    """Table-2 aggregates of a comparison (see :func:`nnsim.factors.factor_table`)."""
    df = factor_table(cmp.similarity, cmp.names, cmp.meta, cmp.cutoffs, variables)
    df.insert(0, "distance", distance)
    return df
