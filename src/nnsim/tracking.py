"""MLflow tracking: the only module that imports mlflow.

Stage entry points open one run per stage execution (tagged with the git revision and the
DVC stage), log flattened params, metrics in batches and artifacts.  With
``mlflow.enabled: false`` every call is a no-op, so the core never needs a store.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnsim.config import flatten
from nnsim.settings import MlflowSettings, Settings

log = logging.getLogger(__name__)

_MAX_PARAM_LEN = 6000
#: MLflow 3's experiment-kind tag and the value that makes the UI open on the runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"


def git_revision(cwd: str | Path = ".") -> str:
    """Current git commit (``unknown`` outside a repository), ``+dirty`` if modified."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU model (float results of BLAS/TensorFlow kernels can differ between models)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


class Tracker:
    """Thin handle on an active MLflow run (or a no-op when tracking is off)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.run_id: str | None = None

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log many metrics in one call."""
        if not self.active or not metrics:
            return
        import mlflow

        clean = {_metric_key(k): float(v) for k, v in metrics.items() if v == v}
        mlflow.log_metrics(clean, step=step)

    def log_metric_steps(self, series: Mapping[str, Mapping[int, float]]) -> None:
        """Log metrics with steps (e.g. NDCG per factor count) in one batch call.

        Parameters
        ----------
        series : mapping of str to mapping of int to float
            ``{key: {step: value}}``.
        """
        if not self.active or not series:
            return
        import time

        import mlflow
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(_metric_key(k), float(v), now, int(step))
            for k, by_step in series.items()
            for step, v in by_step.items()
            if v == v
        ]
        assert self.run_id is not None
        mlflow.tracking.MlflowClient().log_batch(self.run_id, metrics=metrics)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags (e.g. a fingerprint of the compared vectors)."""
        if not self.active or not tags:
            return
        import mlflow

        mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flattened params in one call (long values truncated)."""
        if not self.active:
            return
        import mlflow

        flat = {k: str(v)[:_MAX_PARAM_LEN] for k, v in flatten(params).items()}
        mlflow.log_params(flat)

    def log_artifacts(self, *paths: str | Path, artifact_path: str | None = None) -> None:
        """Log files or folders as artifacts."""
        if not self.active:
            return
        import mlflow

        for p in map(Path, paths):
            if p.is_dir():
                mlflow.log_artifacts(str(p), artifact_path=artifact_path)
            elif p.is_file():
                mlflow.log_artifact(str(p), artifact_path=artifact_path)


def _metric_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)


def _follow_store(db: Path, exp_id: str, old: str, new: str) -> None:
    """Point an experiment (and its runs) of the SQLite store ``db`` at ``new`` artifacts.

    MLflow stores an experiment's artifact location as an absolute address.  A store copied
    with its clone (or a second clone's store) would go on writing into the first clone's
    ``mlruns/``; the location that the working directory's settings name wins instead.
    MLflow has no call for this, so the two columns are updated in the store itself.
    """
    import sqlite3

    log.warning(
        "MLflow experiment %s stored its artifacts at %s; this checkout's settings name %s: "
        "artifacts follow the settings from now on",
        exp_id,
        old,
        new,
    )
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (new, exp_id)
        )
        con.execute(
            "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
            "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
            (new, len(old) + 1, exp_id, len(old), old),
        )


def _setup(mcfg: MlflowSettings) -> str:
    import mlflow

    uri = mcfg.tracking_uri
    db = Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    name = mcfg.experiment
    root = Path(mcfg.artifact_root).resolve()
    location = root.as_uri() + f"/{name}"
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        root.mkdir(parents=True, exist_ok=True)
        exp_id = mlflow.create_experiment(
            name,
            artifact_location=location,
            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND},
        )
    else:
        exp_id = exp.experiment_id
        if db is not None and exp.artifact_location != location:
            root.mkdir(parents=True, exist_ok=True)
            _follow_store(db, str(exp_id), exp.artifact_location, location)
        if exp.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
            # MLflow 3 opens an untagged (or GenAI) experiment on its GenAI overview; this
            # project's runs are model-training-like: open on the runs table.
            mlflow.MlflowClient().set_experiment_tag(
                exp_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
            )
    return str(exp_id)


def experiment_id(cfg: Settings) -> str:
    """The id of the configured experiment (created, with its kind tag, when missing)."""
    return _setup(cfg.mlflow)


#: Experiment tag prefix the MLflow UI reads a shared runs-table view from
#: (``?viewStateShareKey=<key>`` opens it: the columns it lists are shown).
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
#: This project's view of the runs table.
RUNS_VIEW_KEY = "nnsim-runs"
#: The columns MLflow shows by default (kept in front of the metric columns).
_DEFAULT_COLUMNS = ["attributes.`Source`", "attributes.`Models`", "attributes.`Dataset`"]


