"""Second-order cosine, CKNNA, permutation chance levels of the list measures and hubness
reduction (CSLS, mutual proximity): slow oracles, invariances, and the comparison workflow."""

from __future__ import annotations

import numpy as np
import pytest
from reference import (
    slow_cknna,
    slow_neighbors,
    slow_rank_similarity,
    slow_second_order_cosine,
    slow_secondary,
    slow_spearman_union,
)
from test_measures import similar_copy, spaces

from nnsim.measures import (
    hubness,
    hubness_reduced,
    list_chance,
    permutations,
    permuted_table,
    vector_comparison,
    vector_terms,
)

CUT = np.array([3, 7])


def tables(X, Y, distance, k=7):
    return slow_neighbors(X, k, distance)[0], slow_neighbors(Y, k, distance)[0]


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_second_order_cosine_and_cknna_against_loops_and_gram_matrices(distance):
    X, Y = spaces(n=50)
    A, B = tables(X, Y, distance)
    t = vector_terms(X, Y, A, B, CUT, distance=distance)
    for c, n in enumerate(CUT):
        np.testing.assert_allclose(
            t.second_order[:, c], slow_second_order_cosine(X, Y, A, B, int(n)), rtol=1e-10
        )
        assert t.cknna()[c] == pytest.approx(slow_cknna(X, Y, int(n), distance), rel=1e-10)


def test_identical_and_similar_copies_give_one_and_related_spaces_beat_chance():
    X, Y = spaces(n=60)
    for Z, distance in ((X, "cosine"), (similar_copy(X), "euclidean")):
        A, B = tables(X, Z, distance)
        t = vector_terms(X, Z, A, B, CUT, distance=distance)
        np.testing.assert_allclose(t.cknna(), 1.0, rtol=1e-10)
        if Z is X:  # cosine similarities change under a translation, the lists do not
            np.testing.assert_allclose(t.second_order, 1.0, rtol=1e-10)
    # rotated and scaled (no translation): the cosines are the same, so is everything
    Q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((X.shape[1],) * 2))
    Z = 2.5 * X @ Q
    A, B = tables(X, Z, "cosine")
    t = vector_terms(X, Z, A, B, CUT, distance="cosine")
    np.testing.assert_allclose(t.second_order, 1.0, rtol=1e-9)
    np.testing.assert_allclose(t.cknna(), 1.0, rtol=1e-9)
    # related spaces lie above the chance level; independent ones near it
    rng = np.random.default_rng(8)
    R = rng.standard_normal(X.shape)
    names = {"x": X, "y": Y, "r": R}
    tabs = {k: slow_neighbors(v, 7, "cosine")[0] for k, v in names.items()}
    vc = vector_comparison(
        names,
        tabs,
        CUT,
        ["second_order_cosine", "cknna"],
        distance="cosine",
        n_boot=100,
        ci_level=0.95,
        seed=0,
        n_permutations=20,
        chance_tracks=10**6,
    )
    for k in ("second_order_cosine", "cknna"):
        v, ch, lo, hi = vc.values[k], vc.chance[k], vc.ci_low[k], vc.ci_high[k]
        assert (lo[0, 1] > ch[0, 1]).all()  # x vs y: CI above chance
        assert (lo[0, 2] <= ch[0, 2]).all() and (ch[0, 2] <= hi[0, 2]).all()  # x vs random
        assert (lo <= v + 1e-12).all() and (v <= hi + 1e-12).all()


def test_a_constant_space_has_a_stated_reason_and_the_others_go_on():
    X, Y = spaces(n=30)
    C = np.ones_like(X)
    names = {"x": X, "y": Y, "c": C}
    tabs = {k: slow_neighbors(v, 7, "euclidean")[0] for k, v in names.items()}
    vc = vector_comparison(
        names,
        tabs,
        CUT,
        ["cknna"],
        distance="euclidean",
        n_boot=20,
        ci_level=0.9,
        seed=0,
        n_permutations=2,
        chance_tracks=10**6,
    )
    assert set(vc.notes["cknna"]) == {(0, 2), (1, 2)}
    assert "no variance" in vc.notes["cknna"][(0, 2)]
    assert np.isfinite(vc.values["cknna"][0, 1]).all()


