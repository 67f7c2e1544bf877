"""Measures beyond S_n: global similarity of two spaces, neighbourhood measures, hubness.

Pure functions on arrays (spaces ``X (N, d)`` of the same tracks in the same row order, or
neighbour tables ``(N, K)`` of the engine).  A measure that is undefined for the data (CKA of
a constant space, SVCCA with more dimensions than tracks) raises :class:`MeasureUndefined`
with the reason, so that a caller can record it instead of a NaN and go on with the others.

The neighbourhood measures that read the vectors as well as the lists (second-order cosine,
CKNNA) visit only the ``N x n`` pairs of the tables; hubness reduction (CSLS, mutual
proximity) re-ranks each track's candidates by secondary distances.

Global measures never form N x N matrices: CKA, its debiased form and Procrustes work on the
d x d cross-products (O(N d^2)); RSA compares pairwise distances on a seeded subsample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from nnsim.errors import NnsimError
from nnsim.progress import progress
from nnsim.similarity import (
    TABLE_BLOCK_MB,
    bootstrap_means,
    iter_bootstrap_weights,
    pair_overlap,
    percentile_ci,
)


class MeasureUndefined(NnsimError, ValueError):
    """A measure has no value for these data; the message says why."""


def _as_pair(X: np.ndarray, Y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    A = np.asarray(X, dtype=np.float64)
    B = np.asarray(Y, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise MeasureUndefined(
            f"{what}: needs two 2-D spaces of the same tracks, got {A.shape} and {B.shape}"
        )
    return A, B


def _centred(A: np.ndarray) -> np.ndarray:
    return A - A.mean(axis=0, keepdims=True)


def _centred_pair(X: np.ndarray, Y: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_as_pair`, each space column-centred."""
    A, B = _as_pair(X, Y, what)
    return _centred(A), _centred(B)


def _cka_norms(A: np.ndarray, B: np.ndarray) -> tuple[float, float]:
    """CKA's denominator terms ``||A^T A||_F, ||B^T B||_F`` of centred spaces (never 0)."""
    xx, yy = float(np.linalg.norm(A.T @ A)), float(np.linalg.norm(B.T @ B))
    if xx == 0 or yy == 0:
        raise MeasureUndefined("CKA: a space is constant over the tracks (no variance)")
    return xx, yy


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear centred kernel alignment (Kornblith et al., ICML 2019).

    ``CKA = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred ``Xc, Yc``:
    the normalised HSIC of the linear kernels ``Xc Xc^T`` and ``Yc Yc^T``, computed from the
    d x d cross-products, never from the N x N Gram matrices.  1 for spaces equal up to a
    rotation, an isotropic scaling and a translation; in [0, 1].

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]

    Returns
    -------
    float
    """
    A, B = _centred_pair(X, Y, "CKA")
    xx, yy = _cka_norms(A, B)
    return float(np.linalg.norm(A.T @ B) ** 2 / (xx * yy))


def _hsic_unbiased_linear(A: np.ndarray, B: np.ndarray) -> float:
    """Unbiased HSIC (Song et al., JMLR 2012) of the linear kernels of ``A`` and ``B``.

    ``[tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))`` where ``K~`` is
    ``A A^T`` with its diagonal set to 0; every term from features in O(N d^2).
    """
    n = A.shape[0]
    dk = np.einsum("ij,ij->i", A, A)  # diag(K)
    dl = np.einsum("ij,ij->i", B, B)
    tr_kl = float(np.linalg.norm(A.T @ B) ** 2 - dk @ dl)  # tr(K~ L~)
    k1 = A @ A.sum(axis=0) - dk  # K~ 1
    l1 = B @ B.sum(axis=0) - dl
    return (tr_kl + k1.sum() * l1.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k1 @ l1)) / (
        n * (n - 3)
    )


def debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA with unbiased HSIC estimates (Kornblith et al. 2019, Sec. 3; Song et al. 2012).

    ``HSIC_u(K, L) / sqrt(HSIC_u(K, K) HSIC_u(L, L))`` on column-centred spaces: removes the
    upward bias of :func:`linear_cka` when dimensions are many for the tracks (random spaces
    give about 0 rather than a positive value).  Can be slightly negative.

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]

    Returns
    -------
    float
    """
    A, B = _centred_pair(X, Y, "debiased CKA")
    if A.shape[0] < 4:
        raise MeasureUndefined(f"debiased CKA: needs at least 4 tracks, got {A.shape[0]}")
    xx = _hsic_unbiased_linear(A, A)
    yy = _hsic_unbiased_linear(B, B)
    if not (xx > 0 and yy > 0):
        raise MeasureUndefined("debiased CKA: a space has no variance left after debiasing")
    return float(_hsic_unbiased_linear(A, B) / np.sqrt(xx * yy))


def procrustes_distance(X: np.ndarray, Y: np.ndarray) -> float:
    """Orthogonal Procrustes distance of centred, unit-Frobenius spaces (Ding et al. 2021).

    ``min_Q ||Xn - Yn Q||_F`` over orthogonal ``Q`` (the smaller space padded with zero
    columns), which is ``sqrt(2 - 2 ||Xn^T Yn||_*)`` (nuclear norm).  0 for spaces equal up
    to rotation, isotropic scaling and translation; at most sqrt(2).

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]

    Returns
    -------
    float
    """
    A, B = _centred_pair(X, Y, "Procrustes")
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    if na == 0 or nb == 0:
        raise MeasureUndefined("Procrustes: a space is constant over the tracks (no variance)")
    nuc = np.linalg.svd((A / na).T @ (B / nb), compute_uv=False).sum()
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * nuc)))


def _condensed_distances(A: np.ndarray, distance: str) -> np.ndarray:
    """Pairwise distances of the rows (i < j), in ``scipy.spatial.distance.pdist`` order."""
    if distance == "cosine":
        norms = np.linalg.norm(A, axis=1, keepdims=True)
        if (norms == 0).any():
            raise MeasureUndefined("RSA: an all-zero track has no cosine distance")
        A = A / norms
        D = 1.0 - A @ A.T
    elif distance == "euclidean":
        sq = np.einsum("ij,ij->i", A, A)
        D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * A @ A.T, 0.0))
    else:
        raise MeasureUndefined(f"RSA: unknown distance {distance!r}")
    iu = np.triu_indices(A.shape[0], k=1)
    return D[iu]


def _rsa_rows(n: int, max_tracks: int, seed: int) -> np.ndarray:
    """RSA's seeded subsample of ``max_tracks`` of ``n`` tracks (all of them when fewer)."""
    if n <= max_tracks:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_tracks, replace=False))


def _kept(s: np.ndarray, keep: float) -> int:
    """How many leading directions of singular values ``s`` explain ``keep`` of the variance."""
    var = np.cumsum(s**2) / np.sum(s**2)
    return int(np.searchsorted(var, keep - 1e-12) + 1)


def rsa(X: np.ndarray, Y: np.ndarray, *, distance: str, max_tracks: int, seed: int) -> float:
    """Representational similarity analysis (Kriegeskorte et al. 2008).

    Spearman's correlation of the two spaces' pairwise-distance vectors over a seeded
    subsample of ``max_tracks`` tracks (all of them when fewer), ties ranked by their mean.

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]
    distance : {"cosine", "euclidean"}
    max_tracks : int
        Subsample size (the distance vectors have ``m (m - 1) / 2`` entries).
    seed : int

    Returns
    -------
    float
    """
    from scipy.stats import spearmanr

    A, B = _as_pair(X, Y, "RSA")
    n = A.shape[0]
    if n < 3:
        raise MeasureUndefined(f"RSA: needs at least 3 tracks, got {n}")
    if n > max_tracks:
        rows = _rsa_rows(n, max_tracks, seed)
        A, B = A[rows], B[rows]
    da, db = _condensed_distances(A, distance), _condensed_distances(B, distance)
    if np.ptp(da) == 0 or np.ptp(db) == 0:
        raise MeasureUndefined("RSA: every pair of tracks is equally far apart in a space")
    return float(spearmanr(da, db).statistic)


