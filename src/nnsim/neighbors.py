"""Exact k-nearest-neighbour tables by blocked matrix products.

A neighbour table is ``(indices int32 (n, k), distances float32 (n, k))``: row ``i`` lists
the ``k`` nearest other tracks of track ``i`` sorted by distance, the query itself excluded
by index (not by dropping column 0, which with duplicate rows is not always the query), and
ties broken by the smaller track index so results are deterministic.

The distance matrix is never held whole: rows are processed in blocks whose size is bounded
by ``max_block_mb``; selection of the ``k`` best of each row is a single pass with a bounded
heap compiled by numba (parallel over rows).
"""

from __future__ import annotations

import logging
from typing import Literal

import numba
import numpy as np

from nnsim.errors import ConfigError, InputError, preview
from nnsim.progress import progress
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)

Distance = Literal["cosine", "euclidean"]
#: Distances understood by :func:`neighbors`.
VALID_DISTANCES: tuple[str, ...] = ("cosine", "euclidean")


def check_distance(distance: str) -> str:
    """Return ``distance`` if valid, else raise a :class:`ConfigError` listing valid ones."""
    if distance not in VALID_DISTANCES:
        raise ConfigError(
            f"unknown distance {distance!r}; valid distances: {', '.join(VALID_DISTANCES)}."
        )
    return distance


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


@numba.njit(cache=True)
def _compact(bv: np.ndarray, bi: np.ndarray, size: int, k: int) -> float:
    """Keep the best ``k`` of the first ``size`` buffered candidates in place.

    The buffer is in increasing column order, so among candidates equal to the threshold
    the first ones (smaller indices) are kept.  Returns the new acceptance threshold.
    """
    t = np.partition(bv[:size], size - k)[size - k]
    greater = 0
    for p in range(size):
        if bv[p] > t:
            greater += 1
    ties_left = k - greater
    w = 0
    for p in range(size):
        v = bv[p]
        if v > t or (v == t and ties_left > 0):
            if v == t:
                ties_left -= 1
            bv[w] = v
            bi[w] = bi[p]
            w += 1
    return t


@numba.njit(cache=True)
def _sample_floor(
    S: np.ndarray,
    r: int,
    scale: np.ndarray,
    offset: np.ndarray,
    me: int,
    stride: int,
    n_sample: int,
    rank: int,
) -> float:
    """``rank``-th best score among every ``stride``-th column of row ``r`` (self skipped).

    Keeps the best ``rank`` values in a small descending array (insertion), which is far
    cheaper than a general selection for ``rank`` much smaller than ``n_sample``.
    """
    top = np.full(rank, -np.inf, dtype=np.float32)
    for s in range(n_sample):
        j = s * stride
        if j == me:
            continue
        v = S[r, j] * scale[j] + offset[j]
        if v > top[rank - 1]:
            p = rank - 1
            while p > 0 and top[p - 1] < v:
                top[p] = top[p - 1]
                p -= 1
            top[p] = v
    return top[rank - 1]


@numba.njit(cache=True)
def _scan_row(
    S: np.ndarray,
    r: int,
    scale: np.ndarray,
    offset: np.ndarray,
    me: int,
    k: int,
    floor: float,
    bv: np.ndarray,
    bi: np.ndarray,
) -> int:
    """Buffer the best ``k`` scores of row ``r`` among those ``>= floor``; return the count.

    Candidates are appended in increasing column order; a full buffer is cut back to its
    best ``k`` (raising the threshold ``t``), so an equal score never displaces a kept one.
    """
    n = S.shape[1]
    cap = bv.shape[0]
    size = 0
    t = -np.inf
    for j in range(n):
        v = S[r, j] * scale[j] + offset[j]
        if v >= floor and v > t and j != me:
            bv[size] = v
            bi[size] = j
            size += 1
            if size == cap:
                t = _compact(bv, bi, size, k)
                size = k
    return size


