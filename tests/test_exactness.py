"""Exactness of the neighbour search on unusual but legal inputs (scale, offset, ties)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from reference import slow_neighbors
from synthetic import comparison_settings

from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.errors import NnsimError
from nnsim.search.exact import ambiguous_cutoffs, neighbors
from nnsim.spaces import Space

DEFAULT_MB = 256.0


def options(**kw) -> dict:
    """Comparison settings for these tests (composed from conf/, then shrunk)."""
    base = {
        "cutoffs": [1, 2, 5],
        "k": 5,
        "max_block_mb": DEFAULT_MB,
        "n_boot": 0,
        "backend": "exact",
        "memmap_mb": 1024.0,
    }
    base.update(kw)
    return comparison_settings(compose(["compare.n_boot=0"]), **base)


def lattice(n: int = 150, d: int = 6, seed: int = 0) -> np.ndarray:
    """Small integers: every product and offset below is exact in float32 and float64."""
    return np.random.default_rng(seed).integers(0, 40, size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("scale", [2.0**66, 2.0**-130], ids=["x7e19", "x7e-40"])
def test_scaled_space_has_exactly_the_neighbours_of_the_original(distance, scale):
    X = lattice()
    Y = (X.astype(np.float64) * scale).astype(np.float32)  # exact: powers of two
    assert np.array_equal(Y.astype(np.float64) / scale, X)
    ref_idx, _ = slow_neighbors(X, 10, distance)
    idx, dist = neighbors(Y, 10, distance, max_block_mb=DEFAULT_MB)
    np.testing.assert_array_equal(idx, ref_idx)
    assert np.isfinite(dist).all()
    res = run_comparison([Space("orig", X), Space("scaled", Y)], **options(), distance=distance)
    np.testing.assert_array_equal(res.comparison.similarity[0, 1], [1.0, 1.0, 1.0])


def test_large_common_offset_keeps_euclidean_neighbours():
    X = lattice()
    for offset in (300.0, 1000.0, 1.0e5):
        Y = X + np.float32(offset)
        assert np.array_equal(Y - np.float32(offset), X)  # exact
        idx, _ = neighbors(Y, 10, "euclidean", max_block_mb=DEFAULT_MB)
        np.testing.assert_array_equal(idx, slow_neighbors(X, 10, "euclidean")[0])


def test_nearly_parallel_vectors_keep_cosine_neighbours():
    rng = np.random.default_rng(4)
    Y = (rng.standard_normal((160, 8)) + 1000.0).astype(np.float32)
    ref_idx, ref_dist = slow_neighbors(Y, 8, "cosine")  # float64 oracle on the stored values
    idx, dist = neighbors(Y, 8, "cosine", max_block_mb=DEFAULT_MB)
    # Compare where the oracle's own ordering is clear of its rounding (1e-16 relative).
    gaps = np.diff(np.concatenate([ref_dist, np.full((ref_dist.shape[0], 1), np.inf)], 1))
    clear = (gaps > 1e-12) & (
        np.concatenate([np.full((ref_dist.shape[0], 1), np.inf), gaps[:, :-1]], 1) > 1e-12
    )
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(idx[clear], ref_idx[clear])
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-12)


def test_results_are_bit_identical_for_every_block_size_and_twins_are_at_zero():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((120, 5)).astype(np.float32)
    X = np.concatenate([base, base[:30], base[10:20]])[rng.permutation(160)]
    for distance in ("cosine", "euclidean"):
        ref = neighbors(X, 12, distance, max_block_mb=DEFAULT_MB)
        for mb in (0.01, 0.05, 1.0):
            got = neighbors(X, 12, distance, max_block_mb=mb)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
        # a duplicated row's nearest neighbour is its twin, at distance exactly 0
        _, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
        for r in first[counts > 1]:
            assert ref[1][r, 0] == 0.0
        a = run_comparison(
            [Space("a", X), Space("b", X[:, ::-1].copy())], **options(), distance=distance
        )
        b = run_comparison(
            [Space("a", X), Space("b", X[:, ::-1].copy())],
            **options(max_block_mb=0.01),
            distance=distance,
        )
        assert np.array_equal(a.comparison.similarity, b.comparison.similarity)


def test_values_beyond_float32_are_an_error_naming_the_space():
    X = np.array([[3e38, 1], [2.9e38, 2], [2.8e38, 3], [-3e38, 1], [-2.9e38, 0]])
    assert np.isfinite(X.astype(np.float32)).all()  # legal input; 4 neighbours span both signs
    with pytest.raises(NnsimError, match=r"huge: non-finite"):
        neighbors(X.astype(np.float32), 4, "euclidean", max_block_mb=DEFAULT_MB, name="huge")


def slow_ambiguous(dist: np.ndarray, cutoffs, rtol: float) -> list[int]:
    out = []
    for n in cutoffs:
        c = 0
        for row in dist:
            if n < len(row) and row[n] - row[n - 1] <= rtol * max(abs(row[n]), 1e-300):
                c += 1
        out.append(c)
    return out


def test_ambiguous_cutoffs_are_counted_and_reported():
    X = np.arange(40, dtype=np.float32)[:, None]  # a line: interior points tie at n=1
    _, ref_dist = slow_neighbors(X, 6, "euclidean")
    _, dist = neighbors(X, 6, "euclidean", max_block_mb=DEFAULT_MB)
    cut = [1, 2, 3, 5]
    expected = slow_ambiguous(ref_dist, cut, 1e-6)
    assert expected[0] == 38  # sanity of the fixture: every interior point
    np.testing.assert_array_equal(ambiguous_cutoffs(dist, cut, rtol=1e-6), expected)
    res = run_comparison(
        [Space("line", X), Space("line2", X * 2)], **options(cutoffs=cut), distance="euclidean"
    )
    amb = res.ambiguous[res.ambiguous["space"] == "line"]
    assert list(amb["ambiguous_lists"]) == expected


def test_constant_space_warns_that_every_list_is_a_tie(caplog):
    X = np.ones((30, 4), dtype=np.float32)
    with caplog.at_level(logging.WARNING):
        idx, dist = neighbors(X, 3, "euclidean", max_block_mb=DEFAULT_MB, name="flat")
    assert "flat" in caplog.text and "tie" in caplog.text and "chance" in caplog.text
    assert (dist == 0).all()
    np.testing.assert_array_equal(idx[0], [1, 2, 3])
