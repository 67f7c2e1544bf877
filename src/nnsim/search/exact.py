"""Exact k-nearest-neighbour tables: cheap bounds screen the pairs, float64 decides.

A neighbour table is ``(indices int32 (n, k), distances float32 (n, k))``: row ``i`` lists
the ``k`` nearest other tracks of track ``i`` sorted by distance, the query itself excluded
by index (not by dropping column 0, which with duplicate rows is not always the query), and
ties broken by the smaller track index so results are deterministic.

How the answer is made exact
----------------------------
1. The space is put on a safe scale in float64 first: cosine uses unit rows, euclidean a
   centred copy divided by its largest row norm.  Neither changes any neighbour list, and
   the products can then neither overflow nor underflow nor cancel catastrophically.
2. Every distance that decides a list is computed in float64 from the vectors themselves
   (direct differences; cosine as ``||u - v||^2 / 2`` of the float64 unit rows, which is 0
   for parallel vectors) by one compiled function (:func:`_sqdists`), ties broken by the
   smaller index.
3. Which pairs get that distance is decided by a rigorous bound on their score:

   - the symmetric pass (:func:`symmetric_table`, when every track's candidates fit in
     ``symmetric_mb``): exact integer products of quantized rows, once per pair of tiles
     for both tracks, with a per-pair bound of the quantization error; a pair is skipped
     only when its bound proves it cannot be among a track's ``k`` nearest;
   - the row-block pass (:func:`row_block_table`, bounded by ``max_block_mb``; also the
     Dask tasks): blocked float32 products keep ``k + margin`` candidates per row, which
     are re-ranked in float64; a row is *certified* when its last candidate's float32
     score is worse than its ``k``-th best by more than twice a rigorous bound of the
     float32 error, and recomputed against every track in float64 otherwise.

So the indices equal those of a float64 evaluation of every pair (up to float64 rounding,
~1e-15 relative), are the same for every ``max_block_mb`` and either pass and never depend
on where a row falls in a block or tile; equal vectors get equal distances.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from nnsim.errors import ConfigError, InputError, NnsimError, preview
from nnsim.progress import progress
from nnsim.search.int8 import Quantized, quantize, tile_product
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


#: Rows (and columns) of one tile of the symmetric pass: one integer product, scanned for
#: both its rows and its columns (1024 measured faster than 256, 512 and 2048 here).
TILE = 1024

#: Tracks above which :func:`exact_table` takes the symmetric pass: below, its fixed costs
#: (ordering, quantization, floors, threads) make it no faster than the row blocks (measured
#: equal at 4,096 and 8,192 tracks, 1.5x slower at 2,048, 2x faster at 29,275).
SYMMETRIC_FROM = 4 * TILE


@numba.njit(inline="always")
def _worse(d1: float, i1: int, d2: float, i2: int) -> bool:
    """Whether ``(d1, i1)`` comes after ``(d2, i2)`` in table order (distance, then index)."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


@numba.njit(inline="always")
def _swap(h, p, q):  # type: ignore[no-untyped-def]
    h[p, 0], h[q, 0] = h[q, 0], h[p, 0]
    h[p, 1], h[q, 1] = h[q, 1], h[p, 1]


@numba.njit(cache=True, nogil=True)
def _select_order(h, size, k):  # type: ignore[no-untyped-def]
    """Rearrange ``h[:size]`` (rows ``(distance, index)``) so that ``h[:k]`` are its ``k``
    first in table order and ``h[k - 1]`` the ``k``-th (Wirth's quickselect, in place).
    The general case of :func:`_select` (ties at the ``k``-th distance)."""
    kk = k - 1
    lo, hi = 0, size - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _worse(h[lo, 0], h[lo, 1], h[mid, 0], h[mid, 1]):
            _swap(h, lo, mid)
        if _worse(h[mid, 0], h[mid, 1], h[hi, 0], h[hi, 1]):
            _swap(h, mid, hi)
            if _worse(h[lo, 0], h[lo, 1], h[mid, 0], h[mid, 1]):
                _swap(h, lo, mid)
        pd, pi = h[mid, 0], h[mid, 1]
        i, j = lo, hi
        while i <= j:
            while _worse(pd, pi, h[i, 0], h[i, 1]):
                i += 1
            while _worse(h[j, 0], h[j, 1], pd, pi):
                j -= 1
            if i <= j:
                _swap(h, i, j)
                i += 1
                j -= 1
        if kk <= j:
            hi = j
        elif kk >= i:
            lo = i
        else:
            break


@numba.njit(inline="always")
def _varying(keys, m):  # type: ignore[no-untyped-def]
    """The bits in which the keys ``keys[:m]`` (uint64, ``m >= 1``) are not all equal."""
    same_and = keys[0]
    same_or = keys[0]
    for a in range(1, m):
        same_and &= keys[a]
        same_or |= keys[a]
    return same_and ^ same_or


