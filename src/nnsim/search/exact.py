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
2. A float32 pass keeps ``k + margin`` candidates per row.  When every row's candidate
   buffer fits in ``symmetric_mb``, the product is computed once per pair of tiles and
   serves both (it is symmetric: :func:`symmetric_table`, about half the products);
   otherwise row blocks of at most ``max_block_mb`` are searched against the whole space
   (:func:`row_block_table`).
3. The candidates are re-ranked by distances computed in float64 from the vectors
   themselves (direct differences; cosine as ``||u - v||^2 / 2`` of the float64 unit rows,
   which is 0 for parallel vectors), ties broken by the smaller index.
4. A row is *certified* when the float32 score of its last candidate is worse than its
   ``k``-th best by more than twice a rigorous bound of the float32 error; then no track
   outside the candidates can enter the exact top ``k``.  Rows that are not certified (many
   exact or near ties) are recomputed against every track in float64.

So the indices equal those of a float64 evaluation of every pair (up to float64 rounding,
~1e-15 relative), are the same for every ``max_block_mb`` and either pass and never depend
on where a row falls in a block or tile; equal vectors get equal distances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

from nnsim.errors import ConfigError, InputError, NnsimError, preview
from nnsim.progress import progress
from nnsim.settings import DISTANCES
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)

Distance = Literal["cosine", "euclidean"]


def check_distance(distance: str) -> str:
    """Return ``distance`` if valid, else raise a :class:`ConfigError` listing valid ones."""
    if distance not in DISTANCES:
        raise ConfigError(
            f"unknown distance {distance!r}; valid distances: {', '.join(DISTANCES)}."
        )
    return distance


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


@numba.njit(inline="always")
def _keep_top(top: np.ndarray, v: float) -> None:
    """Insert ``v`` into ``top``, the best scores so far in descending order (if it belongs).

    Far cheaper than a general selection when ``top`` is short against the values offered.
    """
    rank = top.shape[0]
    if v > top[rank - 1]:
        p = rank - 1
        while p > 0 and top[p - 1] < v:
            top[p] = top[p - 1]
            p -= 1
        top[p] = v


@numba.njit(cache=True)
def _sample_floor(S: np.ndarray, r: int, stride: int, n_sample: int, rank: int) -> float:
    """``rank``-th best score among every ``stride``-th column of row ``r``."""
    top = np.full(rank, -np.inf, dtype=np.float32)
    for s in range(n_sample):
        _keep_top(top, S[r, s * stride])
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
    self_cols: np.ndarray,
    k: int,
    scale: float,
    off: np.ndarray,
    out_idx: np.ndarray,
    out_score: np.ndarray,
) -> None:
    """Best ``k`` columns of every row of the product block ``S``, self excluded.

    The block is a scratch buffer: each row is first turned into scores in place
    (``scale * S[r, j] - off[j]``, see :class:`ExactEngine`) and row ``r``'s own column
    ``self_cols[r]`` is set to -inf.  A strided sample of the row gives a floor that the
    ``k``-th best score very likely exceeds; scanning only buffers scores at or above it.
    If fewer than ``k`` scores reach the floor, the row is rescanned without it, so the
    result is always exact.
    """
    b, n = S.shape
    cap = 4 * k
    n_sample = 2048
    use_floor = n >= 4 * n_sample and k * 8 < n
    s32 = np.float32(scale)
    for r in numba.prange(b):
        for j in range(n):
            S[r, j] = s32 * S[r, j] - off[j]
        S[r, self_cols[r]] = -np.inf
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


#: Rows (and columns) of one tile of the symmetric pass: a tile is computed by BLAS and
#: scanned for both its rows and its columns while it is still in the core's cache.
TILE = 512

#: Scores checked together by one vectorised count in the tile scan.
_CHUNK = 16


@numba.njit(inline="always")
def _push(bv, bi, cnt, thr, row, v, j, kc):  # type: ignore[no-untyped-def]
    """Append candidate ``j`` (score ``v``) to ``row``'s buffer; cut it back when full."""
    c = cnt[row]
    bv[row, c] = v
    bi[row, c] = j
    c += 1
    if c == bv.shape[1]:
        thr[row] = _compact(bv[row], bi[row], c, kc)
        c = kc
    cnt[row] = c


