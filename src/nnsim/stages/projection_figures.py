"""Stage ``projection_figures``: the paper's Figure 3, one figure per space group and distance.

Reads what ``score_projections@<space>`` wrote for every space of ``projection.spaces``
(``scores.csv``, ``seeds.csv``, ``space.json``), groups the layers of one model (MSD MusiCNN
embeddings and taggrams side by side, as in the paper) and writes
``results/figure3/<group>.<distance>.{png,pdf,svg}``: every map against its space (PCA, t-SNE
and UMAP by seed) and seed against seed, at every cutoff, with one colour bar.  Also
``figure3.csv``, the numbers drawn.  The figures go to MLflow.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.errors import InputError
from nnsim.files import atomic_dir
from nnsim.plots import projection_figure
from nnsim.projection.figure3 import figure3_rows, projection_groups
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.tracking import stage_run


def run(cfg: Settings, args: argparse.Namespace) -> None:
    pcfg = cfg.projection
    res = Path(cfg.paths.results_dir)
    out = res / "figure3"
    note = ", SYNTHETIC demo" if cfg.data.synthetic else ""
    meta: dict[str, dict[str, object]] = {}
    scores: dict[str, pd.DataFrame] = {}
    seeds: dict[str, pd.DataFrame] = {}
    for sp in pcfg.spaces:
        pdir = res / "projections" / sp
        need = [pdir / f for f in ("scores.csv", "seeds.csv", "space.json")]
        missing = [str(p) for p in need if not p.is_file()]
        if missing:
            raise InputError(
                f"{', '.join(missing)} not found: run score_projections@{sp} first (dvc repro)."
            )
        meta[sp] = json.loads(need[2].read_text())
        scores[sp] = pd.read_csv(need[0])
        seeds[sp] = pd.read_csv(need[1])
    cutoffs = [int(c) for c in cfg.cutoffs]
    rows_out = []
    params = {"projection.spaces": list(pcfg.spaces), "projection.distances": pcfg.distances}
    with stage_run(cfg, "projection_figures", params) as tr, atomic_dir(out) as tmp:
        for group, names in projection_groups(meta).items():
            for distance in pcfg.distances:
                panels = []
                rows: list[str] = []
                n_orig, chance = 0, None
                for sp in names:
                    sc = scores[sp][scores[sp]["distance"] == distance]
                    labels, values, n_orig = figure3_rows(sc, seeds[sp], cutoffs)
                    if rows and labels != rows:
                        raise InputError(
                            f"{res / 'projections'}: the maps of {names[0]} and {sp} differ "
                            f"({rows} vs {labels}); rerun the project stage for both."
                        )
                    rows = labels
                    panels.append((str(meta[sp].get("label") or sp), values))
                    by_cut = sc.drop_duplicates("cutoff").set_index("cutoff")["chance"]
                    chance = np.array([float(by_cut.get(c, np.nan)) for c in cutoffs])
                    for r, label in enumerate(labels):
                        for c, cut in enumerate(cutoffs):
                            rows_out.append(
                                {
                                    "group": group,
                                    "space": sp,
                                    "distance": distance,
                                    "row": label,
                                    "vs": "original" if r < n_orig else "seed",
                                    "cutoff": cut,
                                    "similarity": values[r, c],
                                }
                            )
                what = " and ".join(str(meta[sp].get("label") or sp) for sp in names)
                projection_figure(
                    panels,
                    rows,
                    cutoffs,
                    tmp / f"{group}.{distance}.png",
                    n_vs_original=n_orig,
                    title=f"Figure 3: $S_n$ of 2-D maps of {what} ({distance}){note}",
                    chance=chance,
                )
        pd.DataFrame(rows_out).to_csv(tmp / "figure3.csv", index=False, float_format="%.8g")
        tr.log_artifacts(tmp)
    log.info("Figure 3 of %d space group(s) in %s", len(projection_groups(meta)), out)


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
