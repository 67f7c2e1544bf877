"""`make ui`: the MLflow UI opens this project's experiment on the runs table (real Chromium)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import page
from servers import free_port, stop

from nnsim.config import compose, dump
from nnsim.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND, stage_run

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_ui_lands_on_the_runs_table_with_the_metrics(tmp_path):
    cfg = compose(
        [
            f"mlflow.tracking_uri=sqlite:///{tmp_path}/mlruns/mlflow.db",
            f"mlflow.artifact_root={tmp_path}/mlruns/artifacts",
        ]
    )
    os.environ["NNSIM_MLFLOW"] = "1"
    with stage_run(cfg, "compare@cosine", {"cutoffs": [5, 10]}) as tr:
        tr.log_metrics({"factor.dataset.S5": 0.42, "S5.msd-musicnn-embeddings.cf-96": 0.11})
    import mlflow

    exp = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    assert exp.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    params = tmp_path / "params.yaml"
    params.write_text(dump(cfg))
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "nnsim.stages.ui", "--params", str(params), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,  # so the whole server (uvicorn, job runner) can be stopped
    )
    try:
        first = server.stdout.readline()  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/#/experiments/{exp.experiment_id}/runs"
        assert f"{url}?workflowType=machine_learning&viewStateShareKey=" in first
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("mlflow ui did not start")
        with page(width=1900) as pg:
            pg.goto(first.split()[2])
            pg.get_by_text("compare@cosine").first.wait_for(timeout=60_000)
            body = pg.inner_text("body")
            assert "Run Name" in body and "Token Usage" not in body  # runs table, not GenAI
            # the Table-2 aggregates are columns without a click (the stored runs view)
            pg.get_by_text("0.42", exact=True).first.wait_for(timeout=30_000)
            assert "shared view" in pg.inner_text("body")
            assert pg.locator("text=/^factor\\.data/").count() >= 1  # the column header
            shot = tmp_path / "mlflow-runs.png"
            pg.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
    finally:
        stop(server)
