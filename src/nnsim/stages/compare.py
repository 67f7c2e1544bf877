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
from pathlib import Path
from typing import Any

from nnsim.compare import CompareOptions, run_comparison
from nnsim.errors import InputError
from nnsim.io import atomic_dir, write_json
from nnsim.report import comparison_metrics, summary_metrics, write_report
from nnsim.spaces import Space, read_space_list
from nnsim.stages.common import log, run_stage
from nnsim.tables import TableStore
from nnsim.tracking import Tracker, log_comparison, stage_run


def selected_spaces(cfg: dict[str, Any]) -> list[Space]:
    """Spaces the pipeline produced, content-based ones filtered by ``select``."""
    sdir = Path(cfg["paths"]["spaces_dir"])
    spaces: list[Space] = []
    for kind in ("cb", "cf"):
        lst = sdir / kind / "list.csv"
        if lst.is_file():
            spaces += read_space_list(lst)
    sel = cfg["select"]
    keep = []
    for s in spaces:
        if s.meta.get("kind") == "cb" and (
            s.meta.get("architecture") not in sel["architectures"]
            or s.meta.get("dataset") not in sel["datasets"]
            or s.meta.get("layer") not in sel["layers"]
        ):
            continue
        keep.append(s)
    if len(keep) < 2:
        raise InputError(
            f"only {len(keep)} space(s) under {sdir} match select={sel}; widen the model/"
            "dataset/layer selection or run the extraction and CF stages first."
        )
    return keep


def compare_params(cfg: dict[str, Any], distance: str) -> dict[str, Any]:
    """The settings a comparison depends on (logged to MLflow)."""
    params = {k: cfg[k] for k in ("cutoffs", "neighbors", "subset", "compare", "select")}
    params["distance"] = distance
    return params


def run_compare(
    cfg: dict[str, Any],
    distance: str,
    *,
    quiet: bool,
    tracker: Tracker,
    out_dir: Path,
    store: TableStore | None,
    reuse: TableStore | None = None,
) -> dict[str, float]:
    """Compare the pipeline's spaces at one distance, write the report, track it.

    Shared by this stage and the sweep app (which passes ``reuse``: tables computed by the
    pipeline on exactly the same vectors are not recomputed).
    """
    result = run_comparison(
        selected_spaces(cfg),
        CompareOptions.from_config(cfg),
        distance=distance,
        indices=cfg["data"]["small_indices"] if cfg["subset"] == "small" else None,
        store=store,
        reuse=reuse,
        show_progress=not quiet,
    )
    note = "SYNTHETIC demo" if cfg["data"].get("synthetic") else ""
    write_report(result, out_dir, variables=list(cfg["compare"]["variables"]), note=note)
    metrics = comparison_metrics(result)
    log_comparison(tracker, metrics, out_dir)
    return metrics


def run(cfg: dict[str, Any], args: argparse.Namespace) -> None:
    distance = args.distance
    paths = cfg["paths"]
    out = Path(paths["results_dir"]) / "compare" / distance
    with (
        stage_run(cfg, f"compare@{distance}", compare_params(cfg, distance)) as tr,
        atomic_dir(out) as tmp,
        atomic_dir(Path(paths["neighbors_dir"]) / distance) as ntmp,
    ):
        metrics = run_compare(
            cfg,
            distance,
            quiet=args.quiet,
            tracker=tr,
            out_dir=tmp,
            store=TableStore(ntmp, distance),
        )
    write_json(Path(paths["metrics_dir"]) / f"compare-{distance}.json", summary_metrics(metrics))
    log.info("compared spaces (%s); results in %s", distance, out)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--distance", required=True)

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
