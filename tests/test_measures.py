"""Measures beyond S_n: known answers, invariances, chance-like values and slow oracles."""

from __future__ import annotations

import numpy as np
import pytest
from reference import (
    slow_cca,
    slow_cka,
    slow_debiased_cka,
    slow_jaccard,
    slow_k_occurrence,
    slow_neighbors,
    slow_procrustes,
    slow_rank_similarity,
    slow_rsa,
)

from nnsim.measures import (
    MeasureUndefined,
    debiased_cka,
    hubness,
    k_occurrence,
    knn_jaccard,
    linear_cka,
    procrustes_distance,
    rank_similarity,
    rsa,
    svcca,
)


def spaces(n=60, d1=6, d2=4, seed=0):
    """Y shares a 3-D signal with X, plus noise: a partial relation."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 3))
    X = np.hstack([Z, rng.standard_normal((n, d1 - 3))]) @ rng.standard_normal((d1, d1))
    Y = Z @ rng.standard_normal((3, d2)) + 0.5 * rng.standard_normal((n, d2))
    return X, Y


def similar_copy(X, seed=1):
    """X rotated (random orthogonal), scaled by 3.7 and translated."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((X.shape[1], X.shape[1])))
    return 3.7 * X @ Q + rng.standard_normal(X.shape[1]) * 10


def test_global_measures_against_slow_gram_matrix_versions():
    X, Y = spaces(n=40)
    assert linear_cka(X, Y) == pytest.approx(slow_cka(X, Y), rel=1e-10)
    assert debiased_cka(X, Y) == pytest.approx(slow_debiased_cka(X, Y), rel=1e-9)
    assert procrustes_distance(X, Y) == pytest.approx(slow_procrustes(X, Y), abs=1e-10)
    for d in ("cosine", "euclidean"):
        assert rsa(X, Y, distance=d, max_tracks=1000, seed=0) == pytest.approx(
            slow_rsa(X, Y, d), abs=1e-12
        )
    # SVCCA with every direction kept is the mean canonical correlation of the spaces
    assert svcca(X, Y, keep=1.0) == pytest.approx(slow_cca(X, Y).mean(), abs=1e-9)


def test_identical_and_rotated_scaled_translated_copies_agree_perfectly():
    X, _ = spaces()
    for Y in (X, similar_copy(X)):
        assert linear_cka(X, Y) == pytest.approx(1.0, abs=1e-12)
        assert debiased_cka(X, Y) == pytest.approx(1.0, abs=1e-12)
        assert procrustes_distance(X, Y) == pytest.approx(0.0, abs=1e-6)
        assert svcca(X, Y) == pytest.approx(1.0, abs=1e-9)
    # rank measures only see distances' order: a scaled, translated, rotated copy keeps it
    Y = similar_copy(X)
    assert rsa(X, Y, distance="euclidean", max_tracks=1000, seed=0) == pytest.approx(1.0)
    a, _ = slow_neighbors(X, 10, "euclidean")
    b, _ = slow_neighbors(Y, 10, "euclidean")
    np.testing.assert_array_equal(knn_jaccard(a, b, 10), 1.0)
    np.testing.assert_array_equal(rank_similarity(a, b, 10), 1.0)


def test_independent_spaces_are_near_what_unrelated_spaces_give():
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((2000, 5)), rng.standard_normal((2000, 5))
    assert linear_cka(X, Y) < 0.02
    assert abs(debiased_cka(X, Y)) < 0.01
    assert procrustes_distance(X, Y) > 1.3  # near sqrt(2), the most distant
    assert abs(rsa(X, Y, distance="euclidean", max_tracks=300, seed=0)) < 0.05
    # with few tracks and many dimensions CKA is biased upwards; the debiased form is not
    X, Y = rng.standard_normal((40, 30)), rng.standard_normal((40, 30))
    assert linear_cka(X, Y) > 0.3
    assert abs(debiased_cka(X, Y)) < 0.1