@numba.njit(nogil=True, cache=True, fastmath={"nnan", "nsz"})
def _scan_tile(S, i0, j0, diag, scale, off, bv, bi, cnt, thr, kc):  # type: ignore[no-untyped-def]
    """Offer the scores of one tile to the tracks of its rows and of its columns.

    ``S[r, q]`` is the product of tracks ``i0 + r`` and ``j0 + q``.  Track ``i0 + r`` sees
    column ``j0 + q`` with score ``scale * S[r, q] - off[j0 + q]``; on an off-diagonal tile
    (the product is symmetric) track ``j0 + q`` also sees ``i0 + r`` with score
    ``scale * S[r, q] - off[i0 + r]``.  On a diagonal tile only the rows offer (they cover
    both orders), the track itself skipped.  A score is buffered when it reaches the track's
    threshold.  Sixteen scores at a time are first counted against their thresholds (one
    vectorised loop, written in this function: a call or an index passed in stops the
    vectorisation); only a chunk with a hit is looked at score by score.  Single-threaded
    and without the GIL: threads scan tiles of disjoint tracks at the same time.
    """
    b, w = S.shape
    s32 = np.float32(scale)
    full = w - w % _CHUNK
    off_j = off[j0 : j0 + w]  # views: the thresholds of the columns' tracks as they rise
    thr_j = thr[j0 : j0 + w]
    for r in range(b):
        row = i0 + r
        o = off[row]
        Sr = S[r]
        for q0 in range(0, full, _CHUNK):
            hits = 0
            t = thr[row]
            for q in range(q0, q0 + _CHUNK):
                x = s32 * Sr[q]
                hits += ((x - off_j[q]) >= t) + ((x - o) >= thr_j[q])
            if hits == 0:
                continue
            for q in range(q0, q0 + _CHUNK):
                x = s32 * Sr[q]
                v = x - off_j[q]
                if v >= thr[row] and not (diag and q == r):
                    _push(bv, bi, cnt, thr, row, v, j0 + q, kc)
                if not diag:
                    u = x - o
                    if u >= thr_j[q]:
                        _push(bv, bi, cnt, thr, j0 + q, u, row, kc)
        # The ragged end, score by score: the same code as above, written out again on purpose
        # (one shared inline function measured 10% slower on the whole scan).
        for q in range(full, w):
            x = s32 * Sr[q]
            v = x - off_j[q]
            if v >= thr[row] and not (diag and q == r):
                _push(bv, bi, cnt, thr, row, v, j0 + q, kc)
            if not diag:
                u = x - o
                if u >= thr_j[q]:
                    _push(bv, bi, cnt, thr, j0 + q, u, row, kc)


