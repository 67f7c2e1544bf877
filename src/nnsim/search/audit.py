"""How far approximate neighbour tables are from exact ones, measured, never assumed.

:func:`measure_recall` compares the approximate lists of a random sample of query rows with
exact ones (the exact engine on those rows against the whole space) and :func:`sn_error`
gives, for a pair of spaces, the error that the approximation puts into S_n on the same
sample.  Both carry the code base's one bootstrap CI (:func:`nnsim.similarity.mean_ci`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nnsim.search.exact import ExactEngine
from nnsim.similarity import mean_ci, pair_overlap
from nnsim.spaces import Space
from nnsim.tables import NeighborTable

log = logging.getLogger(__name__)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """A sorted random sample of ``min(size, n)`` query rows."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(int(size), n), replace=False)).astype(np.int64)


def exact_rows(X: np.ndarray, rows: np.ndarray, k: int, distance: str, name: str) -> np.ndarray:
    """Exact neighbour lists of ``rows`` against the whole space (the exact engine)."""
    engine = ExactEngine.prepare(X, k, distance, name)
    out = np.empty((rows.size, k), dtype=np.int32)
    step = max(1, (256 * 2**20) // (4 * engine.n))
    for s in range(0, rows.size, step):
        out[s : s + step] = engine.rows_at(rows[s : s + step])[0]
    return out


def _overlap(A: np.ndarray, B: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """Per-row S_n of two tables at each cutoff, shape ``(rows, c)`` (the engine's kernel)."""
    return pair_overlap(A, B, cutoffs, measures=["overlap"], rbo_p=None).per_track


def _means_with_ci(
    per: np.ndarray, cutoffs: np.ndarray, key: str, *, n_boot: int, ci_level: float, seed: int
) -> list[dict[str, float]]:
    """Per cutoff: ``cutoff``, the mean of ``per[:, j]`` as ``key`` and its bootstrap CI
    (``key_low``, ``key_high``)."""
    mean, lo, hi = mean_ci(per, n_boot=n_boot, level=ci_level, seed=seed)
    return [
        {
            "cutoff": int(c),
            key: float(mean[j]),
            f"{key}_low": float(lo[j]),
            f"{key}_high": float(hi[j]),
        }
        for j, c in enumerate(cutoffs)
    ]


def measure_recall(
    approx: np.ndarray,
    exact: np.ndarray,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    *,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> list[dict[str, float]]:
    """Recall@n of the approximate lists on the sampled rows, with a bootstrap CI.

    Parameters
    ----------
    approx : np.ndarray [shape=(n_tracks, >= max cutoff)]
        The approximate table (all rows).
    exact : np.ndarray [shape=(len(rows), >= max cutoff)]
        Exact lists of ``rows``.
    rows : np.ndarray [shape=(s,)]
        The sampled query rows.
    cutoffs : np.ndarray [shape=(c,)]

    Returns
    -------
    list of dict
        Per cutoff: ``cutoff, recall, recall_low, recall_high, sample``.
    """
    per = _overlap(np.asarray(approx[rows]), exact, cutoffs)
    out = _means_with_ci(per, cutoffs, "recall", n_boot=n_boot, ci_level=ci_level, seed=seed)
    return [{**r, "sample": int(rows.size)} for r in out]


def sn_error(
    approx_a: np.ndarray,
    approx_b: np.ndarray,
    exact_a: np.ndarray,
    exact_b: np.ndarray,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    *,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> list[dict[str, float]]:
    """Error the approximation puts into S_n of a pair: approximate minus exact, on ``rows``.

    Both S_n are computed on the same sampled reference tracks (paired), so the CI is that of
    the mean per-track difference.

    Parameters
    ----------
    approx_a, approx_b : np.ndarray [shape=(n_tracks, >= max cutoff)]
        The tables as computed (an exact space passes its exact table).
    exact_a, exact_b : np.ndarray [shape=(len(rows), >= max cutoff)]
        Exact lists of the sampled rows.

    Returns
    -------
    list of dict
        Per cutoff: ``cutoff, sn_error, sn_error_low, sn_error_high``.
    """
    diff = _overlap(np.asarray(approx_a[rows]), np.asarray(approx_b[rows]), cutoffs) - _overlap(
        exact_a, exact_b, cutoffs
    )
    return _means_with_ci(diff, cutoffs, "sn_error", n_boot=n_boot, ci_level=ci_level, seed=seed)


def approximation_report(
    spaces: Sequence[Space],
    tables: Mapping[str, NeighborTable],
    cut: np.ndarray,
    dist_of: Mapping[str, str],
    *,
    sample: int,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Recall of each approximate table and the error it puts into S_n of each pair.

    One random sample of ``sample`` query rows (``neighbors.recall_sample``, seed
    ``compare.seed``) serves every space, so pair errors are paired.

    Parameters
    ----------
    spaces : sequence of Space
        The compared (aligned) spaces.
    tables : mapping of str to NeighborTable
        Their tables; those whose certificate is not exact are audited.
    cut : np.ndarray [shape=(c,)]
        Cutoffs.
    dist_of : mapping of str to str
        Each space's distance.

    Returns
    -------
    recall : pandas.DataFrame
        ``space, cutoff, recall, recall_low, recall_high, sample``.
    sn_errors : pandas.DataFrame
        ``src, dst, cutoff, sn_error, sn_error_low, sn_error_high``.
    """
    approx = [s.name for s in spaces if not tables[s.name].certificate.exact]
    n = spaces[0].n_tracks
    rows = sample_rows(n, sample, seed)
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
                n_boot=n_boot,
                ci_level=ci_level,
                seed=seed,
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
                n_boot=n_boot,
                ci_level=ci_level,
                seed=seed,
            ):
                err_rows.append({"src": a, "dst": b, **e})
    log.info(
        "approximate tables for %s: recall and S_n error measured on %d query rows",
        ", ".join(approx),
        rows.size,
    )
    return pd.DataFrame(rec_rows), pd.DataFrame(err_rows)
