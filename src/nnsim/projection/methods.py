"""2-D maps of a space: PCA, t-SNE (openTSNE or scikit-learn) and UMAP, with explicit seeds.

Every parameter comes from ``conf/projection/`` through
:class:`nnsim.settings.ProjectionSettings`; the functions here take arrays and return arrays.
Initialisation is explicit: with ``pca`` initialisation t-SNE returns the same map for every
seed (seen on real music with both libraries), so seed-vs-seed comparisons are only
meaningful with ``random``.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from nnsim.errors import ConfigError, NnsimError
from nnsim.settings import PROJECTION_METHODS, ProjectionSettings
from nnsim.spaces import as_matrix

log = logging.getLogger(__name__)


def check_size(n_tracks: int, method: str, options: ProjectionSettings, name: str) -> None:
    """Refuse a space too small for the method's neighbourhood settings.

    Raises
    ------
    ConfigError
        Naming the setting, its value and the limit for this many tracks.
    """
    if method not in PROJECTION_METHODS:
        raise ConfigError(
            f"unknown projection method {method!r}; valid: {', '.join(PROJECTION_METHODS)}."
        )
    if n_tracks < 3:
        raise ConfigError(f"{name}: {n_tracks} tracks cannot be projected (need at least 3).")
    if method == "tsne":
        perp = float(options.tsne.perplexity)
        limit = (n_tracks - 1) / 3.0  # both libraries need 3 * perplexity < n
        if perp >= limit:
            raise ConfigError(
                f"{name}: setting projection.tsne.perplexity={perp:g} needs more than "
                f"{int(3 * perp) + 1} tracks, but the space has {n_tracks}. Use a perplexity "
                f"below {limit:.1f}."
            )
    if method == "umap":
        nn = int(options.umap.n_neighbors)
        if nn >= n_tracks:
            raise ConfigError(
                f"{name}: setting projection.umap.n_neighbors={nn} needs more than {nn} "
                f"tracks, but the space has {n_tracks}. Use n_neighbors below {n_tracks}."
            )


def project(
    X: np.ndarray, method: str, *, seed: int, options: ProjectionSettings, name: str = "space"
) -> np.ndarray:
    """A 2-D map of the rows of ``X``.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    method : {"pca", "tsne", "umap"}
    seed : int
        Random state of the method (PCA ignores it: one map).
    options : ProjectionSettings
        ``projection`` of the settings.
    name : str
        Space name, for messages.

    Returns
    -------
    np.ndarray [shape=(n, 2), dtype=float32]

    Raises
    ------
    ConfigError
        Too few tracks for the method's settings.
    NnsimError
        The method returned NaN or infinite coordinates (never scored).
    """
    X = as_matrix(X, name)
    check_size(X.shape[0], method, options, name)
    if method == "pca":
        from sklearn.decomposition import PCA

        Y = PCA(n_components=2, svd_solver="full").fit_transform(X.astype(np.float64))
    elif method == "tsne":
        Y = _tsne(X, seed, options)
    else:
        Y = _umap(X, seed, options)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != (X.shape[0], 2) or not np.isfinite(Y).all():
        bad = int((~np.isfinite(Y)).any(axis=1).sum()) if Y.ndim == 2 else -1
        raise NnsimError(
            f"{name}: {method} (seed {seed}) returned {bad} track(s) with NaN or infinite "
            "coordinates; such a map is not scored. Check the space for duplicates or "
            "extreme values, or change the method's settings."
        )
    return Y.astype(np.float32)


def _tsne(X: np.ndarray, seed: int, options: ProjectionSettings) -> np.ndarray:
    t = options.tsne
    init = options.tsne_init()
    if t.implementation == "opentsne":
        from openTSNE import TSNE

        return np.asarray(
            TSNE(
                n_components=2,
                perplexity=float(t.perplexity),
                learning_rate=t.learning_rate,
                early_exaggeration_iter=int(t.early_exaggeration_iter),
                n_iter=int(t.n_iter),
                metric=str(t.metric),
                initialization=init,
                random_state=int(seed),
                n_jobs=options.n_jobs,
                verbose=False,
            ).fit(X.astype(np.float64))
        )
    from sklearn.manifold import TSNE as SkTSNE

    return SkTSNE(
        n_components=2,
        perplexity=float(t.perplexity),
        learning_rate=t.learning_rate,
        max_iter=int(t.early_exaggeration_iter) + int(t.n_iter),
        metric=str(t.metric),
        init=init,
        random_state=int(seed),
        n_jobs=options.n_jobs,
        method="barnes_hut",
    ).fit_transform(X.astype(np.float64))


def _umap(X: np.ndarray, seed: int, options: ProjectionSettings) -> np.ndarray:
    os.environ.setdefault("NUMBA_DISABLE_PERFORMANCE_WARNINGS", "1")
    import warnings

    import umap

    u = options.umap
    with warnings.catch_warnings():
        # "n_jobs value 1 overridden to 1 by setting random_state": expected, reproducible.
        warnings.filterwarnings("ignore", message=".*n_jobs.*random_state.*")
        return umap.UMAP(
            n_components=2,
            n_neighbors=int(u.n_neighbors),
            min_dist=float(u.min_dist),
            metric=str(u.metric),
            n_epochs=u.n_epochs,
            init=options.init,
            random_state=int(seed),
            n_jobs=options.n_jobs,
        ).fit_transform(X)