def test_the_table_of_a_permuted_space_needs_no_new_search():
    X, _ = spaces(n=40)
    perm = np.random.default_rng(1).permutation(40)
    table = slow_neighbors(X, 6, "euclidean")[0]
    np.testing.assert_array_equal(
        permuted_table(table, perm), slow_neighbors(X[perm], 6, "euclidean")[0]
    )


def test_chance_of_list_measures_is_the_mean_over_permuted_copies():
    X, Y = spaces(n=40)
    A, B = tables(X, Y, "cosine")
    got = list_chance(
        {"x": A, "y": B},
        CUT,
        ["rank", "spearman"],
        rbo_p=0.9,
        n_permutations=3,
        seed=5,
        chance_tracks=10**6,
    )
    for c, n in enumerate(CUT):
        ranks, spear = [], []
        for p in permutations(40, 3, 5):  # a new search of every permuted copy
            Bp = slow_neighbors(Y[p], 7, "cosine")[0]
            ranks.append(slow_rank_similarity(A, Bp, int(n)).mean())
            spear.append(
                np.mean(
                    [
                        slow_spearman_union(list(a[:n]), list(b[:n]))
                        for a, b in zip(A, Bp, strict=True)
                    ]
                )
            )
        assert got["rank"][0, 1, c] == pytest.approx(np.mean(ranks), rel=1e-12)
        assert got["spearman"][0, 1, c] == pytest.approx(np.mean(spear), rel=1e-9)


@pytest.mark.parametrize("method", ["csls", "mutual_proximity"])
@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_hubness_reduction_ranks_like_the_full_secondary_distance_matrix(method, distance):
    X, _ = spaces(n=35)
    idx, dist = slow_neighbors(X, 34, distance)  # every other track a candidate
    new, sec = hubness_reduced(idx, dist, method, k=5)
    S = slow_secondary(X, method, 5, distance)
    for i in range(35):
        want = sorted(range(35), key=lambda j: (S[i, j], j))[:34]
        np.testing.assert_array_equal(new[i], want)
        np.testing.assert_allclose(sec[i], S[i, want], rtol=2e-6, atol=1e-7)
        assert (np.diff(sec[i]) >= 0).all()


def test_csls_by_hand():
    # four points on a line: 0, 1, 3, 7; k = 1: r = (1, 1, 2, 4)
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    idx, dist = slow_neighbors(x, 3, "euclidean")
    new, sec = hubness_reduced(idx, dist, "csls", k=1)
    # track 3 (at 7): d' to 2 = 2*4 - 4 - 2 = 2, to 1 = 2*6 - 4 - 1 = 7, to 0 = 14 - 4 - 1 = 9
    np.testing.assert_array_equal(new[3], [2, 1, 0])
    np.testing.assert_allclose(sec[3], [2, 7, 9])


def test_hubness_reduction_lowers_the_hubness_of_a_high_dimensional_space():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 60))
    idx, dist = slow_neighbors(X, 40, "euclidean")
    before = hubness(idx, 10)
    for method in ("csls", "mutual_proximity"):
        new, _ = hubness_reduced(idx, dist, method, k=10)
        after = hubness(new, 10)
        assert after["skewness"] < before["skewness"] / 2
        assert after["robin_hood"] < before["robin_hood"]


def test_the_comparison_takes_every_new_measure_and_a_hubness_reduction():
    from synthetic import comparison_settings, synthetic_spaces

    from nnsim.compare import run_comparison
    from nnsim.config import compose
    from nnsim.report import hubness_frame, measure_agreement, similarity_frame

    cfg = compose(
        [
            "data=jamendo",
            "cutoffs=[5,10]",
            "neighbors.k=10",
            "compare.n_boot=50",
            "compare.measures=[overlap,rbo,rank,second_order_cosine,cknna]",
            "compare.hubness_reduction=csls",
            "compare.hubness_candidates=3",
        ]
    )
    sp = synthetic_spaces(90, seed=2, cf_factors=(8,))
    res = run_comparison(sp, **comparison_settings(cfg), distance="cosine")
    cmp = res.comparison
    assert res.reduced is not None
    t = next(iter(res.reduced.values()))
    assert t.secondary == "csls" and t.k >= 30  # 3 x the largest cutoff, re-ranked
    i, j = 0, 3
    a, b = res.reduced[cmp.names[i]].indices, res.reduced[cmp.names[j]].indices
    for c, n in enumerate(cmp.cutoffs):  # the lists measures read the re-ranked lists
        want = np.mean([len(set(x[:n]) & set(y[:n])) / n for x, y in zip(a, b, strict=True)])
        assert cmp.values["overlap"][i, j, c] == pytest.approx(want)
        want = slow_rank_similarity(a, b, int(n)).mean()
        assert cmp.values["rank"][i, j, c] == pytest.approx(want, rel=1e-6)
    frame = similarity_frame(cmp, "cosine")
    for k in ("rbo", "rank", "second_order_cosine", "cknna"):
        assert frame[f"{k}_chance"].notna().all()
        assert (frame[f"{k}_ci_low"] <= frame[k] + 1e-12).all()
    assert {"cknna", "second_order_cosine"} <= set(res.measure_factors["measure"])
    hub = hubness_frame(res)
    assert set(hub["distances"]) == {"primary", "csls"}
    labels = set(measure_agreement(res)["measure_a"]) | set(measure_agreement(res)["measure_b"])
    assert {"cknna@5", "second_order_cosine@10"} <= labels