def tile_rounds(n_tiles: int) -> list[list[tuple[int, int]]]:
    """Every pair of tiles ``(a, b)``, ``a <= b``, in rounds of pairs that share no tile.

    The circle method of round-robin tournaments: ``n_tiles - 1`` rounds (``n_tiles`` if
    odd) of disjoint off-diagonal pairs, then one round of the diagonal tiles.  Tiles of one
    round touch disjoint tracks, so threads may scan them at the same time.
    """
    m = n_tiles + (n_tiles % 2)  # a dummy tile (a bye) when odd
    rounds = []
    for r in range(m - 1):
        pairs = [(r, m - 1)] + [((r + k) % (m - 1), (r - k) % (m - 1)) for k in range(1, m // 2)]
        pairs = [(min(p), max(p)) for p in pairs if max(p) < n_tiles]
        if pairs:
            rounds.append(pairs)
    rounds.append([(t, t) for t in range(n_tiles)])
    return rounds


@numba.njit(parallel=True, cache=True)
def _row_floors(S, rows0, cols, scale, off, rank, floors):  # type: ignore[no-untyped-def]
    """``rank``-th best score of each row of ``S`` (rows ``rows0 + r`` against the sampled
    columns ``cols``), the row's own column left out: the starting thresholds."""
    b, w = S.shape
    s32 = np.float32(scale)
    for r in numba.prange(b):
        top = np.full(rank, -np.inf, dtype=np.float32)
        for q in range(w):
            if cols[q] != rows0 + r:
                _keep_top(top, s32 * S[r, q] - off[cols[q]])
        floors[rows0 + r] = top[rank - 1]


@numba.njit(parallel=True, cache=True)
def _finish_rows(bv, bi, cnt, kc, cand, scores):  # type: ignore[no-untyped-def]
    """Each row's best ``kc`` buffered candidates, best first (rows with fewer: skipped)."""
    n = bv.shape[0]
    for row in numba.prange(n):
        c = cnt[row]
        if c < kc:
            continue
        if c > kc:
            _compact(bv[row], bi[row], c, kc)
        order = np.argsort(-bv[row, :kc])
        for p in range(kc):
            scores[row, p] = bv[row, order[p]]
            cand[row, p] = bi[row, order[p]]


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


@numba.njit(inline="always")
def _query(X: np.ndarray, mul: np.ndarray, r: int) -> np.ndarray:
    """Row ``r`` as used by :func:`_sqdist`: ``X[r] * mul[r]`` in float64."""
    q = np.empty(X.shape[1], dtype=np.float64)
    a = mul[r]
    for t in range(X.shape[1]):
        q[t] = np.float64(X[r, t]) * a
    return q


@numba.njit(inline="always", fastmath={"reassoc"})
def _sqdist(q: np.ndarray, X: np.ndarray, mul: np.ndarray, j: int) -> float:
    """``||q - X[j] mul[j]||^2`` in float64, ``q`` a row from :func:`_query`.

    Reading the float32 matrix halves the memory traffic of gathering candidate rows; every
    distance is computed by this one function from the same float64 products, so equal rows
    give equal distances and ``d(i, j) == d(j, i)``.
    """
    b = mul[j]
    acc = 0.0
    for t in range(X.shape[1]):
        diff = q[t] - np.float64(X[j, t]) * b
        acc += diff * diff
    return acc


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})
def _rerank(
    X: np.ndarray,
    div: np.ndarray,
    cand: np.ndarray,
    row_ids: np.ndarray,
    k: int,
    cosine: bool,
    out_idx: np.ndarray,
    out_dist: np.ndarray,
) -> None:
    """Order each row's candidates by exact float64 distance (ties: smaller index first).

    Row ``r`` of ``cand`` (and of the outputs) is track ``row_ids[r]``.  The candidates
    arrive in float32 order, which is nearly the exact one, so an insertion sort on the total
    order ``(distance, index)`` is close to linear; the result does not depend on the order
    the candidates arrive in.
    """
    n, kc = cand.shape
    for r in numba.prange(n):
        ci = np.empty(kc, dtype=np.int32)
        dist = np.empty(kc, dtype=np.float64)
        qv = _query(X, div, row_ids[r])
        for p in range(kc):
            j = cand[r, p]
            v = _sqdist(qv, X, div, j)
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
    """Exact float64 top ``k`` of the given rows against every other row (output row ``a``)."""
    n = X.shape[0]
    for a in numba.prange(rows.shape[0]):
        r = rows[a]
        dist = np.empty(n - 1, dtype=np.float64)
        idx = np.empty(n - 1, dtype=np.int32)
        w = 0
        qv = _query(X, div, r)
        for j in range(n):
            if j == r:
                continue
            dist[w] = _sqdist(qv, X, div, j)
            idx[w] = j
            w += 1
        order = np.argsort(dist, kind="mergesort")
        for p in range(k):
            q = order[p]
            out_idx[a, p] = idx[q]
            out_dist[a, p] = 0.5 * dist[q] if cosine else np.sqrt(dist[q])


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
    n = X.shape[0]
    step = max(1, (32 * 2**20) // (8 * max(1, X.shape[1])))  # float64 rows at a time: bounded
    work = np.empty(X.shape, dtype=np.float32)
    if distance == "cosine":
        norms = np.empty(n)
        for s in range(0, n, step):
            c = X[s : s + step].astype(np.float64)
            norms[s : s + step] = np.sqrt(np.einsum("ij,ij->i", c, c))
        zeros = np.flatnonzero(norms == 0)
        if zeros.size:
            raise InputError(
                f"{name}: {zeros.size} all-zero row(s) have no cosine direction "
                f"(0-based rows: {preview(zeros)}). Remove them, use euclidean distance, "
                "or drop them from every space (--drop-zero-rows)."
            )
        div = 1.0 / norms
        first = X[0].astype(np.float64) * div[0]
        constant = True
        for s in range(0, n, step):
            unit = X[s : s + step].astype(np.float64) * div[s : s + step, None]
            constant = constant and bool(np.all(unit == first))
            work[s : s + step] = unit
        return div, work, constant
    div = np.ones(n)
    total = np.zeros(X.shape[1])
    for s in range(0, n, step):
        total += X[s : s + step].sum(axis=0, dtype=np.float64)
    mean = total / n
    top = 0.0
    for s in range(0, n, step):
        c = X[s : s + step].astype(np.float64) - mean
        top = max(top, float(np.sqrt(np.einsum("ij,ij->i", c, c)).max()))
    constant = True
    for s in range(0, n, step):
        c = X[s : s + step].astype(np.float64) - mean
        work[s : s + step] = c / top if top > 0 else c
        constant = constant and bool(np.all(X[s : s + step] == X[0]))
    return div, work, constant


def neighbors(
    X: np.ndarray,
    k: int,
    distance: Distance | str,
    *,
    max_block_mb: float,
    show_progress: bool = False,
    name: str = "space",
    out: tuple[np.ndarray, np.ndarray] | None = None,
    symmetric_mb: float | None = None,
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
    out : (np.ndarray, np.ndarray), optional
        Arrays to fill (e.g. memory-mapped ``.npy`` files for millions of tracks):
        ``(n, k)`` int32 and ``(n, k)`` float32.  Returned as the result.
    symmetric_mb : float, optional
        Bound of the symmetric pass's candidate buffers (``neighbors.symmetric_mb``); not
        given: ``max_block_mb`` bounds them too.  The result does not depend on it.

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
    engine = ExactEngine.prepare(X, k, distance, name)
    bound = max_block_mb if symmetric_mb is None else symmetric_mb
    indices, dist, _ = exact_table(
        engine, max_block_mb, symmetric_mb=bound, show_progress=show_progress, out=out
    )
    return indices, dist


def exact_table(
    engine: ExactEngine,
    max_block_mb: float,
    *,
    symmetric_mb: float,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole table of a prepared space on this machine.

    When the per-row candidate buffers fit in ``symmetric_mb`` (``neighbors.symmetric_mb``,
    :meth:`ExactEngine.state_mb`), the symmetric pass computes each pair of tiles once
    (:func:`symmetric_table`, about half the products); otherwise row blocks of at most
    ``max_block_mb`` are searched against the whole space (:func:`row_block_table`).  Both
    give the same table bit for bit.

    Returns
    -------
    indices, distances : np.ndarray
        As :func:`neighbors`.
    recomputed : int
        Rows that were not certified by the float32 pass and were recomputed against every
        track in float64 (the certificate of the table).
    """
    if not engine.constant and engine.state_mb() <= symmetric_mb:
        return symmetric_table(engine, max_block_mb, show_progress=show_progress, out=out)
    return row_block_table(engine, max_block_mb, show_progress=show_progress, out=out)


def row_block_table(
    engine: ExactEngine,
    max_block_mb: float,
    *,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole table, block of rows by block of rows against every track (bounded memory)."""
    name = engine.name
    n = engine.n
    indices, dist = out if out is not None else new_table(n, engine.k)
    rows = block_rows_for(n, max_block_mb)
    buf = np.empty((rows, n), dtype=np.float32)  # reused: one allocation, no page faults per block
    uncertain = 0
    starts = range(0, n, rows)
    for start in progress(starts, desc=f"neighbours {name}", unit="block", enabled=show_progress):
        stop = min(n, start + rows)
        idx, d, u = engine.rows(start, stop, buf)
        indices[start:stop], dist[start:stop] = idx, d
        uncertain += u
    engine.report(uncertain)
    return indices, dist, uncertain


def tile_for(max_block_mb: float) -> int:
    """Rows and columns of one tile of the symmetric pass (a square tile fits ``max_block_mb``)."""
    if not max_block_mb > 0:
        raise ConfigError(f"max_block_mb must be positive, got {max_block_mb}.")
    return int(max(1, min(TILE, np.sqrt(max_block_mb * 2**20 / 4))))


def _floors(engine: ExactEngine, tile: int) -> np.ndarray:
    """Starting threshold of every row: a score its ``kc``-th best very likely reaches.

    The ``rank``-th best score against a strided sample of ``n_sample`` columns, with
    ``rank`` the expected number of sampled columns among the row's ``kc`` best plus two
    standard deviations (binomial) and 2 (about 0.5% of the rows overshoot; measured).  A
    tight floor keeps the tile scan on its vectorised path; a floor that overshoots only
    costs that row a second search (one row against every track, :func:`symmetric_table`).
    Small spaces start from -inf.
    """
    n, kc = engine.n, engine.kc
    floors = np.full(n, -np.inf, dtype=np.float32)
    n_sample = 2048
    if n < 8 * n_sample or kc * 8 >= n:
        return floors
    cols = np.arange(0, n, n // n_sample)[:n_sample]
    expected = kc * n_sample / n
    rank = int(min(n_sample - 1, np.ceil(expected + 2.0 * np.sqrt(expected) + 2)))
    sample_t = np.ascontiguousarray(engine.work[cols].T)
    buf = np.empty((tile, n_sample), dtype=np.float32)
    for s in range(0, n, tile):
        e = min(n, s + tile)
        S = np.matmul(engine.work[s:e], sample_t, out=buf[: e - s])
        _row_floors(S, s, cols, engine.scale, engine.off, rank, floors)
    return floors


def symmetric_table(
    engine: ExactEngine,
    max_block_mb: float,
    *,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
    threads: int | None = None,
    tile: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole table from one float32 product per pair of tiles (the product is symmetric).

    The rows are cut into tiles of :func:`tile_for` rows.  For tiles ``I <= J`` the product
    ``work[I] @ work[J].T`` is computed once, and while it is in cache its rows offer
    candidates to the tracks of ``I`` and its columns to the tracks of ``J``
    (:func:`_scan_tile`): every pair of tracks is scored once, for both of them.  Each track
    keeps a buffer of at most ``2 kc`` candidates at or above a threshold that starts from a
    sampled floor (:func:`_floors`) and rises whenever the buffer is cut back to its best
    ``kc``.  Threads each take whole tiles (one-threaded BLAS, then the scan, both without
    the GIL) from rounds of tiles that share no track (:func:`tile_rounds`), so no two
    threads touch one track's buffer.  Then the usual exact float64 re-ranking and
    certificate (:meth:`ExactEngine.finish`).  A track whose floor turned out above its
    ``kc``-th best (fewer candidates than ``kc``) is searched again by the row-block pass,
    without a floor.

    Parameters
    ----------
    threads : int, optional
        Threads scanning tiles (default: the cores numba uses).
    tile : int, optional
        Rows of a tile (default: :func:`tile_for`); the table does not depend on it.

    Returns
    -------
    indices, distances, recomputed
        As :func:`exact_table`.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    name, n, kc = engine.name, engine.n, engine.kc
    indices, dist = out if out is not None else new_table(n, engine.k)
    tile = tile or tile_for(max_block_mb)
    thr = _floors(engine, tile)
    bv = np.empty((n, 2 * kc), dtype=np.float32)
    bi = np.empty((n, 2 * kc), dtype=np.int32)
    cnt = np.zeros(n, dtype=np.int64)
    work, scale, off = engine.work, engine.scale, engine.off
    starts = list(range(0, n, tile))
    rounds = tile_rounds(len(starts))
    workers = threads or numba.get_num_threads()

    def one(pair: tuple[int, int]) -> None:
        i0, j0 = starts[pair[0]], starts[pair[1]]
        i1, j1 = min(n, i0 + tile), min(n, j0 + tile)
        S = np.matmul(work[i0:i1], work[j0:j1].T)
        _scan_tile(S, i0, j0, i0 == j0, scale, off, bv, bi, cnt, thr, kc)

    with (
        threadpool_limits(1, user_api="blas"),
        ThreadPoolExecutor(workers, thread_name_prefix="nnsim-tiles") as pool,
    ):
        for pairs in progress(
            rounds, desc=f"neighbours {name}", unit="round", enabled=show_progress
        ):
            list(pool.map(one, pairs))
    cand = np.empty((n, kc), dtype=np.int32)
    scores = np.empty((n, kc), dtype=np.float32)
    _finish_rows(bv, bi, cnt, kc, cand, scores)
    uncertain = 0
    full, short = np.flatnonzero(cnt >= kc), np.flatnonzero(cnt < kc)
    for s in range(0, full.size, 8192):
        rows = full[s : s + 8192]
        idx, d, u = engine.finish(rows, cand[rows], scores[rows])
        indices[rows], dist[rows] = idx, d
        uncertain += u
    if short.size:
        log.debug("%s: %d rows searched again (their sampled floor overshot)", name, short.size)
        for s in range(0, short.size, 1024):
            rows = short[s : s + 1024]
            idx, d, u = engine.rows_at(rows)
            indices[rows], dist[rows] = idx, d
            uncertain += u
    engine.report(uncertain)
    return indices, dist, uncertain


def new_table(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty arrays of a neighbour table: ``(n, k)`` int32 indices, ``(n, k)`` float32 distances."""
    return np.empty((n, k), dtype=np.int32), np.empty((n, k), dtype=np.float32)


@dataclass
class ExactEngine:
    """What the exact search of any block of rows needs, prepared once per space.

    Picklable, so a cluster receives it once (``Client.scatter``) and computes blocks of rows
    as tasks; a block's result does not depend on which other rows were in its block, so any
    split gives the same tables bit for bit.

    Attributes
    ----------
    X : np.ndarray [shape=(n, d), dtype=float32]
        The vectors as given (the exact distances read them).
    div : np.ndarray [shape=(n,), dtype=float64]
        Row multipliers of the exact distances.
    work : np.ndarray [shape=(n, d), dtype=float32]
        Rows of norm <= 1 (see :func:`_prepare`); the float32 score of row ``i`` against
        column ``j`` is ``scale * (work[i] . work[j]) - off[j]`` (larger is nearer).  The
        product is symmetric, so one product of two tiles serves both of them.
    scale : float
        1 (cosine) or 2 (euclidean: ``2 x.y - |y|^2``).
    off : np.ndarray [shape=(n,), dtype=float32]
        0 (cosine) or the squared norms of ``work`` (euclidean).
    k, kc : int
        Neighbours kept and float32 candidates per row.
    cosine, constant : bool
        Distance, and whether every row is the same point/direction.
    name : str
        The space, for messages.
    """

    X: np.ndarray
    div: np.ndarray
    work: np.ndarray
    scale: float
    off: np.ndarray
    k: int
    kc: int
    cosine: bool
    constant: bool
    name: str

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @classmethod
    def prepare(cls, X: np.ndarray, k: int, distance: str, name: str) -> ExactEngine:
        """Check the inputs and prepare the scaled float32 rows (see the module docstring).

        ``distance`` is one of :data:`DISTANCES` (checked where settings enter: the
        typed settings, :func:`neighbors`, :func:`nnsim.compare.run_comparison`).
        """
        X = as_matrix(X, name)
        n = X.shape[0]
        k = int(k)
        if not 1 <= k <= n - 1:
            raise ConfigError(
                f"{name}: cutoff {k} needs at least {k + 1} tracks, but there are {n}. "
                f"Use cutoffs below {n}."
            )
        cosine = distance == "cosine"
        div, work, constant = _prepare(X, distance, name)
        if constant:
            log.warning(
                "%s: every track is the same %s; every neighbour list is a tie (broken by "
                "track index) and S_n with this space is at chance level.",
                name,
                "direction" if cosine else "point",
            )
        if cosine:
            scale, off = 1.0, np.zeros(n, dtype=np.float32)  # score = cos
        else:
            # score = 2 x.y - |y|^2 (larger is nearer); doubling is exact.
            scale = 2.0
            off = np.einsum("ij,ij->i", work, work, dtype=np.float64).astype(np.float32)
        kc = k + candidate_margin(k, n)
        return cls(X, div, work, scale, off, k, kc, cosine, constant, name)

    def rows(
        self, start: int, stop: int, buf: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Exact neighbours of rows ``start:stop`` (see :meth:`rows_at`)."""
        return self.rows_at(np.arange(start, stop, dtype=np.int64), buf)

    def rows_at(
        self, rows: np.ndarray, buf: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Exact neighbours of the given rows against the whole space.

        Parameters
        ----------
        rows : np.ndarray [shape=(b,), dtype=int64]
            Query rows (any order; a contiguous range is fastest).
        buf : np.ndarray [shape=(>= b, n), dtype=float32], optional
            Scratch space for the score block (allocated when not given).

        Returns
        -------
        indices : np.ndarray [shape=(b, k), dtype=int32]
        distances : np.ndarray [shape=(b, k), dtype=float32]
        uncertain : int
            Rows that were recomputed against every track (near-ties at the cut-off).
        """
        n, b = self.n, rows.shape[0]
        rows = rows.astype(np.int64, copy=False)
        if self.constant:
            idx = np.empty((b, self.k), dtype=np.int32)
            dist64 = np.empty((b, self.k), dtype=np.float64)
            _full_rows(self.X, self.div, rows, self.k, self.cosine, idx, dist64)
            return (*_checked(idx, dist64, rows, n, self.name), 0)
        if buf is None:
            buf = np.empty((b, n), dtype=np.float32)
        contiguous = b > 0 and rows[-1] - rows[0] == b - 1 and bool(np.all(np.diff(rows) == 1))
        left = self.work[rows[0] : rows[0] + b] if contiguous else self.work[rows]
        S = np.matmul(left, self.work.T, out=buf[:b])
        cand = np.empty((b, self.kc), dtype=np.int32)
        scores = np.empty((b, self.kc), dtype=np.float32)
        _topk_block(S, rows, self.kc, self.scale, self.off, cand, scores)
        return self.finish(rows, cand, scores)

    def finish(
        self, rows: np.ndarray, cand: np.ndarray, scores: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Exact re-ranking of the float32 candidates of ``rows``, and their certificate.

        Parameters
        ----------
        rows : np.ndarray [shape=(b,), dtype=int64]
        cand : np.ndarray [shape=(b, kc), dtype=int32]
            The ``kc`` best columns of each row by float32 score, best first.
        scores : np.ndarray [shape=(b, kc), dtype=float32]
            Their scores.

        Returns
        -------
        indices, distances, uncertain
            As :meth:`rows_at`.
        """
        n, k, b = self.n, self.k, rows.shape[0]
        idx = np.empty((b, k), dtype=np.int32)
        dist64 = np.empty((b, k), dtype=np.float64)
        _rerank(self.X, self.div, cand, rows, k, self.cosine, idx, dist64)
        uncertain = np.empty(0, dtype=np.int64)
        if self.kc < n - 1:
            gap = scores[:, k - 1].astype(np.float64) - scores[:, self.kc - 1]
            bound = 2.0 * float32_error_bound(self.X.shape[1])
            uncertain = np.flatnonzero(~(gap > bound))
            if uncertain.size:
                sub_i = np.empty((uncertain.size, k), dtype=np.int32)
                sub_d = np.empty((uncertain.size, k), dtype=np.float64)
                _full_rows(self.X, self.div, rows[uncertain], k, self.cosine, sub_i, sub_d)
                idx[uncertain], dist64[uncertain] = sub_i, sub_d
        return (*_checked(idx, dist64, rows, n, self.name), int(uncertain.size))

    def state_mb(self) -> float:
        """MiB of the per-row candidate buffers of :func:`symmetric_table`."""
        return self.n * 2 * self.kc * 8 / 2**20

    def report(self, uncertain: int) -> None:
        """Log how many rows needed the full float64 recomputation."""
        if uncertain:
            log.info(
                "%s: %d of %d rows had near-ties around the cut-off and were recomputed "
                "against every track in float64",
                self.name,
                uncertain,
                self.n,
            )


def _checked(
    indices: np.ndarray, dist64: np.ndarray, rows: np.ndarray, n: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Refuse to return an index that was not computed or a non-finite distance.

    ``indices`` holds the lists of ``rows`` of a space of ``n`` tracks.
    """
    own = rows[:, None]
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
    distances: np.ndarray, cutoffs: np.ndarray | list[int], *, rtol: float
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
        Relative tolerance: ``d[n] - d[n-1] <= rtol * max(d[n], tiny)``
        (``compare.ambiguity_rtol``).

    Returns
    -------
    np.ndarray [shape=(c,), dtype=int64]
        Number of ambiguous lists per cutoff.
    """
    out = np.zeros(len(cutoffs), dtype=np.int64)
    n, width = distances.shape
    step = max(1, (64 * 2**20) // (8 * width))  # rows at a time: memory-mapped tables stay on disk
    for s in range(0, n, step):
        D = np.asarray(distances[s : s + step], dtype=np.float64)
        for c, cut in enumerate(cutoffs):
            cut = int(cut)
            if cut >= width:
                continue
            a, b = D[:, cut - 1], D[:, cut]
            out[c] += int(np.count_nonzero(b - a <= rtol * np.maximum(np.abs(b), 1e-300)))
    return out
