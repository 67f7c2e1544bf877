"""The global measures at scale: the linearised bootstrap against the exact one (the same
resamples), closed-form chance levels against every permutation, and stated reasons."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from test_measures import spaces

from nnsim.measures import (
    cka_chance,
    debiased_cka,
    global_measure,
    global_table,
    linear_cka,
    linear_global_rows,
    rsa,
)

MEASURES = ["cka", "debiased_cka", "procrustes", "svcca", "rsa"]


def related(n, seed):
    X, Y = spaces(n=n, seed=seed)
    rng = np.random.default_rng(seed + 10)
    return {"x": X, "y": Y, "r": rng.standard_normal((n, 5))}


def test_linear_path_values_are_the_exact_measures():
    sp = related(400, 0)
    rows = linear_global_rows(
        sp,
        MEASURES,
        distance="cosine",
        n_permutations=0,
        max_tracks=150,
        seed=0,
        n_boot=0,
        ci_level=0.95,
    )
    for r in rows:
        want = global_measure(
            str(r["measure"]),
            sp[r["src"]],
            sp[r["dst"]],
            distance="cosine",
            max_tracks=150,
            seed=0,
        )
        assert r["value"] == pytest.approx(want, rel=1e-5, abs=1e-6), r["measure"]


def gapped(n, seed):
    """Spaces whose variance has a clear gap after 3 directions (SVCCA keeps 3 in every
    resample) and an unrelated one."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, 3))
    X = (
        np.hstack([Z, 0.01 * rng.standard_normal((n, 3))])
        @ np.linalg.qr(rng.standard_normal((6, 6)))[0]
    )
    Y = np.hstack(
        [
            Z @ rng.standard_normal((3, 3)) + 0.4 * rng.standard_normal((n, 3)),
            0.01 * rng.standard_normal((n, 2)),
        ]
    )
    R = np.hstack([rng.standard_normal((n, 3)), 0.01 * rng.standard_normal((n, 2))])
    return {"x": X, "y": Y, "r": R}


def test_linearised_replicates_follow_the_exact_bootstrap_on_the_same_resamples():
    sp = gapped(900, 1)
    kw = dict(
        distance="euclidean", n_permutations=0, max_tracks=900, seed=3, n_boot=30, ci_level=0.9
    )
    exact = global_table(sp, MEASURES, exact_below=10**9, **kw)
    lin = global_table(sp, MEASURES, exact_below=0, **kw)
    for e, li in zip(exact, lin, strict=True):
        assert (e["src"], e["dst"], e["measure"]) == (li["src"], li["dst"], li["measure"])
        re, rl = np.asarray(e["replicates"]), np.asarray(li["replicates"])
        assert re.shape == rl.shape == (30,)
        if (e["src"], e["dst"]) == ("x", "y"):  # related: far from the null, smooth there
            width = e["ci_high"] - e["ci_low"]
            assert np.corrcoef(re, rl)[0, 1] > 0.95, e["measure"]
            assert 0.8 < rl.std() / re.std() < 1.25, e["measure"]
            assert abs(e["ci_low"] - li["ci_low"]) < 0.3 * width, e["measure"]
            assert abs(e["ci_high"] - li["ci_high"]) < 0.3 * width, e["measure"]


def test_cka_chance_is_the_mean_over_every_permutation_and_the_debiased_one_is_zero():
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    Y[:, 0] += X[:, 0]
    perms = [list(p) for p in itertools.permutations(range(7))]
    assert cka_chance(X, Y) == pytest.approx(np.mean([linear_cka(X, Y[p]) for p in perms]))
    assert np.mean([debiased_cka(X, Y[p]) for p in perms]) == pytest.approx(0.0, abs=1e-12)
    rsa_all = [rsa(X, Y[p], distance="euclidean", max_tracks=10, seed=0) for p in perms]
    assert np.mean(rsa_all) == pytest.approx(0.0, abs=1e-12)  # RSA's chance level: 0


def test_the_linear_path_states_why_a_measure_is_undefined_and_goes_on():
    sp = related(300, 2)
    sp["c"] = np.ones((300, 4))
    rows = linear_global_rows(
        sp,
        MEASURES,
        distance="euclidean",
        n_permutations=2,
        max_tracks=100,
        seed=0,
        n_boot=20,
        ci_level=0.9,
    )
    bad = [r for r in rows if "c" in (r["src"], r["dst"])]
    good = [r for r in rows if "c" not in (r["src"], r["dst"])]
    assert bad and all(r["note"] and np.isnan(r["value"]) for r in bad)
    assert all(
        not r["note"] and np.isfinite([r["value"], r["ci_low"], r["ci_high"], r["chance"]]).all()
        for r in good
    )
    # related spaces sit above the chance level that permuted copies give
    xy = {r["measure"]: r for r in good if (r["src"], r["dst"]) == ("x", "y")}
    assert xy["cka"]["ci_low"] > xy["cka"]["chance"]
    assert xy["procrustes"]["ci_high"] < xy["procrustes"]["chance"]  # a distance


def test_the_large_n_null_of_procrustes_and_svcca_matches_real_permutations():
    sp = gapped(3000, 4)
    kw = dict(
        distance="euclidean", max_tracks=50, seed=0, n_boot=0, ci_level=0.9, n_permutations=200
    )
    real = global_table(sp, ["procrustes", "svcca"], exact_below=10**9, **kw)
    drawn = global_table(sp, ["procrustes", "svcca"], exact_below=0, **kw)
    for r, d in zip(real, drawn, strict=True):
        assert d["chance"] == pytest.approx(r["chance"], rel=0.04), (r["measure"], r["src"])
    # and the chance level is far from what related spaces give
    xy = {r["measure"]: r for r in drawn if (r["src"], r["dst"]) == ("x", "y")}
    assert xy["svcca"]["value"] > 5 * xy["svcca"]["chance"]