@numba.njit(cache=True, nogil=True)
def _kth_distance(h, size, k, ka, kb, count):  # type: ignore[no-untyped-def]
    """The ``k``-th smallest of the distances ``h[:size, 0]`` (>= 0, so they order like their
    bits): a radix selection, 8 bits a pass from the highest bit that still differs, each
    pass keeping only the bucket that holds the ``k``-th.  ``ka``, ``kb`` (float64, >= size)
    and ``count`` (int64, 256) are scratch.  Few comparison branches to mispredict: 2.6x
    faster than a quickselect on 251 candidates (measured)."""
    for a in range(size):
        ka[a] = h[a, 0]
    src, dst = ka.view(np.uint64), kb.view(np.uint64)
    in_a = True
    m = size
    while m > 1:
        varying = _varying(src, m)
        if varying == 0:
            break
        top = 63
        while (varying >> np.uint64(top)) == 0:
            top -= 1
        sh = np.uint64(max(0, top - 7))  # the window holds the highest varying bit
        count[:] = 0
        for a in range(m):
            count[(src[a] >> sh) & np.uint64(255)] += 1
        below = 0
        b = 0
        while below + count[b] < k:
            below += count[b]
            b += 1
        k -= below
        w = 0
        for a in range(m):  # keep bucket b (fewer than m: the window holds a varying bit)
            x = src[a]
            dst[w] = x
            w += ((x >> sh) & np.uint64(255)) == b
        m = w
        src, dst = dst, src
        in_a = not in_a
    return ka[0] if in_a else kb[0]


@numba.njit(cache=True, nogil=True)
def _select(h, size, k, ka, kb, count):  # type: ignore[no-untyped-def]
    """Rearrange ``h[:size]`` (rows ``(distance, index)``) so that ``h[:k]`` are its ``k``
    first in table order and ``h[k - 1]`` the ``k``-th, in place.

    The ``k``-th distance ``D`` by :func:`_kth_distance`; when exactly ``k`` rows lie at or
    below it (no tie at ``D`` beyond the ``k``-th place), those are kept in one pass and the
    one of them at ``D`` with the largest index is the ``k``-th; otherwise (ties at ``D``)
    :func:`_select_order`.  Scratch as :func:`_kth_distance`.
    """
    D = _kth_distance(h, size, k, ka, kb, count)
    at_most = 0
    for a in range(size):
        at_most += h[a, 0] <= D
    if at_most != k:
        _select_order(h, size, k)
        return
    w = 0
    last = -1.0
    for a in range(size):  # compact: rows at or below D first (w <= a: nothing unread is lost)
        d = h[a, 0]
        i = h[a, 1]
        h[w, 0] = d
        h[w, 1] = i
        if d == D and i > last:
            last = i
        w += d <= D
    for a in range(k):
        if h[a, 0] == D and h[a, 1] == last:
            _swap(h, a, k - 1)
            break


@numba.njit(cache=True, nogil=True)
def _radix(h, size, tmp, kd, ku2, count, lowest):  # type: ignore[no-untyped-def]
    """Stable LSD radix sort of ``h[:size]`` by the bits ``lowest..63`` of the distances
    (8 bits a pass, skipping the bytes every distance shares).  Scratch as :func:`_sort`."""
    ku = kd.view(np.uint64)
    for a in range(size):
        kd[a] = h[a, 0]
    varying = _varying(ku, size)
    src_h, dst_h, src_k, dst_k = h, tmp, ku, ku2
    for shift in range(lowest, 64, 8):
        sh = np.uint64(shift)
        if (varying >> sh) & np.uint64(255) == 0:
            continue
        count[:] = 0
        for a in range(size):
            count[(src_k[a] >> sh) & np.uint64(255)] += 1
        total = 0
        for b in range(256):
            c = count[b]
            count[b] = total
            total += c
        for a in range(size):
            b = (src_k[a] >> sh) & np.uint64(255)
            o = count[b]
            count[b] = o + 1
            dst_k[o] = src_k[a]
            dst_h[o, 0] = src_h[a, 0]
            dst_h[o, 1] = src_h[a, 1]
        src_h, dst_h, src_k, dst_k = dst_h, src_h, dst_k, src_k
    if src_h is not h:
        for a in range(size):
            h[a, 0] = src_h[a, 0]
            h[a, 1] = src_h[a, 1]


@numba.njit(cache=True, nogil=True)
def _insertion(h, size, budget):  # type: ignore[no-untyped-def]
    """Insertion sort of ``h[:size]`` into table order; stops (returning False, every row
    still present) once it has moved rows more than ``budget`` times."""
    moves = 0
    for p in range(1, size):
        d = h[p, 0]
        i = h[p, 1]
        q = p
        while q > 0 and _worse(h[q - 1, 0], h[q - 1, 1], d, i):
            h[q, 0] = h[q - 1, 0]
            h[q, 1] = h[q - 1, 1]
            q -= 1
        h[q, 0] = d
        h[q, 1] = i
        moves += p - q
        if moves > budget:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _sort(h, size, tmp, kd, ku2, count):  # type: ignore[no-untyped-def]
    """Sort ``h[:size]`` (rows ``(distance, index)``, distances >= 0) into table order.

    Non-negative float64 values order like their bits: a radix sort by the high 32 bits
    (:func:`_radix`), then an insertion sort finishes the order (distance, then index)
    among rows whose high halves are equal, normally few.  Should it move rows more than
    ``16 * size`` times (many distances within 2^-20 of each other), the radix sort runs
    again on all 64 bits and the insertion sort only orders ties by index.  About 3x faster
    than the radix sort on all bits on 251 candidates (measured).  ``tmp`` (float64,
    (>= size, 2)), ``kd`` (float64, >= size), ``ku2`` (uint64, >= size) and ``count``
    (int64, 256) are scratch.
    """
    _radix(h, size, tmp, kd, ku2, count, 32)
    if not _insertion(h, size, 16 * size):
        _radix(h, size, tmp, kd, ku2, count, 0)
        _insertion(h, size, size * size)


