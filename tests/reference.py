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
