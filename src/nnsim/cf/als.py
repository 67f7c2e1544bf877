"""ALS item factors with ``implicit`` and their evaluation (NDCG, MAP, precision, AUC).

Factor selection follows the paper (Sec. 4.1, Figure 1): a stratified 80/20 split, ALS at a
list of factor counts, ranking metrics at ``k`` on the held-out part, several seeds.  The
split is stratified per user (each user keeps ~80 % of their interactions for training);
``implicit.evaluation.train_test_split`` splits all interactions at random, which can leave
users with nothing to train or test on, so it is not used for this.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nnsim.errors import ConfigError, InputError

log = logging.getLogger(__name__)

METRICS = ("ndcg", "map", "precision", "auc")


def stratified_split(
    matrix: sp.csr_matrix, *, test_ratio: float, seed: int
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Split each user's interactions into train and test.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix [shape=(n_users, n_items)]
    test_ratio : float
        Share of each user's interactions held out (rounded; users with a single
        interaction keep it for training).
    seed : int

    Returns
    -------
    train, test : scipy.sparse.csr_matrix [shape=(n_users, n_items)]
        Disjoint, summing to ``matrix``.
    """
    if not 0.0 < test_ratio < 1.0:
        raise ConfigError(f"cf.select.test_ratio must be in (0, 1), got {test_ratio}.")
    m = matrix.tocsr()
    m.sort_indices()
    rng = np.random.default_rng(seed)
    is_test = np.zeros(m.nnz, dtype=bool)
    for u in range(m.shape[0]):
        lo, hi = m.indptr[u], m.indptr[u + 1]
        n = hi - lo
        n_test = min(round(test_ratio * n), n - 1)
        if n_test > 0:
            is_test[lo + rng.choice(n, n_test, replace=False)] = True
    coo = m.tocoo()
    shape = m.shape
    test = sp.csr_matrix((coo.data[is_test], (coo.row[is_test], coo.col[is_test])), shape=shape)
    train = sp.csr_matrix((coo.data[~is_test], (coo.row[~is_test], coo.col[~is_test])), shape=shape)
    return train, test


def fit_als(
    matrix: sp.csr_matrix,
    factors: int,
    *,
    regularization: float,
    alpha: float,
    iterations: int,
    seed: int,
    deterministic: bool,
    show_progress: bool = False,
    callback: Callable[[int, float, float], None] | None = None,
):
    """Fit implicit's ALS on a users x items matrix.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix [shape=(n_users, n_items)]
        Confidence values.
    factors : int
    regularization, alpha : float
    iterations : int
    seed : int
    deterministic : bool
        One thread: the same seed and data give the same factors (implicit's multithreaded
        solver is not bit-reproducible).
    show_progress : bool
    callback : callable, optional
        ``callback(iteration, elapsed, loss)`` as in implicit.

    Returns
    -------
    implicit.cpu.als.AlternatingLeastSquares
        ``item_factors`` has shape ``(n_items, factors)``.
    """
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    if factors < 1:
        raise ConfigError(f"ALS factors must be positive, got {factors}.")
    # implicit parallelises itself; a multithreaded BLAS underneath only oversubscribes.
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            num_threads=1 if deterministic else 0,
            calculate_training_loss=callback is not None,
        )
        model.fit(matrix.tocsr().astype(np.float32), show_progress=show_progress, callback=callback)
    return model


def popularity_model(train: sp.csr_matrix):
    """A model whose scores are training popularity, evaluated by the same implicit code."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    pop = np.asarray((train > 0).sum(axis=0), dtype=np.float32).reshape(-1, 1)
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=1)
    model.user_factors = np.ones((train.shape[0], 1), dtype=np.float32)
    model.item_factors = pop
    return model


def evaluate(model, train: sp.csr_matrix, test: sp.csr_matrix, k: int) -> dict[str, float]:
    """NDCG@k, MAP@k, precision@k and AUC on held-out interactions (implicit's metrics).

    Items seen in training are excluded from the rankings.
    """
    from implicit.evaluation import ranking_metrics_at_k

    res = ranking_metrics_at_k(model, train.tocsr(), test.tocsr(), K=k, show_progress=False)
    return {m: float(res[m]) for m in METRICS}


@dataclass
class Selection:
    """Result of the factor-count sweep.

    Attributes
    ----------
    table : pandas.DataFrame
        ``factors, seed, ndcg, map, precision, auc`` per run, plus ``factors = 0`` rows for
        the popularity baseline.
    summary : pandas.DataFrame
        Mean and std per factor count.
    best : int
        Factor count with the highest mean NDCG (ties: MAP, then fewer factors).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    best: int


def select_factors(
    matrix: sp.csr_matrix,
    factor_list: Sequence[int],
    *,
    seeds: Sequence[int],
    test_ratio: float,
    k: int,
    regularization: float,
    alpha: float,
    iterations: int,
    deterministic: bool,
    show_progress: bool = False,
) -> Selection:
    """Evaluate ALS at every factor count (and the popularity baseline) for every seed."""
    if max(factor_list) >= min(matrix.shape):
        raise InputError(
            f"the largest factor count {max(factor_list)} is not below the matrix size "
            f"{matrix.shape} (users x tracks) after filtering; lower cf.select.factors."
        )
    rows = []
    from nnsim.progress import progress

    jobs = [(s, f) for s in seeds for f in factor_list]
    splits = {s: stratified_split(matrix, test_ratio=test_ratio, seed=s) for s in seeds}
    for s in seeds:
        tr, te = splits[s]
        rows.append(
            {
                "factors": 0,
                "seed": s,
                "model": "popularity",
                **evaluate(popularity_model(tr), tr, te, k),
            }
        )
    for s, f in progress(jobs, desc="ALS factor sweep", unit="fit", enabled=show_progress):
        tr, te = splits[s]
        model = fit_als(
            tr,
            f,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            seed=s,
            deterministic=deterministic,
        )
        rows.append({"factors": f, "seed": s, "model": "als", **evaluate(model, tr, te, k)})
    table = pd.DataFrame(rows)
    agg = table.groupby(["model", "factors"], sort=True)[list(METRICS)].agg(["mean", "std"])
    agg.columns = [f"{col[0]}_{col[1]}" for col in agg.columns.to_flat_index()]
    summary = agg.reset_index()
    als = summary[summary["model"] == "als"].sort_values(
        ["ndcg_mean", "map_mean", "factors"], ascending=[False, False, True]
    )
    return Selection(table, summary, int(als.iloc[0]["factors"]))
