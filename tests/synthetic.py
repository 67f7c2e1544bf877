"""Synthetic latent spaces shaped like the paper's, for demos and tests (labelled synthetic).

The spaces are derived from one clustered "ground-truth" latent layout of the tracks with
extra distortion per training dataset, architecture and layer, so that the Table-2 question
(which variable moves neighbours most) has a non-trivial answer.  They are not audio features.
"""

from __future__ import annotations

import numpy as np

from nnsim.spaces import Space

#: (dataset, architecture, layer, dim) of the paper's eight MusiCNN/VGG spaces (Table 1).
PAPER_CB_SPACES: tuple[tuple[str, str, str, int], ...] = (
    ("msd", "musicnn", "embeddings", 200),
    ("msd", "musicnn", "taggrams", 50),
    ("msd", "vgg", "embeddings", 256),
    ("msd", "vgg", "taggrams", 50),
    ("mtat", "musicnn", "embeddings", 200),
    ("mtat", "musicnn", "taggrams", 50),
    ("mtat", "vgg", "embeddings", 256),
    ("mtat", "vgg", "taggrams", 50),
)


def synthetic_spaces(
    n_tracks: int = 600,
    *,
    n_styles: int = 6,
    latent_dim: int = 16,
    seed: int = 0,
    cf_factors: tuple[int, ...] = (64, 96, 128),
) -> list[Space]:
    """Eight content-like and a few CF-like synthetic spaces of the same tracks.

    Parameters
    ----------
    n_tracks : int
        Number of tracks.
    n_styles : int
        Clusters in the underlying layout.
    latent_dim : int
        Dimension of the underlying layout.
    seed : int
        Seed of every random draw.
    cf_factors : tuple of int
        Dimensions of the CF-like spaces (named ``cf-<dim>``).

    Returns
    -------
    list of Space
        ``float32`` spaces with ids ``trk0000...`` and metadata (``kind``, ``dataset``,
        ``architecture``, ``layer``; ``synthetic: true``).
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n_styles, latent_dim)) * 2.0
    style = rng.integers(0, n_styles, n_tracks)
    Z = centers[style] + rng.standard_normal((n_tracks, latent_dim))
    ids = np.array([f"trk{i:05d}" for i in range(n_tracks)])
    views: dict[tuple[str, ...], np.ndarray] = {}

    def distort(base: np.ndarray, amount: float) -> np.ndarray:
        R = np.linalg.qr(rng.standard_normal((base.shape[1], base.shape[1])))[0]
        return base @ R + amount * rng.standard_normal(base.shape)

    spaces = []
    for dataset in ("msd", "mtat"):
        views[(dataset,)] = distort(Z, 0.9 if dataset == "msd" else 0.6)
        for arch in ("musicnn", "vgg"):
            views[(dataset, arch)] = distort(views[(dataset,)], 0.5)
    for dataset, arch, layer, dim in PAPER_CB_SPACES:
        h = views[(dataset, arch)]
        W = rng.standard_normal((latent_dim, dim)) / np.sqrt(latent_dim)
        if layer == "embeddings":
            X = np.maximum(h @ W + 0.3 * rng.standard_normal((n_tracks, dim)), 0.0) + 1e-3
        else:
            X = 1.0 / (1.0 + np.exp(-(h @ W - 1.0)))
        spaces.append(
            Space(
                f"{dataset}-{arch}-{layer}",
                X.astype(np.float32),
                ids,
                {
                    "kind": "cb",
                    "dataset": dataset,
                    "architecture": arch,
                    "layer": layer,
                    "synthetic": True,
                },
            )
        )
    popularity = rng.pareto(2.0, n_tracks) + 1.0
    taste = Z + 1.5 * rng.standard_normal(Z.shape)
    for f in cf_factors:
        W = rng.standard_normal((latent_dim, f)) / np.sqrt(latent_dim)
        X = (taste @ W + 0.5 * rng.standard_normal((n_tracks, f))) * np.log1p(popularity)[:, None]
        spaces.append(
            Space(
                f"cf-{f}",
                X.astype(np.float32),
                ids,
                {"kind": "cf", "factors": f, "synthetic": True},
            )
        )
    return spaces


def comparison_settings(cfg, **over):
    """``cutoffs``, ``neighbors`` and ``compare`` of composed settings as keyword arguments of
    :func:`nnsim.compare.run_comparison`, with fields of either group replaced by ``over``."""
    from dataclasses import fields, replace

    from nnsim.settings import NeighborsSettings

    nb_fields = {f.name for f in fields(NeighborsSettings)}
    nb = {k: v for k, v in over.items() if k in nb_fields}
    cm = {k: v for k, v in over.items() if k not in nb_fields and k != "cutoffs"}
    return {
        "cutoffs": list(over.get("cutoffs", cfg.cutoffs)),
        "neighbors": replace(cfg.neighbors, **nb),
        "compare": replace(cfg.compare, **cm),
    }
