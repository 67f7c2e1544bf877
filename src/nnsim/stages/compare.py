"""Stage ``compare@<distance>``: neighbour tables of every space and S_n of every pair.

Reads the spaces listed in ``spaces/cb/list.csv`` and ``spaces/cf/list.csv`` (content-based
spaces filtered by ``select``), aligns them on shared track ids, computes neighbour tables
at ``neighbors.k`` (saved under ``neighbors/<distance>/``), then S_n at ``cutoffs`` with
bootstrap CIs, the S_n curves and the Table-2 aggregates, under
``results/compare/<distance>/``.  Everything goes to MLflow too.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnsim.compare import curves_frame, factors_frame, prepare_spaces, similarity_frame
from nnsim.errors import InputError
from nnsim.neighbors import neighbors
from nnsim.plots import curves_plot, heatmap
from nnsim.similarity import compare_tables
from nnsim.spaces import Space, read_space_list
from nnsim.stages.common import atomic_dir, log, run_stage, write_json
from nnsim.tracking import stage_run


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


def space_fingerprint(space: Space, distance: str) -> str:
    """Hash of a prepared space's vectors, track ids and the distance (neighbour-table key)."""
    h = hashlib.sha256(distance.encode())
    h.update(np.ascontiguousarray(space.X).tobytes())
    if space.ids is not None:
        h.update("\n".join(space.ids).encode())
    return h.hexdigest()


def cached_table(folder: Path, space: Space, distance: str, k: int) -> np.ndarray | None:
    """A neighbour table the pipeline already computed for exactly these vectors, or None."""
    idx_path = folder / f"{space.name}.indices.npy"
    fp_path = folder / f"{space.name}.fingerprint"
    if not (idx_path.is_file() and fp_path.is_file()):
        return None
    if fp_path.read_text().strip() != space_fingerprint(space, distance):
        return None
    idx = np.load(idx_path, mmap_mode="r")
    if idx.ndim != 2 or idx.shape[1] < k:
        return None
    return np.ascontiguousarray(idx[:, :k])


def run_compare(
    cfg: dict[str, Any],
    distance: str,
    quiet: bool,
    tracker: Any,
    out_dir: Path,
    tables_dir: Path | None,
    reuse_dir: Path | None = None,
) -> dict[str, float]:
    """Compute and write every table and figure of one distance; return the metrics.

    ``tables_dir``: where to save the neighbour tables (with a fingerprint of the vectors);
    ``reuse_dir``: where to look for tables computed earlier on exactly the same vectors
    (same tracks, same subset), whose first ``k`` columns are the answer (the sweep app).
    """
    ccfg = cfg["compare"]
    spaces = selected_spaces(cfg)
    prep = prepare_spaces(
        spaces,
        distance=distance,
        cutoffs=cfg["cutoffs"],
        indices=cfg["data"]["small_indices"] if cfg["subset"] == "small" else None,
        drop_zero_rows=bool(ccfg["drop_zero_rows"]),
    )
    k = int(cfg["neighbors"]["k"])
    n = prep.spaces[0].n_tracks
    if k >= n:
        k = n - 1
        log.warning("neighbors.k lowered to %d: only %d tracks", k, n)
    tables = {}
    for s in prep.spaces:
        cached = cached_table(reuse_dir, s, distance, k) if reuse_dir is not None else None
        if cached is not None:
            log.info("%s: reusing the neighbour table in %s", s.name, reuse_dir)
            tables[s.name] = cached
            continue
        idx, dist = neighbors(
            s.X,
            k,
            distance,
            max_block_mb=float(cfg["neighbors"]["max_block_mb"]),
            show_progress=not quiet,
            name=s.name,
        )
        tables[s.name] = idx
        if tables_dir is not None:
            np.save(tables_dir / f"{s.name}.indices.npy", idx)
            np.save(tables_dir / f"{s.name}.distances.npy", dist)
            if s.ids is not None:
                (tables_dir / f"{s.name}.ids.txt").write_text("\n".join(s.ids) + "\n")
            (tables_dir / f"{s.name}.fingerprint").write_text(space_fingerprint(s, distance) + "\n")
    cmp = compare_tables(
        tables,
        cfg["cutoffs"],
        measures=ccfg["measures"],
        rbo_p=float(ccfg["rbo_p"]),
        n_boot=int(ccfg["n_boot"]),
        ci_level=float(ccfg["ci_level"]),
        seed=int(ccfg["seed"]),
        meta={s.name: s.meta for s in prep.spaces},
        show_progress=not quiet,
    )
    sim = similarity_frame(cmp, distance)
    sim.to_csv(out_dir / "similarity.csv", index=False, float_format="%.8g")
    curves_frame(cmp, distance).to_csv(out_dir / "curves.csv", index=False, float_format="%.8g")
    fac = factors_frame(cmp, distance, ccfg["variables"])
    fac.to_csv(out_dir / "factors.csv", index=False, float_format="%.8g")
    label = ", SYNTHETIC demo" if cfg["data"].get("synthetic") else ""
    title = f"NN-similarity ({distance}, {n} tracks{label})"
    heatmap(cmp.similarity, cmp.names, cmp.cutoffs, out_dir / "heatmap.png", title=title)
    K = cmp.curves.shape[-1]
    curves_plot(cmp.curves, cmp.names, np.arange(1, K + 1) / (n - 1), out_dir / "curves.png")
    metrics: dict[str, float] = {}
    for _, r in sim.iterrows():
        metrics[f"S{r['cutoff']}.{r['src']}.{r['dst']}"] = float(r["similarity"])
    for _, r in fac.iterrows():
        metrics[f"factor.{r['variable']}.S{r['cutoff']}"] = float(r["similarity"])
    metrics["tracks"] = float(n)
    tracker.log_metrics(metrics)
    tracker.log_artifacts(out_dir)
    return metrics


def run(cfg: dict[str, Any], args: argparse.Namespace) -> None:
    distance = args.distance
    params = {k: cfg[k] for k in ("cutoffs", "neighbors", "subset", "compare", "select")}
    params["distance"] = distance
    out = Path(cfg["paths"]["results_dir"]) / "compare" / distance
    with (
        stage_run(cfg, f"compare@{distance}", params) as tr,
        atomic_dir(out) as tmp,
        atomic_dir(Path(cfg["paths"]["neighbors_dir"]) / distance) as ntmp,
    ):
        metrics = run_compare(cfg, distance, args.quiet, tr, tmp, ntmp)
    write_json(
        Path(cfg["paths"]["metrics_dir"]) / f"compare-{distance}.json",
        {k: v for k, v in metrics.items() if k.startswith(("factor.", "tracks"))},
    )
    log.info("compared spaces (%s); results in %s", distance, out)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--distance", required=True)

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
