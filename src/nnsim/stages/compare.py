"""Stage ``compare@<distance>``: neighbour tables of every space and S_n of every pair.

Reads the spaces listed in ``spaces/cb/list.csv`` and ``spaces/cf/list.csv`` (content-based
spaces filtered by ``select``) and runs the one comparison workflow
(:func:`nnsim.compare.run_comparison`): neighbour tables saved under
``neighbors/<distance>/``, S_n at ``cutoffs`` with bootstrap CIs, curves, Table-2 aggregates
and ambiguous cut-offs written by :func:`nnsim.report.write_report` under
``results/compare/<distance>/``.  Everything goes to MLflow too.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from nnsim.cluster import dask_client
from nnsim.files import atomic_dir, write_json
from nnsim.report import summary_metrics
from nnsim.search import DaskRun
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.stages.comparing import compare_params, run_compare
from nnsim.tables import TableStore
from nnsim.tracking import stage_run


def run(cfg: Settings, args: argparse.Namespace) -> None:
    distance = args.distance
    paths = cfg.paths
    out = Path(paths.results_dir) / "compare" / distance
    # The cluster is reached (or refused, naming its address) before any output is touched.
    cluster = dask_client(cfg.cluster) if cfg.cluster.neighbors else nullcontext()
    with (
        cluster as client,
        stage_run(cfg, f"compare@{distance}", compare_params(cfg, distance)) as tr,
        atomic_dir(out) as tmp,
        atomic_dir(Path(paths.neighbors_dir) / distance) as ntmp,
    ):
        metrics: dict[str, float] = {}
        for subset in cfg.compare.subsets:
            # large: results/compare/<d>/; small: its own folder inside (tables likewise)
            sub_out = tmp if subset == "large" else tmp / subset
            sub_tab = ntmp if subset == "large" else ntmp / subset
            sub_out.mkdir(exist_ok=True)
            metrics.update(
                run_compare(
                    cfg,
                    distance,
                    quiet=args.quiet,
                    tracker=tr,
                    out_dir=sub_out,
                    store=TableStore(sub_tab, distance),
                    subset=subset,
                    prefix="" if subset == "large" else subset,
                    dask=DaskRun(client, cfg.cluster.retries) if client is not None else None,
                )
            )
    write_json(Path(paths.metrics_dir) / f"compare-{distance}.json", summary_metrics(metrics))
    log.info("compared spaces (%s); results in %s", distance, out)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--distance", required=True)

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