def slow_weighted_hubness(table, k, w):
    """The hubness statistics of a resample (counts w) with explicit loops."""
    w = [float(x) for x in w]
    N = table.shape[0]
    occ = np.zeros(N)
    for i in range(N):
        for j in table[i, :k]:
            occ[j] += w[i]
    tot = sum(w)
    mean = sum(w[j] * occ[j] for j in range(N)) / tot
    m2 = sum(w[j] * (occ[j] - mean) ** 2 for j in range(N)) / tot
    m3 = sum(w[j] * (occ[j] - mean) ** 3 for j in range(N)) / tot
    drawn = [j for j in range(N) if w[j] > 0]
    return [
        m3 / m2**1.5 if m2 else 0.0,
        sum(w[j] for j in range(N) if occ[j] > 2 * k) / tot,
        sum(w[j] for j in range(N) if occ[j] == 0) / tot,
        max(occ[j] for j in drawn),
        sum(w[j] * abs(occ[j] - k) for j in range(N)) / (2 * tot * k),
    ]


def test_hubness_resamples_against_loops_and_the_table_has_cis():
    from nnsim.measures import HUBNESS_STATS, hubness_replicates, hubness_table
    from nnsim.similarity import bootstrap_weights

    X = np.random.default_rng(3).standard_normal((70, 30))
    idx, _ = slow_neighbors(X, 8, "euclidean")
    W = bootstrap_weights(70, 4, seed=2)
    reps = hubness_replicates(idx, [3, 8], W)
    for b in range(4):
        for c, k in enumerate([3, 8]):
            np.testing.assert_allclose(reps[b, c], slow_weighted_hubness(idx, k, W[b]), rtol=1e-9)
    ones = hubness_replicates(idx, [3, 8], np.ones((1, 70)))  # no resampling: hubness itself
    for c, k in enumerate([3, 8]):
        h = hubness(idx, k)
        np.testing.assert_allclose(ones[0, c], [h[s] for s in HUBNESS_STATS], rtol=1e-12)
    rows = hubness_table({"x": idx}, [3, 8], n_boot=100, seed=0, ci_level=0.9)
    for r in rows:
        for s in HUBNESS_STATS:
            assert r[f"{s}_ci_low"] <= r[s] + 1e-12 or s == "max_occurrence"
            assert r[f"{s}_ci_low"] <= r[f"{s}_ci_high"]
    assert rows[1]["skewness_ci_high"] > rows[1]["skewness_ci_low"]


def test_a_chance_level_over_sampled_reference_tracks_is_their_mean():
    from nnsim.measures import chance_rows

    X, Y = spaces(n=40)
    A, B = tables(X, Y, "cosine")
    got = list_chance(
        {"x": A, "y": B}, CUT, ["rank"], rbo_p=0.9, n_permutations=2, seed=1, chance_tracks=15
    )
    rows = chance_rows(40, 15, 1)
    assert rows.size == 15 and len(set(rows)) == 15
    for c, n in enumerate(CUT):
        want = np.mean(
            [
                slow_rank_similarity(A, slow_neighbors(Y[p], 7, "cosine")[0], int(n))[rows].mean()
                for p in permutations(40, 2, 1)
            ]
        )
        assert got["rank"][0, 1, c] == pytest.approx(want, rel=1e-12)
