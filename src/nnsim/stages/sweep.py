"""Hydra sweep app: S_n analyses over the spaces the pipeline produced, one MLflow child run each.

The only ``@hydra.main`` entry point.  Examples (see README)::

    python -m nnsim.stages.sweep -m distance=cosine,euclidean 'cutoffs=[5,10],[20,50]'
    python -m nnsim.stages.sweep -m layer=embeddings,taggrams
    python -m nnsim.stages.sweep -m model=musicnn,vgg dataset=msd,mtat

Every job of one multirun is a child of one parent MLflow run (tagged with the sweep folder),
so the MLflow UI compares them side by side.  Tables and figures go to the job's folder under
``results/sweeps/``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nnsim.config import CONF_DIR, validate
from nnsim.errors import NnsimError
from nnsim.stages.compare import run_compare
from nnsim.tracking import stage_run

log = logging.getLogger("nnsim.sweep")


def parent_run_id(cfg: dict[str, Any], sweep_dir: str, overrides: list[str]) -> str | None:
    """The sweep's parent run (created by its first job), found by its tag."""
    if not cfg["mlflow"]["enabled"]:
        return None
    import mlflow

    from nnsim.tracking import _setup

    exp_id = _setup(cfg["mlflow"])
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
        run_name=f"sweep {Path(sweep_dir).name}",
        tags={"nnsim.sweep": sweep_dir, "nnsim.role": "parent"},
    ) as tr:
        tr.log_params({"sweep.dir": sweep_dir})
        return tr.run_id


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base=None)
def app(dcfg: DictConfig) -> float:
    """One sweep job: compare the selected spaces with this job's settings."""
    cfg: dict[str, Any] = OmegaConf.to_container(dcfg, resolve=True)  # type: ignore[assignment]
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    try:
        validate(cfg)
        multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
        parent = parent_run_id(cfg, hc.sweep.dir, list(hc.overrides.task)) if multirun else None
        overrides = list(hc.overrides.task)
        name = " ".join(overrides) or "defaults"
        params = {k: cfg[k] for k in ("cutoffs", "distance", "subset", "select", "compare")}
        with stage_run(
            cfg,
            "sweep",
            params,
            run_name=name,
            parent_run_id=parent,
            tags={"nnsim.sweep": hc.sweep.dir if multirun else "", "nnsim.overrides": name},
        ) as tr:
            reuse = Path(cfg["paths"]["neighbors_dir"]) / cfg["distance"]
            metrics = run_compare(cfg, cfg["distance"], True, tr, out_dir, None, reuse_dir=reuse)
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    first = [v for k, v in metrics.items() if k.startswith("factor.")]
    log.info("job %s done: %s", name, out_dir)
    return float(first[0]) if first else 0.0


if __name__ == "__main__":
    app()
