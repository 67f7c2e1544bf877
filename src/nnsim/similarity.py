"""NN-similarity S_n between neighbour tables, for every cutoff at once.

For two spaces X and Y of the same tracks and a reference track t,
``S_n(t) = |L_X,n(t) ∩ L_Y,n(t)| / n`` where ``L_.,n(t)`` are the ``n`` nearest neighbours of
``t``.  ``S_n(X, Y)`` is its mean over reference tracks (Tovstogan et al., SMC 2022, Sec. 3).

An element at rank ``p`` in ``L_X`` and rank ``q`` in ``L_Y`` (0-based) is shared by the two
lists at every cutoff ``n > max(p, q)``.  One pass over each pair of rows therefore gives the
overlap at every cutoff ``1..K`` from a single table computed at the largest cutoff ``K``.

Rank-aware variants (options, not the paper's measure):

* ``rbo`` — extrapolated rank-biased overlap (Webber et al. 2010, eq. 32) of the two top-n
  lists with persistence ``p``: ``(1-p) Σ_{d≤n} p^{d-1} A_d + p^n A_n``, with ``A_d`` the
  overlap proportion at depth ``d``; 1 for identical lists.
* ``spearman`` — Spearman correlation over the union of the two top-n lists; an item
  absent from one list gets the rank ``n + 1`` there.
* ``jaccard`` — the kNN Jaccard index ``|L_X,n ∩ L_Y,n| / |L_X,n ∪ L_Y,n|`` of the top-n
  lists (the representation-similarity literature's kNN measure); per track it is
  ``s / (2 - s)`` of that track's S_n ``s``, so it ranks tracks as S_n does, but its mean
  (and Table 2) weighs low agreement differently.
* ``rank`` — rank similarity (Wang et al. 2020, as in the ReSi benchmark): every neighbour in
  both top-n lists adds ``2 / ((1 + |r_X - r_Y|)(r_X + r_Y))`` (1-based ranks), and the sum
  is divided by its largest possible value for that many shared neighbours,
  ``Σ_{k≤s} 1/k``; 1 when the lists agree in order, 0 when they share nothing
  (:func:`nnsim.measures.rank_similarity` is the same per-track value, plainly written).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from nnsim.errors import ConfigError, InputError
from nnsim.progress import progress
from nnsim.settings import LIST_MEASURES

log = logging.getLogger(__name__)

#: Memory bound (MiB) of the rows of two tables compared at once and of one chunk of
#: bootstrap weights: what bounds :func:`compare_tables` at millions of tracks.
TABLE_BLOCK_MB = 256.0


def check_cutoffs(cutoffs: Sequence[int] | np.ndarray, n_tracks: int | None = None) -> np.ndarray:
    """Validate cutoffs: positive integers, below the number of tracks; sorted unique.

    Parameters
    ----------
    cutoffs : sequence of int
        Requested cutoffs ``n``.
    n_tracks : int, optional
        Number of tracks; every cutoff must be ``<= n_tracks - 1``.

    Returns
    -------
    np.ndarray [shape=(c,), dtype=int64]
    """
    try:
        arr = np.asarray(list(cutoffs), dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"cutoffs must be positive integers, got {list(cutoffs)!r}.") from None
    if arr.size == 0:
        raise ConfigError("no cutoffs given; give at least one, e.g. 5 10 100 200.")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < 1):
        raise ConfigError(f"cutoffs must be positive integers, got {list(cutoffs)!r}.")
    out = np.unique(arr.astype(np.int64))
    if n_tracks is not None and out[-1] >= n_tracks:
        raise ConfigError(
            f"cutoff {int(out[-1])} needs more than {n_tracks} tracks (a track is not its own "
            f"neighbour). Use cutoffs up to {n_tracks - 1}."
        )
    return out


def chance_level(cutoffs: Sequence[int] | np.ndarray, n_tracks: int) -> np.ndarray:
    """Expected S_n of two independent random neighbour lists: ``n / (N - 1)``.

    Parameters
    ----------
    cutoffs : array_like [shape=(c,)]
    n_tracks : int
        ``N``, tracks in the compared spaces.

    Returns
    -------
    np.ndarray [shape=(c,), dtype=float64]
    """
    return np.asarray(cutoffs, dtype=np.float64) / (n_tracks - 1)


def chance_jaccard(cutoffs: Sequence[int] | np.ndarray, n_tracks: int) -> np.ndarray:
    """Expected kNN Jaccard index of two independent random top-n lists.

    The shared count ``s`` of two random n-subsets of the ``N - 1`` other tracks is
    hypergeometric; the chance level is ``E[s / (2n - s)]``.

    Parameters
    ----------
    cutoffs : array_like [shape=(c,)]
    n_tracks : int

    Returns
    -------
    np.ndarray [shape=(c,), dtype=float64]
    """
    from scipy.stats import hypergeom

    out = []
    for n in np.asarray(cutoffs, dtype=np.int64):
        s = np.arange(0, n + 1)
        p = hypergeom(n_tracks - 1, int(n), int(n)).pmf(s)
        out.append(float(np.sum(p * s / (2.0 * n - s))))
    return np.asarray(out)


@numba.njit(parallel=True, cache=True)
def _overlap_kernel(
    A: np.ndarray,
    B: np.ndarray,
    K: int,
    cutoffs: np.ndarray,
    n_items: int,
    rbo_p: float,
    want_rbo: bool,
    per_row: np.ndarray,
    per_row_rbo: np.ndarray,
    hist: np.ndarray,
) -> None:
    n = A.shape[0]
    n_chunks = min(n, 64)
    hists = np.zeros((n_chunks, K), dtype=np.int64)
    n_cut = cutoffs.shape[0]
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        pos = np.full(n_items, -1, dtype=np.int32)
        rowh = np.zeros(K, dtype=np.int64)
        for r in range(lo, hi):
            for q in range(K):
                pos[B[r, q]] = q
            for p in range(K):
                q = pos[A[r, p]]
                if q >= 0:
                    rowh[max(p, q)] += 1
            for q in range(K):
                pos[B[r, q]] = -1
            cum = 0
            ci = 0
            acc = 0.0
            w = 1.0
            for d in range(K):
                cum += rowh[d]
                hists[c, d] += rowh[d]
                rowh[d] = 0
                if want_rbo:
                    acc += w * cum / (d + 1)
                    w *= rbo_p
                while ci < n_cut and cutoffs[ci] == d + 1:
                    per_row[r, ci] = cum
                    if want_rbo:
                        per_row_rbo[r, ci] = (1.0 - rbo_p) * acc + w * cum / (d + 1)
                    ci += 1
    for c in range(n_chunks):
        for d in range(K):
            hist[d] += hists[c, d]


@numba.njit(parallel=True, cache=True)
def _spearman_kernel(
    A: np.ndarray, B: np.ndarray, cutoffs: np.ndarray, n_items: int, out: np.ndarray
) -> None:
    n = A.shape[0]
    n_chunks = min(n, 64)
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        pos_a = np.full(n_items, -1, dtype=np.int32)
        pos_b = np.full(n_items, -1, dtype=np.int32)
        for r in range(lo, hi):
            for ci in range(cutoffs.shape[0]):
                m = cutoffs[ci]
                for q in range(m):
                    pos_a[A[r, q]] = q
                    pos_b[B[r, q]] = q
                sx = 0.0
                sy = 0.0
                sxx = 0.0
                syy = 0.0
                sxy = 0.0
                u = 0
                for q in range(m):  # items of A, ranked in B (or m + 1)
                    x = q + 1.0
                    pb = pos_b[A[r, q]]
                    y = pb + 1.0 if pb >= 0 else m + 1.0
                    sx += x
                    sy += y
                    sxx += x * x
                    syy += y * y
                    sxy += x * y
                    u += 1
                for q in range(m):  # items only in B
                    if pos_a[B[r, q]] < 0:
                        x = m + 1.0
                        y = q + 1.0
                        sx += x
                        sy += y
                        sxx += x * x
                        syy += y * y
                        sxy += x * y
                        u += 1
                for q in range(m):
                    pos_a[A[r, q]] = -1
                    pos_b[B[r, q]] = -1
                vx = sxx - sx * sx / u
                vy = syy - sy * sy / u
                if vx <= 0.0 or vy <= 0.0:
                    out[r, ci] = 1.0  # a single shared item: identical lists
                else:
                    out[r, ci] = (sxy - sx * sy / u) / np.sqrt(vx * vy)


@numba.njit(cache=True, nogil=True, parallel=True)
def _rank_kernel(
    A: np.ndarray, B: np.ndarray, cutoffs: np.ndarray, n_items: int, out: np.ndarray
) -> None:
    n = A.shape[0]
    K = cutoffs[cutoffs.shape[0] - 1]
    harmonic = np.zeros(K + 1)
    for k in range(1, K + 1):
        harmonic[k] = harmonic[k - 1] + 1.0 / k
    n_chunks = min(n, 64)
    for c in numba.prange(n_chunks):
        lo = c * n // n_chunks
        hi = (c + 1) * n // n_chunks
        pos_a = np.full(n_items, -1, dtype=np.int32)
        for r in range(lo, hi):
            for ci in range(cutoffs.shape[0]):
                m = cutoffs[ci]
                for q in range(m):
                    pos_a[A[r, q]] = q
                score = 0.0
                shared = 0
                for q in range(m):
                    pa = pos_a[B[r, q]]
                    if pa >= 0:
                        ra = pa + 1.0
                        rb = q + 1.0
                        score += 2.0 / ((1.0 + abs(ra - rb)) * (ra + rb))
                        shared += 1
                for q in range(m):
                    pos_a[A[r, q]] = -1
                out[r, ci] = score / harmonic[shared] if shared > 0 else 0.0


def _check_table(idx: np.ndarray, K: int, name: str) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise InputError(f"{name}: a neighbour table must be a 2-D integer array, got {arr.shape}.")
    if arr.shape[1] < K:
        raise InputError(
            f"{name}: neighbour table has {arr.shape[1]} columns, the largest cutoff is {K}. "
            "Compute the neighbours at the largest cutoff."
        )
    return np.ascontiguousarray(arr[:, :K], dtype=np.int32)


@dataclass
class PairOverlap:
    """Per-track overlap of two neighbour tables.

    Attributes
    ----------
    cutoffs : np.ndarray [shape=(c,)]
        Cutoffs ``n``.
    per_track : np.ndarray [shape=(n_tracks, c)]
        ``S_n`` of every reference track at each cutoff.
    curve : np.ndarray [shape=(K,)]
        Mean ``S_n`` for every ``n = 1..K``.
    rbo : np.ndarray [shape=(n_tracks, c)] or None
        Per-track extrapolated RBO (when asked).
    spearman : np.ndarray [shape=(n_tracks, c)] or None
        Per-track Spearman on the union (when asked).
    jaccard : np.ndarray [shape=(n_tracks, c)] or None
        Per-track kNN Jaccard index (when asked).
    rank : np.ndarray [shape=(n_tracks, c)] or None
        Per-track rank similarity (when asked).
    """

    cutoffs: np.ndarray
    per_track: np.ndarray
    curve: np.ndarray
    rbo: np.ndarray | None = None
    spearman: np.ndarray | None = None
    jaccard: np.ndarray | None = None
    rank: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        """Mean ``S_n`` over reference tracks at each cutoff, shape ``(c,)``."""
        return self.per_track.mean(axis=0)


def pair_overlap(
    A: np.ndarray,
    B: np.ndarray,
    cutoffs: Sequence[int] | np.ndarray,
    *,
    measures: Sequence[str],
    rbo_p: float | None,
) -> PairOverlap:
    """S_n of two neighbour tables at every cutoff, from one pass over the rows.

    Parameters
    ----------
    A, B : np.ndarray [shape=(n_tracks, >= K), dtype=int]
        Neighbour indices of the same tracks in two spaces, nearest first.
    cutoffs : sequence of int
        Cutoffs; ``K = max(cutoffs)``.
    measures : sequence of str
        Any of ``overlap`` (always computed), ``rbo``, ``spearman``, ``jaccard``, ``rank``.
    rbo_p : float or None
        RBO persistence in (0, 1) (``compare.rbo_p``); needed only with ``rbo``.

    Returns
    -------
    PairOverlap

    Examples
    --------
    The example of the paper's Section 3 (tracks t1..t8 as 1..8):

    >>> A = np.array([[1, 2, 3, 4, 5]])
    >>> B = np.array([[2, 6, 3, 7, 8]])
    >>> float(pair_overlap(A, B, [5], measures=["overlap"], rbo_p=0.9).mean[0])
    0.4
    """
    cut = check_cutoffs(cutoffs)
    bad = sorted(set(measures) - set(LIST_MEASURES))
    if bad:
        raise ConfigError(
            f"unknown list measure(s) {bad}; valid: {', '.join(LIST_MEASURES)} (the global "
            "ones are computed from the spaces, not from the tables)."
        )
    if "rbo" in measures and (rbo_p is None or not 0.0 < rbo_p < 1.0):
        raise ConfigError(f"rbo_p must be in (0, 1), got {rbo_p}.")
    K = int(cut[-1])
    a = _check_table(A, K, "first table")
    b = _check_table(B, K, "second table")
    if a.shape[0] != b.shape[0]:
        raise InputError(
            f"neighbour tables have {a.shape[0]} and {b.shape[0]} rows; align the spaces first."
        )
    return _pair_overlap(a, b, cut, measures, rbo_p)


def _pair_overlap(
    a: np.ndarray, b: np.ndarray, cut: np.ndarray, measures: Sequence[str], rbo_p: float | None
) -> PairOverlap:
    """:func:`pair_overlap` on checked inputs (contiguous ``(n, K)`` tables, sorted cutoffs)."""
    K = int(cut[-1])
    n_items = int(max(a.max(), b.max(), a.shape[0] - 1)) + 1
    per_row = np.zeros((a.shape[0], cut.size), dtype=np.int32)
    per_rbo = np.zeros((a.shape[0], cut.size), dtype=np.float64)
    hist = np.zeros(K, dtype=np.int64)
    want_rbo = "rbo" in measures
    p = float(rbo_p) if want_rbo and rbo_p is not None else 0.5  # unused without rbo
    _overlap_kernel(a, b, K, cut, n_items, p, want_rbo, per_row, per_rbo, hist)
    curve = np.cumsum(hist) / (a.shape[0] * np.arange(1, K + 1, dtype=np.float64))
    spear = None
    if "spearman" in measures:
        spear = np.zeros((a.shape[0], cut.size), dtype=np.float64)
        _spearman_kernel(a, b, cut, n_items, spear)
    rank = None
    if "rank" in measures:
        rank = np.zeros((a.shape[0], cut.size), dtype=np.float64)
        _rank_kernel(a, b, cut, n_items, rank)
    n = cut.astype(np.float64)
    return PairOverlap(
        cutoffs=cut,
        per_track=per_row / n,
        curve=curve,
        rbo=per_rbo if "rbo" in measures else None,
        spearman=spear,
        jaccard=per_row / (2.0 * n - per_row) if "jaccard" in measures else None,
        rank=rank,
    )


def bootstrap_weights(n_tracks: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampling weights of reference tracks for a paired bootstrap.

    Parameters
    ----------
    n_tracks : int
        Reference tracks.
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    np.ndarray [shape=(n_boot, n_tracks), dtype=float32]
        Row ``b`` counts how often each track is drawn in replicate ``b`` (rows sum to
        ``n_tracks``).  The same weights are used for every pair, so CIs are paired.
    """
    return np.concatenate(list(iter_bootstrap_weights(n_tracks, n_boot, seed, max_mb=np.inf)))


