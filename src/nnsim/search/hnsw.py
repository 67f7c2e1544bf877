"""Approximate neighbour tables for large spaces (hnswlib HNSW graphs), with measured error.

An approximation changes S_n itself, so it is never silent: :mod:`nnsim.search.audit`
measures the recall of a random sample of query rows and the error it puts into S_n.

Why hnswlib (measured here by ``benchmarks/bench_scale.py``: 50,000 x 100 clustered vectors,
k = 100, 2 threads, equal graph parameters, same run): hnswlib built its index in 2.54 s and
answered every query in 2.48 s, faiss ``IndexHNSWFlat`` needed 2.91 s and 3.11 s, both at
recall@100 0.99999.  Both are HNSW; hnswlib is the faster CPU implementation of it.
"""

from __future__ import annotations

import logging

import numpy as np

from nnsim.errors import ConfigError
from nnsim.progress import progress
from nnsim.search.exact import check_distance, new_table
from nnsim.settings import HnswSettings
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)


def approximate_neighbors(
    X: np.ndarray,
    k: int,
    distance: str,
    *,
    options: HnswSettings,
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
        Same distances as :func:`nnsim.search.exact.neighbors` (``1 - cos``; euclidean).
    options : HnswSettings
        ``neighbors.approximate`` of the settings.
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
    check_distance(distance)
    return hnsw_table(
        X, k, distance, options=options, name=name, out=out, show_progress=show_progress
    )


def hnsw_table(
    X: np.ndarray,
    k: int,
    distance: str,
    *,
    options: HnswSettings,
    name: str,
    out: tuple[np.ndarray, np.ndarray] | None,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`approximate_neighbors` for a distance checked where the settings entered."""
    import hnswlib

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