def svcca(X: np.ndarray, Y: np.ndarray, *, keep: float = 0.99) -> float:
    """SVCCA (Raghu et al., NeurIPS 2017): mean canonical correlation of the top directions.

    Each centred space is reduced by SVD to the directions that explain ``keep`` of its
    variance; the mean of the canonical correlations between the two reductions is returned.

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]
    keep : float
        Share of the variance kept in each space, in (0, 1].

    Returns
    -------
    float
    """
    A, B = _centred_pair(X, Y, "SVCCA")

    def reduce(M: np.ndarray, which: str) -> np.ndarray:
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        if s.size == 0 or s[0] == 0:
            raise MeasureUndefined(f"SVCCA: the {which} space is constant over the tracks")
        return U[:, : _kept(s, keep)]  # orthonormal basis of the kept directions

    Ua, Ub = reduce(A, "first"), reduce(B, "second")
    if Ua.shape[1] + Ub.shape[1] >= A.shape[0]:
        raise MeasureUndefined(
            f"SVCCA: {Ua.shape[1]} + {Ub.shape[1]} kept dimensions need more than "
            f"{A.shape[0]} tracks"
        )
    # canonical correlations of two orthonormal bases: the singular values of Ua^T Ub
    rho = np.linalg.svd(Ua.T @ Ub, compute_uv=False)
    return float(np.clip(rho, 0.0, 1.0).mean())


def knn_jaccard(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    """Per-track Jaccard index of the top-``n`` lists: ``|L_A ∩ L_B| / |L_A ∪ L_B|``.

    Parameters
    ----------
    A, B : np.ndarray [shape=(N, >= n), dtype=int]
        Neighbour tables of two spaces (a track's own row excluded).
    n : int

    Returns
    -------
    np.ndarray [shape=(N,)]
    """
    res = pair_overlap(A, B, [n], measures=["overlap", "jaccard"], rbo_p=None)
    assert res.jaccard is not None
    return res.jaccard[:, 0]


def rank_similarity(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    """Per-track rank similarity of the top-``n`` lists (Wang et al. 2020, as in ReSi).

    For every neighbour ``j`` in both lists, with 1-based ranks ``r_A(j)`` and ``r_B(j)``,
    ``2 / ((1 + |r_A - r_B|)(r_A + r_B))``, summed and divided by its largest possible value
    for that many shared neighbours, ``sum_{k=1}^{s} 1/k``.  1 when the lists agree in order,
    0 when they share nothing.

    Parameters
    ----------
    A, B : np.ndarray [shape=(N, >= n), dtype=int]
    n : int

    Returns
    -------
    np.ndarray [shape=(N,)]
    """
    N = A.shape[0]
    out = np.zeros(N)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])
    for i in range(N):
        ra = {int(t): r + 1 for r, t in enumerate(A[i, :n])}
        score, s = 0.0, 0
        for r, t in enumerate(B[i, :n]):
            if int(t) in ra:
                a, b = ra[int(t)], r + 1
                score += 2.0 / ((1 + abs(a - b)) * (a + b))
                s += 1
        out[i] = score / harmonic[s] if s else 0.0
    return out


def k_occurrence(table: np.ndarray, k: int) -> np.ndarray:
    """How often each track appears in the other tracks' top-``k`` lists (``N_k``).

    Parameters
    ----------
    table : np.ndarray [shape=(N, >= k), dtype=int]
    k : int

    Returns
    -------
    np.ndarray [shape=(N,), dtype=int64]
    """
    return np.bincount(np.asarray(table[:, :k]).ravel(), minlength=table.shape[0]).astype(np.int64)


def hubness(table: np.ndarray, k: int) -> dict[str, float]:
    """Hubness of a space at cutoff ``k`` from its neighbour table (Radovanovic et al. 2010).

    Returns
    -------
    dict
        ``skewness`` of ``N_k`` (third standardised moment; 0 when every track is listed
        equally often), ``hub_share`` (tracks with ``N_k > 2k``), ``antihub_share``
        (``N_k = 0``), ``max_occurrence`` and the ``robin_hood`` index
        ``sum |N_k - k| / (2 N k)`` (the share of list slots that would have to move for every
        track to be listed ``k`` times; 0 = no hubs).
    """
    occ = k_occurrence(table, k).astype(np.float64)
    N = occ.size
    sd = occ.std()
    skew = 0.0 if sd == 0 else float(np.mean((occ - k) ** 3) / sd**3)  # mean of N_k is k
    return {
        "skewness": skew,
        "hub_share": float(np.mean(occ > 2 * k)),
        "antihub_share": float(np.mean(occ == 0)),
        "max_occurrence": float(occ.max()),
        "robin_hood": float(np.abs(occ - k).sum() / (2.0 * N * k)),
    }


def _global_row(
    a: str,
    b: str,
    m: str,
    value: float,
    *,
    chance: float,
    ci: tuple[float, float] | None = None,
    note: str = "",
    replicates: Sequence[float] | np.ndarray = (),
) -> dict[str, object]:
    """One row of :func:`global_table` (the CI bounds are the value when ``ci`` is None)."""
    lo, hi = ci if ci is not None else (value, value)
    return {
        "src": a,
        "dst": b,
        "measure": m,
        "value": float(value),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "chance": float(chance),
        "note": note,
        "replicates": np.asarray(replicates, dtype=np.float64),
    }


def _undefined_row(a: str, b: str, m: str, why: str) -> dict[str, object]:
    """A row of :func:`global_table` for a measure without a value: NaN and the reason."""
    nan = float("nan")
    return _global_row(a, b, m, nan, chance=nan, note=why)


def global_measure(
    name: str, X: np.ndarray, Y: np.ndarray, *, distance: str, max_tracks: int, seed: int
) -> float:
    """One of :data:`nnsim.settings.GLOBAL_MEASURES` of two spaces, by name."""
    if name == "cka":
        return linear_cka(X, Y)
    if name == "debiased_cka":
        return debiased_cka(X, Y)
    if name == "procrustes":
        return procrustes_distance(X, Y)
    if name == "rsa":
        return rsa(X, Y, distance=distance, max_tracks=max_tracks, seed=seed)
    if name == "svcca":
        return svcca(X, Y)
    raise MeasureUndefined(f"unknown global measure {name!r}")


