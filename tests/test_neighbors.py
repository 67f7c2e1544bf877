from __future__ import annotations

import numpy as np
import pytest
from reference import slow_neighbors

from nnsim.errors import ConfigError, InputError
from nnsim.neighbors import block_rows_for, neighbors


def _gap_mask(dist64: np.ndarray, tol: float) -> np.ndarray:
    """Positions whose float64 distance is separated from both neighbours by > tol."""
    d = dist64
    left = np.full(d.shape, np.inf)
    right = np.full(d.shape, np.inf)
    left[:, 1:] = d[:, 1:] - d[:, :-1]
    right[:, :-1] = d[:, 1:] - d[:, :-1]
    return (left > tol) & (right > tol)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("block_mb", [256.0, 0.001])
def test_matches_slow_float64_on_random_data(distance, block_mb):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 7)).astype(np.float32)
    k = 15
    idx, dist = neighbors(X, k, distance, max_block_mb=block_mb)
    ref_idx, ref_dist = slow_neighbors(X, k, distance)
    assert idx.dtype == np.int32 and dist.dtype == np.float32
    assert idx.shape == dist.shape == (120, k)
    np.testing.assert_allclose(dist, ref_dist, atol=2e-5)
    clear = _gap_mask(ref_dist, 1e-5)
    assert clear.mean() > 0.9  # the comparison below is not vacuous
    np.testing.assert_array_equal(idx[clear], ref_idx[clear])


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_duplicates_and_exact_ties_match_exactly(distance):
    # Small integer vectors: products are exact in float32, so ties are exact ties.
    rng = np.random.default_rng(2)
    base = rng.integers(0, 3, size=(40, 4)).astype(np.float32)
    base[base.sum(axis=1) == 0, 0] = 1.0  # cosine needs non-zero rows
    X = np.concatenate([base, base[:10], base[5:8]])  # duplicate rows
    X = X[rng.permutation(X.shape[0])]
    k = 12
    idx, dist = neighbors(X, k, distance, max_block_mb=0.0005)
    ref_idx, ref_dist = slow_neighbors(X, k, distance)
    # There really are exact ties, and duplicates of the query sit at distance 0.
    assert (np.diff(ref_dist, axis=1) == 0).sum() > 50
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, atol=1e-6)


def test_self_excluded_by_index_not_by_column_zero():
    X = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    idx, dist = neighbors(X, 2, "euclidean")
    # Row 1's nearest are rows 0 and 2 (distance 0), never itself; lowest index first.
    assert idx[1].tolist() == [0, 2]
    assert idx[0].tolist() == [1, 2]
    assert idx[2].tolist() == [0, 1]
    assert not np.any(idx == np.arange(4)[:, None])
    assert dist[:3].max() == 0.0


def test_block_rows_bounded_by_memory():
    assert block_rows_for(29275, 256) * 29275 * 4 <= 256 * 2**20
    assert block_rows_for(10**7, 1) == 1
    with pytest.raises(ConfigError, match="max_block_mb"):
        block_rows_for(10, 0)


def test_errors_name_the_problem():
    X = np.ones((5, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match="valid distances: cosine, euclidean"):
        neighbors(X, 2, "manhattan")
    with pytest.raises(ConfigError, match="cutoffs below 5"):
        neighbors(X, 5, "cosine")
    Z = X.copy()
    Z[[1, 3]] = 0
    with pytest.raises(InputError, match=r"rows: 1, 3.*--drop-zero-rows"):
        neighbors(Z, 2, "cosine")
    neighbors(Z, 2, "euclidean")  # zero rows are fine under euclidean
    N = X.copy()
    N[2, 1] = np.nan
    with pytest.raises(InputError, match="rows: 2"):
        neighbors(N, 2, "euclidean")
    with pytest.raises(InputError, match="2-D"):
        neighbors(np.ones(5), 2, "euclidean")
