from __future__ import annotations

import numpy as np
import pytest
from reference import slow_jaccard, slow_overlap, slow_rbo_ext, slow_spearman_union

from nnsim.errors import ConfigError, InputError
from nnsim.similarity import (
    bootstrap_ci,
    bootstrap_weights,
    chance_level,
    check_cutoffs,
    compare_tables,
    pair_overlap,
)

OV = {"measures": ["overlap"], "rbo_p": 0.9}
CT = {"measures": ["overlap"], "rbo_p": 0.9, "ci_level": 0.95}


def _random_tables(n_rows: int, n_items: int, k: int, seed: int, share: float = 0.5):
    """Two neighbour tables with partial, shuffled overlap."""
    rng = np.random.default_rng(seed)
    A = np.stack([rng.choice(n_items, k, replace=False) for _ in range(n_rows)])
    B = A.copy()
    for r in range(n_rows):
        swap = rng.random(k) > share
        fresh = rng.choice(np.setdiff1d(np.arange(n_items), A[r]), swap.sum(), replace=False)
        B[r, swap] = fresh
        B[r] = B[r, rng.permutation(k)] if rng.random() < 0.5 else B[r]
    return A.astype(np.int32), B.astype(np.int32)


def test_paper_section3_example():
    # L_X,5 = (t1..t5), L_Y,5 = (t2, t6, t3, t7, t8): S_5 = 2/5.
    A = np.array([[1, 2, 3, 4, 5]])
    B = np.array([[2, 6, 3, 7, 8]])
    res = pair_overlap(A, B, [5], **OV)
    assert res.mean[0] == pytest.approx(2 / 5)
    # Swapping the ranks of t2 and t3 in Y does not change S_5 (it ignores rank).
    B2 = np.array([[3, 6, 2, 7, 8]])
    assert pair_overlap(A, B2, [5], **OV).mean[0] == pytest.approx(2 / 5)


def test_every_cutoff_matches_set_intersection():
    A, B = _random_tables(60, 300, 40, seed=3)
    cut = list(range(1, 41))
    res = pair_overlap(A, B, cut, **OV)
    for ci, n in enumerate(cut):
        ref = slow_overlap(A, B, n)
        np.testing.assert_allclose(res.per_track[:, ci], ref)
        assert res.curve[n - 1] == pytest.approx(ref.mean())


def test_rank_aware_variants_match_slow_versions():
    A, B = _random_tables(25, 100, 12, seed=4)
    cut = [1, 3, 7, 12]
    res = pair_overlap(A, B, cut, measures=["overlap", "rbo", "spearman", "jaccard"], rbo_p=0.8)
    for ci, n in enumerate(cut):
        for r in range(A.shape[0]):
            a, b = A[r, :n].tolist(), B[r, :n].tolist()
            assert res.rbo[r, ci] == pytest.approx(slow_rbo_ext(a, b, 0.8))
            assert res.spearman[r, ci] == pytest.approx(slow_spearman_union(a, b))
        np.testing.assert_allclose(res.jaccard[:, ci], slow_jaccard(A, B, n))
    same = pair_overlap(A, A, cut, measures=["rbo", "spearman"], rbo_p=0.9)
    np.testing.assert_allclose(same.rbo, 1.0)
    np.testing.assert_allclose(same.spearman, 1.0)
    np.testing.assert_allclose(same.per_track, 1.0)


def test_random_lists_sit_at_chance_level():
    rng = np.random.default_rng(5)
    N, K = 400, 50

    # Independent random neighbour lists (self excluded) of N tracks.
    def table():
        return np.stack(
            [rng.choice(np.delete(np.arange(N), i), K, replace=False) for i in range(N)]
        ).astype(np.int32)

    tables = {"a": table(), "b": table()}
    cmp = compare_tables(tables, [5, 50], n_boot=500, seed=0, **CT)
    chance = chance_level([5, 50], N)
    assert np.all(cmp.ci_low["overlap"][0, 1] <= chance)
    assert np.all(chance <= cmp.ci_high["overlap"][0, 1])
    np.testing.assert_allclose(cmp.chance, chance)


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    rng = np.random.default_rng(6)
    per = rng.random((300, 3))
    W = bootstrap_weights(300, 400, seed=9)
    assert W.shape == (400, 300) and np.all(W.sum(axis=1) == 300)
    lo, hi = bootstrap_ci(per, W, 0.95)
    mean = per.mean(axis=0)
    assert np.all(lo < mean) and np.all(mean < hi)
    # Width close to the normal approximation 2 * 1.96 * sd / sqrt(n).
    se = per.std(axis=0) / np.sqrt(300)
    np.testing.assert_allclose(hi - lo, 2 * 1.96 * se, rtol=0.25)
    np.testing.assert_array_equal(W, bootstrap_weights(300, 400, seed=9))