@numba.njit(parallel=True, cache=True)
def _topk_block(
    S: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    row_start: int,
    k: int,
    out_idx: np.ndarray,
    out_score: np.ndarray,
) -> None:
    """Best ``k`` columns of every row of ``score = S * scale + offset``, self excluded.

    A strided sample of the row gives a floor that the ``k``-th best score very likely
    exceeds; scanning only buffers scores at or above it.  If fewer than ``k`` scores reach
    the floor, the row is rescanned without it, so the result is always exact.
    """
    b, n = S.shape
    cap = 4 * k
    n_sample = 2048
    use_floor = n >= 4 * n_sample and k * 8 < n
    for r in numba.prange(b):
        me = row_start + r
        bv = np.empty(cap, dtype=np.float32)
        bi = np.empty(cap, dtype=np.int32)
        floor = -np.inf
        if use_floor:
            # Expected sample hits in the top k, doubled, plus a margin.
            rank = min(n_sample - 1, 2 * (k * n_sample) // n + 16)
            floor = _sample_floor(S, r, scale, offset, me, n // n_sample, n_sample, rank)
        size = _scan_row(S, r, scale, offset, me, k, floor, bv, bi)
        if size < k:
            size = _scan_row(S, r, scale, offset, me, k, -np.inf, bv, bi)
        if size > k:
            _compact(bv, bi, size, k)
        order = np.argsort(-bv[:k], kind="mergesort")  # stable: index order among ties
        for p in range(k):
            out_score[r, p] = bv[order[p]]
            out_idx[r, p] = bi[order[p]]


def block_rows_for(n: int, max_block_mb: float) -> int:
    """Rows per block so that one ``(rows, n)`` float32 block fits in ``max_block_mb``."""
    if max_block_mb <= 0:
        raise ConfigError(f"max_block_mb must be positive, got {max_block_mb}.")
    return int(max(1, min(n, (max_block_mb * 2**20) // (4 * n))))


def neighbors(
    X: np.ndarray,
    k: int,
    distance: Distance | str = "cosine",
    *,
    max_block_mb: float = 256.0,
    show_progress: bool = False,
    name: str = "space",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row among the other rows.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Vectors (converted to float32).
    k : int
        Neighbours per row, ``1 <= k <= n - 1``.
    distance : {"cosine", "euclidean"}
        Cosine distance ``1 - cos`` or Euclidean distance.
    max_block_mb : float
        Memory bound of one block of the score matrix (rows x n float32), in MiB.
    show_progress : bool
        Show a tqdm bar over blocks.
    name : str
        Name of the space, for messages.

    Returns
    -------
    indices : np.ndarray [shape=(n, k), dtype=int32]
        Neighbour rows, nearest first; self excluded; ties broken by smaller index.
    distances : np.ndarray [shape=(n, k), dtype=float32]
        Their distances, non-decreasing along each row.

    Raises
    ------
    InputError
        All-zero rows under cosine (listed), NaN/inf rows, bad shapes.
    ConfigError
        Unknown distance, or ``k`` out of range.

    Examples
    --------
    >>> X = np.array([[0, 0], [1, 0], [3, 0]], dtype=np.float32)
    >>> idx, dist = neighbors(X, 1, "euclidean")
    >>> idx.ravel().tolist(), dist.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    check_distance(distance)
    X = as_matrix(X, name)
    n = X.shape[0]
    k = int(k)
    if not 1 <= k <= n - 1:
        raise ConfigError(
            f"{name}: cutoff {k} needs at least {k + 1} tracks, but there are {n}. "
            f"Use cutoffs below {n}."
        )
    sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    if distance == "cosine":
        zeros = np.flatnonzero(sq == 0)
        if zeros.size:
            raise InputError(
                f"{name}: {zeros.size} all-zero row(s) have no cosine direction "
                f"(0-based rows: {preview(zeros)}). Remove them, use euclidean distance, "
                "or drop them from every space (--drop-zero-rows)."
            )
        inv = (1.0 / np.sqrt(sq)).astype(np.float32)
        scale, offset = inv, np.zeros(n, dtype=np.float32)
    else:
        sq32 = sq.astype(np.float32)
        scale, offset = np.full(n, 2.0, dtype=np.float32), -sq32
    indices = np.empty((n, k), dtype=np.int32)
    scores = np.empty((n, k), dtype=np.float32)
    rows = block_rows_for(n, max_block_mb)
    XT = X.T
    buf = np.empty((rows, n), dtype=np.float32)  # reused: one allocation, no page faults per block
    starts = range(0, n, rows)
    for start in progress(starts, desc=f"neighbours {name}", unit="block", enabled=show_progress):
        stop = min(n, start + rows)
        S = np.matmul(X[start:stop], XT, out=buf[: stop - start])
        _topk_block(S, scale, offset, start, k, indices[start:stop], scores[start:stop])
    if distance == "cosine":
        dist = 1.0 - scores * scale[:, None]
    else:
        dist = np.sqrt(np.maximum(sq.astype(np.float32)[:, None] - scores, 0.0))
    return indices, dist.astype(np.float32, copy=False)