@numba.njit(inline="always")
def _offer(cands, cnt, kth, thr, row, d, j, k, base, gain, margin, ka, kb, count):  # type: ignore[no-untyped-def]
    """Offer candidate ``j`` at exact distance ``d`` to ``row``'s ``k`` best so far.

    Each row keeps its candidates side by side in ``cands[row]`` (rows ``(distance,
    index)``, the index as an exact float64: one cache line per write), appended until the
    buffer is full; then its ``k`` best are selected in place (:func:`_select`), ``kth[row]``
    becomes the ``k``-th of them and the row's float32 threshold rises to what it allows
    (:func:`_threshold`).  A candidate that does not come before ``kth[row]`` is dropped at
    once (``kth`` is small and stays in cache; the buffer is not touched).  ``ka``, ``kb``
    and ``count`` are the selection's scratch.
    """
    if not _worse(kth[row, 0], kth[row, 1], d, j):
        return
    c = cnt[row]
    cands[row, c, 0] = d
    cands[row, c, 1] = j
    c += 1
    if c == cands.shape[1]:
        _select(cands[row], c, k, ka, kb, count)
        kth[row, 0], kth[row, 1] = cands[row, k - 1, 0], cands[row, k - 1, 1]
        t = _threshold(base[row], gain, cands[row, k - 1, 0], margin)
        if t > thr[row]:
            thr[row] = t
        c = k
    cnt[row] = c


@numba.njit(inline="always")
def _threshold(base: float, gain: float, dk: float, margin: float) -> np.float32:
    """Lowest screen score a track can have and still be nearer than distance ``dk``.

    The exact score of a pair at squared distance ``d`` is ``base - gain * d`` (cosine:
    ``1 - d / 2``; euclidean: ``|w_i|^2 - d / top^2``, see :class:`ExactEngine`); the
    screen's scores are of the float32 rows, within ``margin`` of it.  Lowered by more than
    the float32 rounding (``2^-24`` relative) before rounding, so it never excludes a
    candidate.
    """
    t = base - gain * dk - margin
    return np.float32(t - 1e-7 * (1.0 + abs(t)))


# Without numba's reference counting (its ``_nrt`` option): the inlined _offer would
# otherwise incref and decref five shared arrays per offer, atomics that the two threads fight
# over (measured: tiles 20-25% slower, 16% of the pass's CPU in NRT_incref/NRT_decref).  The
# scan allocates nothing, and compiling it fails if it ever does; a test checks the compiled
# code has no reference counting left.
@numba.njit(nogil=True, cache=True, _nrt=False)  # type: ignore[call-overload]
def _scan_tile(  # type: ignore[no-untyped-def]
    P, i0, j0, diag, alpha, beta, crow, grow, F, off, X, mul, qv, flags, js, got, ka, kb,
    count, ids, thr, cands, cnt, kth, k, base, gain, margin, sq,
):  # fmt: skip
    """Offer the pairs of one tile to the tracks of its rows and of its columns.

    ``P[r, q]`` is the exact integer product of tracks ``i = i0 + r`` and ``j = j0 + q``
    (:mod:`nnsim.search.int8`).  ``u = alpha[i] beta[j] P[r, q] + crow[i] + grow[i] F[j]``
    is at least the exact ``scale * w_i . w_j``, so ``u - off[j]`` is at least track
    ``i``'s exact score of ``j`` and ``u - off[i]`` at least track ``j``'s exact score of
    ``i`` (the product is symmetric).  A pair whose bound reaches a track's threshold gets
    its exact float64 distance (:func:`_sqdists`, once for both tracks) and is offered to
    that track (:func:`_offer`).  On a diagonal tile only the rows offer (they cover both
    orders), the track itself skipped.

    Each tile row is first compared with every threshold in one vectorised loop that writes
    a byte of flags per column; then only the words of flags that are not zero are looked
    at.  Single-threaded and without the GIL: threads scan tiles of disjoint tracks at the
    same time.  Positions are rows of the tiles' order; ``ids`` maps them to track indices,
    which the candidates carry (ties are broken by them).  ``qv`` (float64, d), ``flags``
    (uint8, a multiple of 8 >= tile), ``js`` (int64, tile), ``got`` (float64, tile), ``ka``
    and ``kb`` (float64, the buffer's length) and ``count`` (int64, 256) are the thread's
    scratch.
    """
    b, w = P.shape
    beta_j = beta[j0 : j0 + w]
    F_j = F[j0 : j0 + w]
    off_j = off[j0 : j0 + w]
    thr_j = thr[j0 : j0 + w]
    words = flags.view(np.uint64)
    nw = (w + 7) // 8
    col_bit = np.uint8(0 if diag else 2)
    for r in range(b):
        row = i0 + r
        al, c, g = alpha[row], crow[row], grow[row]
        o = off[row]
        t = thr[row]
        Pr = P[r]
        hit = np.uint8(0)
        for q in range(w):
            u = al * beta_j[q] * np.float32(Pr[q]) + c + g * F_j[q]
            f = np.uint8((u - off_j[q]) >= t) | (np.uint8((u - o) >= thr_j[q]) << 1)
            flags[q] = f
            hit |= f
        if hit == 0:
            continue
        for q in range(w, 8 * nw):
            flags[q] = 0
        if diag:
            flags[r] = 0
        m = 0
        for p in range(nw):
            if words[p] == 0:
                continue
            for q in range(8 * p, 8 * p + 8):
                if flags[q] & (np.uint8(1) | col_bit):
                    js[m] = j0 + q
                    m += 1
        if m == 0:
            continue
        _fill_query(X, mul, row, qv)
        _sqdists(sq, qv, X, mul, js, m, got)
        for a in range(m):
            q = js[a] - j0
            f = flags[q]
            if f & 1:
                _offer(
                    cands, cnt, kth, thr, row, got[a], ids[js[a]], k, base, gain, margin, ka, kb,
                    count,
                )  # fmt: skip
            if f & col_bit:
                _offer(
                    cands, cnt, kth, thr, js[a], got[a], ids[row], k, base, gain, margin, ka, kb,
                    count,
                )  # fmt: skip


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


