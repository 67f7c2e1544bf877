"""The one comparison workflow, its report, the DVC stages' dependencies, the CF factor counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from deps_helper import module_paths
from reference import slow_k_occurrence, slow_kendall_tau_b, slow_overlap
from synthetic import comparison_settings, synthetic_spaces

from nnsim.cli import main
from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.measures import linear_cka
from nnsim.report import REPORT_FILES, comparison_metrics, pair_difference, write_report
from nnsim.similarity import bootstrap_weights
from nnsim.spaces import save_space
from nnsim.tables import TableStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spaces():
    return synthetic_spaces(120, seed=5, cf_factors=(16,))


def opts(**kw):
    cfg = compose(["data=jamendo", "cutoffs=[5,10]", "neighbors.k=10", "compare.n_boot=200"])
    return comparison_settings(cfg, **kw)


def test_workflow_tables_store_and_reuse(spaces, tmp_path):
    store = TableStore(tmp_path / "t", "cosine")
    first = run_comparison(spaces, **opts(), distance="cosine", store=store)
    assert all(t.k == 11 for t in first.tables.values())  # k + 1: ambiguity at k
    again = run_comparison(spaces, **opts(), distance="cosine", reuse=store)
    assert sorted(again.reused) == sorted(s.name for s in spaces)
    assert np.array_equal(first.comparison.similarity, again.comparison.similarity)
    # other vectors: the fingerprint differs, nothing is reused
    other = [type(s)(s.name, s.X * 1.5 + 1, s.ids, s.meta) for s in spaces]
    third = run_comparison(other, **opts(), distance="cosine", reuse=store)
    assert third.reused == []


def test_aggregate_cis_match_an_independent_bootstrap(spaces):
    res = run_comparison(spaces, **opts(n_boot=300), distance="euclidean")
    cmp = res.comparison
    tables = {n: t.indices for n, t in res.tables.items()}
    W = bootstrap_weights(cmp.n_tracks, 300, 0)
    for _, row in res.factors.iterrows():
        pairs = [p.split("|") for p in row["pairs"].split("; ")]
        ci = list(cmp.cutoffs).index(row["cutoff"])
        n = int(row["cutoff"])
        per_pair = np.array([slow_overlap(tables[a], tables[b], n) for a, b in pairs])
        reps = np.array([(w @ per_pair.T).mean() / cmp.n_tracks for w in W])
        assert row["similarity"] == pytest.approx(per_pair.mean(), abs=1e-12)
        assert row["ci_low"] == pytest.approx(
            np.quantile(reps, 0.025), abs=1e-6
        )  # float32 bootstrap products
        assert row["ci_high"] == pytest.approx(
            np.quantile(reps, 0.975), abs=1e-6
        )  # float32 bootstrap products
        assert row["ci_low"] <= row["similarity"] <= row["ci_high"]
        del ci


def test_pair_difference_labels():
    v = ["dataset", "architecture", "layer"]
    a = {"kind": "cb", "dataset": "msd", "architecture": "musicnn", "layer": "embeddings"}
    assert pair_difference(a, {**a, "dataset": "mtat"}, v) == "dataset"
    assert pair_difference(a, {**a, "layer": "taggrams"}, v) == "layer"
    assert pair_difference(a, {**a, "layer": "taggrams", "dataset": "mtat"}, v) == "several"
    assert pair_difference(a, {"kind": "cf"}, v) == "CF"
    assert pair_difference(a, dict(a), v) == "none"


def test_report_and_cli_write_the_same_files(spaces, tmp_path):
    res = run_comparison(spaces, **opts(), distance="cosine")
    (tmp_path / "r").mkdir()
    written = write_report(res, tmp_path / "r", variables=["dataset", "architecture", "layer"])
    assert [p.name for p in written] == list(REPORT_FILES)
    sim = pd.read_csv(tmp_path / "r" / "similarity.csv")
    assert set(sim["differs_in"]) == {"dataset", "architecture", "layer", "several", "CF"}
    # hubness per space and cutoff: the k-occurrence of each space's own table, counted here
    hub = pd.read_csv(tmp_path / "r" / "hubness.csv")
    assert len(hub) == len(res.comparison.names) * len(res.comparison.cutoffs)
    for row in hub.itertuples():
        occ = slow_k_occurrence(res.tables[row.space].indices, row.cutoff)
        assert row.max_occurrence == occ.max()
        assert row.antihub_share == pytest.approx(np.mean(occ == 0))
        assert row.robin_hood == pytest.approx(np.abs(occ - row.cutoff).sum() / (2 * occ.sum()))
    # global measures (the default adds CKA): the value of the aligned spaces, and a chance
    # level from row-permuted copies, far below the value for these related spaces
    glob = pd.read_csv(tmp_path / "r" / "global.csv")
    assert set(glob["measure"]) == {"cka"}
    X = {sp.name: sp.X for sp in res.prepared.spaces}
    for row in glob.itertuples():
        assert row.value == pytest.approx(linear_cka(X[row.src], X[row.dst]), rel=1e-7)
        assert 0 <= row.chance < 0.5 * row.value
    # do S_n and CKA rank the pairs alike?  Kendall's tau-b of every two measures' orderings
    agree = pd.read_csv(tmp_path / "r" / "agreement.csv")
    cmp = res.comparison
    iu = np.triu_indices(len(cmp.names), k=1)
    by_pair = {(r.src, r.dst): r.value for r in glob.itertuples()}
    cka = np.array([by_pair[(cmp.names[i], cmp.names[j])] for i, j in zip(*iu, strict=True)])
    for c, cut in enumerate(cmp.cutoffs):
        sn = cmp.similarity[:, :, c][iu]
        row = agree[(agree["measure_a"] == f"S_{cut}") & (agree["measure_b"] == "cka")]
        assert row["kendall_tau"].item() == pytest.approx(slow_kendall_tau_b(sn, cka), abs=1e-6)
        assert row["pairs"].item() == len(sn)
    # Table 2 for every measure: S_n's rows are Table 2; CKA's are the mean over the same pairs
    mf = pd.read_csv(tmp_path / "r" / "factors_measures.csv")
    fac = pd.read_csv(tmp_path / "r" / "factors.csv")
    sn = mf[mf["measure"] == "overlap"].reset_index(drop=True)
    np.testing.assert_allclose(sn["similarity"], fac["similarity"], rtol=1e-7)
    np.testing.assert_allclose(sn["ci_low"], fac["ci_low"], rtol=1e-7)
    # ... with the CI of the mean of the pairs' bootstrap replicates (the same resamples)
    from nnsim.measures import global_table
    from nnsim.similarity import percentile_ci

    c = opts()["compare"]
    reps = {
        (r["src"], r["dst"]): r["replicates"]
        for r in global_table(
            {sp.name: sp.X for sp in res.prepared.spaces},
            ["cka"],
            distance="cosine",
            n_permutations=0,
            max_tracks=c.rsa_max_tracks,
            seed=c.seed,
            n_boot=c.global_n_boot,
            ci_level=c.ci_level,
            exact_below=c.global_exact_below,
        )
    }
    for row in mf[mf["measure"] == "cka"].itertuples():
        listed = fac[fac["variable"] == row.variable]["pairs"].iloc[0]
        pairs = [p.strip().split("|") for p in listed.split(";")]
        want = np.mean([by_pair.get((a, b), by_pair.get((b, a))) for a, b in pairs])
        assert row.similarity == pytest.approx(want, rel=1e-6)
        mean = np.mean([reps.get((a, b), reps.get((b, a))) for a, b in pairs], axis=0)
        lo, hi = percentile_ci(mean, c.ci_level)
        assert row.ci_low == pytest.approx(lo, rel=1e-6) and row.ci_high == pytest.approx(hi)
    m = comparison_metrics(res)
    assert {"factor.dataset.S5.ci_low", "tracks"} <= set(m)
    assert any(k.startswith("global.cka.") for k in m)
    assert any(k.startswith("ambiguous.") for k in m)
    # the CLI writes exactly the report's files
    rows = ["name,file,kind,dataset,architecture,layer"]
    for s in spaces:
        save_space(s, tmp_path / "sp" / f"{s.name}.npy")
        g = s.meta.get
        rows.append(
            f"{s.name},{s.name}.npy,{g('kind', '')},{g('dataset', '')},"
            f"{g('architecture', '')},{g('layer', '')}"
        )
    (tmp_path / "sp" / "list.csv").write_text("\n".join(rows) + "\n")
    rc = main(
        [
            "compare",
            str(tmp_path / "sp" / "list.csv"),
            "--out",
            str(tmp_path / "o"),
            "--cutoffs",
            "5",
            "10",
            "--n-boot",
            "200",
            "--quiet",
        ]
    )
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(REPORT_FILES)
    cli_sim = pd.read_csv(tmp_path / "o" / "similarity.csv")
    pd.testing.assert_frame_equal(cli_sim, sim)


def _stage_modules():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, st in dvc["stages"].items():
        body = st.get("do", st)
        m = re.search(r"python -m (nnsim\.stages\.\w+)", body["cmd"])
        assert m, name
        yield name, m.group(1), {d for d in body["deps"] if isinstance(d, str)}


@pytest.mark.parametrize(("stage", "module", "deps"), list(_stage_modules()))
def test_every_stage_depends_on_the_modules_it_imports(stage, module, deps):
    missing = sorted(module_paths(module) - deps)
    assert not missing, f"dvc.yaml stage {stage} imports but does not depend on {missing}"


def test_cf_spaces_use_the_measured_best_factor_count(tmp_path):
    from nnsim.stages.cf import factor_counts

    cfg = compose(["cf.extra_factors=[32,8]"])
    cfg.paths.results_dir = str(tmp_path)
    (tmp_path / "cf_select").mkdir()
    (tmp_path / "cf_select" / "best.json").write_text(json.dumps({"best_factors": 8}))
    assert factor_counts(cfg) == [8, 32]
    cfg.cf.extra_factors = []
    assert factor_counts(cfg) == [8]


def test_the_mlflow_runs_view_shows_the_table2_aggregates_in_order():
    from nnsim.tracking import headline_metrics

    keys = {
        "factor.layer.S10",
        "factor.dataset.S100",
        "factor.dataset.S5",
        "factor.dataset.S5.ci_low",
        "S5.a.b",
        "tracks",
        "listening.by_space.anova_p",
    }
    assert headline_metrics(keys) == [
        "factor.dataset.S5",
        "factor.dataset.S100",
        "factor.layer.S10",
        "listening.by_space.anova_p",
    ]


def test_tables_1_and_2_agree_with_the_metrics_in_every_format(spaces, tmp_path):
    res = run_comparison(spaces, **opts(), distance="cosine")
    write_report(res, tmp_path, variables=["dataset", "architecture", "layer"])
    m = comparison_metrics(res)
    t2 = pd.read_csv(tmp_path / "table2.csv")
    assert len(t2) == len(res.factors) > 0
    for row in t2.itertuples():
        key = f"factor.{row.variable}.S{row.n}"
        assert row.S_n == pytest.approx(m[key], abs=1e-7)
        assert row.ci_low == pytest.approx(m[key + ".ci_low"], abs=1e-7)
        assert row.ci_high == pytest.approx(m[key + ".ci_high"], abs=1e-7)
        assert row.chance == pytest.approx(row.n / (res.n_tracks - 1))
    md = (tmp_path / "table2.md").read_text()
    tex = (tmp_path / "table2.tex").read_text()
    first = t2.iloc[0]
    cell = f"{first.S_n:.3f} [{first.ci_low:.3f}, {first.ci_high:.3f}]"
    assert cell in md and cell in tex
    # as in the paper: a row per variable (and the chance level), a column per cutoff
    assert md.count("\n|") == t2["variable"].nunique() + 2
    assert "\\toprule" in tex and "\\bottomrule" in tex and "95\\%" in tex
    t1 = pd.read_csv(tmp_path / "table1.csv")
    assert list(t1["space"]) == [s.name for s in res.prepared.spaces]
    assert list(t1["dim"]) == [s.dim for s in res.prepared.spaces]
    for stem in ("heatmap", "curves"):  # every figure in three formats
        assert (tmp_path / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
        assert b"<svg" in (tmp_path / f"{stem}.svg").read_bytes()[:500]


def test_a_missing_table2_variable_is_named_with_its_files(spaces, caplog):
    renamed = []
    for s in spaces:
        meta = dict(s.meta)
        if "architecture" in meta:
            meta["model"] = meta.pop("architecture")  # as a release manifest names it
        renamed.append(type(s)(s.name, s.X, s.ids, meta, source=f"{s.name}.npy"))
    with caplog.at_level("WARNING", logger="nnsim.compare"):
        res = run_comparison(renamed, **opts(), distance="cosine")
    assert "architecture" not in set(res.factors["variable"])
    msg = [r.getMessage() for r in caplog.records if "Table 2" in r.getMessage()]
    assert msg and "'architecture'" in msg[0] and ".npy" in msg[0]
