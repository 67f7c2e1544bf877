"""Stage ``score_projections@<space>``: how much of a space's neighbourhoods its 2-D maps keep.

For the space and every distance of ``projection.distances``: S_n of each map
(euclidean) against the original with bootstrap CIs and the all-n curve, S_n between seeds of
one method, scikit-learn's trustworthiness and continuity — all through the comparison
engine.  Writes ``results/projections/<space>/`` (``scores.csv``, ``seeds.csv``,
``curves.csv``, ``space.json``, a grid of the scores, S_n curves per method, scatter plots
coloured by ``projection.color_by``) and
logs the numbers and figures to MLflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.config import as_dict
from nnsim.errors import InputError
from nnsim.files import atomic_dir, write_json
from nnsim.plots import map_curves, scatter_maps, score_grid, short_label
from nnsim.projection.score import score_maps
from nnsim.settings import Settings
from nnsim.spaces import Space, read_space_list
from nnsim.stages.common import log, run_stage
from nnsim.stages.space_lists import find_space
from nnsim.tracking import stage_run


def track_labels(cfg: Settings, space: Space) -> tuple[np.ndarray | None, str]:
    """The ``projection.color_by`` column of ``data.tracks`` for the space's tracks."""
    col = cfg.projection.color_by
    path = cfg.data.tracks
    if not col or not path or not Path(path).is_file() or space.ids is None:
        return None, ""
    meta = pd.read_csv(path, dtype=str)
    if "track_id" not in meta.columns or col not in meta.columns:
        raise InputError(
            f"{path}: projection.color_by={col!r} needs the columns track_id and {col}; found "
            f"{list(meta.columns)}. Set projection.color_by to one of them or null."
        )
    lookup = dict(zip(meta["track_id"], meta[col], strict=True))
    return np.asarray([lookup.get(t, "unknown") for t in space.ids]), col


def run(cfg: Settings, args: argparse.Namespace) -> None:
    pcfg = cfg.projection
    name = args.space
    out = Path(cfg.paths.results_dir) / "projections" / name
    pdir = Path(cfg.paths.projections_dir)
    note = ", SYNTHETIC demo" if cfg.data.synthetic else ""
    params = {
        "projection": as_dict(pcfg),
        "cutoffs": cfg.cutoffs,
        "compare": as_dict(cfg.compare),
    }
    frames: dict[str, list[pd.DataFrame]] = {"scores": [], "seeds": [], "curves": []}
    metrics: dict[str, float] = {}
    with stage_run(cfg, f"score_projections@{name}", params) as tr, atomic_dir(out) as tmp:
        lst = pdir / name / "list.csv"
        if not lst.is_file():
            raise InputError(f"{lst} not found; run the project stage (dvc repro).")
        original = find_space(cfg, name)
        maps = read_space_list(lst)
        for m in maps:
            m.meta["seed"] = int(m.meta["seed"])
        labels, col = track_labels(cfg, original)
        # what the Figure-3 stage needs of the original: its group and its short label
        meta = {k: original.meta.get(k) for k in ("kind", "dataset", "architecture", "layer")}
        write_json(tmp / "space.json", {**meta, "label": short_label(name, original.meta)})
        scatter_maps(
            {m.name.split("@", 1)[1]: m.X for m in maps},
            tmp / f"{name}.scatter.png",
            labels=labels,
            label_name=col,
            title=f"2-D maps of {name}{note}",
        )
        for distance in pcfg.distances:
            ms = score_maps(
                original,
                maps,
                cutoffs=cfg.cutoffs,
                neighbors=cfg.neighbors,
                compare=cfg.compare,
                distance=distance,
                trust_max_tracks=pcfg.trust_max_tracks,
                seed=cfg.compare.seed,
            )
            frames["scores"].append(ms.scores)
            if distance == pcfg.distances[0]:
                frames["seeds"].append(ms.seeds)
            frames["curves"].append(ms.curves)
            sc = ms.scores
            labels_rows = [m.name.split("@", 1)[1] for m in maps]
            grid = np.array(
                [
                    sc[sc["map"] == m.name].sort_values("cutoff")["similarity"].to_numpy()
                    for m in maps
                ]
            )
            cuts = [f"$S_{{{c}}}$" for c in sorted(sc["cutoff"].unique())]
            score_grid(
                grid,
                labels_rows,
                cuts,
                tmp / f"{name}.{distance}.grid.png",
                title=f"maps vs {name} ({distance}){note}",
            )
            cv = ms.curves
            map_curves(
                {
                    f"{m.meta['method']} {m.meta['seed']}": cv[cv["map"] == m.name][
                        "similarity"
                    ].to_numpy()
                    for m in maps
                },
                cv[cv["map"] == maps[0].name]["chance"].to_numpy(),
                tmp / f"{name}.{distance}.curves.png",
                title=f"$S_n$ of 2-D maps vs {name} ({distance}){note}",
            )
            for rec in sc.to_dict("records"):
                key = f"{name}.{distance}.{rec['method']}.s{rec['seed']}.S{rec['cutoff']}"
                metrics[f"proj.{key}"] = float(rec["similarity"])
                if pd.notna(rec["trustworthiness"]):
                    metrics[f"trust.{key}"] = float(rec["trustworthiness"])
                    metrics[f"cont.{key}"] = float(rec["continuity"])
            if distance == pcfg.distances[0]:  # seed vs seed does not use the distance
                for rec in ms.seeds.to_dict("records"):
                    pair = f"{rec['map_a'].rsplit('-s', 1)[1]}-{rec['map_b'].rsplit('-s', 1)[1]}"
                    key = f"seeds.{name}.{rec['method']}.s{pair}.S{rec['cutoff']}"
                    metrics[key] = float(rec["similarity"])
        for key, parts in frames.items():
            pd.concat(parts, ignore_index=True).to_csv(
                tmp / f"{key}.csv", index=False, float_format="%.8g"
            )
        tr.log_metrics(metrics)
        tr.log_artifacts(tmp)
    summary = {k: v for k, v in metrics.items() if k.startswith(("proj.", "seeds."))}
    write_json(Path(cfg.paths.metrics_dir) / f"projections-{name}.json", summary)
    log.info("scored the maps of %s; results in %s", name, out)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--space", required=True, help="name of the projected space")

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