#: Groups of sampled columns whose maxima give the starting floors (:func:`_floors`).
_GROUPS = 128

#: Sampled columns of the starting floors (a multiple of :data:`_GROUPS`).
_SAMPLE = 2048


@numba.njit(nogil=True, cache=True)
def _row_floors(P, rows0, stride, alpha, beta, off, rank, floors):  # type: ignore[no-untyped-def]
    """Starting thresholds of rows ``rows0 + r`` from their scores against sampled columns.

    ``P[r, q]`` is the integer product of track ``rows0 + r`` and the sampled track
    ``q * stride`` (:mod:`nnsim.search.int8`); its approximate score is ``alpha[row] *
    beta[q] * P[r, q] - off[q]``.  The sampled columns are taken in :data:`_GROUPS` groups
    (every ``_GROUPS``-th column: the group maxima are one vectorised element-wise
    maximum); the floor is the ``rank``-th best group maximum.  Those ``rank`` maxima are
    ``rank`` distinct sampled scores, so the floor never exceeds the ``rank``-th best sampled
    score.  The row's own column is left out.
    """
    b, w = P.shape
    per = w // _GROUPS
    gmax = np.empty(_GROUPS, dtype=np.float32)
    top = np.empty(rank, dtype=np.float32)
    for r in range(b):
        row = rows0 + r
        al = alpha[row]
        gmax[:] = -np.inf
        for i in range(per):
            for g in range(_GROUPS):
                q = i * _GROUPS + g
                gmax[g] = max(gmax[g], al * beta[q] * np.float32(P[r, q]) - off[q])
        own = row // stride
        if row % stride == 0 and own < w:  # the group of the row's own column, without it
            g = own % _GROUPS
            gmax[g] = -np.inf
            for i in range(per):
                q = i * _GROUPS + g
                if q != own:
                    gmax[g] = max(gmax[g], al * beta[q] * np.float32(P[r, q]) - off[q])
        top[:] = -np.inf
        for g in range(_GROUPS):
            _keep_top(top, gmax[g])
        floors[row] = top[rank - 1]


