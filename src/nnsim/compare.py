"""The one comparison workflow: validate, align, neighbour tables, S_n, aggregates.

:func:`run_comparison` is used alike by ``nnsim compare`` (:mod:`nnsim.cli`), the pipeline's
``compare`` stage and the sweep app; :mod:`nnsim.report` writes what it returns.  It touches
the disk only through an optional :class:`nnsim.tables.TableStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nnsim.approximate import (
    HnswOptions,
    approximate_neighbors,
    exact_rows,
    measure_recall,
    sample_rows,
    sn_error,
)
from nnsim.errors import InputError, NnsimError, preview
from nnsim.factors import factor_table
from nnsim.neighbors import ambiguous_cutoffs, check_distance, neighbors, zero_rows
from nnsim.similarity import Comparison, check_cutoffs, compare_tables
from nnsim.spaces import Space, align_logged, read_indices, subset_rows
from nnsim.tables import NeighborTable, TableStore

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
    drop_zero_rows: bool,
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
    check_cutoffs(cutoffs, aligned[0].n_tracks)
    return PreparedSpaces(aligned, dropped, zero, n_shared)


@dataclass
class CompareOptions:
    """Settings of one comparison (the ``neighbors`` and ``compare`` groups of ``conf/``).

    Build it with :meth:`from_config` so every value comes from ``conf/``.
    """

    cutoffs: list[int]
    k: int
    max_block_mb: float
    measures: list[str]
    rbo_p: float
    n_boot: int
    ci_level: float
    seed: int
    drop_zero_rows: bool
    variables: list[str]
    ambiguity_rtol: float
    backend: str
    exact_below: int
    hnsw: HnswOptions
    recall_sample: int
    memmap_mb: float

    def approximate(self, n: int) -> bool:
        """Whether a space of ``n`` tracks gets approximate tables (``neighbors.backend``)."""
        return self.backend == "approximate" or (self.backend == "auto" and n >= self.exact_below)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CompareOptions:
        """Options from a composed configuration (``params.yaml`` or :func:`compose`)."""
        c, nb = cfg["compare"], cfg["neighbors"]
        return cls(
            cutoffs=[int(x) for x in cfg["cutoffs"]],
            k=int(nb["k"]),
            max_block_mb=float(nb["max_block_mb"]),
            measures=list(c["measures"]),
            rbo_p=float(c["rbo_p"]),
            n_boot=int(c["n_boot"]),
            ci_level=float(c["ci_level"]),
            seed=int(c["seed"]),
            drop_zero_rows=bool(c["drop_zero_rows"]),
            variables=list(c["variables"]),
            ambiguity_rtol=float(c["ambiguity_rtol"]),
            backend=str(nb["backend"]),
            exact_below=int(nb["exact_below"]),
            hnsw=HnswOptions(**nb["approximate"]),
            recall_sample=int(nb["recall_sample"]),
            memmap_mb=float(nb["memmap_mb"]),
        )


@dataclass
class CompareResult:
    """Everything one comparison produced.

    Attributes
    ----------
    comparison : Comparison
        S_n (and extra measures) of every pair with CIs and curves.
    prepared : PreparedSpaces
        The aligned spaces that were compared and what preparing them removed.
    tables : dict of str to NeighborTable
        Neighbour tables per space (width ``k + 1`` when the tracks allow it: the extra
        column decides whether the cutoff ``k`` is ambiguous).
    ambiguous : pandas.DataFrame
        ``space, cutoff, ambiguous_lists, share`` (lists whose n-th and (n+1)-th
        neighbours are within ``ambiguity_rtol``).
    factors : pandas.DataFrame
        Table-2 aggregates with CIs.
    distance : str
    reused : list of str
        Spaces whose tables came from the store instead of being computed.
    recall : pandas.DataFrame or None
        Approximate spaces only: ``space, cutoff, recall, recall_low, recall_high, sample``
        (their lists against exact ones on a random sample of query rows).
    sn_errors : pandas.DataFrame or None
        Pairs with an approximate space: ``src, dst, cutoff, sn_error, sn_error_low,
        sn_error_high`` (approximate minus exact S_n on the same sample, with a CI).
    """

    comparison: Comparison
    prepared: PreparedSpaces
    tables: dict[str, NeighborTable]
    ambiguous: pd.DataFrame
    factors: pd.DataFrame
    distance: str
    reused: list[str]
    recall: pd.DataFrame | None = None
    sn_errors: pd.DataFrame | None = None

    @property
    def n_tracks(self) -> int:
        """Tracks compared."""
        return int(self.comparison.n_tracks)


def run_comparison(
    spaces: Sequence[Space],
    options: CompareOptions,
    *,
    distance: str,
    space_distances: Mapping[str, str] | None = None,
    indices: np.ndarray | str | Path | None = None,
    store: TableStore | None = None,
    reuse: TableStore | None = None,
    show_progress: bool = False,
    client: Any = None,
    retries: int = 2,
) -> CompareResult:
    """The one comparison workflow: spaces + settings -> neighbour tables, S_n, aggregates.

    Used alike by ``nnsim compare``, the ``compare`` stage and the sweep app.

    Parameters
    ----------
    spaces : sequence of Space
        At least two spaces with unique names (aligned here on shared ids).
    options : CompareOptions
        Cutoffs, table width, bootstrap, measures, ... (from ``conf/``).
    distance : {"cosine", "euclidean"}
    space_distances : mapping of str to str, optional
        A different distance for some spaces, e.g. euclidean for 2-D maps compared with a
        cosine original (the tables of such spaces are never saved to or read from a store).
    indices : array or path, optional
        Rows of the aligned spaces to keep (the paper's small subset).
    store : TableStore, optional
        Where to save every neighbour table (with the fingerprint of its vectors).
    reuse : TableStore, optional
        Where to look for tables of exactly these vectors before computing.
    show_progress : bool
    client : dask.distributed.Client, optional
        Compute exact tables as Dask tasks on this cluster (same tables bit for bit).
    retries : int
        Dask task retries.

    Returns
    -------
    CompareResult
    """
    check_distance(distance)
    own = dict(space_distances or {})
    for d in own.values():
        check_distance(d)
    dist_of = {s.name: own.get(s.name, distance) for s in spaces}
    prep = prepare_spaces(
        spaces,
        distance="cosine" if "cosine" in dist_of.values() else "euclidean",
        cutoffs=options.cutoffs,
        indices=indices,
        drop_zero_rows=options.drop_zero_rows,
    )
    n = prep.spaces[0].n_tracks
    cut = check_cutoffs(options.cutoffs, n)
    k = max(int(options.k), int(cut[-1]))
    if k >= n:
        log.warning("neighbors.k lowered to %d: only %d tracks", n - 1, n)
    width = min(k + 1, n - 1)  # one more column: is the cutoff k ambiguous?
    tables: dict[str, NeighborTable] = {}
    reused: list[str] = []
    amb_rows = []
    approx: list[str] = []
    for s in prep.spaces:
        sd = dist_of[s.name]
        shared = sd == distance  # only tables at the run's distance go through the stores
        table = reuse.load(s, width) if reuse is not None and shared else None
        if table is not None:
            log.info("%s: reusing the neighbour table in %s", s.name, reuse.folder)  # type: ignore[union-attr]
            reused.append(s.name)
            if store is not None and shared and store.folder != reuse.folder:  # type: ignore[union-attr]
                store.save(s, table)
        else:
            table = _compute_table(
                s,
                width,
                sd,
                options,
                store=store if shared else None,
                client=client,
                retries=retries,
                show_progress=show_progress,
            )
            if options.approximate(n):
                approx.append(s.name)
        tables[s.name] = table
        counts = ambiguous_cutoffs(table.distances, cut, rtol=options.ambiguity_rtol)
        for c, a in zip(cut, counts, strict=True):
            amb_rows.append(
                {"space": s.name, "cutoff": int(c), "ambiguous_lists": int(a), "share": a / n}
            )
        if counts.any():
            log.warning(
                "%s: ambiguous cut-offs (n-th and (n+1)-th neighbours within a relative %g): %s",
                s.name,
                options.ambiguity_rtol,
                ", ".join(
                    f"n={c}: {a} of {n} lists" for c, a in zip(cut, counts, strict=True) if a
                ),
            )
    recall, sn_errors = (
        _approximation_report(prep.spaces, tables, approx, cut, options, dist_of)
        if approx
        else (None, None)
    )
    cmp = compare_tables(
        {name: t.indices for name, t in tables.items()},
        cut,
        measures=options.measures,
        rbo_p=options.rbo_p,
        n_boot=options.n_boot,
        ci_level=options.ci_level,
        seed=options.seed,
        meta={s.name: s.meta for s in prep.spaces},
        show_progress=show_progress,
    )
    check_finite(cmp)
    fac = factor_table(
        cmp.similarity,
        cmp.names,
        cmp.meta,
        cmp.cutoffs,
        options.variables,
        boot=cmp.boot,
        ci_level=options.ci_level,
    )
    fac.insert(0, "distance", distance)
    return CompareResult(
        comparison=cmp,
        prepared=prep,
        tables=tables,
        ambiguous=pd.DataFrame(amb_rows, columns=["space", "cutoff", "ambiguous_lists", "share"]),
        factors=fac,
        distance=distance,
        reused=reused,
        recall=recall,
        sn_errors=sn_errors,
    )


def _compute_table(
    space: Space,
    width: int,
    distance: str,
    options: CompareOptions,
    *,
    store: TableStore | None,
    client: Any,
    retries: int,
    show_progress: bool,
) -> NeighborTable:
    """A space's table by the configured backend, written into ``store`` when given.

    Tables larger than ``options.memmap_mb`` are filled block by block straight into
    memory-mapped ``.npy`` files of the store, so they never sit in RAM whole.
    """
    n = space.n_tracks
    big = store is not None and n * width * 8 / 2**20 > options.memmap_mb
    out = store.allocate(space, n, width) if big else None  # type: ignore[union-attr]
    if options.approximate(n):
        log.info(
            "approximate neighbours of %s (%d x %d, %s, k=%d, hnswlib)",
            space.name,
            n,
            space.dim,
            distance,
            width,
        )
        idx, dist = approximate_neighbors(
            space.X,
            width,
            distance,
            options=options.hnsw,
            name=space.name,
            out=out,
            show_progress=show_progress,
        )
    else:
        idx, dist = _exact_table(
            space, width, distance, options, client, retries, show_progress, out
        )
    table = NeighborTable(idx, dist)
    if store is not None:
        if big:
            table = store.commit(space)
        else:
            store.save(space, table)
    return table


def _exact_table(
    space: Space,
    width: int,
    distance: str,
    options: CompareOptions,
    client: Any,
    retries: int,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact table on this machine or as Dask tasks on ``client``'s cluster."""
    n = space.n_tracks
    log.info(
        "neighbours of %s (%d x %d, %s, k=%d%s)",
        space.name,
        n,
        space.dim,
        distance,
        width,
        ", dask" if client is not None else "",
    )
    if client is not None:
        from nnsim.cluster import neighbors_on_cluster

        return neighbors_on_cluster(
            client,
            space.X,
            width,
            distance,
            max_block_mb=options.max_block_mb,
            retries=retries,
            name=space.name,
            show_progress=show_progress,
            out=out,
        )
    return neighbors(
        space.X,
        width,
        distance,
        max_block_mb=options.max_block_mb,
        show_progress=show_progress,
        name=space.name,
        out=out,
    )


def _approximation_report(
    spaces: Sequence[Space],
    tables: Mapping[str, NeighborTable],
    approx: Sequence[str],
    cut: np.ndarray,
    options: CompareOptions,
    dist_of: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recall of each approximate space and the error it puts into S_n of each pair.

    One random sample of ``options.recall_sample`` query rows (seed ``compare.seed``) serves
    every space, so pair errors are paired.
    """
    n = spaces[0].n_tracks
    rows = sample_rows(n, options.recall_sample, options.seed)
    K = int(cut[-1])
    exact = {}
    rec_rows = []
    for s in spaces:
        if s.name in approx:
            exact[s.name] = exact_rows(s.X, rows, K, dist_of[s.name], s.name)
            for r in measure_recall(
                tables[s.name].indices,
                exact[s.name],
                rows,
                cut,
                n_boot=options.n_boot,
                ci_level=options.ci_level,
                seed=options.seed,
            ):
                rec_rows.append({"space": s.name, **r})
                if r["recall"] < 0.9:
                    log.warning(
                        "%s: recall@%d of the approximate lists is only %.3f; raise "
                        "neighbors.approximate.ef_search",
                        s.name,
                        r["cutoff"],
                        r["recall"],
                    )
        else:
            exact[s.name] = np.asarray(tables[s.name].indices[rows, :K])
    err_rows = []
    names = [s.name for s in spaces]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a not in approx and b not in approx:
                continue
            for e in sn_error(
                tables[a].indices,
                tables[b].indices,
                exact[a],
                exact[b],
                rows,
                cut,
                n_boot=options.n_boot,
                ci_level=options.ci_level,
                seed=options.seed,
            ):
                err_rows.append({"src": a, "dst": b, **e})
    log.info(
        "approximate tables for %s: recall and S_n error measured on %d query rows",
        ", ".join(approx),
        rows.size,
    )
    return pd.DataFrame(rec_rows), pd.DataFrame(err_rows)


def check_finite(cmp: Comparison) -> None:
    """Any non-finite score is an error naming the pair (never a number in a table)."""
    for key, vals in cmp.values.items():
        bad = np.argwhere(~np.isfinite(vals))
        if bad.size:
            i, j, _ = bad[0]
            raise NnsimError(
                f"non-finite {key} score for {cmp.names[i]} vs {cmp.names[j]}; check these "
                "spaces' values (they may be outside what float32 can hold)."
            )


def pair_difference(
    a: Mapping[str, object], b: Mapping[str, object], variables: Sequence[str]
) -> str:
    """What two spaces differ in: one variable's name, ``CF``, ``several`` or ``none``.

    A pair with a collaborative-filtering space (``kind == "cf"``) is ``CF``; otherwise the
    variables (e.g. dataset, architecture, layer) whose values differ decide.
    """
    if "cf" in (str(a.get("kind", "")), str(b.get("kind", ""))):
        return "CF"
    diff = [v for v in variables if str(a.get(v, "")) != str(b.get(v, ""))]
    if not diff:
        return "none"
    return diff[0] if len(diff) == 1 else "several"


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
