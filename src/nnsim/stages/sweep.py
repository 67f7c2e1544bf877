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

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from nnsim.config import find_conf_dir, to_settings
from nnsim.errors import NnsimError
from nnsim.stages.comparing import compare_params, run_compare
from nnsim.tables import TableStore
from nnsim.tracking import stage_run, sweep_parent

log = logging.getLogger("nnsim.sweep")


def swept(arg: str) -> bool:
    """Whether a command-line override sweeps: ``key=a,b`` (a comma outside brackets) or
    ``key=range(...)`` / ``choice(...)`` / ``glob(...)``."""
    key, _, value = arg.partition("=")
    if not value or key.startswith(("hydra", "+", "~")):
        return False
    if value.startswith(("range(", "choice(", "glob(")):
        return True
    depth = 0
    for ch in value:
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            return True
    return False


def swept_overrides(argv: list[str]) -> str:
    """What a multirun sweeps, from its command line: ``distance=cosine,euclidean``."""
    return " ".join(a for a in argv if not a.startswith("-") and swept(a))


@hydra.main(config_path=str(find_conf_dir()), config_name="config", version_base=None)
def app(dcfg: DictConfig) -> float:
    """One sweep job: compare the selected spaces with this job's settings."""
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    try:
        cfg = to_settings(
            OmegaConf.to_container(dcfg, resolve=True),  # type: ignore[arg-type]
            "the sweep's composed settings",
        )
        multirun = hc.mode is not None and hc.mode.name == "MULTIRUN"
        parent = (
            sweep_parent(cfg, hc.sweep.dir, swept_overrides(sys.argv[1:])) if multirun else None
        )
        overrides = list(hc.overrides.task)
        name = " ".join(overrides) or "defaults"
        distance = cfg.distance
        params = compare_params(cfg, distance)
        with stage_run(
            cfg,
            "sweep",
            params,
            run_name=name,
            parent_run_id=parent,
            tags={"nnsim.sweep": hc.sweep.dir if multirun else "", "nnsim.overrides": name},
        ) as tr:
            tables = Path(cfg.paths.neighbors_dir) / distance
            if cfg.subset != "large":
                tables = tables / cfg.subset
            metrics = run_compare(
                cfg,
                distance,
                quiet=True,
                tracker=tr,
                out_dir=out_dir,
                store=None,
                reuse=TableStore(tables, distance),
                subset=cfg.subset,
            )
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        sys.exit(2)
    first = [v for k, v in metrics.items() if k.startswith("factor.")]
    log.info("job %s done: %s", name, out_dir)
    return float(first[0]) if first else 0.0


if __name__ == "__main__":
    app()