def test_compare_tables_is_symmetric_with_unit_diagonal():
    A, B = _random_tables(50, 200, 20, seed=7)
    C, _ = _random_tables(50, 200, 20, seed=8)
    cmp = compare_tables({"x": A, "y": B, "z": C}, [5, 20], n_boot=50, seed=0, **CT)
    S = cmp.similarity
    np.testing.assert_allclose(S, S.transpose(1, 0, 2))
    np.testing.assert_allclose(S[[0, 1, 2], [0, 1, 2]], 1.0)
    ref = slow_overlap(A, B, 5).mean()
    assert S[0, 1, 0] == pytest.approx(ref)
    assert np.all(cmp.ci_low["overlap"] <= S + 1e-12)
    assert np.all(S <= cmp.ci_high["overlap"] + 1e-12)


def test_cutoff_and_measure_validation():
    with pytest.raises(ConfigError, match="positive integers"):
        check_cutoffs([5, -1])
    with pytest.raises(ConfigError, match="up to 9"):
        check_cutoffs([5, 10], n_tracks=10)
    A = np.zeros((3, 4), dtype=np.int32)
    with pytest.raises(ConfigError, match="valid: overlap, rbo, spearman"):
        pair_overlap(A, A, [2], measures=["kendall"], rbo_p=0.9)
    with pytest.raises(InputError, match="largest cutoff is 5"):
        pair_overlap(A, A, [5], **OV)
    with pytest.raises(InputError, match="at least two"):
        compare_tables({"a": A}, [2], n_boot=0, seed=0, **CT)


def test_bootstrap_memory_is_what_the_comparison_holds_and_too_much_is_refused():
    from nnsim.errors import ConfigError
    from nnsim.similarity import bootstrap_bytes, check_bootstrap_memory

    # the arrays compare_tables keeps per measure: boots (m, m, B, c) and the replicates of
    # every pair (B, pairs * c), float64
    m, B, c, k = 5, 7, 3, 2
    boots = [np.zeros((m, m, B, c)) for _ in range(k)]
    reps = [np.empty((B, m * (m - 1) // 2 * c)) for _ in range(k)]
    held = sum(b.nbytes for b in boots) + sum(r.nbytes for r in reps)
    assert bootstrap_bytes(B, n_spaces=m, n_cutoffs=c, n_measures=k) == held
    check_bootstrap_memory(1000, n_spaces=9, n_cutoffs=4, n_measures=1)  # the demo's: fine
    with pytest.raises(ConfigError, match=r"compare.n_boot=1000000000 .* GiB .* Use at most \d+"):
        check_bootstrap_memory(10**9, n_spaces=9, n_cutoffs=4, n_measures=1)


def test_jaccard_chance_is_the_hypergeometric_expectation_and_random_lists_sit_there():
    from math import comb

    from nnsim.similarity import chance_jaccard

    N, cut = 60, [1, 5, 20]
    # the expectation summed by hand over the shared count s of two random n-subsets
    by_hand = [
        sum(
            comb(n, s) * comb(N - 1 - n, n - s) / comb(N - 1, n) * s / (2 * n - s)
            for s in range(n + 1)
        )
        for n in cut
    ]
    np.testing.assert_allclose(chance_jaccard(cut, N), by_hand, rtol=1e-12)
    rng = np.random.default_rng(8)

    def table():
        return np.stack(
            [rng.choice(np.delete(np.arange(N), i), 20, replace=False) for i in range(N)]
        ).astype(np.int32)

    tables = {"a": table(), "b": table()}
    cut = cut[1:]  # at n = 1 the 60 lists share about one track in all: too few for a CI
    cmp = compare_tables(
        tables, cut, n_boot=500, seed=0, **{**CT, "measures": ["overlap", "jaccard"]}
    )
    j = chance_jaccard(cut, N)
    assert np.all(cmp.ci_low["jaccard"][0, 1] <= j) and np.all(j <= cmp.ci_high["jaccard"][0, 1])
