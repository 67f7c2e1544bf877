"""Independent slow implementations (float64, plain Python) used as test oracles."""

from __future__ import annotations

import numpy as np


def slow_neighbors(X: np.ndarray, k: int, distance: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact kNN in float64, one query at a time, self excluded, ties by index."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float64)
    norms = np.sqrt((X**2).sum(axis=1))
    for i in range(n):
        cand = []
        for j in range(n):
            if j == i:
                continue
            if distance == "cosine":
                d = 1.0 - float(X[i] @ X[j]) / (norms[i] * norms[j])
            else:
                d = float(np.sqrt(((X[i] - X[j]) ** 2).sum()))
            cand.append((d, j))
        cand.sort()
        idx[i] = [j for _, j in cand[:k]]
        dist[i] = [d for d, _ in cand[:k]]
    return idx, dist


def slow_overlap(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    """Per-row |A[:n] ∩ B[:n]| / n with Python sets."""
    return np.array([len(set(a[:n]) & set(b[:n])) / n for a, b in zip(A, B, strict=True)])


def slow_rbo_ext(a: list[int], b: list[int], p: float) -> float:
    """Extrapolated RBO (Webber et al. 2010, eq. 32) of two equal-length prefixes."""
    k = len(a)
    total = 0.0
    for d in range(1, k + 1):
        total += p ** (d - 1) * len(set(a[:d]) & set(b[:d])) / d
    return (1 - p) * total + p**k * len(set(a) & set(b)) / k


def slow_spearman_union(a: list[int], b: list[int]) -> float:
    """Pearson correlation of ranks over the union; a missing item ranks len+1."""
    n = len(a)
    union = list(dict.fromkeys(list(a) + list(b)))
    rx = [a.index(t) + 1 if t in a else n + 1 for t in union]
    ry = [b.index(t) + 1 if t in b else n + 1 for t in union]
    if np.std(rx) == 0 or np.std(ry) == 0:
        return 1.0
    return float(np.corrcoef(rx, ry)[0, 1])


def exact_rows(X: np.ndarray, rows: np.ndarray, k: int, distance: str) -> np.ndarray:
    """float64 exact neighbours of selected query rows (vectorised per row; ties by index)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((len(rows), k), dtype=np.int64)
    if distance == "cosine":
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    for o, i in enumerate(rows):
        if distance == "cosine":
            d = 1.0 - Xn @ Xn[i]
        else:
            d = np.sqrt(((X - X[i]) ** 2).sum(axis=1))
        d[i] = np.inf
        order = np.lexsort((np.arange(len(d)), d))
        out[o] = order[:k]
    return out


def _gram_centred(X: np.ndarray) -> np.ndarray:
    """H K H of the linear kernel, with the N x N centring matrix H (slow on purpose)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    return H @ (X @ X.T) @ H


def slow_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """CKA from the N x N Gram matrices: tr(Kc Lc) / sqrt(tr(Kc Kc) tr(Lc Lc))."""
    K, L = _gram_centred(X), _gram_centred(Y)
    return float(np.trace(K @ L) / np.sqrt(np.trace(K @ K) * np.trace(L @ L)))


def slow_hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    """Song et al. (2012) eq. (5), with explicit N x N matrices and loops for the sums."""
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0.0)
    np.fill_diagonal(Lt, 0.0)
    tr = sum(Kt[i, j] * Lt[j, i] for i in range(n) for j in range(n))
    ones_k = sum(Kt[i, j] for i in range(n) for j in range(n))
    ones_l = sum(Lt[i, j] for i in range(n) for j in range(n))
    KL = Kt @ Lt
    cross = sum(KL[i, j] for i in range(n) for j in range(n))
    return (tr + ones_k * ones_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * cross) / (n * (n - 3))


def slow_debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    Xc = np.asarray(X, float) - np.asarray(X, float).mean(axis=0)
    Yc = np.asarray(Y, float) - np.asarray(Y, float).mean(axis=0)
    K, L = Xc @ Xc.T, Yc @ Yc.T
    return slow_hsic_unbiased(K, L) / np.sqrt(slow_hsic_unbiased(K, K) * slow_hsic_unbiased(L, L))


def slow_procrustes(X: np.ndarray, Y: np.ndarray) -> float:
    """min over orthogonal R of ||A - B R|| (scipy's solver), the narrower space zero-padded."""
    from scipy.linalg import orthogonal_procrustes

    A = np.asarray(X, float) - np.asarray(X, float).mean(axis=0)
    B = np.asarray(Y, float) - np.asarray(Y, float).mean(axis=0)
    A, B = A / np.linalg.norm(A), B / np.linalg.norm(B)
    d = max(A.shape[1], B.shape[1])
    A = np.pad(A, ((0, 0), (0, d - A.shape[1])))
    B = np.pad(B, ((0, 0), (0, d - B.shape[1])))
    R, _ = orthogonal_procrustes(B, A)
    return float(np.linalg.norm(A - B @ R))


def slow_rsa(X: np.ndarray, Y: np.ndarray, distance: str) -> float:
    from scipy.spatial.distance import pdist
    from scipy.stats import spearmanr

    return float(spearmanr(pdist(X, distance), pdist(Y, distance)).statistic)


def slow_cca(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Canonical correlations from the covariance blocks (eigenvalues of Sxx^-1 Sxy Syy^-1 Syx)."""
    A = A - A.mean(axis=0)
    B = B - B.mean(axis=0)
    Sxx, Syy, Sxy = A.T @ A, B.T @ B, A.T @ B
    M = np.linalg.solve(Sxx, Sxy) @ np.linalg.solve(Syy, Sxy.T)
    ev = np.sort(np.clip(np.linalg.eigvals(M).real, 0, 1))[::-1]
    return np.sqrt(ev[: min(A.shape[1], B.shape[1])])


def slow_jaccard(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    return np.array(
        [
            len(set(a[:n]) & set(b[:n])) / len(set(a[:n]) | set(b[:n]))
            for a, b in zip(A, B, strict=True)
        ]
    )


def slow_rank_similarity(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    out = []
    for a, b in zip(A, B, strict=True):
        a, b = list(a[:n]), list(b[:n])
        shared = [t for t in a if t in b]
        if not shared:
            out.append(0.0)
            continue
        num = sum(
            2.0 / ((1 + abs(a.index(t) - b.index(t))) * (a.index(t) + 1 + b.index(t) + 1))
            for t in shared
        )
        out.append(num / sum(1.0 / k for k in range(1, len(shared) + 1)))
    return np.array(out)


def slow_k_occurrence(table: np.ndarray, k: int) -> np.ndarray:
    counts = [0] * table.shape[0]
    for row in table:
        for t in row[:k]:
            counts[int(t)] += 1
    return np.array(counts)


def slow_kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b by counting concordant and discordant pairs (ties in either: neither)."""
    n = len(x)
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    return (conc - disc) / np.sqrt((conc + disc + tx) * (conc + disc + ty))


def slow_second_order_cosine(X: np.ndarray, Y: np.ndarray, A, B, n: int) -> np.ndarray:
    """Per track: cosine of the two spaces' cosine similarities to the union of its lists."""

    def cos(u, v):
        return float(u @ v) / (np.sqrt(float(u @ u)) * np.sqrt(float(v @ v)))

    out = []
    for i in range(X.shape[0]):
        union = sorted(set(A[i][:n]) | set(B[i][:n]))
        sx = np.array([cos(X[i], X[j]) for j in union])
        sy = np.array([cos(Y[i], Y[j]) for j in union])
        out.append(cos(sx, sy))
    return np.array(out)


def slow_cknna(X: np.ndarray, Y: np.ndarray, n: int, distance: str) -> float:
    """CKNNA from the N x N centred Gram matrices H K H and explicit neighbour masks."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if distance == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    N = X.shape[0]
    H = np.eye(N) - np.ones((N, N)) / N
    K, L = H @ (X @ X.T) @ H, H @ (Y @ Y.T) @ H
    lx, _ = slow_neighbors(X, n, distance)
    ly, _ = slow_neighbors(Y, n, distance)
    mx, my = np.zeros((N, N)), np.zeros((N, N))
    for i in range(N):
        for j in lx[i]:
            mx[i, j] = 1.0
        for j in ly[i]:
            my[i, j] = 1.0
    num = (mx * my * K * L).sum()
    return float(num / np.sqrt((mx * K * K).sum() * (my * L * L).sum()))


def slow_secondary(X: np.ndarray, method: str, k: int, distance: str):
    """Secondary distances of every pair (self excluded: inf) from the full distance matrix:
    CSLS with r_i over the k nearest, or Gaussian mutual proximity with each track's mean and
    standard deviation over all its distances."""
    from scipy.stats import norm

    X = np.asarray(X, dtype=np.float64)
    N = X.shape[0]
    D = np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            if distance == "cosine":
                D[i, j] = 1 - X[i] @ X[j] / (np.linalg.norm(X[i]) * np.linalg.norm(X[j]))
            else:
                D[i, j] = np.linalg.norm(X[i] - X[j])
    off = ~np.eye(N, dtype=bool)
    S = np.full((N, N), np.inf)
    if method == "csls":
        r = np.array([np.sort(D[i][off[i]])[:k].mean() for i in range(N)])
        for i in range(N):
            for j in range(N):
                if i != j:
                    S[i, j] = 2 * D[i, j] - r[i] - r[j]
    else:
        mu = np.array([D[i][off[i]].mean() for i in range(N)])
        sd = np.array([D[i][off[i]].std() for i in range(N)])
        for i in range(N):
            for j in range(N):
                if i != j:
                    S[i, j] = 1 - norm.sf(D[i, j], mu[i], sd[i]) * norm.sf(D[i, j], mu[j], sd[j])
    return S
