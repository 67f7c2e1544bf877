"""Playlists for a listening test (the paper's Section 6), from the engine's outputs.

Pure functions: the S_n matrix picks the spaces, a content space (or a metadata column) picks
reference tracks that differ from each other, and each space's neighbour table gives the
playlists.  The study has the shape the paper's authors used:
``{reference id: {space name: [track ids, nearest first]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nnsim.errors import ConfigError, InputError


def most_dissimilar(S: np.ndarray, names: Sequence[str], k: int) -> list[str]:
    """The ``k`` spaces that agree least on neighbours, chosen greedily.

    Starts from the pair with the lowest S_n, then repeatedly adds the space whose mean S_n to
    those already chosen is lowest (ties: the earlier name).

    Parameters
    ----------
    S : np.ndarray [shape=(m, m)]
        S_n at one cutoff (symmetric).
    names : sequence of str
        Space names, length ``m``.
    k : int
        How many spaces, ``2 <= k <= m``.

    Returns
    -------
    list of str
        In the order they were chosen.
    """
    m = len(names)
    S = np.asarray(S, dtype=np.float64)
    if S.shape != (m, m):
        raise InputError(f"S_n matrix of shape {S.shape} for {m} spaces.")
    if not 2 <= k <= m:
        raise ConfigError(f"cannot choose {k} spaces out of {m}; use 2 to {m}.")
    off = S + np.diag(np.full(m, np.inf))
    i, j = np.unravel_index(np.argmin(off), off.shape)
    chosen = [int(min(i, j)), int(max(i, j))]
    while len(chosen) < k:
        rest = [c for c in range(m) if c not in chosen]
        scores = [S[c, chosen].mean() for c in rest]
        chosen.append(rest[int(np.argmin(scores))])
    return [names[c] for c in chosen]


def far_apart(X: np.ndarray, r: int, *, seed: int, groups: np.ndarray | None = None) -> list[int]:
    """``r`` rows that differ from each other (farthest-point sampling, cosine).

    With ``groups`` (a metadata label per row), each reference comes from a different group
    while there are groups left, the farthest row of the not yet used groups.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        A content space.
    r : int
    seed : int
        Picks the first reference.
    groups : np.ndarray [shape=(n,)], optional

    Returns
    -------
    list of int
        Row indices.
    """
    n = X.shape[0]
    if not 1 <= r <= n:
        raise ConfigError(f"cannot choose {r} reference tracks out of {n}.")
    U = np.asarray(X, dtype=np.float64)
    U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
    rng = np.random.default_rng(seed)
    first = int(rng.integers(n))
    chosen = [first]
    dist = 1.0 - U @ U[first]
    for _ in range(r - 1):
        cand = np.ones(n, dtype=bool)
        cand[chosen] = False
        if groups is not None:
            used = {groups[c] for c in chosen}
            fresh = cand & np.array([g not in used for g in groups])
            if fresh.any():
                cand = fresh
        score = np.where(cand, dist, -np.inf)
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        dist = np.minimum(dist, 1.0 - U @ U[nxt])
    return chosen


def playlists(
    tables: Mapping[str, np.ndarray],
    ids: np.ndarray,
    references: Sequence[int],
    m: int,
) -> dict[str, dict[str, list[str]]]:
    """Each reference's top-``m`` neighbours in every space, nearest first.

    Parameters
    ----------
    tables : mapping of str to np.ndarray [shape=(n, >= m), dtype=int]
        Neighbour indices per space (self excluded), rows aligned with ``ids``.
    ids : np.ndarray [shape=(n,)]
    references : sequence of int
        Reference rows.
    m : int
        Playlist length.

    Returns
    -------
    dict
        ``{reference id: {space: [track ids]}}``.
    """
    out: dict[str, dict[str, list[str]]] = {}
    for name, t in tables.items():
        if t.shape[0] != len(ids):
            raise InputError(f"{name}: neighbour table has {t.shape[0]} rows for {len(ids)} ids.")
        if t.shape[1] < m:
            raise ConfigError(
                f"{name}: playlists of {m} tracks need neighbour tables of at least {m} columns "
                f"(found {t.shape[1]}); lower the playlist length or raise neighbors.k."
            )
    for ref in references:
        out[str(ids[ref])] = {
            name: [str(ids[j]) for j in np.asarray(t)[ref, :m]] for name, t in tables.items()
        }
    return out


def playlist_agreement(
    tables: Mapping[str, np.ndarray], references: Sequence[int], ids: np.ndarray, n: int
) -> dict[str, dict[str, float]]:
    """Each tested space's per-reference S_n with the other tested spaces.

    For reference ``r`` and space ``s``: the mean over the other spaces ``s'`` of
    ``|L_s,n(r) ∩ L_s',n(r)| / n``, the offline agreement of the playlist that ``s`` proposes
    (the statistics relate the ratings to it).

    Parameters
    ----------
    tables : mapping of str to np.ndarray [shape=(N, >= n), dtype=int]
        Neighbour indices of the tested spaces.
    references : sequence of int
        Reference rows.
    ids : np.ndarray [shape=(N,)]
    n : int
        The cutoff (``listening.cutoff``).

    Returns
    -------
    dict
        ``{reference id: {space: agreement in [0, 1]}}``.
    """
    names = list(tables)
    if len(names) < 2:
        raise InputError("the agreement of a playlist needs at least two tested spaces.")
    out: dict[str, dict[str, float]] = {}
    for ref in references:
        lists = {s: set(np.asarray(tables[s])[ref, :n].tolist()) for s in names}
        out[str(ids[ref])] = {
            s: float(np.mean([len(lists[s] & lists[o]) / n for o in names if o != s]))
            for s in names
        }
    return out
