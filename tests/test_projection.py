"""2-D projections: known answers, seeds, reproducibility, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import comparison_settings

from nnsim.config import compose
from nnsim.errors import ConfigError, NnsimError
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
