"""The pipeline's comparison of its own spaces, shared by the ``compare`` stage and the sweep app.

Reads the space lists the extraction and CF stages wrote (``<spaces_dir>/{cb,cf}/list.csv``),
applies ``select``, runs :func:`nnsim.compare.run_comparison`, writes the report and makes
the one tracking call.  Stages never import each other; both entry points import this.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from nnsim.compare import CompareOptions, run_comparison
from nnsim.errors import InputError
from nnsim.report import comparison_metrics, write_report
from nnsim.spaces import Space, read_space_list
from nnsim.tables import TableStore, fingerprint
from nnsim.tracking import Tracker, log_comparison


def pipeline_spaces(cfg: dict[str, Any]) -> list[Space]:
    """Every space the pipeline produced (``<spaces_dir>/{cb,cf,latentjam}/list.csv``)."""
    sdir = Path(cfg["paths"]["spaces_dir"])
    spaces: list[Space] = []
    for kind in ("cb", "cf", "latentjam"):
        lst = sdir / kind / "list.csv"
        # a stage with nothing to do (e.g. extraction under data=latentjam) writes a header only
        if lst.is_file() and len(lst.read_text().strip().splitlines()) > 1:
            spaces += read_space_list(lst)
    return spaces


def find_space(cfg: dict[str, Any], name: str) -> Space:
    """The pipeline's space called ``name`` (error lists the names there are)."""
    spaces = pipeline_spaces(cfg)
    for s in spaces:
        if s.name == name:
            return s
    raise InputError(
        f"no space named {name!r} under {cfg['paths']['spaces_dir']}; available: "
        f"{', '.join(s.name for s in spaces) or 'none (run the extraction and CF stages)'}. "
        "Fix projection.spaces in conf/projection/."
    )


def selected_spaces(cfg: dict[str, Any]) -> list[Space]:
    """Spaces the pipeline produced, content-based ones filtered by ``select``."""
    sdir = Path(cfg["paths"]["spaces_dir"])
    spaces = pipeline_spaces(cfg)
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
    subset: str,
    prefix: str = "",
    client: Any = None,
) -> dict[str, float]:
    """Compare the pipeline's spaces at one distance, write the report, track it.

    Shared by this stage and the sweep app (which passes ``reuse``: tables computed by the
    pipeline on exactly the same vectors are not recomputed).  ``prefix`` (e.g. ``small``)
    prefixes the metric names and puts the files under that artifact folder in MLflow.
    With a Dask ``client`` the exact tables are computed on that cluster (same tables).
    """
    result = run_comparison(
        selected_spaces(cfg),
        CompareOptions.from_config(cfg),
        distance=distance,
        indices=cfg["data"]["small_indices"] if subset == "small" else None,
        store=store,
        reuse=reuse,
        show_progress=not quiet,
        client=client,
        retries=int(cfg["cluster"]["retries"]),
    )
    note = "SYNTHETIC demo" if cfg["data"].get("synthetic") else ""
    write_report(result, out_dir, variables=list(cfg["compare"]["variables"]), note=note)
    metrics = comparison_metrics(result)
    # Which vectors were compared: the same settings on another CPU give vectors that differ
    # in their last bits (README: "dvc.lock after a fresh make demo"); the tag says so.
    prints = "".join(fingerprint(s, distance) for s in result.prepared.spaces)
    tracker.set_tags({"nnsim.vectors": hashlib.sha256(prints.encode()).hexdigest()[:16]})
    if prefix:
        metrics = {f"{prefix}.{k}": v for k, v in metrics.items()}
    log_comparison(tracker, metrics, out_dir, artifact_path=prefix or None)
    return metrics
