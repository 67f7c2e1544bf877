"""Exact k-nearest-neighbour tables: blocked float32 products, then exact float64 re-ranking.

A neighbour table is ``(indices int32 (n, k), distances float32 (n, k))``: row ``i`` lists
the ``k`` nearest other tracks of track ``i`` sorted by distance, the query itself excluded
by index (not by dropping column 0, which with duplicate rows is not always the query), and
ties broken by the smaller track index so results are deterministic.

How the answer is made exact
----------------------------
1. The space is put on a safe scale in float64 first: cosine uses unit rows, euclidean a
   centred copy divided by its largest row norm.  Neither changes any neighbour list, and
   the float32 products can then neither overflow nor underflow nor cancel catastrophically.
2. A blocked float32 pass (``max_block_mb`` bounds one block of scores) keeps ``k + margin``
   candidates per row.
3. The candidates are re-ranked by distances computed in float64 from the vectors
   themselves (direct differences; cosine as ``||u - v||^2 / 2`` of the float64 unit rows,
   which is 0 for parallel vectors), ties broken by the smaller index.
4. A row is *certified* when the float32 score of its last candidate is worse than its
   ``k``-th best by more than twice a rigorous bound of the float32 error; then no track
   outside the candidates can enter the exact top ``k``.  Rows that are not certified (many
   exact or near ties) are recomputed against every track in float64.

So the indices equal those of a float64 evaluation of every pair (up to float64 rounding,
~1e-15 relative), are the same for every ``max_block_mb`` and never depend on where a row
falls in a block; equal vectors get equal distances.
"""

from __future__ import annotations

import logging
from typing import Literal

import numba
import numpy as np

from nnsim.errors import ConfigError, InputError, NnsimError, preview
from nnsim.progress import progress
from nnsim.settings import DISTANCES
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)

Distance = Literal["cosine", "euclidean"]
#: Distances understood by :func:`neighbors` (defined once, in :mod:`nnsim.settings`).
VALID_DISTANCES: tuple[str, ...] = DISTANCES


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
def _sample_floor(S: np.ndarray, r: int, stride: int, n_sample: int, rank: int) -> float:
    """``rank``-th best score among every ``stride``-th column of row ``r``.

    Keeps the best ``rank`` values in a small descending array (insertion), which is far
    cheaper than a general selection for ``rank`` much smaller than ``n_sample``.
    """
    top = np.full(rank, -np.inf, dtype=np.float32)
    for s in range(n_sample):
        v = S[r, s * stride]
        if v > top[rank - 1]:
            p = rank - 1
            while p > 0 and top[p - 1] < v:
                top[p] = top[p - 1]
                p -= 1
            top[p] = v
    return top[rank - 1]