def test_a_small_case_worked_by_hand():
    # one dimension: centred x = (-1.5, -.5, .5, 1.5), y = (-1.5, -.5, 1.5, .5); x.y = 4,
    # |x|^2 = |y|^2 = 5, so CKA = (x.y)^2 / (|x|^2 |y|^2) = (4/5)^2 (Pearson's r squared)
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([[0.0], [1.0], [3.0], [2.0]])
    assert linear_cka(x, y) == pytest.approx((4 / 5) ** 2)
    # unit-norm centred vectors: Procrustes^2 = 2 - 2 |x.y| / (|x| |y|) = 2 - 2 * 4/5
    assert procrustes_distance(x, y) == pytest.approx(np.sqrt(2 - 2 * 4 / 5))
    # lists (1, 2, 3) and (3, 2, 9): shared 3 (ranks 3 and 1) and 2 (ranks 2 and 2)
    A, B = np.array([[1, 2, 3]]), np.array([[3, 2, 9]])
    assert knn_jaccard(A, B, 3)[0] == pytest.approx(2 / 4)
    shared = 2 / ((1 + 2) * (3 + 1)) + 2 / ((1 + 0) * (2 + 2))
    assert rank_similarity(A, B, 3)[0] == pytest.approx(shared / (1 + 1 / 2))
    # four tracks whose nearest neighbours are 1, 0, 0, 0: N_1 = (3, 1, 0, 0)
    h = hubness(np.array([[1], [0], [0], [0]]), 1)
    assert h["max_occurrence"] == 3 and h["hub_share"] == 1 / 4 and h["antihub_share"] == 2 / 4
    assert h["robin_hood"] == pytest.approx((2 + 0 + 1 + 1) / (2 * 4 * 1))


def test_neighbourhood_measures_and_k_occurrence_against_loops():
    X, Y = spaces(n=80)
    a, _ = slow_neighbors(X, 12, "cosine")
    b, _ = slow_neighbors(Y, 12, "cosine")
    for n in (1, 5, 12):
        np.testing.assert_allclose(knn_jaccard(a, b, n), slow_jaccard(a, b, n))
        np.testing.assert_allclose(rank_similarity(a, b, n), slow_rank_similarity(a, b, n))
    for k in (1, 5, 12):
        np.testing.assert_array_equal(k_occurrence(a, k), slow_k_occurrence(a, k))
        occ = slow_k_occurrence(a, k)
        h = hubness(a, k)
        assert h["skewness"] == pytest.approx(np.mean((occ - occ.mean()) ** 3) / occ.std() ** 3)
        assert h["hub_share"] == np.mean(occ > 2 * k)


def test_undefined_measures_say_why():
    X, _ = spaces()
    constant = np.ones_like(X)
    for fn in (linear_cka, procrustes_distance):
        with pytest.raises(MeasureUndefined, match="constant over the tracks"):
            fn(X, constant)
    with pytest.raises(MeasureUndefined, match="constant over the tracks"):
        svcca(X, constant)
    rng = np.random.default_rng(0)
    wide = rng.standard_normal((10, 8))
    with pytest.raises(MeasureUndefined, match="kept dimensions need more than 10 tracks"):
        svcca(wide, wide[:, ::-1])
    with pytest.raises(MeasureUndefined, match="same tracks"):
        linear_cka(X, X[:-1])


def test_global_table_states_why_a_measure_is_undefined_and_goes_on():
    from nnsim.measures import global_table

    X, Y = spaces(n=30)
    rows = global_table(
        {"x": X, "y": Y, "flat": np.ones_like(X)},
        ["cka", "procrustes", "svcca"],
        distance="euclidean",
        n_permutations=3,
        max_tracks=100,
        seed=0,
        n_boot=0,
        ci_level=0.95,
        exact_below=10**9,
    )
    by = {(r["src"], r["dst"], r["measure"]): r for r in rows}
    assert len(rows) == 3 * 3
    ok = by[("x", "y", "cka")]
    assert ok["value"] == pytest.approx(linear_cka(X, Y)) and ok["note"] == ""
    assert 0 <= ok["chance"] < ok["value"]
    bad = by[("x", "flat", "cka")]
    assert "constant over the tracks" in bad["note"] and np.isnan(bad["value"])
    # the other measures of the other pairs still have values
    assert all(r["note"] == "" for r in rows if "flat" not in (r["src"], r["dst"]))