def global_table(
    spaces: dict[str, np.ndarray],
    measures: list[str],
    *,
    distance: str,
    n_permutations: int,
    max_tracks: int,
    seed: int,
    n_boot: int,
    ci_level: float,
    exact_below: int,
) -> list[dict[str, object]]:
    """Every global measure of every pair of spaces, with its bootstrap CI and chance level.

    Below ``exact_below`` tracks (``compare.global_exact_below``) every replicate recomputes
    the measure, as described here; from there on the CIs come from the linearised bootstrap
    of :func:`linear_global_rows` (the same resamples, ``O(N d1 d2)`` per pair once instead of
    once per replicate).

    The CI is the percentile interval of the measure over ``n_boot`` resamples of the tracks
    (with replacement, the same resamples for every pair: the code base's one bootstrap,
    :func:`nnsim.similarity.iter_bootstrap_weights`, as row indices).  Resampling repeats
    tracks, which raises a biased measure: the linear CKA of two unrelated spaces of few tracks
    may lie below its own interval (the debiased CKA does not have that bias).

    The chance level of a pair is the mean of the measure between the first space and a
    row-permuted copy of the second (unrelated spaces with the same marginals): over every
    permutation for CKA (:func:`cka_chance`), the debiased CKA (0: unbiased HSIC) and RSA (0:
    a relabelling pairs each pair of tracks with a uniformly drawn other pair), over
    ``n_permutations`` seeded permutations for Procrustes and SVCCA; a measure undefined for
    the data gets its reason in ``note`` instead of a number.

    Parameters
    ----------
    spaces : dict of str to np.ndarray [shape=(N, d)]
        Aligned spaces (same tracks, same row order).
    measures : list of str
    distance : {"cosine", "euclidean"}
        RSA's distance.
    n_permutations : int
    max_tracks : int
        RSA's subsample.
    seed : int
    n_boot : int
        Bootstrap replicates (``compare.global_n_boot``; 0: the CI bounds are the value).
    ci_level : float
        ``compare.ci_level``.

    Returns
    -------
    list of dict
        ``src, dst, measure, value, ci_low, ci_high, chance, note`` and ``replicates`` (the
        measure on every resample, shape ``(n_boot,)``, for the Table-2 aggregates' CIs).
    """
    names = list(spaces)
    rows: list[dict[str, object]] = []
    N = next(iter(spaces.values())).shape[0] if spaces else 0
    if N >= exact_below:
        return linear_global_rows(
            spaces,
            measures,
            distance=distance,
            n_permutations=n_permutations,
            max_tracks=max_tracks,
            seed=seed,
            n_boot=n_boot,
            ci_level=ci_level,
        )
    perms = permutations(N, n_permutations, seed)
    resamples = [
        np.repeat(np.arange(N), w.astype(np.int64))
        for W in (iter_bootstrap_weights(N, n_boot, seed, max_mb=64) if N and n_boot else [])
        for w in W
    ]

    def measure(m: str, a: np.ndarray, b: np.ndarray) -> float:
        return global_measure(m, a, b, distance=distance, max_tracks=max_tracks, seed=seed)

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for m in measures:
                try:
                    value = measure(m, spaces[a], spaces[b])
                    if m == "cka":
                        chance = cka_chance(spaces[a], spaces[b])
                    elif m in ("debiased_cka", "rsa"):
                        chance = 0.0  # exact means over every permutation (see above)
                    elif perms:
                        chance = float(
                            np.mean([measure(m, spaces[a], spaces[b][p]) for p in perms])
                        )
                    else:
                        chance = float("nan")
                    reps = [measure(m, spaces[a][r], spaces[b][r]) for r in resamples]
                    ci = None
                    if reps:
                        lo, hi = percentile_ci(np.asarray(reps), ci_level)
                        ci = (float(lo), float(hi))
                    row = _global_row(a, b, m, value, chance=chance, ci=ci, replicates=reps)
                except MeasureUndefined as exc:
                    row = _undefined_row(a, b, m, str(exc))
                rows.append(row)
    return rows


