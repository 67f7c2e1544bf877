"""End to end without the demo's extraction: a LatentJam-style release imported and compared
with one `dvc repro`, and the one-line error of a configured listening log that is missing.
(Their own module, so that pytest-xdist runs them beside the demo's module.)"""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from e2e import copy_checkout, sh

from nnsim.config import compose, dump
from nnsim.plots import figure_files

pytestmark = pytest.mark.slow


def test_latentjam_release_reproduces_figure2_and_table2_with_one_repro(tmp_path):
    """data=latentjam: import -> compare (large and small) -> figures, no extraction or CF."""
    from test_release import NAMES, latentjam_folder

    dst = tmp_path / "nnsim"
    copy_checkout(dst)
    names = [*NAMES, "cb-mtat-musicnn-embeddings", "cb-msd-musicnn-taggrams"]
    _, small = latentjam_folder(dst / "data/raw/latentjam", n=150, n_small=60, names=names)
    cfg = compose(
        [
            "data=latentjam",
            "cutoffs=[5,10,20]",
            "neighbors.k=20",
            "compare.n_boot=100",
            "projection.methods=[pca]",
            "projection.seeds=[0]",
            "projection.spaces=[cb-msd-musicnn-embeddings]",
            "mlflow=off",
        ]
    )
    (dst / "params.yaml").write_text(dump(cfg))
    proc = sh(["dvc", "repro"], dst)
    out = proc.stdout + proc.stderr
    assert "spaces are imported, nothing to extract" in out
    assert pd.read_csv(dst / "spaces/cb/list.csv").empty
    imported = pd.read_csv(dst / "spaces/latentjam/list.csv")
    assert sorted(imported["name"]) == sorted(names)
    m = len(names)
    for d in ("cosine", "euclidean"):
        large = pd.read_csv(dst / f"results/compare/{d}/similarity.csv")
        assert len(large) == m * (m - 1) // 2 * 3
        assert set(large["chance"].round(6)) == {round(n / 149, 6) for n in (5, 10, 20)}
        small_sim = pd.read_csv(dst / f"results/compare/{d}/small/similarity.csv")
        assert set(small_sim["chance"].round(6)) == {
            round(n / (len(small) - 1), 6) for n in (5, 10, 20)
        }
        assert (dst / f"results/compare/{d}/small/heatmap.png").is_file()
        fac = pd.read_csv(dst / f"results/compare/{d}/factors.csv")
        assert set(fac["variable"]) >= {"dataset", "layer"}
    metrics = json.loads((dst / "metrics/compare-cosine.json").read_text())
    assert any(k.startswith("small.factor.") for k in metrics)
    doc = json.loads((dst / "results/listening/study.json").read_text())
    assert len(doc["study"]) == 4 and len(doc["spaces"]) == 5
    # the results site of this route: Figure 2 and Table 2 per distance, no Figure 1 (no ALS)
    index = (dst / "results/site/index.html").read_text()
    for d in ("cosine", "euclidean"):
        assert f"Figure 2 ({d})" in index and f"Table 2 ({d})" in index
        for f in figure_files(dst / f"results/site/figures/figure-2/{d}-heatmap.png"):
            assert f.is_file(), f
    assert "SYNTHETIC demo" not in index


def test_a_configured_log_that_is_missing_is_one_clear_line(tmp_path):
    dst = tmp_path / "nnsim"
    copy_checkout(dst)
    proc = sh([sys.executable, "-m", "nnsim.stages.params", "data=jamendo"], dst, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnsim: error: data.interactions=data/raw/interactions.csv: file not found. Put your "
        "listening log there (CSV: user_id,track_id[,value|event]), or set "
        "data.interactions=null to run on the audio alone (no CF spaces)."
    )
