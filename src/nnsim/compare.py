"""The one comparison workflow: spaces + settings -> neighbour tables, S_n, aggregates.

:func:`run_comparison` is used alike by ``nnsim compare`` (:mod:`nnsim.cli`), the pipeline's
``compare`` stage, the projection scoring and the sweep app; :mod:`nnsim.report` writes what
it returns.  The tables come from :func:`nnsim.search.neighbor_table`; the disk is touched
only through an optional :class:`nnsim.tables.TableStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.errors import NnsimError
from nnsim.factors import factor_table
from nnsim.measures import (
    global_table,
    hubness_reduced,
    hubness_table,
    list_chance,
    vector_comparison,
)
from nnsim.search import DaskRun, neighbor_table
from nnsim.search.audit import approximation_report
from nnsim.search.exact import ambiguous_cutoffs, check_distance
from nnsim.settings import (
    GLOBAL_MEASURES,
    LIST_MEASURES,
    VECTOR_MEASURES,
    CompareSettings,
    NeighborsSettings,
)
from nnsim.similarity import Comparison, check_bootstrap_memory, compare_tables
from nnsim.spaces import PreparedSpaces, Space, prepare_spaces
from nnsim.tables import NeighborTable, TableStore

log = logging.getLogger(__name__)


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
        column decides whether the cutoff ``k`` is ambiguous; wider with a hubness
        reduction: its candidates).
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
    measure_factors : pandas.DataFrame or None
        Table 2 for every measure (:func:`measure_factor_table`).
    global_measures : pandas.DataFrame or None
        ``src, dst, measure, value, chance, note``: the global measures of
        ``compare.measures`` (CKA, ...) of every pair, with their permutation chance level.
    sn_errors : pandas.DataFrame or None
        Pairs with an approximate space: ``src, dst, cutoff, sn_error, sn_error_low,
        sn_error_high`` (approximate minus exact S_n on the same sample, with a CI).
    reduced : dict of str to NeighborTable or None
        With ``compare.hubness_reduction``: the tables re-ranked by secondary distances
        (``secondary`` names the reduction), on which every measure of the lists was computed.
    settings : CompareSettings or None
        The ``compare`` settings that made it (the hubness CIs read their replicates, seed and
        level from them; None: no CIs).
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
    global_measures: pd.DataFrame | None = None
    measure_factors: pd.DataFrame | None = None
    reduced: dict[str, NeighborTable] | None = None
    settings: CompareSettings | None = None

    @property
    def n_tracks(self) -> int:
        """Tracks compared."""
        return int(self.comparison.n_tracks)

    @cached_property
    def hubness(self) -> pd.DataFrame:
        """Hubness of every space at every cutoff with bootstrap CIs
        (:func:`nnsim.measures.hubness_table`), of the primary tables and, with a reduction,
        of the re-ranked ones (``distances``).  Computed when first read (the report reads
        it; the projection scores and sweeps that do not never pay for it)."""
        c = self.settings
        versions = [("primary", self.tables)]
        if self.reduced:
            versions.append((str(next(iter(self.reduced.values())).secondary), self.reduced))
        rows = []
        for label, tabs in versions:
            rows += hubness_table(
                {name: t.indices for name, t in tabs.items()},
                self.comparison.cutoffs,
                n_boot=c.hubness_n_boot if c is not None else 0,
                seed=c.seed if c is not None else 0,
                ci_level=c.ci_level if c is not None else self.comparison.ci_level,
                distances=label,
            )
        return pd.DataFrame(rows)


#: Columns of :attr:`CompareResult.global_measures` (``global.csv``).
GLOBAL_COLUMNS = ("src", "dst", "measure", "value", "ci_low", "ci_high", "chance", "note")


def run_comparison(
    spaces: Sequence[Space],
    *,
    cutoffs: Sequence[int],
    neighbors: NeighborsSettings,
    compare: CompareSettings,
    distance: str,
    space_distances: Mapping[str, str] | None = None,
    indices: np.ndarray | str | Path | None = None,
    store: TableStore | None = None,
    reuse: TableStore | None = None,
    show_progress: bool = False,
    dask: DaskRun | None = None,
) -> CompareResult:
    """The one comparison workflow: spaces + settings -> neighbour tables, S_n, aggregates.

    Parameters
    ----------
    spaces : sequence of Space
        At least two spaces with unique names (aligned here on shared ids).
    cutoffs : sequence of int
        The settings' ``cutoffs`` (checked at composition: positive, increasing).
    neighbors : NeighborsSettings
        Table width, memory bounds, backend (``neighbors`` of the settings).
    compare : CompareSettings
        Bootstrap, measures, aggregates (``compare`` of the settings).
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
    dask : DaskRun, optional
        Compute exact tables as Dask tasks on this cluster (same tables bit for bit).

    Returns
    -------
    CompareResult
    """
    own = dict(space_distances or {})
    for d in {distance, *own.values()}:
        check_distance(d)  # the one check per comparison (callers may pass any string)
    dist_of = {s.name: own.get(s.name, distance) for s in spaces}
    measures = {"overlap", *compare.measures}
    check_bootstrap_memory(  # before any search: a bootstrap that cannot fit fails now
        compare.n_boot, n_spaces=len(spaces), n_cutoffs=len(cutoffs), n_measures=len(measures)
    )
    prep = prepare_spaces(
        spaces,
        distance="cosine" if "cosine" in dist_of.values() else "euclidean",
        cutoffs=cutoffs,
        indices=indices,
        drop_zero_rows=compare.drop_zero_rows,
    )
    n = prep.spaces[0].n_tracks
    cut = np.asarray(cutoffs, dtype=np.int64)
    k = max(int(neighbors.k), int(cut[-1]))
    if k >= n:
        log.warning("neighbors.k lowered to %d: only %d tracks", n - 1, n)
    width = min(k + 1, n - 1)  # one more column: is the cutoff k ambiguous?
    reduction = compare.hubness_reduction
    if reduction != "none":  # the candidates that the secondary distances re-rank
        cand = int(np.ceil(compare.hubness_candidates * cut[-1]))
        width = min(max(width, cand, compare.hubness_k), n - 1)
    tables: dict[str, NeighborTable] = {}
    reused: list[str] = []
    amb_rows = []
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
            table = _stored_table(
                s,
                neighbors,
                width=width,
                distance=sd,
                store=store if shared else None,
                dask=dask,
                show_progress=show_progress,
            )
        tables[s.name] = table
        counts = ambiguous_cutoffs(table.distances, cut, rtol=compare.ambiguity_rtol)
        for c, a in zip(cut, counts, strict=True):
            amb_rows.append(
                {"space": s.name, "cutoff": int(c), "ambiguous_lists": int(a), "share": a / n}
            )
        if counts.any():
            log.warning(
                "%s: ambiguous cut-offs (n-th and (n+1)-th neighbours within a relative %g): %s",
                s.name,
                compare.ambiguity_rtol,
                ", ".join(
                    f"n={c}: {a} of {n} lists" for c, a in zip(cut, counts, strict=True) if a
                ),
            )
    recall, sn_errors = (
        approximation_report(
            prep.spaces,
            tables,
            cut,
            dist_of,
            sample=neighbors.recall_sample,
            n_boot=compare.n_boot,
            ci_level=compare.ci_level,
            seed=compare.seed,
        )
        if any(not t.certificate.exact for t in tables.values())
        else (None, None)
    )
    reduced = None
    if reduction != "none":
        reduced = {
            name: NeighborTable(
                *hubness_reduced(t.indices, t.distances, reduction, k=compare.hubness_k),
                certificate=t.certificate,
                secondary=reduction,
            )
            for name, t in tables.items()
        }
        log.info(
            "hubness reduction %s: every track's %d candidates re-ranked by secondary distances",
            reduction,
            width,
        )
    ranked = {name: t.indices for name, t in (reduced or tables).items()}  # the lists measured
    vectors = {sp.name: sp.X for sp in prep.spaces}
    list_measures = [m for m in compare.measures if m in LIST_MEASURES]
    cmp = compare_tables(
        ranked,
        cut,
        measures=list_measures,
        rbo_p=compare.rbo_p,
        n_boot=compare.n_boot,
        ci_level=compare.ci_level,
        seed=compare.seed,
        meta={s.name: s.meta for s in prep.spaces},
        show_progress=show_progress,
    )
    check_finite(cmp)
    cmp.chance_of.update(
        list_chance(
            ranked,
            cut,
            [m for m in list_measures if m in ("rbo", "spearman", "rank")],
            rbo_p=compare.rbo_p,
            n_permutations=compare.chance_permutations,
            seed=compare.seed,
            chance_tracks=compare.chance_tracks,
        )
    )
    vector = [m for m in compare.measures if m in VECTOR_MEASURES]
    if vector:
        vc = vector_comparison(
            vectors,
            ranked,
            cut,
            vector,
            distance=distance,
            n_boot=compare.n_boot,
            ci_level=compare.ci_level,
            seed=compare.seed,
            n_permutations=compare.chance_permutations,
            chance_tracks=compare.chance_tracks,
            show_progress=show_progress,
        )
        cmp.values.update(vc.values)
        cmp.ci_low.update(vc.ci_low)
        cmp.ci_high.update(vc.ci_high)
        cmp.boots.update(vc.boots)
        cmp.chance_of.update(vc.chance)
        cmp.notes.update({k: v for k, v in vc.notes.items() if v})
    fac = factor_table(
        cmp.similarity,
        cmp.names,
        cmp.meta,
        cmp.cutoffs,
        compare.variables,
        boot=cmp.boot,
        ci_level=compare.ci_level,
    )
    fac.insert(0, "distance", distance)
    _warn_missing_variables(prep.spaces, compare.variables)
    wanted = [m for m in compare.measures if m in GLOBAL_MEASURES]
    global_rows = global_table(
        vectors if wanted else {},
        wanted,
        distance=distance,
        n_permutations=compare.chance_permutations,
        max_tracks=compare.rsa_max_tracks,
        seed=compare.seed,
        n_boot=compare.global_n_boot,
        ci_level=compare.ci_level,
        exact_below=compare.global_exact_below,
    )
    glob = pd.DataFrame(global_rows, columns=list(GLOBAL_COLUMNS))
    return CompareResult(
        comparison=cmp,
        prepared=prep,
        tables=tables,
        global_measures=glob,
        measure_factors=measure_factor_table(
            cmp,
            glob,
            compare,
            replicates={
                (str(r["src"]), str(r["dst"]), str(r["measure"])): np.asarray(r["replicates"])
                for r in global_rows
            },
        ),
        ambiguous=pd.DataFrame(amb_rows, columns=["space", "cutoff", "ambiguous_lists", "share"]),
        factors=fac,
        distance=distance,
        reused=reused,
        recall=recall,
        sn_errors=sn_errors,
        reduced=reduced,
        settings=compare,
    )


def measure_factor_table(
    cmp: Comparison,
    glob: pd.DataFrame,
    compare: CompareSettings,
    *,
    replicates: Mapping[tuple[str, str, str], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Table 2 for every measure: does the study's reading survive another measure?

    The list measures (S_n as ``overlap``, and ``rbo``, ``spearman``, ``jaccard``, ``rank``)
    per cutoff with the paired bootstrap CI of each aggregate; the global measures of
    ``glob`` once (``cutoff`` empty), with the CI from their bootstrap ``replicates``
    (``(src, dst, measure) -> (n_boot,)``, the same resamples for every pair) when there are
    some.  A global measure undefined for a pair is left out (its reason is in ``global.csv``).

    Returns
    -------
    pandas.DataFrame
        ``measure`` then the columns of :func:`nnsim.factors.factor_table`.
    """
    parts = []
    for key, values in cmp.values.items():
        if cmp.notes.get(key):  # undefined for a pair: its reason is in similarity.csv
            continue
        f = factor_table(
            values,
            cmp.names,
            cmp.meta,
            cmp.cutoffs,
            compare.variables,
            boot=cmp.boots.get(key),
            ci_level=compare.ci_level,
        )
        parts.append(f.assign(measure=key))
    pos = {name: i for i, name in enumerate(cmp.names)}
    m = len(cmp.names)
    for gname, part in glob.groupby("measure", sort=False):
        if (part["note"].astype(str) != "").any():
            continue
        M = np.eye(m)[:, :, None].copy()
        for a, b, v in zip(part["src"], part["dst"], part["value"], strict=True):
            M[pos[a], pos[b], 0] = M[pos[b], pos[a], 0] = float(v)
        reps = [
            (replicates or {}).get((a, b, str(gname)))
            for a, b in zip(part["src"], part["dst"], strict=True)
        ]
        boot = None
        got = [r for r in reps if r is not None and len(r)]
        if got and len(got) == len(reps):
            boot = np.ones((m, m, len(got[0]), 1))
            for a, b, r in zip(part["src"], part["dst"], got, strict=True):
                boot[pos[a], pos[b], :, 0] = boot[pos[b], pos[a], :, 0] = r
        f = factor_table(
            M, cmp.names, cmp.meta, [0], compare.variables, boot=boot, ci_level=compare.ci_level
        )
        f = f.assign(measure=str(gname), cutoff=None)
        if boot is None:
            f = f.assign(ci_low=np.nan, ci_high=np.nan)
        parts.append(f)
    if not parts:
        return pd.DataFrame(columns=["measure"])
    out = pd.concat(parts, ignore_index=True)
    return out[["measure", *[c for c in out.columns if c != "measure"]]]