def permuted_table(table: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """The neighbour table of the row-permuted space ``X[perm]``, from the table of ``X``.

    Row ``i`` of the permuted space is row ``perm[i]`` of ``X``; its neighbours are those of
    ``perm[i]``, renamed to their rows in the permuted space.  No new search is needed for a
    permutation chance level of a list measure.

    Parameters
    ----------
    table : np.ndarray [shape=(N, K), dtype=int]
    perm : np.ndarray [shape=(N,), dtype=int]

    Returns
    -------
    np.ndarray [shape=(N, K)], the dtype of ``table``
    """
    perm = np.asarray(perm)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv[np.asarray(table)[perm]].astype(np.asarray(table).dtype, copy=False)


def permutations(n_tracks: int, n_permutations: int, seed: int) -> list[np.ndarray]:
    """The seeded row permutations of every chance level (the same for every measure)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n_tracks) for _ in range(n_permutations)]


def list_chance(
    tables: Mapping[str, np.ndarray],
    cutoffs: np.ndarray,
    measures: Sequence[str],
    *,
    rbo_p: float,
    n_permutations: int,
    seed: int,
    chance_tracks: int,
) -> dict[str, np.ndarray]:
    """Permutation chance level of list measures for every pair of tables.

    The mean of the measure between the first table and the table of a row-permuted copy of
    the second space (:func:`permuted_table`) over ``n_permutations`` seeded permutations.
    S_n and the kNN Jaccard index have closed forms (:func:`nnsim.similarity.chance_level`);
    this is for the ones that have none (``rbo``, ``spearman``, ``rank``).  Each permutation's
    mean is taken over ``chance_tracks`` seeded reference tracks (:func:`chance_rows`).

    Returns
    -------
    dict of str to np.ndarray [shape=(m, m, c)]
        Per measure; the diagonal is the value of a space with itself under permutation.
    """
    names = list(tables)
    m, c = len(names), len(cutoffs)
    out = {k: np.full((m, m, c), np.nan) for k in measures}
    if not measures or not names or n_permutations < 1:
        return out
    N = int(np.shape(tables[names[0]])[0])
    perms = permutations(N, n_permutations, seed)
    rows = chance_rows(N, chance_tracks, seed)
    K = int(cutoffs[-1])
    for i, a in enumerate(names):
        A = np.ascontiguousarray(np.asarray(tables[a])[rows, :K])
        for j, b in enumerate(names):
            if j <= i:
                continue
            B = np.asarray(tables[b])[:, :K]
            sums = {k: np.zeros(c) for k in measures}
            for p in perms:
                inv = np.empty_like(p)
                inv[p] = np.arange(N)
                Bp = inv[B[p[rows]]].astype(B.dtype, copy=False)  # permuted_table(B, p)[rows]
                res = pair_overlap(A, Bp, cutoffs, measures=list(measures), rbo_p=rbo_p)
                for k in measures:
                    sums[k] += np.asarray(getattr(res, k)).mean(axis=0)
            for k in measures:
                out[k][i, j] = out[k][j, i] = sums[k] / len(perms)
    return out


def _unit_rows(A: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(A, axis=1, keepdims=True)
    return A / np.where(norms > 0, norms, 1.0)


@numba.njit(cache=True, parallel=True)
def _own_dots(Xr, A):  # pragma: no cover - numba
    """``Xr_i . Xr_j`` for every track ``i`` and every ``j`` in its own list."""
    N, K = A.shape
    d = Xr.shape[1]
    out = np.empty((N, K))
    for i in numba.prange(N):
        for r in range(K):
            j = A[i, r]
            g = 0.0
            for t in range(d):
                g += Xr[i, t] * Xr[j, t]
            out[i, r] = g
    return out


@numba.njit(cache=True, parallel=True)
def _vector_kernel(
    Xr, nx, mx, cx, Yr, ny, my, cy, A, B, ownA, ownB, cut, rows, so2, num, dx, dy
):  # pragma: no cover - numba
    # From one raw dot g = r_i . r_j per space and pair of tracks: the cosine g / (|r_i| |r_j|)
    # and the centred kernel g - mu.r_i - mu.r_j + mu.mu (mu: the mean row).  Own lists' dots
    # come precomputed (ownA: X on A's lists, ownB: Y on B's); only the cross ones are new.
    # ``rows``: the reference tracks computed (output row ii is track rows[ii]).
    N, K = A.shape
    R = rows.size
    dxr, dyr = Xr.shape[1], Yr.shape[1]
    chunks = min(R, 64)
    for ch in numba.prange(chunks):
        rank = np.full(N, K, dtype=np.int64)
        axs = np.empty(K)
        ays = np.empty(K)
        axc = np.empty(K)
        ayc = np.empty(K)
        bxs = np.empty(K)
        bys = np.empty(K)
        byc = np.empty(K)
        for ii in range(ch * R // chunks, (ch + 1) * R // chunks):
            i = rows[ii]
            for r in range(K):
                j = A[i, r]
                rank[j] = r
                gx = ownA[i, r]
                gy = 0.0
                for t in range(dyr):
                    gy += Yr[i, t] * Yr[j, t]
                qx, qy = nx[i] * nx[j], ny[i] * ny[j]
                axs[r] = gx / qx if qx > 0.0 else 0.0
                ays[r] = gy / qy if qy > 0.0 else 0.0
                axc[r] = gx - mx[i] - mx[j] + cx
                ayc[r] = gy - my[i] - my[j] + cy
                j = B[i, r]
                gy = ownB[i, r]
                gx = 0.0
                for t in range(dxr):
                    gx += Xr[i, t] * Xr[j, t]
                qx, qy = nx[i] * nx[j], ny[i] * ny[j]
                bxs[r] = gx / qx if qx > 0.0 else 0.0
                bys[r] = gy / qy if qy > 0.0 else 0.0
                byc[r] = gy - my[i] - my[j] + cy
            for c in range(cut.size):
                n = cut[c]
                sxy = 0.0
                sxx = 0.0
                syy = 0.0
                nm = 0.0
                sdx = 0.0
                sdy = 0.0
                for r in range(n):
                    sxy += axs[r] * ays[r]
                    sxx += axs[r] * axs[r]
                    syy += ays[r] * ays[r]
                    sdx += axc[r] * axc[r]
                    sdy += byc[r] * byc[r]
                    q = rank[B[i, r]]
                    if q < n:  # in both top-n lists
                        nm += axc[q] * ayc[q]
                    else:  # in the second list only: the union's other members
                        sxy += bxs[r] * bys[r]
                        sxx += bxs[r] * bxs[r]
                        syy += bys[r] * bys[r]
                so2[ii, c] = sxy / np.sqrt(sxx * syy) if sxx > 0.0 and syy > 0.0 else 0.0
                num[ii, c] = nm
                dx[ii, c] = sdx
                dy[ii, c] = sdy
            for r in range(K):
                rank[A[i, r]] = K


@dataclass
class _VectorSpace:
    """What the vector measures read of one space: raw rows as its lists see them (unit rows
    under cosine), their norms, ``mu . r_i`` and ``mu . mu``, its table and its own dots."""

    R: np.ndarray
    norms: np.ndarray
    m: np.ndarray
    c: float
    table: np.ndarray
    own: np.ndarray

    @classmethod
    def of(cls, X: np.ndarray, table: np.ndarray, K: int, distance: str) -> _VectorSpace:
        Xf = np.asarray(X, dtype=np.float64)
        R = np.ascontiguousarray(_unit_rows(Xf) if distance == "cosine" else Xf)
        mu = R.mean(axis=0)
        t = np.ascontiguousarray(np.asarray(table)[:, :K], dtype=np.int64)
        return cls(R, np.linalg.norm(R, axis=1), R @ mu, float(mu @ mu), t, _own_dots(R, t))

    def permuted(self, perm: np.ndarray) -> _VectorSpace:
        """The same space with its rows permuted (its table renamed, no new dots)."""
        return _VectorSpace(
            np.ascontiguousarray(self.R[perm]),
            self.norms[perm],
            self.m[perm],
            self.c,
            np.ascontiguousarray(permuted_table(self.table, perm)),
            np.ascontiguousarray(self.own[perm]),
        )


def _terms(
    x: _VectorSpace, y: _VectorSpace, cutoffs: np.ndarray, rows: np.ndarray | None = None
) -> VectorTerms:
    """Per-track terms of the reference tracks ``rows`` (all when None)."""
    idx = np.arange(x.R.shape[0]) if rows is None else np.asarray(rows)
    c = len(cutoffs)
    out = [np.zeros((idx.size, c)) for _ in range(4)]
    _vector_kernel(
        x.R, x.norms, x.m, x.c, y.R, y.norms, y.m, y.c, x.table, y.table, x.own, y.own,
        np.asarray(cutoffs, dtype=np.int64), idx.astype(np.int64), *out,
    )  # fmt: skip
    return VectorTerms(*out)


def chance_rows(n_tracks: int, chance_tracks: int, seed: int) -> np.ndarray:
    """The seeded reference tracks over which a permutation chance level of a measure that is
    a mean (or a ratio of sums) over tracks is estimated: all of them when fewer."""
    if n_tracks <= chance_tracks:
        return np.arange(n_tracks)
    return np.sort(np.random.default_rng([seed, 1]).choice(n_tracks, chance_tracks, replace=False))


@dataclass
class VectorTerms:
    """Per-track terms of the vector neighbourhood measures of one pair of spaces.

    Attributes
    ----------
    second_order : np.ndarray [shape=(N, c)]
        Per-track second-order cosine similarity at each cutoff.
    num, dx, dy : np.ndarray [shape=(N, c)]
        CKNNA's per-track sums: ``sum_{j in both lists} Kc_ij Lc_ij``,
        ``sum_{j in L_X(i)} Kc_ij^2`` and ``sum_{j in L_Y(i)} Lc_ij^2``.
    """

    second_order: np.ndarray
    num: np.ndarray
    dx: np.ndarray
    dy: np.ndarray

    def cknna(self, weights: np.ndarray | None = None) -> np.ndarray:
        """CKNNA at each cutoff, or its bootstrap replicates for ``weights (n_boot, N)``.

        Cutoffs where a space has no centred kernel left on its lists are NaN (a constant
        space; the caller records why).
        """
        if weights is None:
            num, dx, dy = self.num.sum(axis=0), self.dx.sum(axis=0), self.dy.sum(axis=0)
        else:
            num, dx, dy = (bootstrap_means(t, weights) for t in (self.num, self.dx, self.dy))
        den = np.sqrt(dx * dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def vector_terms(
    X: np.ndarray,
    Y: np.ndarray,
    A: np.ndarray,
    B: np.ndarray,
    cutoffs: np.ndarray,
    *,
    distance: str,
) -> VectorTerms:
    """Per-track second-order cosine similarity and CKNNA terms of two spaces and their tables.

    **Second-order cosine similarity** (Hamilton, Leskovec & Jurafsky, EMNLP 2016; ReSi's
    "2nd-cos"): for track ``i`` and the union ``U = L_X(i) ∪ L_Y(i)`` of its top-``n`` lists,
    the cosine between ``(cos_X(i, j))_{j in U}`` and ``(cos_Y(i, j))_{j in U}``; 1 when the
    two spaces give every track the same similarities to its neighbours.  It uses cosine
    similarities of the vectors whatever the comparison's distance (its definition).

    **CKNNA** (centred kernel nearest-neighbour alignment; Huh, Cheung, Wang & Isola, ICML
    2024, Sec. 2 and App. A): CKA restricted to mutual neighbours,
    ``sum_{M_XY} Kc_ij Lc_ij / sqrt(sum_{M_X} Kc_ij^2 sum_{M_Y} Lc_ij^2)``
    with the centred linear kernels ``Kc = Xc Xc^T`` (``Xc``: column-centred vectors, unit rows
    first when the distance is cosine, as the lists see them), ``M_X`` the pairs with
    ``j in L_X(i)``, and ``M_XY`` those with ``j`` in both lists.  1 for identical spaces.

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]
    A, B : np.ndarray [shape=(N, >= K), dtype=int]
        Neighbour tables of ``X`` and ``Y`` (self excluded), ``K = max(cutoffs)``.
    cutoffs : np.ndarray [shape=(c,)]
    distance : {"cosine", "euclidean"}

    Returns
    -------
    VectorTerms
    """
    K = int(cutoffs[-1])
    x = _VectorSpace.of(X, A, K, distance)
    y = _VectorSpace.of(Y, B, K, distance)
    return _terms(x, y, np.asarray(cutoffs))


@dataclass
class VectorComparison:
    """The vector neighbourhood measures of every pair, shaped like
    :class:`nnsim.similarity.Comparison` (``(m, m, c)`` values, bounds and chance levels,
    ``(m, m, n_boot, c)`` replicates) so that the comparison's tables, aggregates and
    figures take them like the list measures.  ``notes[measure][(i, j)]`` says why a pair
    has no value (NaN there)."""

    values: dict[str, np.ndarray]
    ci_low: dict[str, np.ndarray]
    ci_high: dict[str, np.ndarray]
    boots: dict[str, np.ndarray]
    chance: dict[str, np.ndarray]
    notes: dict[str, dict[tuple[int, int], str]] = field(default_factory=dict)


def vector_comparison(
    spaces: Mapping[str, np.ndarray],
    tables: Mapping[str, np.ndarray],
    cutoffs: np.ndarray,
    measures: Sequence[str],
    *,
    distance: str,
    n_boot: int,
    ci_level: float,
    seed: int,
    n_permutations: int,
    chance_tracks: int,
    show_progress: bool = False,
) -> VectorComparison:
    """Second-order cosine and CKNNA (:func:`vector_terms`) of every pair of spaces.

    The CIs come from the code base's one bootstrap (:func:`nnsim.similarity.
    iter_bootstrap_weights` with the comparison's seed: the same resamples as S_n, so the
    aggregates' CIs stay paired); second-order cosine is a mean over tracks, CKNNA a ratio of
    sums over tracks (both recomputed on every resample).  The chance level is the mean over
    ``n_permutations`` seeded row permutations of the second space (its vectors and its
    table, :func:`permuted_table`), each over ``chance_tracks`` seeded reference tracks
    (:func:`chance_rows`: the lists still range over every track; a seeded estimate of the
    same mean).

    Parameters
    ----------
    spaces : mapping of str to np.ndarray [shape=(N, d)]
    tables : mapping of str to np.ndarray [shape=(N, >= K)]
        The same names, in the same order.
    cutoffs : np.ndarray [shape=(c,)]
    measures : sequence of {"second_order_cosine", "cknna"}
    distance : {"cosine", "euclidean"}
    n_boot : int
    ci_level : float
    seed : int
    n_permutations : int

    Returns
    -------
    VectorComparison
    """
    names = list(spaces)
    m, c = len(names), len(cutoffs)
    N = int(np.shape(spaces[names[0]])[0]) if names else 0
    values = {k: np.ones((m, m, c)) for k in measures}
    lows = {k: np.ones((m, m, c)) for k in measures}
    highs = {k: np.ones((m, m, c)) for k in measures}
    boots = {k: np.ones((m, m, n_boot, c)) for k in measures} if n_boot > 0 else {}
    chance = {k: np.full((m, m, c), np.nan) for k in measures}
    notes: dict[str, dict[tuple[int, int], str]] = {k: {} for k in measures}
    perms = permutations(N, n_permutations, seed)
    K = int(cutoffs[-1])
    cut = np.asarray(cutoffs)
    prepared = {n: _VectorSpace.of(spaces[n], tables[n], K, distance) for n in names}
    rows = chance_rows(N, chance_tracks, seed)

    def pair_values(t: VectorTerms) -> dict[str, np.ndarray]:
        return {"second_order_cosine": t.second_order.mean(axis=0), "cknna": t.cknna()}

    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    for i, j in progress(pairs, desc="vector measures", unit="pair", enabled=show_progress):
        a, b = names[i], names[j]
        terms = _terms(prepared[a], prepared[b], cut)
        got = pair_values(terms)
        null = [pair_values(_terms(prepared[a], prepared[b].permuted(p), cut, rows)) for p in perms]
        reps: dict[str, list[np.ndarray]] = {k: [] for k in measures}
        if n_boot > 0:
            for W in iter_bootstrap_weights(N, n_boot, seed, max_mb=TABLE_BLOCK_MB):
                if "second_order_cosine" in measures:
                    reps["second_order_cosine"].append(bootstrap_means(terms.second_order, W))
                if "cknna" in measures:
                    reps["cknna"].append(terms.cknna(W))
        for k in measures:
            v = got[k]
            values[k][i, j] = values[k][j, i] = v
            if null:
                chance[k][i, j] = chance[k][j, i] = np.mean([n[k] for n in null], axis=0)
            if not np.isfinite(v).all():
                notes[k][(i, j)] = (
                    f"{k}: a space has no variance on its neighbour lists (constant "
                    f"vectors), so {a} vs {b} has no value"
                )
                lows[k][i, j] = lows[k][j, i] = highs[k][i, j] = highs[k][j, i] = np.nan
                if n_boot > 0:
                    boots[k][i, j] = boots[k][j, i] = np.nan
                continue
            if n_boot > 0:
                R = np.concatenate(reps[k])
                lo, hi = percentile_ci(R, ci_level)
                boots[k][i, j] = boots[k][j, i] = R
            else:
                lo, hi = v, v
            lows[k][i, j] = lows[k][j, i] = lo
            highs[k][i, j] = highs[k][j, i] = hi
    return VectorComparison(values, lows, highs, boots, chance, notes)


def hubness_reduced(
    indices: np.ndarray, distances: np.ndarray, method: str, *, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank each track's candidates by secondary distances that reduce hubness.

    ``csls`` (cross-domain similarity local scaling; Conneau et al., ICLR 2018, Eq. 6, within
    one space): ``d'_ij = 2 d_ij - r_i - r_j`` with ``r_i`` the mean distance of track ``i``
    to its ``k`` nearest neighbours (for cosine distance ``d'`` is exactly minus the CSLS
    score).  ``mutual_proximity`` (Schnitzer, Flexer, Schedl & Widmer, JMLR 2012,
    Gaussian variant under independence): ``MP_ij = 1 - SF_i(d_ij) SF_j(d_ij)`` with ``SF_i``
    the survival function of a normal law fitted to track ``i``'s candidate distances (as
    scikit-hubness does on a neighbour graph).

    Only the candidates in each row are re-ranked (exact secondary distances, approximate
    lists: a track outside a row's candidates cannot enter it), so the table should be wider
    than the largest cutoff (``compare.hubness_candidates``).  Ties go to the smaller index.

    Parameters
    ----------
    indices : np.ndarray [shape=(N, K), dtype=int]
        Candidates per track, nearest first (self excluded).
    distances : np.ndarray [shape=(N, K)]
        Their primary distances.
    method : {"csls", "mutual_proximity"}
    k : int
        CSLS's neighbourhood (at most ``K``).

    Returns
    -------
    indices, distances : np.ndarray [shape=(N, K)]
        Re-ranked indices (the dtype of ``indices``) and their secondary distances (float32,
        non-decreasing along each row).
    """
    idx = np.asarray(indices)
    d = np.asarray(distances, dtype=np.float64)
    if method == "csls":
        if not 1 <= k <= idx.shape[1]:
            raise MeasureUndefined(
                f"CSLS: compare.hubness_k={k} needs between 1 and {idx.shape[1]} neighbours "
                "per track (the table's width)"
            )
        r = d[:, :k].mean(axis=1)
        score = 2.0 * d - r[:, None] - r[idx]
    elif method == "mutual_proximity":
        from scipy.special import log_ndtr

        mu = d.mean(axis=1)
        sd = d.std(axis=1)
        sd = np.where(sd > 0, sd, np.finfo(np.float64).tiny)
        # log SF_i(d_ij) + log SF_j(d_ij): MP grows as this falls; ranked in logs (no 1 - 1e-17)
        log_sf = log_ndtr(-(d - mu[:, None]) / sd[:, None]) + log_ndtr(-(d - mu[idx]) / sd[idx])
        score = -log_sf
    else:
        raise MeasureUndefined(f"unknown hubness reduction {method!r}")
    order = np.lexsort((idx, score), axis=-1)
    new_idx = np.take_along_axis(idx, order, axis=1)
    new_score = np.take_along_axis(score, order, axis=1)
    sec = -np.expm1(-new_score) if method == "mutual_proximity" else new_score
    return new_idx, sec.astype(np.float32)


def cka_chance(X: np.ndarray, Y: np.ndarray) -> float:
    """The exact mean of linear CKA over every row permutation of ``Y`` (closed form).

    For column-centred ``A, B`` and a uniform random permutation ``P``,
    ``E ||A^T P B||_F^2 = ||A||_F^2 ||B||_F^2 / (N - 1)`` (the expectation of ``P L P^T`` for
    a centred ``L`` is ``tr(L) (I - 11^T/N) / (N - 1)``), and CKA's denominator does not move.
    The debiased CKA's mean over all permutations is exactly 0 (unbiased HSIC).

    Parameters
    ----------
    X : np.ndarray [shape=(N, d1)]
    Y : np.ndarray [shape=(N, d2)]

    Returns
    -------
    float
    """
    A, B = _centred_pair(X, Y, "CKA")
    xx, yy = _cka_norms(A, B)
    return float(np.sum(A * A) * np.sum(B * B) / ((A.shape[0] - 1) * xx * yy))


@dataclass
class _Space:
    """What the linear path keeps of one centred space (the tracks' products in float32)."""

    A: np.ndarray  # (N, d) centred, float32
    dk: np.ndarray  # (N,) squared row norms
    F2: float  # ||A||_F^2
    G: np.ndarray  # (d, d) A^T A
    Gn: float  # ||A^T A||_F
    u: np.ndarray  # (N,) a_n^T G a_n
    hsic: float  # unbiased HSIC of A with itself
    dh: np.ndarray  # (N,) its derivative along the weights
    basis: np.ndarray | None  # SVCCA: kept directions A L (N, r), orthonormal columns
    L: np.ndarray | None  # (d, r) V S^-1 of the kept directions
    why_svd: str  # why there is no SVCCA basis


def _hsic_and_derivative(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, t: np.ndarray, dk: np.ndarray, dl: np.ndarray
) -> tuple[float, np.ndarray]:
    """Unbiased HSIC of centred ``A, B`` (with ``C = A^T B``, ``t_n = a_n^T C b_n``) and its
    derivative with respect to each track's bootstrap weight at ``w = 1``.

    On a resample with counts ``w`` (copies of a track are distinct samples):
    ``T1 = sum_nm w_n w_m k_nm l_nm - sum_n w_n k_nn l_nn``, ``T2_K = 1'K~1``,
    ``T3 = sum_n w_n (sum_m w_m k_nm - k_nn)(sum_m w_m l_nm - l_nn)``; unbiased HSIC is shift
    invariant, so the re-centring of a resample has no first-order effect.
    """
    n = A.shape[0]
    sk, sl = float(dk.sum()), float(dl.sum())
    T1 = float(np.sum(C * C) - dk @ dl)
    T2k, T2l = -sk, -sl
    T3 = float(dk @ dl)
    h = (T1 + T2k * T2l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * T3) / (n * (n - 3))
    dT1 = 2.0 * t - dk * dl
    dT2k, dT2l = -dk, -dl
    f = A.dtype  # float32 products stay float32 (no upcast copy of the tracks)
    dT3 = dk * dl - (A @ (A.T @ dl.astype(f))).astype(np.float64)
    dT3 -= (B @ (B.T @ dk.astype(f))).astype(np.float64)
    dh = (dT1 + (dT2k * T2l + T2k * dT2l) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * dT3) / (
        n * (n - 3)
    )
    return h, dh


def _prepare(X: np.ndarray, keep: float, measures: Sequence[str]) -> _Space:
    """A centred space for :func:`linear_global_rows`: the N-sized products in float32 (their
    sums of 29,275 products are good to about 1e-6 relative), the d x d algebra in float64;
    only what ``measures`` need."""
    A64 = _centred(np.asarray(X, dtype=np.float64))
    dk = np.einsum("ij,ij->i", A64, A64)
    A = A64.astype(np.float32)
    del A64
    G = (A.T @ A).astype(np.float64)
    u = np.einsum("ij,ij->i", A @ G.astype(np.float32), A).astype(np.float64)
    h, dh = 0.0, dk * 0
    if "debiased_cka" in measures and A.shape[0] >= 4:
        h, dh = _hsic_and_derivative(A, A, G, u, dk, dk)
    basis, L, why = None, None, ""
    if "svcca" in measures:
        _, s, Vt = np.linalg.svd(G)  # A^T A = V S^2 V^T: the directions of A
        s = np.sqrt(np.maximum(s, 0.0))
        if s.size == 0 or s[0] == 0:
            why = "the space is constant over the tracks"
        else:
            r = _kept(s, keep)
            L = Vt[:r].T / s[:r]
            basis = A @ L.astype(np.float32)  # orthonormal columns: the kept directions
    return _Space(A, dk, float(dk.sum()), G, float(np.linalg.norm(G)), u, h, dh, basis, L, why)


def _ranks_matrix(A: np.ndarray, distance: str) -> np.ndarray:
    """Standardised ranks of a subsample's pairwise distances as a symmetric m x m matrix
    (zero diagonal): the Pearson correlation of two of them over the pairs is Spearman's."""
    from scipy.stats import rankdata

    d = _condensed_distances(A, distance)
    if np.ptp(d) == 0:
        raise MeasureUndefined("RSA: every pair of tracks is equally far apart in a space")
    r = rankdata(d)
    r = (r - r.mean()) / r.std()
    m = A.shape[0]
    R = np.zeros((m, m))
    iu = np.triu_indices(m, k=1)
    R[iu] = r
    return R + R.T


def _sv(M: np.ndarray) -> np.ndarray:
    """Singular values of a chance draw, in float32 (an estimate: single precision is plenty)."""
    return np.linalg.svd(M.astype(np.float32), compute_uv=False).astype(np.float64)


def _sqrt_psd(G: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix."""
    w, V = np.linalg.eigh(G)
    return (V * np.sqrt(np.maximum(w, 0.0))) @ V.T


def _t_of(P: _Space, Q: _Space, C: np.ndarray, memo: list[np.ndarray]) -> np.ndarray:
    """``t_n = a_n^T C b_n`` of a pair (computed once, kept in ``memo``)."""
    if not memo:
        memo.append(np.einsum("ij,ij->i", P.A @ C.astype(np.float32), Q.A).astype(np.float64))
    return memo[0]


def linear_global_rows(
    spaces: Mapping[str, np.ndarray],
    measures: Sequence[str],
    *,
    distance: str,
    n_permutations: int,
    max_tracks: int,
    seed: int,
    n_boot: int,
    ci_level: float,
) -> list[dict[str, object]]:
    """:func:`global_table` for many tracks: every pair from cross-products computed once, the
    CIs from the linearised (delta-method) bootstrap.

    Each measure ``T`` is differentiated with respect to the tracks' bootstrap weights at
    ``w = 1``: its replicate on a resample with counts ``w`` (the code base's one bootstrap,
    :func:`nnsim.similarity.iter_bootstrap_weights`, the same resamples for every pair) is
    ``T + sum_n (w_n - 1) psi_n``.  ``psi`` costs one pass of ``O(N d1 d2)`` per pair instead of
    one per replicate; the linearisation is accurate when tracks are many (its error shrinks
    like ``1/N``, a test compares it with the exact bootstrap) and is what makes the CIs
    affordable at 29,275 tracks.  Procrustes is linearised in ``||Xn^T Yn||_*`` and mapped
    back; SVCCA keeps each space's reduced directions fixed; RSA keeps the subsample's ranks
    and reweights its pairs by ``w_i w_j``.  Near the chance level (unrelated spaces) CKA
    and HSIC are degenerate statistics whose first-order term vanishes: there the linearised
    interval is too narrow (and the plain bootstrap's is shifted up by the repeated tracks);
    read such a pair against its chance level.  The products over the tracks are float32 (sums
    of N products: values good to about 1e-6 relative, a test checks them against the float64
    measures), the d x d algebra float64.

    Chance levels: CKA's, the debiased CKA's and RSA's are exact means over every permutation
    (:func:`cka_chance`, 0 and 0).  Procrustes and SVCCA average ``n_permutations`` seeded
    draws of the permuted cross-product ``A^T P B`` from its large-N limit, the matrix normal
    with the permutation distribution's exact mean (0) and covariance
    ``(A^T A) x (B^T B) / (N - 1)`` (Hoeffding's combinatorial central limit theorem): ``O(d^3)``
    a draw instead of a product over the tracks (a test compares it with real permutations).

    Returns
    -------
    list of dict
        As :func:`global_table`.
    """
    names = list(spaces)
    N = int(np.shape(spaces[names[0]])[0]) if names else 0
    rows: list[dict[str, object]] = []
    prep: dict[str, _Space] = {}
    ranks: dict[str, np.ndarray | str] = {}
    sq: dict[str, np.ndarray] = {}  # row sums of a rank matrix's squares
    sub = _rsa_rows(N, max_tracks, seed)
    perms = permutations(N, n_permutations, seed)
    for name in names:
        X = np.asarray(spaces[name], dtype=np.float64)
        if any(m in measures for m in ("cka", "debiased_cka", "procrustes", "svcca")):
            prep[name] = _prepare(X, keep=0.99, measures=measures)
        if "rsa" in measures:
            try:
                R = _ranks_matrix(X[sub], distance)
                ranks[name], sq[name] = R, np.einsum("ij,ij->i", R, R)
            except MeasureUndefined as exc:
                ranks[name] = str(exc)
    psi_cols: list[np.ndarray] = []  # one per defined row: the replicates are T + delta . psi
    where: list[tuple[int, str, float]] = []  # (row, how to map back, value of the linearised T)

    def add(row: dict[str, object], psi: np.ndarray | None, lin: float, how: str) -> None:
        rows.append(row)
        if psi is not None and n_boot > 0:
            full = np.zeros(N)
            full[np.arange(N) if psi.size == N else sub] = psi
            psi_cols.append(full)
            where.append((len(rows) - 1, how, lin))

    def undefined(a: str, b: str, m: str, why: str) -> None:
        add(_undefined_row(a, b, m, why), None, 0.0, "")

    def defined(a: str, b: str, m: str, value: float, chance: float) -> dict[str, object]:
        return _global_row(a, b, m, value, chance=chance)

    halves: dict[str, np.ndarray] = {}

    def _half(name: str, S: _Space) -> np.ndarray:
        """G^1/2 of a space, once."""
        if name not in halves:
            halves[name] = _sqrt_psd(S.G)
        return halves[name]

    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            P, Q = prep.get(a), prep.get(b)
            C = (P.A.T @ Q.A).astype(np.float64) if P is not None and Q is not None else None
            Cp: list[np.ndarray] = []
            if C is not None and perms and any(m in measures for m in ("procrustes", "svcca")):
                # the permutation null of A^T P B in its large-N limit (Hoeffding's
                # combinatorial CLT): mean 0, covariance (A^T A) x (B^T B) / (N - 1), drawn
                # as G_A^1/2 Z G_B^1/2 / sqrt(N - 1) -- O(d^3) instead of O(N d1 d2) a draw
                rng = np.random.default_rng([seed, i, names.index(b)])
                Ha, Hb = _half(a, P), _half(b, Q)  # type: ignore[arg-type]
                Cp = [
                    Ha @ rng.standard_normal((Ha.shape[0], Hb.shape[0])) @ Hb / np.sqrt(N - 1)
                    for _ in perms
                ]
            t_pair: list[np.ndarray] = []  # a_n^T C b_n, shared by CKA and the debiased CKA

            for m in measures:
                if m == "rsa":
                    Ra, Rb = ranks[a], ranks[b]
                    if isinstance(Ra, str) or isinstance(Rb, str):
                        undefined(a, b, m, Ra if isinstance(Ra, str) else str(Rb))
                        continue
                    if sub.size < 3:
                        undefined(a, b, m, f"RSA: needs at least 3 tracks, got {sub.size}")
                        continue
                    npairs = sub.size * (sub.size - 1)  # ordered pairs: both triangles
                    xy = np.einsum("ij,ij->i", Ra, Rb)
                    r = float(xy.sum() / npairs)
                    # IF of a correlation of standardised x, y over pairs: xy - r (x^2 + y^2) / 2;
                    # a track's weight moves every pair it is in (omega_ij = w_i w_j)
                    psi = 2.0 * (xy - 0.5 * r * (sq[a] + sq[b])) / npairs
                    # chance: a relabelling pairs each pair with a uniformly drawn other pair, whose
                    # standardised rank has mean 0: the mean over every permutation is exactly 0
                    add(defined(a, b, m, r, 0.0), psi, r, "clip1")
                    continue
                assert P is not None and Q is not None and C is not None
                if P.F2 == 0 or Q.F2 == 0:
                    what = {"cka": "CKA", "debiased_cka": "debiased CKA"}.get(m, m)
                    label = "SVCCA" if m == "svcca" else "Procrustes" if m == "procrustes" else what
                    undefined(
                        a, b, m, f"{label}: a space is constant over the tracks (no variance)"
                    )
                    continue
                if m == "cka":
                    S = float(np.sum(C * C))
                    v = S / (P.Gn * Q.Gn)
                    t = _t_of(P, Q, C, t_pair)
                    psi = v * (2.0 * t / S - P.u / P.Gn**2 - Q.u / Q.Gn**2) if S > 0 else t * 0
                    chance = P.F2 * Q.F2 / ((N - 1) * P.Gn * Q.Gn)
                    add(defined(a, b, m, v, chance), psi, v, "clip1")
                elif m == "debiased_cka":
                    if N < 4:
                        undefined(a, b, m, f"debiased CKA: needs at least 4 tracks, got {N}")
                        continue
                    if not (P.hsic > 0 and Q.hsic > 0):
                        undefined(
                            a, b, m, "debiased CKA: a space has no variance left after debiasing"
                        )
                        continue
                    t = _t_of(P, Q, C, t_pair)
                    h, dh = _hsic_and_derivative(P.A, Q.A, C, t, P.dk, Q.dk)
                    den = np.sqrt(P.hsic * Q.hsic)
                    v = h / den
                    psi = dh / den - 0.5 * v * (P.dh / P.hsic + Q.dh / Q.hsic)
                    add(defined(a, b, m, v, 0.0), psi, v, "")
                elif m == "procrustes":
                    U, s, Vt = np.linalg.svd(C, full_matrices=False)
                    nuc = float(s.sum())
                    scale = np.sqrt(P.F2 * Q.F2)
                    nu = nuc / scale
                    value = np.sqrt(max(0.0, 2.0 - 2.0 * nu))
                    q = np.einsum("ij,ij->i", P.A @ (U @ Vt).astype(np.float32), Q.A)
                    q = q.astype(np.float64)
                    psi = nu * (q / nuc - 0.5 * P.dk / P.F2 - 0.5 * Q.dk / Q.F2) if nuc else q * 0
                    nus = [_sv(c).sum() / scale for c in Cp]
                    chance = (
                        float(np.mean([np.sqrt(max(0.0, 2.0 - 2.0 * x)) for x in nus]))
                        if Cp
                        else float("nan")
                    )
                    add(defined(a, b, m, value, chance), psi, nu, "procrustes")
                elif m == "svcca":
                    if P.basis is None or Q.basis is None:
                        why = P.why_svd or Q.why_svd
                        undefined(a, b, m, f"SVCCA: {why}")
                        continue
                    ra, rb = P.basis.shape[1], Q.basis.shape[1]
                    if ra + rb >= N:
                        undefined(
                            a, b, m, f"SVCCA: {ra} + {rb} kept dimensions need more than {N} tracks"
                        )
                        continue
                    M = (P.basis.T @ Q.basis).astype(np.float64)
                    Um, rho, Vmt = np.linalg.svd(M, full_matrices=False)
                    v = float(np.clip(rho, 0.0, 1.0).mean())
                    Pu = P.basis @ Um.astype(np.float32)  # (N, r), float32 throughout
                    Qv = Q.basis @ Vmt.T.astype(np.float32)
                    r32 = rho.astype(np.float32)
                    psi = (
                        np.einsum("ij,ij->i", Pu, Qv)
                        - 0.5 * np.einsum("ij,j,ij->i", Pu, r32, Pu)
                        - 0.5 * np.einsum("ij,j,ij->i", Qv, r32, Qv)
                    ).astype(np.float64) / rho.size
                    # the permuted copies' canonical correlations from their cross-products
                    La, Lb = P.L, Q.L
                    assert La is not None and Lb is not None
                    chance = (
                        float(np.mean([np.clip(_sv(La.T @ c @ Lb), 0, 1).mean() for c in Cp]))
                        if Cp
                        else float("nan")
                    )
                    add(defined(a, b, m, v, chance), psi, v, "clip1")
    if psi_cols and n_boot > 0:
        Psi = np.stack(psi_cols, axis=1)  # (N, rows)
        total = Psi.sum(axis=0)
        reps = np.concatenate(
            [
                (W.astype(np.float64) @ Psi) - total
                for W in iter_bootstrap_weights(N, n_boot, seed, max_mb=TABLE_BLOCK_MB)
            ]
        )  # (n_boot, rows): sum_n (w_n - 1) psi_n
        for col, (r, how, lin) in enumerate(where):
            x = lin + reps[:, col]
            if how == "procrustes":
                x = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.minimum(x, 1.0)))
            elif how == "clip1":
                x = np.minimum(x, 1.0)
            lo, hi = percentile_ci(x, ci_level)
            rows[r]["ci_low"], rows[r]["ci_high"] = float(lo), float(hi)
            rows[r]["replicates"] = x
    return rows


#: The hubness statistics of :func:`hubness`, in their column order.
HUBNESS_STATS = ("skewness", "hub_share", "antihub_share", "max_occurrence", "robin_hood")


@numba.njit(cache=True, parallel=True)
def _hubness_boot_kernel(W, table, cut, out):  # pragma: no cover - numba
    # Every statistic of :func:`hubness` on a resample with counts W[b]: a reference track's
    # list counts W[b, i] times; a listed track j enters the statistics W[b, j] times.  The
    # counts are added once per list entry into its rank band [cut[c-1], cut[c]) and summed
    # over the bands afterwards (N K additions a resample, not N sum(cut)).
    B, N = W.shape
    C = cut.size
    K = cut[C - 1]
    # the transposed lists per rank band: who lists track j at a rank in [cut[c-1], cut[c])
    counts = np.zeros((C, N + 1), dtype=np.int64)
    for i in range(N):
        c0 = 0
        for r in range(K):
            if r >= cut[c0]:
                c0 += 1
            counts[c0, table[i, r] + 1] += 1
    starts = np.zeros((C, N + 1), dtype=np.int64)
    for c in range(C):
        for j in range(N):
            starts[c, j + 1] = starts[c, j] + counts[c, j + 1]
    refs = np.empty((C, N * K), dtype=np.int32)
    fill = starts[:, :N].copy()
    for i in range(N):
        c0 = 0
        for r in range(K):
            if r >= cut[c0]:
                c0 += 1
            j = table[i, r]
            refs[c0, fill[c0, j]] = i
            fill[c0, j] += 1
    for b in numba.prange(B):
        occ = np.zeros((C, N))
        w = W[b]
        for c in range(C):
            for j in range(N):
                acc = occ[c - 1, j] if c > 0 else 0.0
                for q in range(starts[c, j], starts[c, j + 1]):
                    acc += w[refs[c, q]]
                occ[c, j] = acc
        for c in range(C):
            k = cut[c]
            tot = 0.0
            m1 = 0.0
            for j in range(N):
                tot += W[b, j]
                m1 += W[b, j] * occ[c, j]
            mean = m1 / tot
            m2 = 0.0
            m3 = 0.0
            hub = 0.0
            anti = 0.0
            mx = 0.0
            rh = 0.0
            for j in range(N):
                wj = W[b, j]
                if wj == 0:
                    continue
                o = float(occ[c, j])
                d = o - mean
                m2 += wj * d * d
                m3 += wj * d * d * d
                if o > 2 * k:
                    hub += wj
                if o == 0:
                    anti += wj
                if o > mx:
                    mx = o
                rh += wj * abs(o - k)
            m2 /= tot
            m3 /= tot
            out[b, c, 0] = 0.0 if m2 == 0 else m3 / m2**1.5
            out[b, c, 1] = hub / tot
            out[b, c, 2] = anti / tot
            out[b, c, 3] = mx
            out[b, c, 4] = rh / (2.0 * tot * k)


def hubness_replicates(
    table: np.ndarray, cutoffs: Sequence[int] | np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Every statistic of :func:`hubness` on resamples of the tracks.

    Parameters
    ----------
    table : np.ndarray [shape=(N, >= max(cutoffs)), dtype=int]
    cutoffs : sequence of int
    weights : np.ndarray [shape=(B, N)]
        How often each track is drawn (:func:`nnsim.similarity.iter_bootstrap_weights`); all
        ones gives :func:`hubness` itself.

    Returns
    -------
    np.ndarray [shape=(B, c, 5)]
        :data:`HUBNESS_STATS` per resample and cutoff.
    """
    cut = np.asarray(cutoffs, dtype=np.int64)
    T = np.ascontiguousarray(np.asarray(table)[:, : int(cut[-1])], dtype=np.int32)
    W = np.ascontiguousarray(weights, dtype=np.float32)
    out = np.zeros((W.shape[0], cut.size, len(HUBNESS_STATS)))
    _hubness_boot_kernel(W, T, cut, out)
    return out


def hubness_table(
    tables: Mapping[str, np.ndarray],
    cutoffs: Sequence[int] | np.ndarray,
    *,
    n_boot: int,
    seed: int,
    ci_level: float,
    distances: str = "primary",
) -> list[dict[str, object]]:
    """:func:`hubness` of every space at every cutoff, each statistic with its bootstrap CI.

    The CI is the percentile interval over ``n_boot`` resamples of the tracks (the code
    base's one bootstrap, :func:`nnsim.similarity.iter_bootstrap_weights`: the same resamples
    as every other measure): on a resample a reference track's list counts as often as the
    track is drawn, and so does a listed track in the statistics (the lists stay those of the
    full sample, as for S_n).  Hubness describes one space: a row permutation leaves it
    unchanged, so it has no chance level; its reference is the uniform spread (skewness,
    shares and Robin Hood index 0, largest occurrence ``n``).

    Parameters
    ----------
    tables : mapping of str to np.ndarray [shape=(N, >= max(cutoffs)), dtype=int]
    cutoffs : sequence of int
    n_boot : int
        ``compare.hubness_n_boot`` (0: the bounds are the value).
    seed : int
    ci_level : float
    distances : str
        Label of the tables' distances (``primary`` or the hubness reduction).

    Returns
    -------
    list of dict
        ``space, distances, cutoff``, the statistics of :data:`HUBNESS_STATS` and their
        ``<stat>_ci_low`` / ``<stat>_ci_high``.
    """
    cut = np.asarray(cutoffs, dtype=np.int64)
    rows: list[dict[str, object]] = []
    for name, table in tables.items():
        T = np.ascontiguousarray(np.asarray(table)[:, : int(cut[-1])], dtype=np.int32)
        N = T.shape[0]
        reps = np.zeros((0, cut.size, len(HUBNESS_STATS)))
        if n_boot > 0:
            reps = np.concatenate(
                [
                    hubness_replicates(T, cut, W)
                    for W in iter_bootstrap_weights(N, n_boot, seed, max_mb=TABLE_BLOCK_MB)
                ]
            )
        for c, k in enumerate(cut):
            row: dict[str, object] = {"space": name, "distances": distances, "cutoff": int(k)}
            h = hubness(T, int(k))
            for stat in HUBNESS_STATS:
                row[stat] = h[stat]
            for s_i, stat in enumerate(HUBNESS_STATS):
                if n_boot > 0:
                    lo, hi = percentile_ci(reps[:, c, s_i], ci_level)
                    row[f"{stat}_ci_low"], row[f"{stat}_ci_high"] = float(lo), float(hi)
                else:
                    row[f"{stat}_ci_low"] = row[f"{stat}_ci_high"] = h[stat]
            rows.append(row)
    return rows