def test_global_measures_have_a_paired_bootstrap_ci_over_tracks():
    from nnsim.measures import global_table
    from nnsim.similarity import bootstrap_weights

    X, Y = spaces(n=150)
    Z = np.random.default_rng(9).normal(size=X.shape)
    rows = global_table(
        {"x": X, "y": Y, "z": Z},
        ["cka"],
        distance="euclidean",
        n_permutations=0,
        max_tracks=100,
        seed=3,
        n_boot=150,
        ci_level=0.9,
        exact_below=10**9,
    )
    W = bootstrap_weights(150, 150, 3)  # the code base's one bootstrap, as row indices
    for r in rows:
        A = {"x": X, "y": Y, "z": Z}[r["src"]]
        B = {"x": X, "y": Y, "z": Z}[r["dst"]]
        slow = []
        for w in W:  # explicit loops: each track repeated as often as it was drawn
            idx = [i for i in range(150) for _ in range(int(w[i]))]
            slow.append(slow_cka(A[idx], B[idx]))
        np.testing.assert_allclose(r["replicates"], slow, rtol=1e-9)
        lo, hi = np.quantile(slow, [0.05, 0.95])
        assert r["ci_low"] == pytest.approx(lo) and r["ci_high"] == pytest.approx(hi)
    by = {(r["src"], r["dst"]): r for r in rows}
    # a related pair's CI lies above an unrelated pair's, and holds its value
    assert by[("x", "y")]["ci_low"] > by[("x", "z")]["ci_high"]
    assert by[("x", "y")]["ci_low"] <= by[("x", "y")]["value"] <= by[("x", "y")]["ci_high"]


def test_rank_similarity_in_the_comparison_is_the_slow_per_track_value():
    from nnsim.similarity import pair_overlap

    rng = np.random.default_rng(5)
    A = np.stack([rng.permutation(40)[:12] for _ in range(40)])
    rows = []  # lists without repeats: half of A's (reordered), the rest from outside A's
    for a in A:
        keep = rng.permutation(a)[:6]
        others = rng.permutation(np.setdiff1d(np.arange(40), a))[:6]
        rows.append(rng.permutation(np.concatenate([keep, others])))
    B = np.stack(rows)
    res = pair_overlap(A, B, [3, 7, 12], measures=["overlap", "rank"], rbo_p=None)
    for c, n in enumerate([3, 7, 12]):
        np.testing.assert_allclose(res.rank[:, c], slow_rank_similarity(A, B, n), rtol=1e-12)
    same = pair_overlap(A, A, [12], measures=["rank"], rbo_p=None)
    np.testing.assert_array_equal(same.rank, 1.0)


def test_rank_is_a_measure_of_the_comparison_with_table2_and_cis():
    from synthetic import comparison_settings, synthetic_spaces

    from nnsim.compare import run_comparison
    from nnsim.config import compose

    cfg = compose(
        [
            "data=jamendo",
            "cutoffs=[5,10]",
            "neighbors.k=10",
            "compare.n_boot=50",
            "compare.measures=[overlap,rank]",
        ]
    )
    sp = synthetic_spaces(80, seed=2, cf_factors=(8,))
    res = run_comparison(sp, **comparison_settings(cfg), distance="cosine")
    cmp = res.comparison
    i, j = 0, 3
    a, b = res.tables[cmp.names[i]].indices, res.tables[cmp.names[j]].indices
    for c, n in enumerate(cmp.cutoffs):
        want = slow_rank_similarity(a, b, int(n)).mean()
        assert cmp.values["rank"][i, j, c] == pytest.approx(want, rel=1e-6)
    mf = res.measure_factors
    rank = mf[mf["measure"] == "rank"]
    assert len(rank) and (rank["ci_low"] <= rank["similarity"]).all()
