"""Measures beyond S_n: global similarity of two spaces, neighbourhood measures, hubness.

Pure functions on arrays (spaces ``X (N, d)`` of the same tracks in the same row order, or
neighbour tables ``(N, K)`` of the engine).  A measure that is undefined for the data (CKA of
a constant space, SVCCA with more dimensions than tracks) raises :class:`MeasureUndefined`
with the reason, so that a caller can record it instead of a NaN and go on with the others.

Global measures never form N x N matrices: CKA, its debiased form and Procrustes work on the
d x d cross-products (O(N d^2)); RSA compares pairwise distances on a seeded subsample.
"""

from __future__ import annotations

import numpy as np

from nnsim.errors import NnsimError
from nnsim.similarity import iter_bootstrap_weights, pair_overlap, percentile_ci


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
    xx = np.linalg.norm(A.T @ A)
    yy = np.linalg.norm(B.T @ B)
    if xx == 0 or yy == 0:
        raise MeasureUndefined("CKA: a space is constant over the tracks (no variance)")
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
        rows = np.sort(np.random.default_rng(seed).choice(n, max_tracks, replace=False))
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
        var = np.cumsum(s**2) / np.sum(s**2)
        r = int(np.searchsorted(var, keep - 1e-12) + 1)
        return U[:, :r]  # orthonormal basis of the kept directions

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
) -> list[dict[str, object]]:
    """Every global measure of every pair of spaces, with its bootstrap CI and chance level.

    The CI is the percentile interval of the measure over ``n_boot`` resamples of the tracks
    (with replacement, the same resamples for every pair: the code base's one bootstrap,
    :func:`nnsim.similarity.iter_bootstrap_weights`, as row indices).  Resampling repeats
    tracks, which raises a biased measure: the linear CKA of two unrelated spaces of few tracks
    may lie below its own interval (the debiased CKA does not have that bias).

    The chance level of a pair is the mean of the measure between the first space and a
    row-permuted copy of the second over ``n_permutations`` seeded permutations (unrelated
    spaces with the same marginals); a measure undefined for the data gets its reason in
    ``note`` instead of a number.

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
    rng = np.random.default_rng(seed)
    N = next(iter(spaces.values())).shape[0] if spaces else 0
    perms = [rng.permutation(N) for _ in range(n_permutations)]
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
                    chance = (
                        float(np.mean([measure(m, spaces[a], spaces[b][p]) for p in perms]))
                        if perms
                        else float("nan")
                    )
                    reps = [measure(m, spaces[a][r], spaces[b][r]) for r in resamples]
                    lo, hi = (
                        (float(v) for v in percentile_ci(np.asarray(reps), ci_level))
                        if reps
                        else (value, value)
                    )
                    note = ""
                except MeasureUndefined as exc:
                    value, chance, note = float("nan"), float("nan"), str(exc)
                    lo = hi = float("nan")
                    reps = []
                rows.append(
                    {
                        "src": a,
                        "dst": b,
                        "measure": m,
                        "value": value,
                        "ci_low": lo,
                        "ci_high": hi,
                        "chance": chance,
                        "note": note,
                        "replicates": np.asarray(reps, dtype=np.float64),
                    }
                )
    return rows
