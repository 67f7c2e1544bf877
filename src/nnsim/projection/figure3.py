"""The paper's Figure 3 from the scores of the maps: its rows, and which spaces share a figure.

Pure table work on what :func:`nnsim.projection.score.score_maps` wrote (no search engine), so
the figure and site stages do not depend on the engine.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Display names of the projection methods in figures.
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def figure3_rows(
    scores: pd.DataFrame, seeds: pd.DataFrame, cutoffs: Sequence[int]
) -> tuple[list[str], np.ndarray, int]:
    """The rows of the paper's Figure 3 for one space at one distance.

    First every map against the original (PCA, then each stochastic method seed by seed),
    then every pair of seeds of one method against each other.

    Parameters
    ----------
    scores : pandas.DataFrame
        :attr:`MapScores.scores` of the space at one distance (``map, method, seed, cutoff,
        similarity``).
    seeds : pandas.DataFrame
        :attr:`MapScores.seeds` of the space (``method, map_a, map_b, cutoff, similarity``).
    cutoffs : sequence of int
        The columns, in order.

    Returns
    -------
    rows : list of str
        Row labels (``PCA``, ``t-SNE seed 0``, ..., ``t-SNE seed 0 vs 1``).
    values : np.ndarray [shape=(len(rows), len(cutoffs))]
        S_n per row and cutoff (NaN where a cutoff was not scored).
    n_vs_original : int
        How many of the rows are maps against the original (the rest are seed vs seed).
    """
    cut = [int(c) for c in cutoffs]

    def line(frame: pd.DataFrame) -> list[float]:
        by = dict(zip(frame["cutoff"].astype(int), frame["similarity"].astype(float), strict=True))
        return [by.get(c, np.nan) for c in cut]

    order = {m: i for i, m in enumerate(METHOD_LABELS)}
    maps = (
        scores[["map", "method", "seed"]]
        .drop_duplicates("map")
        .assign(rank=lambda f: f["method"].map(order).fillna(len(order)))
        .sort_values(["rank", "method", "seed"])
    )
    per_method = {str(k): int(v) for k, v in maps.groupby("method")["map"].count().items()}
    seed_of = dict(zip(maps["map"], maps["seed"], strict=True))
    rows: list[str] = []
    values: list[list[float]] = []
    for rec in maps.itertuples():
        label = METHOD_LABELS.get(str(rec.method), str(rec.method))
        rows.append(label if per_method[str(rec.method)] == 1 else f"{label} seed {rec.seed}")
        values.append(line(scores[scores["map"] == rec.map]))
    n_vs_original = len(rows)
    pairs = seeds[["method", "map_a", "map_b"]].drop_duplicates()
    pairs = pairs.assign(rank=lambda f: f["method"].map(order).fillna(len(order)))
    for rec in pairs.sort_values(["rank", "method", "map_a", "map_b"]).itertuples():
        label = METHOD_LABELS.get(str(rec.method), str(rec.method))
        rows.append(f"{label} seed {seed_of.get(rec.map_a, '?')} vs {seed_of.get(rec.map_b, '?')}")
        sel = seeds[(seeds["map_a"] == rec.map_a) & (seeds["map_b"] == rec.map_b)]
        values.append(line(sel))
    return rows, np.asarray(values, dtype=float).reshape(len(rows), len(cut)), n_vs_original


def projection_groups(meta: dict[str, dict[str, object]]) -> dict[str, list[str]]:
    """Spaces that share one figure: the layers of one model (the paper's Figure 3 shows
    MSD MusiCNN embeddings and taggrams together); any other space stands alone.

    Parameters
    ----------
    meta : dict of str to dict
        Space name -> its metadata (``kind``, ``dataset``, ``architecture``, ``layer``).

    Returns
    -------
    dict of str to list of str
        Group name (``msd-musicnn`` or the space name) -> space names, in the given order.
    """
    groups: dict[str, list[str]] = {}
    for name, m in meta.items():
        if m.get("kind") == "cb" and m.get("dataset") and m.get("architecture"):
            key = f"{m['dataset']}-{m['architecture']}"
        else:
            key = name
        groups.setdefault(key, []).append(name)
    return groups
