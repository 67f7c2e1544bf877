from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from reference import exact_rows, slow_neighbors

from nnsim.errors import ConfigError, InputError
from nnsim.search.exact import (
    ExactEngine,
    _floors,
    block_rows_for,
    exact_table,
    neighbors,
    row_block_table,
    symmetric_table,
    tile_rounds,
)
from nnsim.search.int8 import quantize

MB = 256.0  # the block bound; results do not depend on it (tested below)


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


def tie_data(n: int, distance: str, seed: int) -> np.ndarray:
    """Data whose exact ties survive float rounding in both implementations.

    Euclidean: small integers (squared norms and dot products are exact in float32).
    Cosine: binary rows with exactly three ones, so every row has the same norm and the
    cosine order is the (exact, integer) dot-product order.  Many rows repeat.
    """
    rng = np.random.default_rng(seed)
    if distance == "euclidean":
        return rng.integers(0, 3, size=(n, 5)).astype(np.float32)
    X = np.zeros((n, 8), dtype=np.float32)
    for i in range(n):
        X[i, rng.choice(8, 3, replace=False)] = 1.0
    return X


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_duplicates_and_exact_ties_match_exactly(distance):
    rng = np.random.default_rng(2)
    base = tie_data(40, distance, seed=2)
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
    idx, dist = neighbors(X, 2, "euclidean", max_block_mb=MB)
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
        neighbors(X, 2, "manhattan", max_block_mb=MB)
    with pytest.raises(ConfigError, match="cutoffs below 5"):
        neighbors(X, 5, "cosine", max_block_mb=MB)
    Z = X.copy()
    Z[[1, 3]] = 0
    with pytest.raises(InputError, match=r"rows: 1, 3.*--drop-zero-rows"):
        neighbors(Z, 2, "cosine", max_block_mb=MB)
    neighbors(Z, 2, "euclidean", max_block_mb=MB)  # zero rows are fine under euclidean
    N = X.copy()
    N[2, 1] = np.nan
    with pytest.raises(InputError, match="rows: 2"):
        neighbors(N, 2, "euclidean", max_block_mb=MB)
    with pytest.raises(InputError, match="2-D"):
        neighbors(np.ones(5), 2, "euclidean", max_block_mb=MB)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_large_rows_use_sampled_floor_and_stay_exact(distance):
    # n >= 8192 switches on the sampled floor; integer data makes every tie exact.
    rng = np.random.default_rng(11)
    base = tie_data(6000, distance, seed=11)
    X = np.concatenate([base, base[:2500]])
    rows = rng.choice(X.shape[0], 60, replace=False)
    for k in (10, 200):
        idx, _ = neighbors(X, k, distance, max_block_mb=MB)
        np.testing.assert_array_equal(idx[rows], exact_rows(X, rows, k, distance))
        # the row-block pass (its own sampled floor) gives the same table
        engine = ExactEngine.prepare(X, k, distance, "big")
        np.testing.assert_array_equal(
            row_block_table(engine, MB, show_progress=False, out=None)[0], idx
        )


def overshooting_space(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Track 0 at the origin, its 129 nearest tracks exactly on sampled columns (every
    ``n // 2048``-th, as both passes sample), the rest far away: track 0's sampled floor lies
    above its true 200th best."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32) * 10 + 100
    sampled = np.arange(0, n, n // 2048)[1:130]
    X[0] = 0
    X[sampled] = rng.standard_normal((sampled.size, 3)).astype(np.float32) * 0.1
    return X, sampled


def test_floor_that_overshoots_falls_back_to_full_scan():
    # Query 0's nearest tracks are exactly the sampled columns (every 4th of 8192), so the
    # sample's floor is above the true 200th best and the row must be rescanned.
    k = 200
    X, sampled = overshooting_space(8192, seed=12)
    # the row-block pass (whose floor samples every 4th of 8192 columns)
    engine = ExactEngine.prepare(X, k, "euclidean", "overshoot")
    idx, _, _ = row_block_table(engine, MB, show_progress=False, out=None)
    ref = exact_rows(X, np.array([0]), k, "euclidean")
    np.testing.assert_array_equal(idx[0], ref[0])
    assert set(sampled) <= set(idx[0].tolist())


def test_tile_rounds_cover_every_pair_once_and_share_no_tile_within_a_round():
    for n_tiles in (1, 2, 3, 4, 7, 58):
        rounds = tile_rounds(n_tiles)
        pairs = [p for r in rounds for p in r]
        want = {(a, b) for a in range(n_tiles) for b in range(a, n_tiles)}
        assert len(pairs) == len(want) and set(pairs) == want
        for r in rounds:
            tiles = [t for p in r for t in set(p)]
            assert len(tiles) == len(set(tiles)), (n_tiles, r)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_symmetric_pass_equals_row_blocks_for_every_tile_and_thread_count(distance):
    # Ties and duplicate rows everywhere; tiles that split the rows unevenly (odd counts,
    # a ragged last tile, one-row tiles) and one or two threads give the same table.
    rng = np.random.default_rng(21)
    base = tie_data(300, distance, seed=21)
    X = np.concatenate([base, base[:90]])[rng.permutation(390)]
    for k in (7, 60):
        engine = ExactEngine.prepare(X, k, distance, "ties")
        ref = row_block_table(engine, 0.01, show_progress=False, out=None)
        rows = rng.choice(390, 40, replace=False)
        np.testing.assert_array_equal(ref[0][rows], exact_rows(X, rows, k, distance))
        for tile, threads in ((1, 2), (37, 1), (37, 2), (128, 2), (512, 2)):
            got = symmetric_table(
                engine, MB, show_progress=False, out=None, threads=threads, tile=tile
            )
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_symmetric_pass_with_sampled_floors_stays_exact(distance):
    # n >= 16384 switches on the symmetric pass's sampled floors (every 8th column).
    rng = np.random.default_rng(22)
    base = tie_data(12000, distance, seed=22)
    X = np.concatenate([base, base[:4500]])
    engine = ExactEngine.prepare(X, 200, distance, "big")
    qz = quantize(engine.work, 512)
    alpha, beta = (engine.scale * qz.a).astype(np.float32), qz.b.astype(np.float32)
    with ThreadPoolExecutor(2) as pool:
        assert np.isfinite(_floors(engine, qz, alpha, beta, 512, pool)).all()
    idx, _, _ = exact_table(engine, MB, symmetric_mb=MB, show_progress=False, out=None)
    rows = rng.choice(X.shape[0], 40, replace=False)
    np.testing.assert_array_equal(idx[rows], exact_rows(X, rows, 200, distance))


def test_symmetric_floor_that_overshoots_searches_the_row_again():
    # Query 0's nearest tracks are exactly sampled columns (every 8th of 16384), so its
    # floor lies above its true 200th best: the row is searched again, without a floor.
    k = 200
    X, sampled = overshooting_space(16384, seed=23)
    engine = ExactEngine.prepare(X, k, "euclidean", "overshoot")
    assert engine.state_mb() <= MB  # the symmetric pass runs
    idx, _, _ = exact_table(engine, MB, symmetric_mb=MB, show_progress=False, out=None)
    np.testing.assert_array_equal(idx[0], exact_rows(X, np.array([0]), k, "euclidean")[0])
    assert set(sampled) <= set(idx[0].tolist())
