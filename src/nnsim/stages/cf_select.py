"""Stage ``cf_select``: choose the ALS factor count by NDCG and MAP (the paper's Figure 1).

Writes ``results/cf_select/{runs,summary}.csv`` and ``figure.png``; logs NDCG/MAP per factor
count to MLflow with the factor count as the step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nnsim.cf.als import METRICS, select_factors
from nnsim.cf.log import to_matrix
from nnsim.files import write_json
from nnsim.plots import factor_selection
from nnsim.settings import Settings
from nnsim.stages.common import log, no_log_reason, run_stage
from nnsim.tracking import stage_run


def run(cfg: Settings, args: argparse.Namespace) -> None:
    if not cfg.data.has_log:  # LatentJam spaces, or audio only (data.interactions: null)
        out = Path(cfg.paths.results_dir) / "cf_select"
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "best.json", {"best_factors": None, "note": no_log_reason(cfg)})
        write_json(Path(cfg.paths.metrics_dir) / "cf_select.json", {"best_factors": None})
        log.info("data=%s: %s", cfg.data.name, no_log_reason(cfg))
        return
    c = cfg.cf
    sel_cfg = c.select
    df = pd.read_parquet(Path(cfg.paths.interim_dir) / "interactions.parquet")
    matrix, _, _ = to_matrix(df)
    params = {
        "cf": {
            "select": sel_cfg,
            "regularization": c.regularization,
            "alpha": c.alpha,
            "iterations": c.iterations,
            "deterministic": c.deterministic,
        }
    }
    with stage_run(cfg, "cf_select", params) as tr:
        sel = select_factors(
            matrix,
            sel_cfg.factors,
            seeds=sel_cfg.seeds,
            test_ratio=float(sel_cfg.test_ratio),
            k=int(sel_cfg.k),
            regularization=float(c.regularization),
            alpha=float(c.alpha),
            iterations=int(c.iterations),
            deterministic=bool(c.deterministic),
            show_progress=not args.quiet,
        )
        out = Path(cfg.paths.results_dir) / "cf_select"
        out.mkdir(parents=True, exist_ok=True)
        sel.table.to_csv(out / "runs.csv", index=False)
        sel.summary.to_csv(out / "summary.csv", index=False)
        label = ", SIMULATED demo log" if cfg.data.synthetic else ""
        factor_selection(
            sel.table,
            out / "figure.png",
            k=sel_cfg.k,
            best=sel.best,
            title=f"ALS factor selection (stratified {1 - sel_cfg.test_ratio:.0%}/"
            f"{sel_cfg.test_ratio:.0%} split{label})",
            ci_level=cfg.compare.ci_level,
        )
        grid = sorted(sel_cfg.factors)
        if sel.best in (grid[0], grid[-1]) and len(grid) > 1:
            log.warning(
                "cf_select: the best factor count (%d) is at the %s edge of cf.select.factors=%s; "
                "extend the grid to be sure it is the best",
                sel.best,
                "lower" if sel.best == grid[0] else "upper",
                grid,
            )
        als = sel.summary[sel.summary["model"] == "als"]
        pop = sel.summary[sel.summary["model"] == "popularity"].iloc[0]
        tr.log_metric_steps(
            {
                f"cf.{m}": {int(r["factors"]): float(r[f"{m}_mean"]) for _, r in als.iterrows()}
                for m in METRICS
            }
        )
        metrics = {
            "best_factors": sel.best,
            "popularity": {m: float(pop[f"{m}_mean"]) for m in METRICS},
            "als": {
                str(int(r["factors"])): {m: float(r[f"{m}_mean"]) for m in METRICS}
                for _, r in als.iterrows()
            },
        }
        write_json(Path(cfg.paths.metrics_dir) / "cf_select.json", metrics)
        write_json(out / "best.json", {"best_factors": sel.best})  # read by the cf stage
        tr.log_metrics(
            {
                "cf.best_factors": sel.best,
                **{f"cf.popularity.{m}": float(pop[f"{m}_mean"]) for m in METRICS},
            }
        )
        tr.log_artifacts(out)
    log.info(
        "factor selection (mean over seeds):\n%s\nbest: %d factors",
        sel.summary.to_string(index=False),
        sel.best,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
