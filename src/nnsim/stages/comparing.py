"""The pipeline's comparison of its own spaces, shared by the ``compare`` stage and the sweep app.

Takes the selected spaces (:mod:`nnsim.stages.space_lists`), runs
:func:`nnsim.compare.run_comparison`, writes the report and makes the one tracking call.
Stages never import each other; both entry points import this glue.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nnsim.compare import run_comparison
from nnsim.config import as_dict
from nnsim.report import comparison_metrics, write_report
from nnsim.search import DaskRun
from nnsim.settings import Settings
from nnsim.stages.space_lists import selected_spaces
from nnsim.tables import TableStore, fingerprint
from nnsim.tracking import Tracker, log_comparison


def compare_params(cfg: Settings, distance: str) -> dict[str, Any]:
    """The settings a comparison depends on (logged to MLflow)."""
    whole = as_dict(cfg)
    params = {k: whole[k] for k in ("cutoffs", "neighbors", "subset", "compare", "select")}
    params["distance"] = distance
    return params


def run_compare(
    cfg: Settings,
    distance: str,
    *,
    quiet: bool,
    tracker: Tracker,
    out_dir: Path,
    store: TableStore | None,
    reuse: TableStore | None = None,
    subset: str,
    prefix: str = "",
    dask: DaskRun | None = None,
) -> dict[str, float]:
    """Compare the pipeline's spaces at one distance, write the report, track it.

    Shared by this stage and the sweep app (which passes ``reuse``: tables computed by the
    pipeline on exactly the same vectors are not recomputed).  ``prefix`` (e.g. ``small``)
    prefixes the metric names and puts the files under that artifact folder in MLflow.
    With ``dask`` the exact tables are computed on that cluster (same tables).
    """
    result = run_comparison(
        selected_spaces(cfg),
        cutoffs=cfg.cutoffs,
        neighbors=cfg.neighbors,
        compare=cfg.compare,
        distance=distance,
        indices=cfg.data.small_indices if subset == "small" else None,
        store=store,
        reuse=reuse,
        show_progress=not quiet,
        dask=dask,
    )
    note = "SYNTHETIC demo" if cfg.data.synthetic else ""
    write_report(result, out_dir, variables=cfg.compare.variables, note=note)
    metrics = comparison_metrics(result)
    # Which vectors were compared: the same settings on another CPU give vectors that differ
    # in their last bits (README: "dvc.lock after a fresh make demo"); the tag says so.
    prints = "".join(fingerprint(s, distance) for s in result.prepared.spaces)
    tracker.set_tags({"nnsim.vectors": hashlib.sha256(prints.encode()).hexdigest()[:16]})
    if prefix:
        metrics = {f"{prefix}.{k}": v for k, v in metrics.items()}
    log_comparison(tracker, metrics, out_dir, artifact_path=prefix or None)
    return metrics