def iter_bootstrap_weights(
    n_tracks: int, n_boot: int, seed: int, *, max_mb: float
) -> Iterator[np.ndarray]:
    """:func:`bootstrap_weights` in consecutive chunks of rows of at most ``max_mb`` MiB.

    The chunks concatenate to exactly :func:`bootstrap_weights` (one random stream), so the
    CIs do not depend on the chunk size; memory stays bounded at millions of tracks.
    """
    rng = np.random.default_rng(seed)
    rows = int(max(1, min(n_boot, max_mb * 2**20 // (4 * max(n_tracks, 1)))))
    for b0 in range(0, n_boot, rows):
        W = np.empty((min(rows, n_boot - b0), n_tracks), dtype=np.float32)
        for b in range(W.shape[0]):
            W[b] = np.bincount(rng.integers(0, n_tracks, n_tracks), minlength=n_tracks)
        yield W


def bootstrap_means(per_track: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of the mean over reference tracks.

    Parameters
    ----------
    per_track : np.ndarray [shape=(n_tracks, c)]
    weights : np.ndarray [shape=(n_boot, n_tracks)]
        From :func:`bootstrap_weights`.

    Returns
    -------
    np.ndarray [shape=(n_boot, c), dtype=float64]
    """
    # float32 products (exact integer weights, values k/n): relative error ~1e-7, far below
    # any CI width; a float64 copy of the weights would cost n_boot x n_tracks x 8 bytes a pair.
    means = weights @ per_track.astype(weights.dtype, copy=False)
    return means.astype(np.float64) / per_track.shape[0]


def percentile_ci(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap replicates along axis 0."""
    alpha = (1.0 - level) / 2.0
    return np.quantile(replicates, alpha, axis=0), np.quantile(replicates, 1.0 - alpha, axis=0)


def mean_ci(
    per_track: np.ndarray, *, n_boot: int, level: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over reference tracks and its percentile bootstrap CI: the code base's one bootstrap.

    Parameters
    ----------
    per_track : np.ndarray [shape=(n_tracks,) or (n_tracks, c)]
        Per-track values (e.g. per-track S_n, recall or an S_n error).
    n_boot : int
        Replicates; ``0`` (or a single track) gives bounds equal to the mean.
    level : float
        Confidence level in (0, 1).
    seed : int
        Seed of :func:`bootstrap_weights`.

    Returns
    -------
    mean, low, high : np.ndarray [shape=(c,)] (or floats for a 1-D input)

    Examples
    --------
    >>> m, lo, hi = mean_ci(np.array([0.0, 1.0, 1.0, 0.0]), n_boot=200, level=0.9, seed=0)
    >>> float(m), bool(0.0 <= lo <= m <= hi <= 1.0)
    (0.5, True)
    """
    x = np.asarray(per_track, dtype=np.float64)
    flat = x.ndim == 1
    x2 = x[:, None] if flat else x
    mean = x2.mean(axis=0)
    if n_boot <= 0 or x2.shape[0] < 2:
        lo, hi = mean.copy(), mean.copy()
    else:
        lo, hi = bootstrap_ci(x2, bootstrap_weights(x2.shape[0], n_boot, seed), level)
    return (mean[0], lo[0], hi[0]) if flat else (mean, lo, hi)


def bootstrap_ci(
    per_track: np.ndarray, weights: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over reference tracks.

    Parameters
    ----------
    per_track : np.ndarray [shape=(n_tracks, c)]
        Per-track values.
    weights : np.ndarray [shape=(n_boot, n_tracks)]
        From :func:`bootstrap_weights`.
    level : float
        Confidence level.

    Returns
    -------
    low, high : np.ndarray [shape=(c,)]
    """
    return percentile_ci(bootstrap_means(per_track, weights), level)


@dataclass
class Comparison:
    """Every pair of spaces compared at every cutoff.

    Attributes
    ----------
    names : list of str
        Space names, length ``m``.
    cutoffs : np.ndarray [shape=(c,)]
    n_tracks : int
        Reference tracks ``N``.
    values : dict of str to np.ndarray [shape=(m, m, c)]
        Mean over tracks per measure (``overlap`` = S_n); symmetric, diagonal 1.
    ci_low, ci_high : dict of str to np.ndarray [shape=(m, m, c)]
        Bootstrap confidence bounds per measure.
    curves : np.ndarray [shape=(m, m, K)]
        S_n for every n = 1..K.
    meta : dict of str to dict
        Metadata of each space (for aggregates).
    boot : np.ndarray [shape=(m, m, n_boot, c)] or None
        Bootstrap replicates of S_n per pair (paired: the same resampled tracks for every
        pair), from which aggregates over pairs get their CIs.
    ci_level : float
        Confidence level of the CIs.
    boots : dict of str to np.ndarray [shape=(m, m, n_boot, c)]
        The same replicates for every list measure (``boots["overlap"]`` is ``boot``), for
        the measures' Table-2 aggregates.
    chance_of : dict of str to np.ndarray [shape=(m, m, c)]
        Permutation chance level per pair of the measures without a closed form (``rbo``,
        ``spearman``, ``rank`` and the vector measures); S_n's is :attr:`chance`.
    notes : dict of str to dict of (int, int) to str
        Why a measure has no value (NaN) for a pair ``(i, j)``, ``i < j``.
    """

    names: list[str]
    cutoffs: np.ndarray
    n_tracks: int
    values: dict[str, np.ndarray]
    ci_low: dict[str, np.ndarray]
    ci_high: dict[str, np.ndarray]
    curves: np.ndarray
    meta: dict[str, dict[str, object]]
    boot: np.ndarray | None
    ci_level: float
    boots: dict[str, np.ndarray] = field(default_factory=dict)
    chance_of: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)

    @property
    def similarity(self) -> np.ndarray:
        """The S_n matrices, shape ``(m, m, c)``."""
        return self.values["overlap"]

    @property
    def chance(self) -> np.ndarray:
        """Chance level per cutoff, shape ``(c,)``."""
        return chance_level(self.cutoffs, self.n_tracks)


def bootstrap_bytes(n_boot: int, *, n_spaces: int, n_cutoffs: int, n_measures: int) -> int:
    """Bytes the replicates of a comparison's bootstrap hold (float64): per measure, those of
    every pair while the CIs are taken, and those of every ordered pair for the aggregates."""
    m = int(n_spaces)
    pairs = m * (m - 1) // 2
    return 8 * int(n_boot) * int(n_cutoffs) * int(n_measures) * (m * m + pairs)


def check_bootstrap_memory(n_boot: int, *, n_spaces: int, n_cutoffs: int, n_measures: int) -> None:
    """Refuse, before any work, a bootstrap whose replicates need more than half the memory
    this machine has available (``compare.n_boot`` sets the replicates)."""
    import psutil

    need = bootstrap_bytes(n_boot, n_spaces=n_spaces, n_cutoffs=n_cutoffs, n_measures=n_measures)
    free = int(psutil.virtual_memory().available)
    if need > free // 2:
        fits = n_boot * (free // 2) // max(need, 1)
        raise ConfigError(
            f"compare.n_boot={n_boot} (--n-boot): the bootstrap of {n_spaces} spaces x "
            f"{n_cutoffs} cutoff(s) would hold {need / 2**30:.1f} GiB of replicates; this "
            f"machine has {free / 2**30:.1f} GiB available. Use at most {fits} replicates "
            "(1000 replicates are the usual choice)."
        )


def compare_tables(
    tables: Mapping[str, np.ndarray],
    cutoffs: Sequence[int] | np.ndarray,
    *,
    measures: Sequence[str],
    rbo_p: float,
    n_boot: int,
    ci_level: float,
    seed: int,
    meta: Mapping[str, Mapping[str, object]] | None = None,
    show_progress: bool = False,
) -> Comparison:
    """Compare every unordered pair of neighbour tables.

    Parameters
    ----------
    tables : mapping of str to np.ndarray [shape=(n_tracks, >= K)]
        Neighbour indices per space, all over the same aligned tracks.
    cutoffs : sequence of int
        Cutoffs n.
    measures : sequence of str
        ``overlap`` (S_n, always), optionally ``rbo`` and ``spearman``.
    rbo_p : float
        RBO persistence.
    n_boot : int
        Bootstrap replicates for the CIs (0 disables: bounds equal the value).
    ci_level : float
        Confidence level.
    seed : int
        Bootstrap seed.
    meta : mapping, optional
        Metadata per space, carried into the result.
    show_progress : bool
        tqdm bar over pairs.

    Returns
    -------
    Comparison
    """
    names = list(tables)
    if len(names) < 2:
        raise InputError(f"need at least two spaces to compare, got {len(names)}.")
    n_tracks = {int(np.shape(t)[0]) for t in tables.values()}
    if len(n_tracks) != 1:
        raise InputError(f"neighbour tables cover different track counts {sorted(n_tracks)}.")
    N = n_tracks.pop()
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 0:
        raise ConfigError(f"n_boot must be an integer >= 0 (0: no CIs), got {n_boot!r}.")
    if not 0.0 < ci_level < 1.0:
        raise ConfigError(f"ci_level must be in (0, 1), got {ci_level!r}.")
    cut = check_cutoffs(cutoffs, N)
    K = int(cut[-1])
    wanted = ["overlap"] + [m for m in measures if m != "overlap"]
    m, c = len(names), cut.size
    check_bootstrap_memory(n_boot, n_spaces=m, n_cutoffs=c, n_measures=len(wanted))
    values = {k: np.ones((m, m, c)) for k in wanted}
    lows = {k: np.ones((m, m, c)) for k in wanted}
    highs = {k: np.ones((m, m, c)) for k in wanted}
    curves = np.ones((m, m, K))
    for name in names:
        _check_table(tables[name][:1], K, name)
    # Tables are read in blocks of rows (memory-mapped tables of millions of tracks never
    # sit in RAM whole); below the block size this is one block, as it always was.
    step = max(1, int(TABLE_BLOCK_MB * 2**20 // (2 * 4 * K)))
    whole = N <= step
    if whole:  # each table cut to K contiguous columns once (not once per pair)
        tables = {name: _check_table(tables[name], K, name) for name in names}
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    # Per-track values of every pair side by side: one bootstrap product for all pairs.
    per_all = {key: np.empty((N, len(pairs) * c), dtype=np.float32) for key in wanted}
    for p, (i, j) in enumerate(progress(pairs, desc="pairs", unit="pair", enabled=show_progress)):
        curve = np.zeros(K)
        sums = {key: np.zeros(c) for key in wanted}
        for s in range(0, N, step):
            e = min(N, s + step)
            A, B = tables[names[i]][s:e], tables[names[j]][s:e]
            if not whole:
                A, B = _check_table(A, K, names[i]), _check_table(B, K, names[j])
            res = _pair_overlap(A, B, cut, wanted, rbo_p)
            curve += res.curve * ((e - s) / N)  # one block: x 1.0, exact
            for key in wanted:
                per = {
                    "overlap": res.per_track,
                    "rbo": res.rbo,
                    "spearman": res.spearman,
                    "jaccard": res.jaccard,
                    "rank": res.rank,
                }[key]
                assert per is not None
                per_all[key][s:e, p * c : (p + 1) * c] = per
                sums[key] += per.sum(axis=0)
        curves[i, j] = curves[j, i] = curve
        for key in wanted:
            mean = sums[key] / N
            values[key][i, j] = values[key][j, i] = mean
            lows[key][i, j] = lows[key][j, i] = mean
            highs[key][i, j] = highs[key][j, i] = mean
    boot = None
    boots: dict[str, np.ndarray] = {}
    if n_boot > 0:
        boots = {key: np.zeros((m, m, n_boot, c)) for key in wanted}
        boot = boots["overlap"]
        reps_all = {key: np.empty((n_boot, len(pairs) * c)) for key in wanted}
        b0 = 0
        for W in iter_bootstrap_weights(N, n_boot, seed, max_mb=TABLE_BLOCK_MB):
            for key in wanted:
                reps_all[key][b0 : b0 + len(W)] = bootstrap_means(per_all[key], W)
            b0 += len(W)
        for key in wanted:
            reps = reps_all[key].reshape(n_boot, len(pairs), c)
            lo, hi = percentile_ci(reps, ci_level)
            for p, (i, j) in enumerate(pairs):
                lows[key][i, j] = lows[key][j, i] = lo[p]
                highs[key][i, j] = highs[key][j, i] = hi[p]
                boots[key][i, j] = boots[key][j, i] = reps[:, p]
    return Comparison(
        names=names,
        cutoffs=cut,
        n_tracks=N,
        values=values,
        ci_low=lows,
        ci_high=highs,
        curves=curves,
        meta={k: dict(v) for k, v in (meta or {}).items()},
        boot=boot,
        ci_level=ci_level,
        boots=boots,
    )
