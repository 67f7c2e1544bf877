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
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.tracking import stage_run


def plot_selection(summary: pd.DataFrame, k: int, path: Path, simulated: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    als = summary[summary["model"] == "als"]
    pop = summary[summary["model"] == "popularity"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, m in zip(axes, ("ndcg", "map"), strict=True):
        ax.errorbar(
            als["factors"], als[f"{m}_mean"], yerr=als[f"{m}_std"].fillna(0), marker="o", capsize=3
        )
        if len(pop):
            ax.axhline(float(pop[f"{m}_mean"].iloc[0]), color="grey", ls="--", label="popularity")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("factors")
        ax.set_ylabel(f"{m.upper()}@{k}")
        ax.legend(fontsize=7)
    label = ", SIMULATED demo log" if simulated else ""
    fig.suptitle(f"ALS factor selection (stratified 80/20 split{label})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(cfg: Settings, args: argparse.Namespace) -> None:
    if cfg.data.from_latentjam:
        out = Path(cfg.paths.results_dir) / "cf_select"
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "best.json", {"best_factors": None, "note": "spaces are imported"})
        write_json(Path(cfg.paths.metrics_dir) / "cf_select.json", {"best_factors": None})
        log.info("data=%s: spaces are imported, no ALS to select", cfg.data.name)
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
        plot_selection(sel.summary, int(sel_cfg.k), out / "figure.png", bool(cfg.data.synthetic))
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