@numba.njit(cache=True)
def _scan_row(S: np.ndarray, r: int, k: int, floor: float, bv: np.ndarray, bi: np.ndarray) -> int:
    """Buffer the best ``k`` scores of row ``r`` among those ``>= floor``; return the count.

    Candidates are appended in increasing column order; a full buffer is cut back to its
    best ``k`` (raising the threshold), so an equal score never displaces a kept one.  One
    comparison per column in the common case.
    """
    n = S.shape[1]
    cap = bv.shape[0]
    size = 0
    t = -np.inf
    for j in range(n):
        v = S[r, j]
        if v >= floor and v > t:
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
    row_start: int,
    k: int,
    out_idx: np.ndarray,
    out_score: np.ndarray,
) -> None:
    """Best ``k`` columns of every row of the score block ``S``, self excluded.

    The block is a scratch buffer: each row's own column is set to -inf first.  A strided
    sample of the row gives a floor that the ``k``-th best score very likely exceeds;
    scanning only buffers scores at or above it.  If fewer than ``k`` scores reach the
    floor, the row is rescanned without it, so the result is always exact.
    """
    b, n = S.shape
    cap = 4 * k
    n_sample = 2048
    use_floor = n >= 4 * n_sample and k * 8 < n
    for r in numba.prange(b):
        S[r, row_start + r] = -np.inf
        bv = np.empty(cap, dtype=np.float32)
        bi = np.empty(cap, dtype=np.int32)
        floor = -np.inf
        if use_floor:
            # Expected sample hits in the top k, doubled, plus a margin.
            rank = min(n_sample - 1, 2 * (k * n_sample) // n + 16)
            floor = _sample_floor(S, r, n // n_sample, n_sample, rank)
        size = _scan_row(S, r, k, floor, bv, bi)
        if size < k:
            size = _scan_row(S, r, k, -np.inf, bv, bi)
        if size > k:
            _compact(bv, bi, size, k)
        order = np.argsort(-bv[:k], kind="mergesort")  # stable: index order among ties
        for p in range(k):
            out_score[r, p] = bv[order[p]]
            out_idx[r, p] = bi[order[p]]


def block_rows_for(n: int, max_block_mb: float) -> int:
    """Rows per block so that one ``(rows, n)`` float32 block fits in ``max_block_mb``."""
    if not max_block_mb > 0:
        raise ConfigError(f"max_block_mb must be positive, got {max_block_mb}.")
    return int(max(1, min(n, (max_block_mb * 2**20) // (4 * n))))


#: Unit roundoff of float32.
_U32 = 2.0**-24


def candidate_margin(k: int, n: int) -> int:
    """Extra float32 candidates per row kept for the exact re-ranking (``k + margin <= n-1``)."""
    return int(min(n - 1 - k, max(8, k // 16)))


def float32_error_bound(dim: int) -> float:
    """Bound on the error of one float32 score of the scaled vectors (norms <= 1).

    Rounding the float64 vectors to float32 (``2u``), a dot product of length ``dim`` in any
    summation order (``dim * u``), the euclidean score ``2 x.y - |y|^2`` (twice the dot
    product plus the rounded squared norm and the final additions), with a factor 2 of safety.
    """
    return 2.0 * (2.0 * (dim + 2) + 8.0) * _U32


@numba.njit(inline="always", fastmath={"reassoc"})
def _sqdist(X: np.ndarray, mul: np.ndarray, r: int, j: int) -> float:
    """``||X[r] mul[r] - X[j] mul[j]||^2`` in float64 (float32 storage read, exact conversion).

    Reading the float32 matrix halves the memory traffic of gathering candidate rows; every
    distance is computed by this one function, so equal rows give equal distances.
    """
    a = mul[r]
    b = mul[j]
    acc = 0.0
    for t in range(X.shape[1]):
        diff = np.float64(X[r, t]) * a - np.float64(X[j, t]) * b
        acc += diff * diff
    return acc


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _rerank(
    X: np.ndarray,
    div: np.ndarray,
    cand: np.ndarray,
    k: int,
    cosine: bool,
    out_idx: np.ndarray,
    out_dist: np.ndarray,
) -> None:
    """Order each row's candidates by exact float64 distance (ties: smaller index first).

    The candidates arrive in float32 order, which is nearly the exact one, so an insertion
    sort on the total order ``(distance, index)`` is close to linear; the result does not
    depend on the order the candidates arrive in.
    """
    n, kc = cand.shape
    for r in numba.prange(n):
        ci = np.empty(kc, dtype=np.int32)
        dist = np.empty(kc, dtype=np.float64)
        for p in range(kc):
            j = cand[r, p]
            v = _sqdist(X, div, r, j)
            q = p
            while q > 0 and (dist[q - 1] > v or (dist[q - 1] == v and ci[q - 1] > j)):
                dist[q] = dist[q - 1]
                ci[q] = ci[q - 1]
                q -= 1
            dist[q] = v
            ci[q] = j
        for p in range(k):
            out_idx[r, p] = ci[p]
            out_dist[r, p] = 0.5 * dist[p] if cosine else np.sqrt(dist[p])


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _full_rows(
    X: np.ndarray,
    div: np.ndarray,
    rows: np.ndarray,
    k: int,
    cosine: bool,
    out_idx: np.ndarray,
    out_dist: np.ndarray,
) -> None:
    """Exact float64 top ``k`` of the given rows against every other row."""
    n = X.shape[0]
    for a in numba.prange(rows.shape[0]):
        r = rows[a]
        dist = np.empty(n - 1, dtype=np.float64)
        idx = np.empty(n - 1, dtype=np.int32)
        w = 0
        for j in range(n):
            if j == r:
                continue
            dist[w] = _sqdist(X, div, r, j)
            idx[w] = j
            w += 1
        order = np.argsort(dist, kind="mergesort")
        for p in range(k):
            q = order[p]
            out_idx[r, p] = idx[q]
            out_dist[r, p] = 0.5 * dist[q] if cosine else np.sqrt(dist[q])


def _all_rows_equal(A: np.ndarray) -> bool:
    """Every row equals the first (cheap rejection on a few rows before the full check)."""
    head = A[: min(A.shape[0], 8)]
    if not np.all(head == A[0]):
        return False
    return bool(np.all(A == A[0]))


def _prepare(X: np.ndarray, distance: str, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row divisors for the exact distances, float32 scaled vectors, and 'all equal'.

    Returns
    -------
    mul : np.ndarray [shape=(n,), dtype=float64]
        The exact distances use ``X[i] * mul[i]`` in float64: unit rows (cosine: inverse
        row norms) or the vectors themselves (euclidean: ones; direct differences).
    work : np.ndarray [shape=(n, d), dtype=float32]
        Rows of norm <= 1 for the float32 pass (cosine: unit rows; euclidean: centred and
        divided by the largest row norm).
    constant : bool
        Every row is the same point (euclidean) or direction (cosine).
    """
    X64 = X.astype(np.float64)
    if distance == "cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", X64, X64))
        zeros = np.flatnonzero(norms == 0)
        if zeros.size:
            raise InputError(
                f"{name}: {zeros.size} all-zero row(s) have no cosine direction "
                f"(0-based rows: {preview(zeros)}). Remove them, use euclidean distance, "
                "or drop them from every space (--drop-zero-rows)."
            )
        div = 1.0 / norms
        work64 = X64 * div[:, None]
        constant = _all_rows_equal(work64)
    else:
        div = np.ones(X.shape[0])
        centred = X64 - X64.mean(axis=0)
        top = float(np.sqrt(np.einsum("ij,ij->i", centred, centred)).max())
        work64 = centred / top if top > 0 else centred
        constant = _all_rows_equal(X)
    return div, work64.astype(np.float32), constant


def neighbors(
    X: np.ndarray,
    k: int,
    distance: Distance | str,
    *,
    max_block_mb: float,
    show_progress: bool = False,
    name: str = "space",
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest neighbours of every row among the other rows.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Vectors (any finite float32 values; translation and scale are handled).
    k : int
        Neighbours per row, ``1 <= k <= n - 1``.
    distance : {"cosine", "euclidean"}
        Cosine distance ``1 - cos`` or Euclidean distance.
    max_block_mb : float
        Memory bound of one block of the float32 score matrix (rows x n), in MiB.  The
        result does not depend on it.
    show_progress : bool
        Show a tqdm bar over blocks.
    name : str
        Name of the space, for messages.

    Returns
    -------
    indices : np.ndarray [shape=(n, k), dtype=int32]
        Neighbour rows, nearest first; self excluded; ties broken by smaller index.
    distances : np.ndarray [shape=(n, k), dtype=float32]
        Their distances (computed in float64, rounded once), non-decreasing along each row.

    Raises
    ------
    InputError
        All-zero rows under cosine (listed), NaN/inf rows, bad shapes.
    ConfigError
        Unknown distance, or ``k`` out of range.
    NnsimError
        A non-finite distance or an index that was not computed (a bug: never returned).

    Examples
    --------
    >>> X = np.array([[0, 0], [1, 0], [3, 0]], dtype=np.float32)
    >>> idx, dist = neighbors(X, 1, "euclidean", max_block_mb=1)
    >>> idx.ravel().tolist(), dist.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    check_distance(distance)
    X = as_matrix(X, name)
    n, dim = X.shape
    k = int(k)
    if not 1 <= k <= n - 1:
        raise ConfigError(
            f"{name}: cutoff {k} needs at least {k + 1} tracks, but there are {n}. "
            f"Use cutoffs below {n}."
        )
    rows = block_rows_for(n, max_block_mb)
    cosine = distance == "cosine"
    div, work, constant = _prepare(X, distance, name)
    indices = np.empty((n, k), dtype=np.int32)
    dist64 = np.empty((n, k), dtype=np.float64)
    if constant:
        log.warning(
            "%s: every track is the same %s; every neighbour list is a tie (broken by track "
            "index) and S_n with this space is at chance level.",
            name,
            "direction" if cosine else "point",
        )
        _full_rows(X, div, np.arange(n, dtype=np.int64), k, cosine, indices, dist64)
        return _checked(indices, dist64, n, name)
    kc = k + candidate_margin(k, n)
    if cosine:
        left, right = work, work  # score = cos
    else:
        # score = 2 x.y - |y|^2 (larger is nearer) straight out of one product:
        # [x, 1] . [2y, -|y|^2]; doubling is exact.
        sq = np.einsum("ij,ij->i", work, work, dtype=np.float64)
        left = np.hstack([work, np.ones((n, 1), dtype=np.float32)])
        right = np.hstack([2 * work, (-sq).astype(np.float32)[:, None]])
    cand = np.empty((n, kc), dtype=np.int32)
    scores = np.empty((n, kc), dtype=np.float32)
    RT = right.T
    buf = np.empty((rows, n), dtype=np.float32)  # reused: one allocation, no page faults per block
    starts = range(0, n, rows)
    for start in progress(starts, desc=f"neighbours {name}", unit="block", enabled=show_progress):
        stop = min(n, start + rows)
        S = np.matmul(left[start:stop], RT, out=buf[: stop - start])
        _topk_block(S, start, kc, cand[start:stop], scores[start:stop])
    _rerank(X, div, cand, k, cosine, indices, dist64)
    if kc < n - 1:
        gap = scores[:, k - 1].astype(np.float64) - scores[:, kc - 1]
        uncertain = np.flatnonzero(~(gap > 2.0 * float32_error_bound(dim)))
        if uncertain.size:
            log.info(
                "%s: %d of %d rows have near-ties around the cut-off; recomputing them "
                "against every track in float64",
                name,
                uncertain.size,
                n,
            )
            _full_rows(X, div, uncertain.astype(np.int64), k, cosine, indices, dist64)
    return _checked(indices, dist64, n, name)


def _checked(
    indices: np.ndarray, dist64: np.ndarray, n: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Refuse to return an index that was not computed or a non-finite distance."""
    own = np.arange(n)[:, None]
    if indices.min() < 0 or indices.max() >= n or np.any(indices == own):
        raise NnsimError(f"{name}: the neighbour search produced invalid indices (a bug).")
    with np.errstate(over="ignore"):  # reported below, naming the space
        dist = dist64.astype(np.float32)
    if not np.all(np.isfinite(dist)):
        raise NnsimError(
            f"{name}: non-finite neighbour distances; the space's values are outside what "
            "float32 can hold. Rescale the space (S_n does not depend on its scale)."
        )
    return indices, dist


def ambiguous_cutoffs(
    distances: np.ndarray, cutoffs: np.ndarray | list[int], *, rtol: float = 1e-6
) -> np.ndarray:
    """Lists whose n-th and (n+1)-th neighbours are (nearly) equally far, per cutoff.

    At such a cutoff the list is decided by the index tie-break, not by the space: S_n is
    not well defined there.

    Parameters
    ----------
    distances : np.ndarray [shape=(n_tracks, >= max(cutoffs) + 1)]
        Sorted neighbour distances.  A cutoff equal to the table width (no (n+1)-th
        neighbour, e.g. ``n = n_tracks - 1``) counts no list as ambiguous.
    cutoffs : array_like [shape=(c,)]
    rtol : float
        Relative tolerance: ``d[n] - d[n-1] <= rtol * max(d[n], tiny)``.

    Returns
    -------
    np.ndarray [shape=(c,), dtype=int64]
        Number of ambiguous lists per cutoff.
    """
    D = np.asarray(distances, dtype=np.float64)
    out = np.zeros(len(cutoffs), dtype=np.int64)
    for c, cut in enumerate(cutoffs):
        cut = int(cut)
        if cut >= D.shape[1]:
            continue
        a, b = D[:, cut - 1], D[:, cut]
        out[c] = int(np.count_nonzero(b - a <= rtol * np.maximum(np.abs(b), 1e-300)))
    return out
