"""End to end: `dvc repro` of the embedded demo in a fresh copy of the repository, a second
repro that does nothing, a changed cutoff that reruns only the comparison, the MLflow runs read
back through a real `mlflow server`, and a small Hydra multirun sweep."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest
import yaml
from e2e import BIN, copy_checkout, sh
from servers import free_port, stop, wait_http

from nnsim.config import compose, dump
from nnsim.plots import figure_files

pytestmark = pytest.mark.slow

#: The demo as the end-to-end tests run it: 150 clips of 10 s instead of 200 of 30 s (a quarter
#: of the extraction) and fewer bootstrap replicates, every other setting as `make demo` has
#: it.  Every test composes with these.
E2E = [
    "data.demo.duration=10",
    "data.demo.n_clips=150",
    "compare.n_boot=200",
    "compare.global_n_boot=50",
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh clone-like copy (tracked files only) on which the demo pipeline ran once."""
    dst = tmp_path_factory.mktemp("clone") / "nnsim"
    copy_checkout(dst)
    (dst / "params.yaml").write_text(dump(compose(E2E)))
    sh(["git", "add", "-A"], dst)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone"], dst)
    proc = sh(["dvc", "repro"], dst)
    (dst / "first-repro.log").write_text(proc.stdout + proc.stderr)
    return dst


def test_demo_pipeline_produces_every_output(repo):
    cb = pd.read_csv(repo / "spaces/cb/list.csv")
    assert len(cb) == 8 and set(cb["layer"]) == {"embeddings", "taggrams"}
    skipped = pd.read_csv(repo / "spaces/cb/skipped.csv")
    assert sorted(skipped["track_id"]) == ["bad-corrupt", "bad-short", "bad-silent"]
    models = json.loads((repo / "spaces/cb/models.json").read_text())
    assert "audioset-vggish" in models["skipped"]
    assert "dvc import-url" in models["skipped"]["audioset-vggish"]["fetch"]
    sel = json.loads((repo / "metrics/cf_select.json").read_text())
    best = sel["als"][str(sel["best_factors"])]
    assert best["ndcg"] > sel["popularity"]["ndcg"]
    # The CF space is made at the factor count the selection measured best (no extras).
    cf_names = list(pd.read_csv(repo / "spaces/cf/list.csv")["name"])
    assert cf_names == [f"cf-{sel['best_factors']}"]
    # CF spaces carry only tracks that have content-based features (they align with CB).
    cb_ids = set((repo / "spaces/cb/msd-musicnn-embeddings.ids.txt").read_text().split())
    cf_ids = set((repo / f"spaces/cf/{cf_names[0]}.ids.txt").read_text().split())
    assert cf_ids and cf_ids <= cb_ids
    m = 8 + len(cf_names)
    for d in ("cosine", "euclidean"):
        res = repo / f"results/compare/{d}"
        sim = pd.read_csv(res / "similarity.csv")
        assert len(sim) == m * (m - 1) // 2 * 4
        assert set(sim["differs_in"]) >= {"dataset", "architecture", "layer", "CF", "several"}
        fac = pd.read_csv(res / "factors.csv")
        assert sorted(fac["variable"].unique()) == ["architecture", "dataset", "layer"]
        assert (fac["ci_low"] <= fac["similarity"] + 1e-12).all()
        assert (fac["similarity"] <= fac["ci_high"] + 1e-12).all()
        amb = pd.read_csv(res / "ambiguous.csv")
        assert len(amb) == m * 4 and (amb["ambiguous_lists"] >= 0).all()
        for png in ("heatmap.png", "curves.png"):
            assert (res / png).stat().st_size > 10_000
        # Tables are one column wider than neighbors.k: the extra one decides ambiguity at k.
        idx = np.load(repo / f"neighbors/{d}/{cf_names[0]}.indices.npy")
        assert idx.shape[1] == 51
        # Table 2 in three formats, the same numbers as the metrics DVC tracks
        metrics = json.loads((repo / f"metrics/compare-{d}.json").read_text())
        t2 = pd.read_csv(res / "table2.csv")
        for row in t2.itertuples():
            assert row.S_n == pytest.approx(metrics[f"factor.{row.variable}.S{row.n}"], abs=1e-7)
        assert (res / "table2.md").is_file() and (res / "table2.tex").is_file()