@numba.njit(parallel=True, cache=True)
def _final_rows(cands, cnt, k, floors, base, gain, margin, cosine, ids, out_idx, out_dist, done):  # type: ignore[no-untyped-def]
    """Each track's ``k`` best candidates in table order, where they are certain.

    A track is done when its buffer holds ``k`` candidates and its starting floor lay at or
    below what its final ``k``-th best allows (so nothing below the floor could have
    entered); otherwise ``done[row]`` stays False and the track is searched again.  Row
    ``row`` (a position of the tiles' order) is written to output row ``ids[row]``.  Each
    buffer's ``k`` best are selected (:func:`_select`), then sorted (:func:`_sort`); the rows
    of a chunk of 256 share their scratch.
    """
    n, m = cands.shape[0], cands.shape[1]
    chunk = 256
    for ch in numba.prange((n + chunk - 1) // chunk):
        tmp, kd, ka = np.empty((m, 2)), np.empty(m), np.empty(m)
        ku2, count = np.empty(m, np.uint64), np.empty(256, np.int64)
        for row in range(ch * chunk, min(n, ch * chunk + chunk)):
            c = cnt[row]
            if c < k:
                continue
            h = cands[row]
            if c > k:
                _select(h, c, k, ka, kd, count)
            _sort(h, k, tmp, kd, ku2, count)
            if floors[row] > _threshold(base[row], gain, h[k - 1, 0], margin):
                continue
            for p in range(k):
                out_idx[ids[row], p] = np.int32(h[p, 1])
                v = h[p, 0]
                out_dist[ids[row], p] = 0.5 * v if cosine else np.sqrt(v)
            done[row] = True


def block_rows_for(n: int, max_block_mb: float) -> int:
    """Rows per block so that one ``(rows, n)`` float32 block fits in ``max_block_mb``."""
    if not max_block_mb > 0:
        raise ConfigError(f"max_block_mb must be positive, got {max_block_mb}.")
    return int(max(1, min(n, (max_block_mb * 2**20) // (4 * n))))


#: Unit roundoff of float32.
_U32 = 2.0**-24

#: Score margin of the symmetric pass's thresholds: the screen bounds scores of the float32
#: scaled rows, which differ from the exact ones by the rounding of the rows to float32
#: (relative 2^-24 per row: < 1e-6 in any score of rows of norm <= 1), with a factor 4.
_MARGIN = 4e-6

#: Covers every float32 rounding in the symmetric pass's screen (its bound ``u`` and the
#: comparisons with the thresholds; values of magnitude <= 3, a few roundings of 2^-24).
_SCREEN_SLACK = 1e-5


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
def _fill_query(X: np.ndarray, mul: np.ndarray, r: int, q: np.ndarray) -> None:
    """Write row ``r`` as used by :func:`_sqdists` into ``q``: ``X[r] * mul[r]`` in float64."""
    a = mul[r]
    for t in range(X.shape[1]):
        q[t] = np.float64(X[r, t]) * a


@numba.njit(inline="always")
def _query(X: np.ndarray, mul: np.ndarray, r: int) -> np.ndarray:
    """Row ``r`` as used by :func:`_sqdists` (a new float64 array)."""
    q = np.empty(X.shape[1], dtype=np.float64)
    _fill_query(X, mul, r, q)
    return q


@numba.cfunc(
    numba.types.void(
        numba.types.CPointer(numba.types.float64),  # q (d,)
        numba.types.CPointer(numba.types.float32),  # X (n, d)
        numba.types.CPointer(numba.types.float64),  # mul (n,)
        numba.types.CPointer(numba.types.int64),  # js (m,)
        numba.types.intp,  # m
        numba.types.intp,  # n
        numba.types.intp,  # d
        numba.types.CPointer(numba.types.float64),  # out (m,)
    ),
    fastmath={"reassoc", "nnan", "ninf", "nsz"},  # no "contract": x * b rounded, so twins are at 0
    nogil=True,
    cache=True,
)
def _sqdist_c(q, x, mul, js, m, n, d, out):  # type: ignore[no-untyped-def]
    """``out[a] = ||q - X[js[a]] mul[js[a]]||^2`` in float64 (see :func:`_sqdists`)."""
    qa = numba.carray(q, (d,))
    X = numba.carray(x, (n, d))
    mu = numba.carray(mul, (n,))
    ja = numba.carray(js, (m,))
    oa = numba.carray(out, (m,))
    for a in range(m):
        j = ja[a]
        b = mu[j]
        acc = 0.0
        for t in range(d):
            e = qa[t] - np.float64(X[j, t]) * b
            acc += e * e
        oa[a] = acc


@numba.njit(inline="always")
def _sqdists(sq, q, X, mul, js, m, out):  # type: ignore[no-untyped-def]
    """``out[:m]`` = the squared float64 distances from ``q`` (a row from :func:`_query`)
    to the rows ``js[:m]`` (int64) as ``X[j] * mul[j]``; ``sq`` is :data:`_sqdist_c`,
    passed in by the caller.

    Every exact distance of every pass is computed by that one compiled function, called
    through its address: vectorised (fast-math), yet never inlined into a caller and so
    never re-vectorised differently; each distance by the same inner loop, whatever the
    batch.  Equal rows give equal distances, ``d(i, j) == d(j, i)`` bit for bit, and a
    distance never depends on the pass, block or tile.  Reading the float32 matrix halves
    the memory traffic of gathering candidate rows.
    """
    sq(q.ctypes, X.ctypes, mul.ctypes, js.ctypes, m, X.shape[0], X.shape[1], out.ctypes)


@numba.njit(parallel=True, cache=True)
def _rerank(
    X: np.ndarray,
    div: np.ndarray,
    cand: np.ndarray,
    row_ids: np.ndarray,
    k: int,
    cosine: bool,
    out_idx: np.ndarray,
    out_dist: np.ndarray,
    sq,  # type: ignore[no-untyped-def]  # _sqdist_c
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
        js = cand[r].astype(np.int64)
        got = np.empty(kc, dtype=np.float64)
        qv = _query(X, div, row_ids[r])
        _sqdists(sq, qv, X, div, js, kc, got)
        for p in range(kc):
            j = cand[r, p]
            v = got[p]
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


@numba.njit(parallel=True, cache=True)
def _full_rows(
    X: np.ndarray,
    div: np.ndarray,
    rows: np.ndarray,
    k: int,
    cosine: bool,
    out_idx: np.ndarray,
    out_dist: np.ndarray,
    sq,  # type: ignore[no-untyped-def]  # _sqdist_c
) -> None:
    """Exact float64 top ``k`` of the given rows against every other row (output row ``a``)."""
    n = X.shape[0]
    for a in numba.prange(rows.shape[0]):
        r = rows[a]
        idx = np.empty(n - 1, dtype=np.int64)
        w = 0
        for j in range(n):
            if j != r:
                idx[w] = j
                w += 1
        dist = np.empty(n - 1, dtype=np.float64)
        qv = _query(X, div, r)
        _sqdists(sq, qv, X, div, idx, n - 1, dist)
        order = np.argsort(dist, kind="mergesort")
        for p in range(k):
            q = order[p]
            out_idx[a, p] = idx[q]
            out_dist[a, p] = 0.5 * dist[q] if cosine else np.sqrt(dist[q])


def _prepare(X: np.ndarray, distance: str, name: str) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """Row divisors for the exact distances, float32 scaled vectors, 'all equal', the gain.

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
    gain : float
        How a squared exact distance ``d`` changes the score of the scaled vectors:
        ``1/2`` (cosine: ``cos = 1 - d / 2``) or ``1 / top^2`` (euclidean, ``top`` the
        divisor of the centred rows).
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
        return div, work, constant, 0.5
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
    return div, work, constant, 1.0 / top**2 if top > 0 else 0.0


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

    When the space has more than :data:`SYMMETRIC_FROM` tracks and the symmetric pass's
    state fits in ``symmetric_mb`` (``neighbors.symmetric_mb``, :meth:`ExactEngine.state_mb`),
    the symmetric pass screens each pair of tiles once (:func:`symmetric_table`); otherwise
    row blocks of at most ``max_block_mb`` are searched against the whole space
    (:func:`row_block_table`).  Both give the same table bit for bit.

    Returns
    -------
    indices, distances : np.ndarray
        As :func:`neighbors`.
    recomputed : int
        Rows that were not certified by the float32 pass and were recomputed against every
        track in float64 (the certificate of the table).
    """
    if not engine.constant and engine.n > SYMMETRIC_FROM and engine.state_mb() <= symmetric_mb:
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


def _floors(
    engine: ExactEngine,
    qz: Quantized,
    alpha: np.ndarray,
    beta: np.ndarray,
    tile: int,
    pool: Executor,
) -> np.ndarray:
    """Starting threshold of every row: a score its ``k``-th best very likely reaches.

    From the approximate scores (exact integer products, :mod:`nnsim.search.int8`) against
    a strided sample of ``n_sample`` columns (:func:`_row_floors`): ``rank`` is the expected
    number of sampled columns among the row's ``k`` best plus two standard deviations
    (binomial) and 2 (0.2-0.4% of the rows overshoot; measured).  A tight floor spares
    exact distances in the tile scan; a floor that overshoots only costs that row a second
    search (one row against every track, :func:`symmetric_table`).  Small spaces, and ``k``
    large against the space, start from -inf.  ``alpha`` and ``beta`` (float32, n) are the
    screen's factors of the rows (:func:`symmetric_table`).  Blocks of ``tile`` rows run on
    ``pool``.
    """
    n, k = engine.n, engine.k
    floors = np.full(n, -np.inf, dtype=np.float32)
    n_sample = _SAMPLE
    if n < 8 * n_sample or k * 8 >= n:
        return floors
    stride = n // n_sample
    cols = np.arange(0, n, stride)[:n_sample]
    expected = k * n_sample / n
    rank = int(np.ceil(expected + 2.0 * np.sqrt(expected) + 2))
    if rank > _GROUPS // 2:
        return floors
    right = np.ascontiguousarray(qz.B[cols].T)
    beta_cols = beta[cols]
    off = engine.off[cols]

    def block(s: int) -> None:
        P = tile_product(qz.A[s : s + tile], right)
        _row_floors(P, s, stride, alpha, beta_cols, off, rank, floors)

    list(pool.map(block, range(0, n, tile)))
    return floors


def _tree_order(work: np.ndarray, tile: int) -> np.ndarray:
    """An order of the rows in which each tile of ``tile`` rows holds similar tracks.

    The rows are projected on their 8 principal axes (from a sample of 4,096 rows), then
    bisected recursively at the median of the axis along which the part varies most, cut on
    tile boundaries: the leaves are the tiles, and nearby tiles are similar.  Any order gives
    the same table; this one makes most tiles hold few candidates of any track.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=int64]
        Row indices in the new order.
    """
    n, d = work.shape
    order = np.arange(n, dtype=np.int64)
    if n <= tile:
        return order
    sample = work[:: max(1, n // 4096)].astype(np.float64)
    sample -= sample.mean(axis=0)
    _, vectors = np.linalg.eigh(sample.T @ sample)
    Z = work @ vectors[:, ::-1][:, : min(8, d)].astype(np.float32)
    stack = [(0, n)]
    while stack:
        s, e = stack.pop()
        tiles = -(-(e - s) // tile)
        if tiles <= 1:
            continue
        z = Z[order[s:e]]
        axis = int(np.argmax(z.var(axis=0)))
        mid = tile * (tiles // 2)
        order[s:e] = order[s:e][np.argpartition(z[:, axis], mid)]
        stack += [(s, s + mid), (s + mid, e)]
    return order


def symmetric_table(
    engine: ExactEngine,
    max_block_mb: float,
    *,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
    threads: int | None = None,
    tile: int | None = None,
    right: int | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole table from one integer product per pair of tiles (the product is symmetric).

    The rows are cut into tiles of :func:`tile_for` rows.  For tiles ``I <= J`` the exact
    integer product of their quantized rows (:mod:`nnsim.search.int8`) is computed once; it
    gives every pair ``(i, j)`` a float32 bound ``u`` that is at least the exact
    ``scale * w_i . w_j``, so ``u - off[j]`` bounds track ``i``'s score of ``j`` and
    ``u - off[i]`` track ``j``'s score of ``i`` (:func:`_scan_tile`).  Each track has a
    threshold ``thr``; a pair whose bound reaches it gets its exact float64 distance
    (:func:`_sqdists`) and is offered to the track (:func:`_offer`), which keeps its best
    candidates by ``(distance, index)``.

    Why the table is exact.  ``thr[i]`` starts at a sampled floor (:func:`_floors`) and
    afterwards only rises to ``_threshold`` of the ``k``-th best distance among the
    candidates ``i`` has kept, which is never better than its final ``k``-th best; so at
    every moment ``thr[i] <= T_i``, the threshold of the final ``k``-th best, provided the
    floor is.  A pair never offered to ``i`` had ``u - off[j] < thr[i] <= T_i``, so its
    exact score is below the final ``k``-th best's (``_threshold`` subtracts the margin
    between the scores of the float32 rows and the exact ones): it cannot be among the
    ``k`` nearest, not even tied.  Every pair that can is offered, with its exact distance,
    and the final lists are those ``k`` in table order (:func:`_final_rows`).  A track whose
    floor lay above ``T_i`` (0.2-0.4% of the tracks) is searched again, without a floor,
    against every track (:meth:`ExactEngine.rows_at`).

    Threads each take whole tiles (onnxruntime's kernel and the scan, both without the GIL)
    from rounds of tiles that share no track (:func:`tile_rounds`), so no two threads touch
    one track's candidates.

    Parameters
    ----------
    threads : int, optional
        Threads scanning tiles (default: the cores numba uses).
    tile : int, optional
        Rows of a tile (default: :func:`tile_for`); the table does not depend on it.
    right : int, optional
        Largest integer of the right factors (:func:`nnsim.search.int8.quantize`; default:
        what this processor's kernels keep exact); the table does not depend on it.

    Returns
    -------
    indices, distances, recomputed
        As :func:`exact_table`.
    """
    name, n, k = engine.name, engine.n, engine.k
    indices, dist = out if out is not None else new_table(n, k)
    tile = tile or tile_for(max_block_mb)
    workers = threads or numba.get_num_threads()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="nnsim-tiles")
    # No BLAS runs here, but OpenBLAS's own threads, left spinning by an earlier product,
    # would take the cores from the tile threads (measured: tiles 15-20% slower).
    blas = threadpool_limits(1, user_api="blas")
    try:
        clock = [time.perf_counter()]
        # Similar tracks in the same and in nearby tiles: most tiles then hold few candidates
        # of any track (measured: the scan 20-25% faster).  Ties still go by track index.
        ids = _tree_order(engine.work, tile)
        view = engine.permuted(ids)
        qz = quantize(view.work, tile, right)
        # The screen's bound (see the module docstring of nnsim.search.int8), as float32
        # factors; _SCREEN_SLACK covers every float32 rounding of u and of the comparisons.
        s = view.scale
        alpha = (s * qz.a).astype(np.float32)
        beta = qz.b.astype(np.float32)
        norm = float(np.sqrt(np.einsum("ij,ij->i", view.work, view.work, dtype=np.float64).max()))
        crow = (s * qz.E * norm + _SCREEN_SLACK).astype(np.float32)
        grow = (s * (norm + qz.E) * (1 + 1e-6)).astype(np.float32)
        F = (qz.F * (1 + 1e-6)).astype(np.float32)
        floors = _floors(view, qz, alpha, beta, tile, pool)
        clock.append(time.perf_counter())
        thr = floors.copy()
        cands = np.empty((n, engine.buffer(), 2), dtype=np.float64)
        kth = np.full((n, 2), np.inf)  # each track's k-th best (distance, index) once known
        cnt = np.zeros(n, dtype=np.int64)
        X, div, base, gain, margin = view.X, view.div, view.base, view.gain, _MARGIN
        off = view.off
        starts = list(range(0, n, tile))
        rounds = tile_rounds(len(starts))
        scratch = threading.local()

        def one(pair: tuple[int, int]) -> None:
            if not hasattr(scratch, "qv"):
                scratch.qv = np.empty(X.shape[1], dtype=np.float64)
                scratch.flags = np.zeros(8 * ((tile + 7) // 8), dtype=np.uint8)
                scratch.js = np.empty(tile, dtype=np.int64)
                scratch.got = np.empty(tile, dtype=np.float64)
                scratch.ka = np.empty(cands.shape[1], dtype=np.float64)
                scratch.kb = np.empty(cands.shape[1], dtype=np.float64)
                scratch.count = np.empty(256, dtype=np.int64)
            i0, j0 = starts[pair[0]], starts[pair[1]]
            P = tile_product(qz.A[i0 : i0 + tile], qz.blocks[pair[1]])
            _scan_tile(
                P, i0, j0, i0 == j0, alpha, beta, crow, grow, F, off, X, div, scratch.qv,
                scratch.flags, scratch.js, scratch.got, scratch.ka, scratch.kb, scratch.count, ids,
                thr, cands, cnt, kth, k, base, gain, margin, _sqdist_c,
            )  # fmt: skip

        for pairs in progress(
            rounds, desc=f"neighbours {name}", unit="round", enabled=show_progress
        ):
            list(pool.map(one, pairs))
    finally:
        pool.shutdown()
        blas.restore_original_limits()
    clock.append(time.perf_counter())
    done = np.zeros(n, dtype=np.bool_)
    _final_rows(cands, cnt, k, floors, base, gain, margin, engine.cosine, ids, indices, dist, done)
    clock.append(time.perf_counter())
    again = np.sort(ids[~done])
    uncertain = 0
    if again.size:
        log.debug("%s: %d rows searched again (their sampled floor overshot)", name, again.size)
        for s in range(0, again.size, 1024):
            rows = again[s : s + 1024]
            idx, d, u = engine.rows_at(rows)
            indices[rows], dist[rows] = idx, d
            uncertain += u
    for s in range(0, n, 65536):  # the same refusal as every other pass (no unchecked index)
        rows = np.arange(s, min(n, s + 65536))
        _checked(indices[rows], dist[rows], rows, n, name)
    clock.append(time.perf_counter())
    log.debug(
        "%s: order and floors %.2f s, tiles %.2f s, final %.2f s, %d rows again %.2f s",
        name, *np.diff(clock)[:3], again.size, clock[-1] - clock[-2],
    )  # fmt: skip
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
    base : np.ndarray [shape=(n,), dtype=float64]
        With ``gain``, the exact score of row ``i`` against a track at squared exact
        distance ``d`` (:func:`_sqdists`) is ``base[i] - gain * d``: cosine ``1 - d / 2``,
        euclidean ``|work_i|^2 - d / top^2``.  The symmetric pass turns a row's ``k``-th
        exact distance into its float32 threshold with it.
    gain : float
        See ``base``.
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
    base: np.ndarray
    gain: float

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
        div, work, constant, gain = _prepare(X, distance, name)
        if constant:
            log.warning(
                "%s: every track is the same %s; every neighbour list is a tie (broken by "
                "track index) and S_n with this space is at chance level.",
                name,
                "direction" if cosine else "point",
            )
        if cosine:
            scale, off = 1.0, np.zeros(n, dtype=np.float32)  # score = cos
            base = np.ones(n)
        else:
            # score = 2 x.y - |y|^2 (larger is nearer); doubling is exact.
            scale = 2.0
            base = np.einsum("ij,ij->i", work, work, dtype=np.float64)
            off = base.astype(np.float32)
        kc = k + candidate_margin(k, n)
        return cls(X, div, work, scale, off, k, kc, cosine, constant, name, base, gain)

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
            _full_rows(self.X, self.div, rows, self.k, self.cosine, idx, dist64, _sqdist_c)
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
        _rerank(self.X, self.div, cand, rows, k, self.cosine, idx, dist64, _sqdist_c)
        uncertain = np.empty(0, dtype=np.int64)
        if self.kc < n - 1:
            gap = scores[:, k - 1].astype(np.float64) - scores[:, self.kc - 1]
            bound = 2.0 * float32_error_bound(self.X.shape[1])
            uncertain = np.flatnonzero(~(gap > bound))
            if uncertain.size:
                sub_i = np.empty((uncertain.size, k), dtype=np.int32)
                sub_d = np.empty((uncertain.size, k), dtype=np.float64)
                _full_rows(
                    self.X, self.div, rows[uncertain], k, self.cosine, sub_i, sub_d, _sqdist_c
                )
                idx[uncertain], dist64[uncertain] = sub_i, sub_d
        return (*_checked(idx, dist64, rows, n, self.name), int(uncertain.size))

    def permuted(self, ids: np.ndarray) -> ExactEngine:
        """The same space with its rows in the order ``ids`` (copies)."""
        return replace(
            self,
            X=self.X[ids],
            div=self.div[ids],
            work=self.work[ids],
            off=self.off[ids],
            base=self.base[ids],
        )

    def buffer(self) -> int:
        """Candidates a track's buffer in :func:`symmetric_table` holds before it is cut
        back to the ``k`` best (fewer cuts against fewer threshold rises)."""
        return self.k + max(16, self.k // 4)

    def state_mb(self) -> float:
        """MiB of what :func:`symmetric_table` holds beyond the space: the per-row candidate
        buffers and the reordered copies of the vectors."""
        return self.n * (self.buffer() * 16 + self.X.shape[1] * 10) / 2**20

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

    ``indices`` holds the lists of ``rows`` of a space of ``n`` tracks; ``dist64`` their
    distances (float64, or float32 already rounded).
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
