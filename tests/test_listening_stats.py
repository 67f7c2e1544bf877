"""Statistics of the listening test on SIMULATED answers with a known effect (or none)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from nnsim.errors import InputError
from nnsim.listening.simulate import ResponseModel, simulate_responses, space_strength
from nnsim.listening.stats import analyse, group_tests, ordinal_model, rated, read_responses

ALPHA = 0.05
SPACES = [f"s{j}" for j in range(5)]
STUDY = {f"r{i}": {s: ["x"] for s in SPACES} for i in range(4)}
STRENGTH = dict(zip(SPACES, np.linspace(-0.1, 0.1, 5), strict=True))


def answers(tmp_path, seed, *, effect=0.0, position_effect=0.0, n=24, name="r.csv"):
    model = ResponseModel(n, effect, position_effect, 0.4, 0.7, 0.05, 0.0, seed)
    df = simulate_responses(STUDY, STRENGTH, model, study_hash="h", app_version="SIMULATED")
    path = tmp_path / name
    df.to_csv(path, index=False)
    return read_responses(path)


def max_false_positives(n_seeds: int) -> int:
    """At most this many rejections of a true null in ``n_seeds`` runs (binomial 99 %)."""
    return int(st.binom.ppf(0.99, n_seeds, ALPHA))


def test_space_strength_is_the_centred_mean_s_n_to_the_family():
    S = {
        ("a", "b"): 0.5,
        ("a", "c"): 0.3,
        ("b", "c"): 0.1,
        ("a", "d"): 0.2,
        ("b", "d"): 0.4,
        ("c", "d"): 0.6,
    }
    got = space_strength(S, ["a", "b", "c", "d"], ["a", "b", "c"])
    raw = {
        "a": (0.5 + 0.3) / 2,
        "b": (0.5 + 0.1) / 2,
        "c": (0.3 + 0.1) / 2,
        "d": (0.2 + 0.4 + 0.6) / 3,
    }
    mean = np.mean(list(raw.values()))
    assert got == pytest.approx({k: v - mean for k, v in raw.items()})


def test_simulated_answers_follow_the_plan_and_the_scale(tmp_path):
    df = answers(tmp_path, 0, effect=6.0)
    assert set(df["participant"].str.startswith("SIMULATED-")) == {True}
    r = rated(df)
    assert set(r["rating"]) <= {0, 1, 2, 3}
    # every participant saw every playlist once, at positions 1..5 per reference
    per = df.groupby(["participant", "reference"])["position"].apply(sorted)
    assert all(p == [1, 2, 3, 4, 5] for p in per)
    # a stronger space is rated higher on average
    m = r.groupby("space")["rating"].mean()
    assert m["s4"] > m["s0"]


def test_a_space_effect_is_found_over_seeds(tmp_path):
    for seed in range(5):
        res = analyse(answers(tmp_path, seed, effect=6.0), alpha=ALPHA, min_participants=3)
        assert res["by_space"]["anova_p"] < ALPHA, seed
        assert res["by_space"]["kruskal_p"] < ALPHA, seed
        assert res["ordinal"]["space_p"] < ALPHA, seed
        assert res["mixed"]["space_p"] < ALPHA, seed
        tk = res["tukey"].set_index(["group1", "group2"])
        assert tk.loc[("s0", "s4"), "reject"], seed  # the extremes differ
        # the participant bias is found too
        assert res["by_participant"]["kruskal_p"] < ALPHA, seed
        assert res["mixed"]["participant_var"] > 0


def test_no_effect_is_found_where_there_is_none(tmp_path):
    n_seeds = 20
    hits = {"anova": 0, "kruskal": 0, "position": 0}
    for seed in range(n_seeds):
        df = answers(tmp_path, 100 + seed)
        r = rated(df)
        g = group_tests(r, "space")
        hits["anova"] += g["anova_p"] < ALPHA
        hits["kruskal"] += g["kruskal_p"] < ALPHA
        hits["position"] += ordinal_model(r)["position_p"] < ALPHA
    assert max(hits.values()) <= max_false_positives(n_seeds), hits


def test_the_position_effect_is_found_now_that_the_order_is_stored(tmp_path):
    for seed in range(5):
        res = analyse(answers(tmp_path, seed, position_effect=0.4), alpha=ALPHA, min_participants=3)
        assert res["ordinal"]["position_p"] < ALPHA and res["ordinal"]["position_coef"] > 0
        assert res["mixed"]["position_p"] < ALPHA and res["mixed"]["position_coef"] > 0
        assert res["by_space"]["anova_p"] > 1e-3  # no space effect was put in


def test_too_few_participants_say_so_instead_of_nan(tmp_path):
    res = analyse(answers(tmp_path, 0, effect=6.0, n=2), alpha=ALPHA, min_participants=3)
    for key in ("shapiro", "by_space", "ordinal", "mixed"):
        assert "fewer than listening.stats.min_participants=3" in res[key]["skipped"]
    assert res["n"]["participants"] == 2 and len(res["means"]) == 5
    # one participant, all equal ratings: reasons, not NaN
    df = answers(tmp_path, 0, n=3)
    df.loc[~df["skipped"], "rating"] = 2
    res = analyse(df, alpha=ALPHA, min_participants=1)
    assert res["by_space"] == {"skipped": "all ratings are equal"}
    assert res["shapiro"] == {"skipped": "all ratings are equal"}


def test_bad_exports_name_the_file_and_the_problem(tmp_path):
    df = answers(tmp_path, 0)
    bad = tmp_path / "bad.csv"
    df.drop(columns=["position", "space"]).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad\.csv: missing column\(s\) space, position"):
        read_responses(bad)
    d2 = df.assign(skipped=df["skipped"].astype(int), rating=df["rating"].astype(float))
    d2.loc[3, ["rating", "skipped"]] = [5, 0]
    d2.to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"ratings must be 0, 1, 2 or 3 .*rows 5\)"):
        read_responses(bad)
    with pytest.raises(InputError, match="no responses here"):
        read_responses(tmp_path / "nothing.csv")
    pd.DataFrame(
        {
            "participant": ["p"],
            "reference": ["r"],
            "space": ["s"],
            "position": [0],
            "rating": [1],
            "skipped": [0],
        }
    ).to_csv(bad, index=False)
    with pytest.raises(InputError, match="'position' must be"):
        read_responses(bad)


def test_compact_letters_share_a_letter_exactly_when_tukey_finds_no_difference():
    import itertools

    from nnsim.listening.stats import compact_letters

    rng = np.random.default_rng(4)
    for _ in range(40):
        k = int(rng.integers(2, 8))
        names = [f"s{i}" for i in range(k)]
        pairs = list(itertools.combinations(names, 2))
        reject = rng.random(len(pairs)) < 0.5
        table = pd.DataFrame(
            {"group1": [a for a, _ in pairs], "group2": [b for _, b in pairs], "reject": reject}
        )
        letters = compact_letters(names, table)
        assert all(letters[s] for s in names)
        for (a, b), rej in zip(pairs, reject, strict=True):
            assert bool(set(letters[a]) & set(letters[b])) == (not rej), (a, b, letters)


def test_figure5_labels_the_spaces_as_figure2_does():
    from nnsim.plots import label_of_name, short_label

    meta = {"kind": "cb", "dataset": "mtat", "architecture": "vgg", "layer": "taggrams"}
    assert label_of_name("mtat-vgg-taggrams") == short_label("x", meta)
    assert label_of_name("cb-mtat-vgg-taggrams") == short_label("x", meta)  # LatentJam names
    assert label_of_name("cf-96") == short_label("x", {"kind": "cf", "factors": 96})
    assert label_of_name("my-own-space-name") == "my-own-space-name"


def agreement_answers(seed: int, beta: float, *, n_part=16, n_refs=6, n_spaces=5):
    """Ratings whose latent value rises by ``beta`` per unit of the playlist's agreement, with
    participant and reference intercepts (the model's own structure), and the agreement."""
    rng = np.random.default_rng(seed)
    agreement = {
        f"r{i}": {f"s{j}": float(rng.uniform(0.1, 0.9)) for j in range(n_spaces)}
        for i in range(n_refs)
    }
    ref_shift = {r: rng.normal(0, 0.3) for r in agreement}
    rows = []
    for p in range(n_part):
        bias = rng.normal(0, 0.4)
        for r, spaces in agreement.items():
            for k, (s, a) in enumerate(spaces.items(), start=1):
                latent = 1.5 + beta * (a - 0.5) + bias + ref_shift[r] + rng.normal(0, 0.6)
                rating = int(np.clip(np.rint(latent), 0, 3))
                rows.append((f"p{p}", r, s, k, rating, False))
    df = pd.DataFrame(
        rows, columns=["participant", "reference", "space", "position", "rating", "skipped"]
    )
    return df, agreement


def test_a_planted_agreement_effect_is_recovered_with_its_ci():
    from nnsim.listening.stats import agreement_model

    for seed in range(3):
        df, agreement = agreement_answers(seed, beta=2.0)
        res = agreement_model(rated(df), agreement, alpha=ALPHA)
        assert res["ci_low"] > 0 and res["p"] < ALPHA, res
        assert 1.0 < res["coef"] < 3.0, res  # rounding to 0..3 attenuates the slope a little
        assert res["ci_low"] < res["coef"] < res["ci_high"]


def test_no_agreement_effect_stays_within_the_false_positive_bound():
    from nnsim.listening.stats import agreement_model

    n_seeds = 20
    hits = 0
    for seed in range(n_seeds):
        df, agreement = agreement_answers(100 + seed, beta=0.0)
        res = agreement_model(rated(df), agreement, alpha=ALPHA)
        hits += int(res["p"] < ALPHA)
    assert hits <= max_false_positives(n_seeds), hits


def test_the_agreement_model_says_why_it_cannot_run():
    from nnsim.listening.stats import agreement_model

    df, agreement = agreement_answers(0, beta=1.0, n_refs=1)
    assert "two references" in agreement_model(rated(df), agreement, alpha=ALPHA)["skipped"]
    flat = {r: dict.fromkeys(v, 0.5) for r, v in agreement.items()}
    assert "agreement" in agreement_model(rated(df), flat, alpha=ALPHA)["skipped"]