def test_the_results_site_shows_every_figure_of_the_demo(repo):
    site = repo / "results/site"
    index = (site / "index.html").read_text()
    assert "SYNTHETIC demo" in index
    for needle in (
        "Figure 1",
        "Figure 2 (cosine)",
        "Figure 2 (euclidean)",
        "Table 2 (cosine)",
        "Figure 3",
        "Figure 5",
    ):
        assert needle in index, needle
    stems = [f"figures/figure-2/{d}-heatmap" for d in ("cosine", "euclidean")]
    stems += ["figures/figure-1/cf_select-figure", "figures/figure-5/listening_stats-ratings"]
    stems += [f"figures/figure-3/figure3-msd-musicnn.{d}" for d in ("cosine", "euclidean")]
    for stem in stems:
        for ext in ("png", "pdf", "svg"):
            assert (site / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
    prov = (site / "provenance.html").read_text()
    assert "msd-musicnn" in prov and "params.yaml" in prov


@pytest.mark.browser
def test_the_demo_explorer_shows_the_demo_tables_and_plays_its_audio(repo):
    from browser import page, wait_until

    cfg = compose(E2E)
    site = repo / "results/site"
    assert 'href="explorer.html"' in (site / "index.html").read_text()
    d = cfg.neighbors.distances[0]
    sim = pd.read_csv(repo / "results/compare" / d / "similarity.csv")
    sim = sim[sim["cutoff"] == 10]
    tabs = repo / cfg.paths.neighbors_dir / d
    requested: list[str] = []
    with page() as pg:
        pg.on("request", lambda r: requested.append(r.url))
        pg.goto((site / "explorer.html").as_uri())
        pg.evaluate("window.nnsimExplorer.ready")
        spaces = pg.evaluate("window.NNSIM_DATA.meta.spaces")
        ids = (tabs / f"{spaces[0]}.ids.txt").read_text().split()
        # the matrix is Figure 2 of the demo (compare.drop_zero_rows is off)
        for a, b, v in zip(sim["src"], sim["dst"], sim["similarity"], strict=True):
            i, j = spaces.index(a), spaces.index(b)
            cell = pg.inner_text(f'#matrix button[data-a="{i}"][data-b="{j}"]')
            assert float(cell) == pytest.approx(v, abs=0.005), (a, b)
        last = len(spaces) - 1  # a content space and the CF space
        pg.click(f'#matrix button[data-a="0"][data-b="{last}"]')
        pg.wait_for_selector("#pair-section:not([hidden])")
        pg.fill("#search", ids[7])
        pg.click("#search-results button >> nth=0")
        pg.wait_for_selector("#track:not([hidden])")
        shown = pg.eval_on_selector_all(
            "#lists tbody tr",
            "rs => rs.map(r => [...r.querySelectorAll('td')].map(td => td.dataset.track))",
        )
        pg.click(f'#track-head button.play[data-track="{ids[7]}"]')
        wait_until(pg, "document.querySelector('#player').currentTime > 0.3", timeout=20_000)
    for s, name in enumerate(spaces):
        table = np.load(tabs / f"{name}.indices.npy")
        assert [row[s] for row in shown] == [ids[j] for j in table[7, :10]], name
    assert any("explorer-audio/7.ogg" in u for u in requested)
    assert all(u.startswith(("file://", "blob:")) for u in requested)


def test_projections_are_made_and_scored(repo):
    cfg = compose(E2E)
    for sp in cfg.projection.spaces:
        maps = pd.read_csv(repo / f"projections/{sp}/list.csv")
        n_seeds = len(cfg.projection.seeds)
        assert sorted(maps["method"].unique()) == ["pca", "tsne", "umap"]
        assert len(maps) == 1 + 2 * n_seeds
        res = repo / f"results/projections/{sp}"
        scores = pd.read_csv(res / "scores.csv")
        assert set(scores["distance"]) == set(cfg.projection.distances)
        assert scores["similarity"].between(0, 1).all()
        assert (scores["ci_low"] <= scores["similarity"] + 1e-12).all()
        assert scores["trustworthiness"].notna().any()
        seeds = pd.read_csv(res / "seeds.csv")
        assert set(seeds["method"]) == {"tsne", "umap"} and set(seeds["init"]) == {"random"}
        for png in (f"{sp}.scatter.png", f"{sp}.cosine.grid.png", f"{sp}.cosine.curves.png"):
            assert (res / png).stat().st_size > 10_000
    # Figure 3: the embeddings and taggrams of MSD MusiCNN in one figure per distance
    fig3 = pd.read_csv(repo / "results/figure3/figure3.csv")
    assert set(fig3["group"]) == {"msd-musicnn"}
    assert set(fig3["space"]) == set(cfg.projection.spaces)
    for sp in cfg.projection.spaces:
        scores = pd.read_csv(repo / f"results/projections/{sp}/scores.csv")
        drawn = fig3[(fig3["space"] == sp) & (fig3["vs"] == "original")]
        assert len(drawn) == len(scores)  # every map, distance and cutoff drawn once
        assert sorted(drawn["similarity"]) == pytest.approx(sorted(scores["similarity"]))
    for d in cfg.projection.distances:
        for f in figure_files(repo / f"results/figure3/msd-musicnn.{d}.png"):
            assert f.stat().st_size > 10_000, f


def test_playlists_make_the_study_file(repo):
    cfg = compose(E2E)
    doc = json.loads((repo / "results/listening/study.json").read_text())
    lc = cfg.listening
    assert len(doc["spaces"]) == lc.k and doc["synthetic"] is True
    assert len(doc["study"]) == lc.n_references
    tracks = pd.read_csv(repo / "data/demo/tracks.csv", dtype=str).set_index("track_id")
    # references come from different synthetic styles (listening.group_by)
    assert len({tracks.loc[r, "style"] for r in doc["study"]}) == lc.n_references
    checks = {}
    for ref, lists in doc["study"].items():
        spaces = {s: pl for s, pl in lists.items() if not s.startswith("check:")}
        checks.update({s: (ref, pl) for s, pl in lists.items() if s.startswith("check:")})
        assert sorted(spaces) == sorted(doc["spaces"])
        assert all(len(pl) == lc.playlist_length and ref not in pl for pl in spaces.values())
        assert set(doc["agreement"][ref]) == set(doc["spaces"])
    # one attention check of each kind (listening.attention.kinds)
    assert sorted(checks) == sorted(f"check:{k}" for k in lc.attention.kinds)
    ref, same = checks["check:same"]
    assert same == [ref] * lc.playlist_length
    ref, far = checks["check:far"]
    assert len(far) == lc.playlist_length and ref not in far


def test_simulated_answers_and_their_statistics_run_in_the_repro(repo):
    cfg = compose(E2E)
    resp = pd.read_csv(repo / "results/listening_sim/responses.csv")
    assert resp["participant"].str.startswith("SIMULATED-").all()
    assert resp["app_version"].str.startswith("SIMULATED").all()
    assert resp["participant"].nunique() == cfg.listening.simulate.n_participants
    out = repo / "results/listening_stats"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["simulated"] is True
    # the demo's stated model has a space effect: the tests find it
    assert summary["by_space"]["anova_p"] < cfg.listening.stats.alpha
    spaces = {s for s in resp["space"] if not s.startswith("check:")}
    assert set(pd.read_csv(out / "means.csv")["space"]) == spaces  # checks are not spaces
    att = pd.read_csv(out / "attention.csv")
    assert len(att) == cfg.listening.simulate.n_participants and (att["checks"] >= 1).any()
    assert summary["n"]["excluded"] == int(att["excluded"].sum())
    # the balanced design: every simulated participant rated per_participant references
    per = resp.groupby("participant")["reference"].nunique()
    assert set(per) == {cfg.listening.app.per_participant}
    people = pd.read_csv(repo / "results/listening_sim/participants.csv", dtype=str)
    assert people["completion_code"].str.fullmatch(r"[0-9A-F]{8}").all()
    assert "coef" in summary["agreement"] and summary["agreement"]["ci_low"] > 0
    assert len(pd.read_csv(out / "tukey.csv")) == 10  # 5 spaces: 10 pairs
    assert (out / "ratings.png").stat().st_size > 10_000


def test_one_command_serves_the_demo_study(repo):
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [str(BIN / "nnsim"), "listening", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=repo,
        env=env,
        start_new_session=True,
    )
    try:
        first = server.stdout.readline()  # type: ignore[union-attr]
        assert "4 references x 5 spaces" in first
        wait_http(f"http://127.0.0.1:{port}/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert "If you liked how this track sounds" in r.read().decode()
        ref = next(iter(json.loads((repo / "results/listening/study.json").read_text())["study"]))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/audio/{ref}", timeout=10) as r:
            assert r.read(4) == b"fLaC"
    finally:
        stop(server)
    assert (repo / "listening/responses.sqlite").is_file()  # outside every DVC output


def test_export_writes_a_deterministic_bundle(repo):
    rel = repo / "release"
    m = json.loads((repo / "metrics/export.json").read_text())
    archive = rel / m["archive"]
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == m["archive_sha256"]
    for f in (
        "manifest.csv",
        "README.md",
        "LICENSE.txt",
        "CITATION.cff",
        ".zenodo.json",
        "large-jamendo-ids.txt",
        "cb-msd-musicnn-embeddings.npy",
    ):
        assert (rel / f).is_file(), f
    assert "SYNTHETIC" in (rel / "README.md").read_text()
    assert json.loads((rel / ".zenodo.json").read_text())["upload_type"] == "dataset"
    assert m["license"] == "ISC"  # the musicnn wheel's licence, read from its metadata
    # rebuilt from the same spaces (that stage alone: -s): the same bytes
    sh(["dvc", "repro", "-f", "-s", "export"], repo)
    again = json.loads((repo / "metrics/export.json").read_text())
    assert again["archive_sha256"] == m["archive_sha256"]


def test_second_repro_does_nothing_and_a_cutoff_reruns_only_compare(repo):
    out = sh(["dvc", "repro"], repo).stdout
    assert "Running stage" not in out
    cfg = compose(E2E)
    cfg.cutoffs = [5, 10, 20, 40]
    (repo / "params.yaml").write_text(dump(cfg))
    status = sh(["dvc", "status", "--json"], repo).stdout
    # data.dvc (your raw data, not used by the demo) is absent in a fresh clone without a remote.
    changed = set(json.loads(status)) - {"data.dvc"}
    # the comparison, the scoring of the maps and the explorer (its cutoffs) use the cutoffs;
    # nothing upstream does
    expected = {"compare@cosine", "compare@euclidean", "projection_figures", "site"} | {
        f"score_projections@{sp}" for sp in cfg.projection.spaces
    }
    assert changed == expected
    out = sh(["dvc", "repro"], repo).stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    # the study file follows the comparison it is made from, and the site shows the new numbers
    assert ran == expected | {"playlists", "site"}
    sim = pd.read_csv(repo / "results/compare/cosine/similarity.csv")
    assert sorted(sim["cutoff"].unique()) == [5, 10, 20, 40]


def test_bad_setting_fails_at_start_without_outputs(repo):
    cfg = yaml.safe_load((repo / "params.yaml").read_text())
    good = (repo / "params.yaml").read_text()
    cfg["neighbors"]["distances"] = ["cosine", "manhattan"]
    (repo / "params.yaml").write_text(yaml.safe_dump(cfg))
    proc = sh(["dvc", "repro", "compare@manhattan"], repo, check=False)
    assert proc.returncode != 0
    assert "valid values: cosine, euclidean" in proc.stdout + proc.stderr
    assert not (repo / "results/compare/manhattan").exists()
    (repo / "params.yaml").write_text(good)


def _post(url, body):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_sweep_and_runs_read_back_through_mlflow_server(repo):
    proc = sh(
        [
            sys.executable,
            "-m",
            "nnsim.stages.sweep",
            "-m",
            "distance=cosine,euclidean",
            "cutoffs=[5,10]",
        ],
        repo,
    )
    # Same tracks and vectors as the pipeline: the sweep reuses its neighbour tables.
    assert "reusing the neighbour table" in proc.stdout + proc.stderr
    job = repo / "results" / "sweeps"
    sims = sorted(job.glob("*/0/similarity.csv"))
    assert sims and set(pd.read_csv(sims[-1])["cutoff"]) == {5, 10}
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            "sqlite:///mlruns/mlflow.db",
            "--default-artifact-root",
            "mlruns/artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # stop the whole server (workers, job runner) at the end
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not start")
        with urllib.request.urlopen(
            base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=nnsim", timeout=30
        ) as r:
            exp = json.loads(r.read())["experiment"]
        runs = _post(
            base + "/api/2.0/mlflow/runs/search",
            {"experiment_ids": [exp["experiment_id"]], "max_results": 200},
        )["runs"]

        def tags(run):
            return {t["key"]: t["value"] for t in run["data"].get("tags", [])}

        stages = {tags(r).get("dvc.stage") for r in runs}
        assert {"extract", "interactions", "cf_select", "cf", "compare@cosine"} <= stages
        cmp_run = next(r for r in runs if tags(r).get("dvc.stage") == "compare@cosine")
        keys = {m["key"] for m in cmp_run["data"]["metrics"]}
        assert "S5.msd-musicnn-embeddings.mtat-vgg-taggrams" in keys
        assert "factor.dataset.S5" in keys
        assert tags(cmp_run)["git.revision"] != "unknown"
        # runs from different machines / vectors are told apart (README: dvc.lock)
        assert tags(cmp_run)["host.cpu"] and len(tags(cmp_run)["nnsim.vectors"]) == 16
        sweep = [r for r in runs if tags(r).get("dvc.stage") == "sweep"]
        parents = [r for r in sweep if tags(r).get("nnsim.role") == "parent"]
        children = [r for r in sweep if "mlflow.parentRunId" in tags(r)]
        assert len(parents) == 1 and len(children) == 2
        assert {tags(c)["mlflow.parentRunId"] for c in children} == {parents[0]["info"]["run_id"]}
        cf_sel = next(r for r in runs if tags(r).get("dvc.stage") == "cf_select")
        with urllib.request.urlopen(
            f"{base}/api/2.0/mlflow/metrics/get-history?run_id={cf_sel['info']['run_id']}"
            "&metric_key=cf.ndcg",
            timeout=30,
        ) as r:
            hist = json.loads(r.read())["metrics"]
        assert sorted(int(h["step"]) for h in hist) == [8, 16, 32, 64, 96, 128]
    finally:
        stop(server)


def test_audio_only_route_runs_every_stage_on_the_content_spaces(repo, tmp_path):
    """The paper's own scenario: a folder of music and no listening log (data=jamendo,
    data.interactions=null).  Real-model extraction of 40 of the demo's clips (their cache is
    reused: entries are keyed by content), then comparison, projections, playlists, export and
    the site on the content-based spaces; the CF stages write empty placeholders."""
    dst = tmp_path / "nnsim"
    copy_checkout(dst)
    src = repo / "data/demo/audio"
    clips = sorted(p for p in src.rglob("*.flac") if not p.name.startswith("bad-"))[:40]
    for p in clips:
        (dst / "data/raw/audio" / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst / "data/raw/audio" / p.relative_to(src))
    shutil.copytree(repo / "cache/extract", dst / "cache/extract")
    overrides = [
        "data=jamendo",
        "data.interactions=null",
        "cutoffs=[5,10,20]",  # data=jamendo has the paper's 100 and 200: too many for 40 clips
        "neighbors.k=20",
        "neighbors.distances=[cosine]",  # one distance and one map: the route, not the methods
        "projection.methods=[pca]",
        "projection.seeds=[0]",
        "compare.n_boot=50",
        "mlflow=off",
    ]
    sh([sys.executable, "-m", "nnsim.stages.params", *overrides], dst)
    rep = sh(["dvc", "repro"], dst)
    out = rep.stdout + rep.stderr  # the stages log to stderr
    assert "data.interactions is null: no listening log, so no CF spaces" in out
    assert pd.read_csv(dst / "spaces/cf/list.csv").empty
    cb = pd.read_csv(dst / "spaces/cb/list.csv")
    assert len(cb) == 8
    ids = (dst / "spaces/cb/msd-musicnn-embeddings.ids.txt").read_text().split()
    assert sorted(ids) == sorted(p.stem for p in clips)
    sim = pd.read_csv(dst / "results/compare/cosine/similarity.csv")
    assert len(sim) == 8 * 7 // 2 * 3 and "CF" not in set(sim["differs_in"])
    assert set(pd.read_csv(dst / "results/compare/cosine/table2.csv")["variable"]) >= {
        "dataset",
        "architecture",
        "layer",
    }
    assert (dst / "results/figure3/msd-musicnn.cosine.png").is_file()
    doc = json.loads((dst / "results/listening/study.json").read_text())
    assert doc["synthetic"] is False and all(not s.startswith("cf") for s in doc["spaces"])
    assert (dst / "results/site/index.html").is_file()
    assert json.loads((dst / "metrics/export.json").read_text())["archive_sha256"]