def _warn_missing_variables(spaces: Sequence[Space], variables: Sequence[str]) -> None:
    """A Table-2 variable that content-based spaces do not carry leaves its rows out: say so,
    naming the variable and the files, instead of an empty table without a word."""
    for var in variables:
        missing = [s for s in spaces if s.meta.get("kind") != "cf" and var not in s.meta]
        if missing:
            files = sorted({str(s.source) for s in missing})
            log.warning(
                "Table 2: %d space(s) have no %r in their metadata (%s), so they take no part "
                "in the %s aggregate; add a %r column to the space list (or set "
                "compare.variables)",
                len(missing),
                var,
                ", ".join(files[:3]) + (" ..." if len(files) > 3 else ""),
                var,
                var,
            )


def _stored_table(
    space: Space,
    neighbors: NeighborsSettings,
    *,
    width: int,
    distance: str,
    store: TableStore | None,
    dask: DaskRun | None,
    show_progress: bool,
) -> NeighborTable:
    """A space's table from :func:`nnsim.search.neighbor_table`, written into ``store``.

    Tables larger than ``neighbors.memmap_mb`` are filled block by block straight into
    memory-mapped ``.npy`` files of the store, so they never sit in RAM whole.
    """
    n = space.n_tracks
    big = store is not None and n * width * 8 / 2**20 > neighbors.memmap_mb
    out = store.allocate(space, n, width) if big else None  # type: ignore[union-attr]
    table = neighbor_table(
        space,
        neighbors,
        width=width,
        distance=distance,
        dask=dask,
        out=out,
        show_progress=show_progress,
    )
    if store is not None:
        if big:
            return store.commit(space, table.certificate)
        store.save(space, table)
    return table


def check_finite(cmp: Comparison) -> None:
    """Any non-finite score is an error naming the pair (never a number in a table)."""
    for key, vals in cmp.values.items():
        if cmp.notes.get(key):  # NaN where a note says why
            continue
        bad = np.argwhere(~np.isfinite(vals))
        if bad.size:
            i, j, _ = bad[0]
            raise NnsimError(
                f"non-finite {key} score for {cmp.names[i]} vs {cmp.names[j]}; check these "
                "spaces' values (they may be outside what float32 can hold)."
            )