def headline_metrics(keys: set[str]) -> list[str]:
    """The metric columns of the runs view: Table-2 aggregates, listening-test p-values.

    ``factor.<variable>.S<n>`` (no CI bounds) ordered by variable and cutoff, then the
    listening test's by-space p-values.
    """
    factors = [k for k in keys if k.startswith("factor.") and k.count(".") == 2]

    def order(k: str) -> tuple[str, int]:
        _, var, cut = k.split(".")
        return var, int(cut[1:]) if cut[1:].isdigit() else 0

    listening = [
        k for k in ("listening.by_space.anova_p", "listening.by_space.kruskal_p") if k in keys
    ]
    return sorted(factors, key=order) + listening


def set_runs_view(exp_id: str) -> None:
    """Store the runs-table view (metric columns) as the experiment's shared view.

    MLflow 3 keeps a user's column choice in the browser; a shared view lives in an
    experiment tag and is opened by ``?viewStateShareKey=``, so ``make ui`` lands on a
    table whose columns are the S_n aggregates without a click.
    """
    import json

    import mlflow

    client = mlflow.MlflowClient()
    keys: set[str] = set()
    for run in client.search_runs([exp_id], max_results=500):
        keys.update(run.data.metrics)
    cols = _DEFAULT_COLUMNS + [f"metrics.`{k}`" for k in headline_metrics(keys)]
    client.set_experiment_tag(
        exp_id, SHARED_VIEW_PREFIX + RUNS_VIEW_KEY, json.dumps({"selectedColumns": cols})
    )


def runs_page(exp_id: str, host: str, port: int) -> str:
    """Address of the experiment's runs table in the MLflow UI, with this project's columns.

    MLflow 3's UI has a global workflow switch (GenAI | Model training) that starts on GenAI,
    which opens every experiment on its trace overview; ``workflowType=machine_learning``
    selects Model training, whose experiment page is the runs table.
    ``viewStateShareKey`` opens the view :func:`set_runs_view` stored (metric columns).
    """
    return (
        f"http://{host}:{port}/#/experiments/{exp_id}/runs?workflowType=machine_learning"
        f"&viewStateShareKey={RUNS_VIEW_KEY}"
    )


@contextmanager
def stage_run(
    cfg: Settings,
    stage: str,
    params: Mapping[str, Any] | None = None,
    *,
    run_name: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Iterator[Tracker]:
    """Open an MLflow run for one stage execution.

    Parameters
    ----------
    cfg : Settings
        The whole settings (``mlflow`` and ``data`` used).
    stage : str
        DVC stage name (tag ``dvc.stage``).
    params : mapping, optional
        Settings the stage depends on (logged flattened).
    run_name : str, optional
        Run name (default: the stage name).
    parent_run_id : str, optional
        Make this a child run (sweeps).
    tags : mapping, optional
        Extra tags.

    Yields
    ------
    Tracker
    """
    mcfg = cfg.mlflow
    enabled = mcfg.enabled and os.environ.get("NNSIM_MLFLOW", "1") != "0"
    if not enabled:
        yield Tracker(False)
        return
    import mlflow

    exp_id = _setup(mcfg)
    all_tags = {
        "git.revision": git_revision(),
        "host.cpu": cpu_model(),
        "dvc.stage": stage,
        "nnsim.data": cfg.data.name,
        "nnsim.synthetic": cfg.data.synthetic,
    }
    all_tags.update(tags or {})
    with mlflow.start_run(
        experiment_id=exp_id,
        run_name=run_name or stage,
        tags={k: str(v) for k, v in all_tags.items()},
        parent_run_id=parent_run_id,
    ) as run:
        tr = Tracker(True)
        tr.run_id = run.info.run_id
        if params:
            tr.log_params(params)
        yield tr


def sweep_parent(cfg: Settings, sweep_dir: str, swept: str) -> str | None:
    """The run id of a multirun's parent run (created by its first job), found by its tag.

    The parent run is named by what the multirun sweeps (``swept``, e.g.
    ``distance=cosine,euclidean``), so the MLflow UI lists sweeps by their question.
    Returns None when tracking is off.
    """
    mcfg = cfg.mlflow
    if not mcfg.enabled or os.environ.get("NNSIM_MLFLOW", "1") == "0":
        return None
    import mlflow

    exp_id = _setup(mcfg)
    found = mlflow.search_runs(
        [exp_id],
        filter_string=f"tags.`nnsim.sweep` = '{sweep_dir}' and tags.`nnsim.role` = 'parent'",
        output_format="list",
    )
    if found:
        return str(found[0].info.run_id)
    with stage_run(
        cfg,
        "sweep",
        run_name=f"sweep {swept}" if swept else f"sweep {Path(sweep_dir).name}",
        tags={"nnsim.sweep": sweep_dir, "nnsim.role": "parent"},
    ) as tr:
        tr.log_params({"sweep.dir": sweep_dir})
        return tr.run_id


def log_comparison(
    tracker: Tracker,
    metrics: Mapping[str, float],
    out_dir: str | Path,
    artifact_path: str | None = None,
) -> None:
    """The one tracking call of a comparison: its metrics (one batch) and its files."""
    tracker.log_metrics(metrics)
    tracker.log_artifacts(out_dir, artifact_path=artifact_path)
