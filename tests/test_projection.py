"""2-D projections: known answers, seeds, reproducibility, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import comparison_settings

from nnsim.config import compose
from nnsim.errors import ConfigError, NnsimError
from nnsim.plots import figure_files, projection_figure
from nnsim.projection.figure3 import figure3_rows, projection_groups
from nnsim.projection.methods import project
from nnsim.projection.score import score_maps, trust_continuity
from nnsim.settings import ProjectionSettings
from nnsim.spaces import Space


def popts(**over) -> ProjectionSettings:
    """``projection`` settings composed from conf/ with ``over`` as overrides (checked there)."""
    return compose([f"projection.{k}={v}" for k, v in over.items()]).projection


def copts() -> dict:
    return comparison_settings(compose(["cutoffs=[1,5,10]", "neighbors.k=10", "compare.n_boot=50"]))


def plane(n: int = 120, d: int = 10, seed: int = 0) -> np.ndarray:
    """Points on a 2-D plane inside R^d (random rotation, offset): PCA recovers it exactly."""
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((n, 2)) * np.array([3.0, 1.0])
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (P @ Q[:2] + rng.standard_normal(d)).astype(np.float32)


def test_pca_of_a_plane_keeps_every_neighbour():
    X = plane()
    Y = project(X, "pca", seed=0, options=popts(), name="plane")
    ms = score_maps(
        Space("plane", X),
        [Space("plane@pca-s0", Y, meta={"method": "pca", "seed": 0})],
        **copts(),
        distance="euclidean",
        trust_max_tracks=1000,
        seed=0,
    )
    np.testing.assert_array_equal(ms.scores["similarity"], 1.0)
    np.testing.assert_array_equal(ms.curves["similarity"], 1.0)
    assert (ms.scores["trustworthiness"].dropna() == 1.0).all()
    assert (ms.scores["continuity"].dropna() == 1.0).all()


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_a_seed_gives_the_same_map_and_random_init_seeds_differ(method):
    X = plane(120)
    o = popts(**{"tsne.n_iter": 150, "umap.n_epochs": 60})
    a = project(X, method, seed=3, options=o)
    b = project(X, method, seed=3, options=o)
    c = project(X, method, seed=4, options=o)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_pca_initialisation_makes_seeds_meaningless_for_sklearn_tsne():
    X = plane(120)
    o = popts(init="pca", **{"tsne.n_iter": 150, "tsne.implementation": "sklearn"})
    a = project(X, "tsne", seed=1, options=o)
    b = project(X, "tsne", seed=2, options=o)
    np.testing.assert_allclose(a, b)  # why the default is random (README)


def test_too_few_tracks_name_the_setting_and_the_limit():
    X = plane(60)
    with pytest.raises(ConfigError, match=r"projection\.tsne\.perplexity=30 needs more than 91"):
        project(X, "tsne", seed=0, options=popts())
    with pytest.raises(ConfigError, match=r"projection\.umap\.n_neighbors=80 .*below 60"):
        project(X, "umap", seed=0, options=popts(**{"umap.n_neighbors": 80}))
    with pytest.raises(ConfigError, match=r"projection\.init='lle'"):
        popts(init="lle")


def test_nan_coordinates_are_an_error_not_a_score(monkeypatch):
    import nnsim.projection.methods as m

    def broken(X, seed, options):
        Y = np.zeros((X.shape[0], 2))
        Y[3] = np.nan
        return Y

    monkeypatch.setattr(m, "_umap", broken)  # a projection library that misbehaves
    with pytest.raises(NnsimError, match=r"sp: umap \(seed 0\) returned 1 track\(s\) with NaN"):
        project(plane(40), "umap", seed=0, options=popts(**{"umap.n_neighbors": 5}), name="sp")


def test_trustworthiness_is_one_for_a_perfect_map_and_lower_for_noise():
    X = plane(100)
    t, c = trust_continuity(
        X,
        X[:, :2] * 0 + project(X, "pca", seed=0, options=popts()),
        [5, 10],
        distance="euclidean",
        max_tracks=1000,
        seed=0,
    )
    assert t == {5: 1.0, 10: 1.0} and c == {5: 1.0, 10: 1.0}
    noise = np.random.default_rng(99).standard_normal((100, 2))  # unrelated to the plane
    t2, _ = trust_continuity(X, noise, [5], distance="euclidean", max_tracks=50, seed=0)
    assert t2[5] < 0.8


def test_figure3_rows_are_the_scores_of_each_map_then_each_seed_pair(tmp_path):
    """Rows in the paper's order (PCA, t-SNE by seed, UMAP by seed, then seed vs seed), each
    the engine's S_n for that map or pair; the figure is written in three formats."""
    X = plane(100)
    rng = np.random.default_rng(5)
    maps = [Space("p@pca-s0", X[:, :2] @ np.eye(2), meta={"method": "pca", "seed": 0})]
    for method in ("umap", "tsne"):  # listed out of order: the rows put t-SNE first
        for s in (0, 1):
            Y = X[:, :2] + rng.standard_normal((100, 2)) * (0.3 + s)
            maps.append(Space(f"p@{method}-s{s}", Y, meta={"method": method, "seed": s}))
    cuts = [1, 5, 10]
    ms = score_maps(
        Space("p", X), maps, **copts(), distance="euclidean", trust_max_tracks=100, seed=0
    )
    rows, values, n_orig = figure3_rows(ms.scores, ms.seeds, cuts)
    assert rows[:n_orig] == ["PCA", "t-SNE seed 0", "t-SNE seed 1", "UMAP seed 0", "UMAP seed 1"]
    assert rows[n_orig:] == ["t-SNE seed 0 vs 1", "UMAP seed 0 vs 1"]
    cmp = ms.result.comparison
    o = cmp.names.index("p")
    for r, name in enumerate(["p@pca-s0", "p@tsne-s0", "p@tsne-s1", "p@umap-s0", "p@umap-s1"]):
        np.testing.assert_allclose(values[r], cmp.similarity[o, cmp.names.index(name)])
    for r, m in zip((5, 6), ("tsne", "umap"), strict=True):
        a, b = cmp.names.index(f"p@{m}-s0"), cmp.names.index(f"p@{m}-s1")
        np.testing.assert_allclose(values[r], cmp.similarity[a, b])
    png = projection_figure(
        [("P emb", values), ("P tag", values[:, ::-1])],
        rows,
        cuts,
        tmp_path / "fig3.png",
        n_vs_original=n_orig,
        title="test",
        chance=cmp.chance,
    )
    assert all(f.stat().st_size > 5_000 for f in figure_files(png))


def test_the_layers_of_one_model_share_a_figure_and_other_spaces_stand_alone():
    meta = {
        "msd-musicnn-embeddings": {"kind": "cb", "dataset": "msd", "architecture": "musicnn"},
        "cf-32": {"kind": "cf"},
        "msd-musicnn-taggrams": {"kind": "cb", "dataset": "msd", "architecture": "musicnn"},
        "msd-vgg-taggrams": {"kind": "cb", "dataset": "msd", "architecture": "vgg"},
    }
    assert projection_groups(meta) == {
        "msd-musicnn": ["msd-musicnn-embeddings", "msd-musicnn-taggrams"],
        "cf-32": ["cf-32"],
        "msd-vgg": ["msd-vgg-taggrams"],
    }
