"""Approximate neighbour tables for large spaces (hnswlib HNSW graphs), with measured error.

An approximation changes S_n itself, so it is never silent: :func:`measure_recall` compares
the approximate lists of a random sample of query rows with exact ones (the exact engine on
those rows against the whole space) and :func:`sn_error` gives, for a pair of spaces, the
error that the approximation puts into S_n on the same sample, with a bootstrap CI.

Why hnswlib (measured here by ``benchmarks/bench_scale.py``: 50,000 x 100 clustered vectors,
k = 100, 2 threads, equal graph parameters, same run): hnswlib built its index in 2.54 s and
answered every query in 2.48 s, faiss ``IndexHNSWFlat`` needed 2.91 s and 3.11 s, both at
recall@100 0.99999.  Both are HNSW; hnswlib is the faster CPU implementation of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from nnsim.errors import ConfigError
from nnsim.neighbors import ExactEngine, check_distance, new_table
from nnsim.progress import progress
from nnsim.similarity import pair_overlap
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HnswOptions:
    """Graph and search parameters of hnswlib (``neighbors.approximate`` in ``conf/``)."""

    M: int
    ef_construction: int
    ef_search: int
    threads: int
    seed: int
    deterministic: bool

    def __post_init__(self) -> None:
        if self.M < 2 or self.ef_construction < 1 or self.threads < 1:
            raise ConfigError(
                "neighbors.approximate: M >= 2, ef_construction >= 1 and threads >= 1 needed."
            )


def approximate_neighbors(
    X: np.ndarray,
    k: int,
    distance: str,
    *,
    options: HnswOptions,
    name: str = "space",
    out: tuple[np.ndarray, np.ndarray] | None = None,
    show_progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate ``k`` nearest neighbours of every row (the engine's table contract).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    k : int
        ``1 <= k <= n - 1``.
    distance : {"cosine", "euclidean"}
        Same distances as :func:`nnsim.neighbors.neighbors` (``1 - cos``; euclidean).
    options : HnswOptions
    name : str
    out : (np.ndarray, np.ndarray), optional
        Arrays to fill (e.g. memory-mapped ``.npy``), ``(n, k)`` int32 and float32; the
        queries run in blocks of rows, so memory stays bounded.
    show_progress : bool
        tqdm bars over the graph's construction and the queries.

    Returns
    -------
    indices : np.ndarray [shape=(n, k), dtype=int32]
        Self excluded, sorted by (distance, index).
    distances : np.ndarray [shape=(n, k), dtype=float32]
    """
    import hnswlib

    check_distance(distance)
    X = as_matrix(X, name)
    n, d = X.shape
    if not 1 <= k <= n - 1:
        raise ConfigError(f"{name}: cutoff {k} needs at least {k + 1} tracks, but there are {n}.")
    cosine = distance == "cosine"
    index = hnswlib.Index(space="cosine" if cosine else "l2", dim=d)
    index.init_index(
        max_elements=n,
        ef_construction=options.ef_construction,
        M=options.M,
        random_seed=options.seed,
    )
    # A graph built by several threads depends on their timing; built by one it is the same
    # in every run (queries are deterministic with any number of threads).
    build = 20_000  # rows added at a time: in order, so one thread builds the same graph
    for s in progress(
        range(0, n, build), desc=f"hnsw graph {name}", unit="block", enabled=show_progress
    ):
        index.add_items(
            X[s : s + build],
            np.arange(s, min(n, s + build)),
            num_threads=1 if options.deterministic else options.threads,
        )
    index.set_num_threads(options.threads)
    want = min(n, k + 1)
    index.set_ef(max(options.ef_search, want))
    indices, dist = out if out is not None else new_table(n, k)
    step = max(1, (64 * 2**20) // (24 * want))  # query rows at a time: bounded memory
    for s in progress(
        range(0, n, step), desc=f"hnsw queries {name}", unit="block", enabled=show_progress
    ):
        e = min(n, s + step)
        nbr, dst = index.knn_query(X[s:e], k=want)
        indices[s:e], dist[s:e] = _without_self(nbr, dst, np.arange(s, e), k, cosine)
    return indices, dist


def _without_self(
    nbr: np.ndarray, dst: np.ndarray, rows: np.ndarray, k: int, cosine: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each query from its own list (or the last entry when the graph missed it) and
    order by (distance, index), so ties are broken as in the exact engine."""
    b, want = nbr.shape
    nbr = nbr.astype(np.int64)
    d = dst.astype(np.float64)
    if not cosine:
        d = np.sqrt(np.maximum(d, 0.0))  # hnswlib's l2 is squared
    own = nbr == rows[:, None]
    drop = np.where(own.any(axis=1), own.argmax(axis=1), want - 1)
    keep = np.ones_like(own)
    keep[np.arange(b), drop] = False
    nbr = nbr[keep].reshape(b, want - 1)[:, :k]
    d = d[keep].reshape(b, want - 1)[:, :k]
    order = np.lexsort((nbr, d), axis=1)
    return (
        np.take_along_axis(nbr, order, axis=1).astype(np.int32),
        np.take_along_axis(d, order, axis=1).astype(np.float32),
    )


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
    return pair_overlap(A, B, cutoffs, measures=["overlap"], rbo_p=0.5).per_track


def _boot_ci(x: np.ndarray, n_boot: int, level: float, seed: int) -> tuple[float, float]:
    if n_boot <= 0 or x.size < 2:
        return float(x.mean()), float(x.mean())
    rng = np.random.default_rng(seed)
    means = np.array([x[rng.integers(0, x.size, x.size)].mean() for _ in range(n_boot)])
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def _means_with_ci(
    per: np.ndarray, cutoffs: np.ndarray, key: str, *, n_boot: int, ci_level: float, seed: int
) -> list[dict[str, float]]:
    """Per cutoff: ``cutoff``, the mean of ``per[:, j]`` as ``key`` and its bootstrap CI
    (``key_low``, ``key_high``)."""
    out = []
    for j, c in enumerate(cutoffs):
        lo, hi = _boot_ci(per[:, j], n_boot, ci_level, seed)
        out.append(
            {"cutoff": int(c), key: float(per[:, j].mean()), f"{key}_low": lo, f"{key}_high": hi}
        )
    return out


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
