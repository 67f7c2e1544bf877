from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnsim.factors import factor_pairs, factor_table

VARIABLES = ("dataset", "architecture", "layer")  # the paper's Table 2

PAPER_SPACES = [
    (f"{d}-{a}-{lay}", {"dataset": d, "architecture": a, "layer": lay})
    for d, a, lay in itertools.product(["msd", "mtat"], ["musicnn", "vgg"], ["emb", "tag"])
]


def test_paper_eight_spaces_give_four_pairs_per_variable_and_ignore_cf():
    names = [n for n, _ in PAPER_SPACES] + ["cf-64", "vggish"]
    meta = dict(PAPER_SPACES)
    meta["cf-64"] = {"kind": "cf"}
    meta["vggish"] = {"dataset": "audioset", "architecture": "vggish", "layer": "emb"}
    rng = np.random.default_rng(0)
    m, c = len(names), 2
    S = rng.random((m, m, c))
    S = (S + S.transpose(1, 0, 2)) / 2
    df = factor_table(S, names, meta, [5, 10], VARIABLES, ci_level=0.95)
    assert sorted(df["variable"].unique()) == ["architecture", "dataset", "layer"]
    for var in ("dataset", "architecture", "layer"):
        # Independent brute force over names: the other two variables equal, this one differs.
        expect = []
        for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
            ma, mb = meta[a], meta[b]
            if var not in ma or var not in mb or "kind" in ma or "kind" in mb:
                continue
            others = [v for v in ("dataset", "architecture", "layer") if v != var]
            if ma[var] != mb[var] and all(ma[o] == mb[o] for o in others):
                expect.append(S[i, j])
        assert len(expect) == 4
        got = df[df["variable"] == var].sort_values("cutoff")
        np.testing.assert_allclose(got["similarity"], np.mean(expect, axis=0))
        assert set(got["n_pairs"]) == {4}
    # VGGish differs from everything in dataset and architecture at once: in no pair.
    assert "vggish" not in " ".join(df["pairs"])


def test_names_are_not_used_only_metadata():
    names = ["a", "b", "c"]
    meta = {
        "a": {"dataset": "x", "architecture": "p", "layer": "e"},
        "b": {"dataset": "y", "architecture": "p", "layer": "e"},
        "c": {"dataset": "y", "architecture": "p", "layer": "t"},
    }
    assert factor_pairs(names, meta, "dataset", VARIABLES) == [(0, 1)]
    assert factor_pairs(names, meta, "layer", VARIABLES) == [(1, 2)]
    assert factor_pairs(names, meta, "architecture", VARIABLES) == []
    S = np.full((3, 3, 1), 0.5)
    df = factor_table(S, names, meta, [5], VARIABLES, ci_level=0.95)
    assert list(df["variable"]) == ["dataset", "layer"]
    assert df["similarity"].tolist() == pytest.approx([0.5, 0.5])
