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
    self_cols: np.ndarray,
    k: int,
    out_idx: np.ndarray,
    out_score: np.ndarray,
) -> None:
    """Best ``k`` columns of every row of the score block ``S``, self excluded.

    The block is a scratch buffer: row ``r``'s own column ``self_cols[r]`` is set to -inf
    first.  A strided
    sample of the row gives a floor that the ``k``-th best score very likely exceeds;
    scanning only buffers scores at or above it.  If fewer than ``k`` scores reach the
    floor, the row is rescanned without it, so the result is always exact.
    """
    b, n = S.shape
    cap = 4 * k
    n_sample = 2048
    use_floor = n >= 4 * n_sample and k * 8 < n
    for r in numba.prange(b):
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
        for p in range(kc):
            j = cand[r, p]
            v = _sqdist(X, div, row_ids[r], j)
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
        for j in range(n):
            if j == r:
                continue
            dist[w] = _sqdist(X, div, r, j)
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
    indices, dist, _ = exact_table(engine, max_block_mb, show_progress=show_progress, out=out)
    return indices, dist


def exact_table(
    engine: ExactEngine,
    max_block_mb: float,
    *,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole table of a prepared space, block by block on this machine.

    Returns
    -------
    indices, distances : np.ndarray
        As :func:`neighbors`.
    recomputed : int
        Rows that were not certified by the float32 pass and were recomputed against every
        track in float64 (the certificate of the table).
    """
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
    left, right_t : np.ndarray
        Factors of the float32 score product ``left[rows] @ right_t``.
    k, kc : int
        Neighbours kept and float32 candidates per row.
    cosine, constant : bool
        Distance, and whether every row is the same point/direction.
    name : str
        The space, for messages.
    """

    X: np.ndarray
    div: np.ndarray
    left: np.ndarray
    right_t: np.ndarray
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
        """Check the inputs and prepare the scaled float32 factors (see the module docstring).

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
            left, right = work, work  # score = cos
        else:
            # score = 2 x.y - |y|^2 (larger is nearer) straight out of one product:
            # [x, 1] . [2y, -|y|^2]; doubling is exact.
            sq = np.einsum("ij,ij->i", work, work, dtype=np.float64)
            left = np.hstack([work, np.ones((n, 1), dtype=np.float32)])
            right = np.hstack([2 * work, (-sq).astype(np.float32)[:, None]])
        kc = k + candidate_margin(k, n)
        return cls(X, div, left, right.T, k, kc, cosine, constant, name)

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
        n, k, b = self.n, self.k, rows.shape[0]
        rows = rows.astype(np.int64, copy=False)
        idx = np.empty((b, k), dtype=np.int32)
        dist64 = np.empty((b, k), dtype=np.float64)
        if self.constant:
            _full_rows(self.X, self.div, rows, k, self.cosine, idx, dist64)
            return (*_checked(idx, dist64, rows, n, self.name), 0)
        if buf is None:
            buf = np.empty((b, n), dtype=np.float32)
        contiguous = b > 0 and rows[-1] - rows[0] == b - 1 and bool(np.all(np.diff(rows) == 1))
        left = self.left[rows[0] : rows[0] + b] if contiguous else self.left[rows]
        S = np.matmul(left, self.right_t, out=buf[:b])
        cand = np.empty((b, self.kc), dtype=np.int32)
        scores = np.empty((b, self.kc), dtype=np.float32)
        _topk_block(S, rows, self.kc, cand, scores)
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
