"""Stage ``project@<space>``: 2-D maps of one space by PCA, t-SNE and UMAP, per seed.

Writes ``projections/<space>/<method>-s<seed>.npy`` (+ ids, manifest with every setting) and
``list.csv``.  PCA is deterministic: one map (seed 0).  Timings go to MLflow.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nnsim.config import as_dict
from nnsim.files import atomic_dir, write_space_list
from nnsim.progress import progress
from nnsim.projection.methods import check_size, project
from nnsim.settings import Settings
from nnsim.spaces import Space, save_space
from nnsim.stages.common import log, run_stage
from nnsim.stages.space_lists import find_space
from nnsim.tracking import stage_run


def map_name(space: str, method: str, seed: int) -> str:
    """Name of a map: ``<space>@<method>-s<seed>``."""
    return f"{space}@{method}-s{seed}"


def run(cfg: Settings, args: argparse.Namespace) -> None:
    pcfg = cfg.projection
    opts = pcfg
    space = find_space(cfg, args.space)
    jobs = [
        (m, int(s)) for m in pcfg.methods for s in (pcfg.seeds[:1] if m == "pca" else pcfg.seeds)
    ]
    for m, _ in jobs:  # every setting checked before any map is computed
        check_size(space.n_tracks, m, opts, space.name)
    params = {
        "projection": {
            k: v
            for k, v in as_dict(pcfg).items()
            if k in ("methods", "seeds", "init", "n_jobs", "tsne", "umap")
        },
        "space": space.name,
    }
    out = Path(cfg.paths.projections_dir) / space.name
    rows, times = [], {}
    with stage_run(cfg, f"project@{space.name}", params) as tr, atomic_dir(out) as tmp:
        for method, seed in progress(
            jobs, desc=f"maps of {space.name}", unit="map", enabled=not args.quiet
        ):
            t0 = time.perf_counter()
            Y = project(space.X, method, seed=seed, options=opts, name=space.name)
            times[f"seconds.{method}.s{seed}"] = time.perf_counter() - t0
            name = map_name(space.name, method, seed)
            meta = {
                "kind": "projection",
                "source": space.name,
                "method": method,
                "seed": seed if method != "pca" else None,
                "init": opts.settings_of(method).get("init"),
                "settings": opts.settings_of(method),
                "synthetic": bool(cfg.data.synthetic),
            }
            fname = f"{method}-s{seed}.npy"
            save_space(Space(name, Y, space.ids, meta), tmp / fname)
            rows.append(
                {"name": name, "file": fname, "kind": "projection", "method": method, "seed": seed}
            )
            log.info("%s: %s in %.1f s", space.name, name, times[f"seconds.{method}.s{seed}"])
        write_space_list(tmp / "list.csv", rows)
        tr.log_metrics(times)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--space", required=True, help="name of the space to project")

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
