"""Scores of 2-D maps: S_n against the original space and between seeds, through the engine.

Also scikit-learn's trustworthiness and continuity (the established second view) at the same
cutoffs, on a seeded subsample when the space is large (both need every pairwise distance).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nnsim.compare import CompareResult, run_comparison
from nnsim.errors import InputError
from nnsim.settings import CompareSettings, NeighborsSettings
from nnsim.similarity import chance_level
from nnsim.spaces import Space

log = logging.getLogger(__name__)


@dataclass
class MapScores:
    """What scoring the maps of one original space at one distance produced.

    Attributes
    ----------
    scores : pandas.DataFrame
        ``space, distance, map, method, seed, cutoff, similarity, ci_low, ci_high, chance,
        trustworthiness, continuity`` (map vs original).
    seeds : pandas.DataFrame
        ``space, method, map_a, map_b, cutoff, similarity, ci_low, ci_high`` (seed vs seed
        of one method).
    curves : pandas.DataFrame
        ``space, distance, map, method, n, similarity, chance`` (map vs original, every n).
    result : CompareResult
        The engine's comparison of the original and every map.
    """

    scores: pd.DataFrame
    seeds: pd.DataFrame
    curves: pd.DataFrame
    result: CompareResult


def trust_continuity(
    X: np.ndarray,
    Y: np.ndarray,
    cutoffs: Sequence[int],
    *,
    distance: str,
    max_tracks: int,
    seed: int,
) -> tuple[dict[int, float], dict[int, float]]:
    """Trustworthiness (map neighbours that are true) and continuity (true ones kept).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        Original space.
    Y : np.ndarray [shape=(n, 2)]
        Its map.
    cutoffs : sequence of int
    distance : {"cosine", "euclidean"}
        Distance of the original (cosine: euclidean on unit rows, the same ranks).
    max_tracks : int
        Subsample size (seeded) when ``n`` is larger: both measures need all pairwise distances.
    seed : int

    Returns
    -------
    trust, continuity : dict of int to float
        Per cutoff; cutoffs at or above half the (sub)sample are left out (scikit-learn's limit).
    """
    from sklearn.manifold import trustworthiness

    Xo = np.asarray(X, dtype=np.float64)
    if distance == "cosine":
        Xo = Xo / np.linalg.norm(Xo, axis=1, keepdims=True)
    Yo = np.asarray(Y, dtype=np.float64)
    n = Xo.shape[0]
    if n > max_tracks:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_tracks, replace=False))
        Xo, Yo = Xo[rows], Yo[rows]
    m = Xo.shape[0]
    trust, cont = {}, {}
    for c in cutoffs:
        if c >= m / 2:
            log.info("trustworthiness at n=%d needs more than %d tracks; left out", c, 2 * c)
            continue
        trust[int(c)] = float(trustworthiness(Xo, Yo, n_neighbors=int(c)))
        cont[int(c)] = float(trustworthiness(Yo, Xo, n_neighbors=int(c)))
    return trust, cont


def score_maps(
    original: Space,
    maps: Sequence[Space],
    *,
    cutoffs: Sequence[int],
    neighbors: NeighborsSettings,
    compare: CompareSettings,
    distance: str,
    trust_max_tracks: int,
    seed: int,
) -> MapScores:
    """S_n of every map against its original (at ``distance``) and between seeds of a method.

    Parameters
    ----------
    original : Space
    maps : sequence of Space
        2-D maps of the same tracks; ``meta`` carries ``method`` and ``seed``.
    cutoffs, neighbors, compare
        The comparison's settings (as :func:`nnsim.compare.run_comparison`).
    distance : {"cosine", "euclidean"}
        Distance of the original; maps are always compared with euclidean distance.
    trust_max_tracks : int
    seed : int
        Subsample seed for trustworthiness/continuity.

    Returns
    -------
    MapScores
    """
    if not maps:
        raise InputError(f"{original.name}: no maps to score; run the project stage first.")
    names = {m.name for m in maps}
    if original.name in names:
        raise InputError(f"{original.name}: a map has the name of its original space.")
    res = run_comparison(
        [original, *maps],
        cutoffs=cutoffs,
        neighbors=neighbors,
        compare=compare,
        distance=distance,
        space_distances={m.name: "euclidean" for m in maps},
    )
    cmp = res.comparison
    o = cmp.names.index(original.name)
    aligned = {s.name: s for s in res.prepared.spaces}
    rows, seed_rows, curves = [], [], []
    K = cmp.curves.shape[-1]
    n_all = np.arange(1, K + 1)
    for mp in maps:
        j = cmp.names.index(mp.name)
        trust, cont = trust_continuity(
            aligned[original.name].X,
            aligned[mp.name].X,
            [int(c) for c in cmp.cutoffs],
            distance=distance,
            max_tracks=trust_max_tracks,
            seed=seed,
        )
        for c, cut in enumerate(cmp.cutoffs):
            rows.append(
                {
                    "space": original.name,
                    "distance": distance,
                    "map": mp.name,
                    "method": mp.meta.get("method"),
                    "seed": mp.meta.get("seed"),
                    "init": mp.meta.get("init"),
                    "cutoff": int(cut),
                    "similarity": cmp.similarity[o, j, c],
                    "ci_low": cmp.ci_low["overlap"][o, j, c],
                    "ci_high": cmp.ci_high["overlap"][o, j, c],
                    "chance": cmp.chance[c],
                    "trustworthiness": trust.get(int(cut)),
                    "continuity": cont.get(int(cut)),
                }
            )
        curves.append(
            pd.DataFrame(
                {
                    "space": original.name,
                    "distance": distance,
                    "map": mp.name,
                    "method": mp.meta.get("method"),
                    "n": n_all,
                    "similarity": cmp.curves[o, j],
                    "chance": chance_level(n_all, cmp.n_tracks),
                }
            )
        )
    for a_i, a in enumerate(maps):
        for b in maps[a_i + 1 :]:
            if a.meta.get("method") != b.meta.get("method"):
                continue
            i, j = cmp.names.index(a.name), cmp.names.index(b.name)
            for c, cut in enumerate(cmp.cutoffs):
                seed_rows.append(
                    {
                        "space": original.name,
                        "method": a.meta.get("method"),
                        "init": a.meta.get("init"),
                        "map_a": a.name,
                        "map_b": b.name,
                        "cutoff": int(cut),
                        "similarity": cmp.similarity[i, j, c],
                        "ci_low": cmp.ci_low["overlap"][i, j, c],
                        "ci_high": cmp.ci_high["overlap"][i, j, c],
                    }
                )
    seed_cols = ["space", "method", "init", "map_a", "map_b", "cutoff", "similarity"]
    return MapScores(
        scores=pd.DataFrame(rows),
        seeds=pd.DataFrame(seed_rows, columns=[*seed_cols, "ci_low", "ci_high"]),
        curves=pd.concat(curves, ignore_index=True),
        result=res,
    )
