"""Stage ``extract``: content-based spaces from an audio folder (Essentia-TensorFlow).

Writes ``spaces/cb/<model>-<layer>.npy`` (+ ids + manifest) for every model whose graph is
present, ``spaces/cb/list.csv`` (the paper's list format), ``spaces/cb/skipped.csv`` (file,
reason) and ``spaces/cb/models.json`` (models used and skipped, with how to get them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.audio.extract import extract, find_audio
from nnsim.audio.models import check_graph, download_hint, file_sha256, model_specs
from nnsim.cluster import DaskRun, dask_client
from nnsim.config import as_dict
from nnsim.errors import InputError
from nnsim.files import atomic_dir, write_json, write_space_list
from nnsim.settings import Settings
from nnsim.spaces import Space, save_space
from nnsim.stages.common import SPACE_LIST_HEADER, log, run_stage
from nnsim.tracking import stage_run


def run(cfg: Settings, args: argparse.Namespace) -> None:
    if cfg.data.from_latentjam:
        with atomic_dir(Path(cfg.paths.spaces_dir) / "cb") as tmp:
            (tmp / "list.csv").write_text(SPACE_LIST_HEADER)
            (tmp / "skipped.csv").write_text("track_id,file,reason\n")
            (tmp / "models.json").write_text('{"used": [], "note": "spaces are imported"}\n')
        write_json(Path(cfg.paths.metrics_dir) / "extract.json", {"tracks": 0})
        log.info("data=%s: spaces are imported, nothing to extract", cfg.data.name)
        return
    acfg = cfg.audio
    specs, skipped_models = [], {}
    for s in model_specs(cfg.models, cfg.paths.models_dir):
        if not s.graph.is_file() and not s.checkpoint:
            skipped_models[s.name] = {
                "reason": f"graph {s.graph} not present",
                "fetch": download_hint(s),
            }
            log.warning(
                "skipping %s: graph %s not present; fetch it with: %s",
                s.name,
                s.graph,
                download_hint(s),
            )
            continue
        check_graph(s)
        specs.append(s)
    if not specs:
        raise InputError(
            "no model graph is available: "
            + "; ".join(f"{k}: {v['fetch']}" for k, v in skipped_models.items())
        )
    tracks = find_audio(cfg.data.audio_dir, acfg.extensions, acfg.track_id)
    log.info(
        "%d audio files under %s; models: %s",
        len(tracks),
        cfg.data.audio_dir,
        ", ".join(s.name for s in specs),
    )
    params = {
        "audio": as_dict(acfg),
        "models": {s.name: {"graph": str(s.graph), "layers": s.layers} for s in specs},
        "data": {"audio_dir": cfg.data.audio_dir},
    }
    # The cluster is reached (or refused, naming its address) before any work or output.
    cluster = dask_client(cfg.cluster) if cfg.cluster.extract else nullcontext()
    with cluster as client, stage_run(cfg, "extract", params) as tr:
        t0 = time.perf_counter()
        res = extract(
            tracks,
            specs,
            acfg,
            acfg.cache_dir,
            workers=acfg.workers,
            show_progress=not args.quiet,
            dask=DaskRun(client, cfg.cluster.retries) if client is not None else None,
        )
        wall = time.perf_counter() - t0
        if not res.ids:
            raise InputError(
                f"no track of {cfg.data.audio_dir} could be extracted ({len(res.skipped)} "
                f"skipped, e.g. {res.skipped[0][1]}: {res.skipped[0][2]}). Check the audio files "
                "and audio.min_duration / audio.silence_rms."
            )
        out_dir = Path(cfg.paths.spaces_dir) / "cb"
        rows = []
        with atomic_dir(out_dir) as tmp:
            for s in specs:
                sha = file_sha256(s.graph)
                for layer in s.layers:
                    name = s.space_name(layer)
                    meta = {
                        "kind": "cb",
                        "dataset": s.dataset,
                        "architecture": s.architecture,
                        "layer": layer,
                        "model": s.name,
                        "graph_sha256": sha,
                        "node": s.layers[layer],
                        "audio": as_dict(acfg),
                        "synthetic": bool(cfg.data.synthetic),
                    }
                    save_space(
                        Space(name, res.vectors[s.name][layer], np.asarray(res.ids), meta),
                        tmp / f"{name}.npy",
                    )
                    rows.append(
                        {
                            "name": name,
                            "file": f"{name}.npy",
                            "kind": "cb",
                            "dataset": s.dataset,
                            "architecture": s.architecture,
                            "layer": layer,
                        }
                    )
            write_space_list(tmp / "list.csv", rows)
            pd.DataFrame(res.skipped, columns=["track_id", "file", "reason"]).to_csv(
                tmp / "skipped.csv", index=False
            )
            (tmp / "models.json").write_text(
                json.dumps({"used": [s.name for s in specs], "skipped": skipped_models}, indent=2)
                + "\n"
            )
        minutes = res.audio_seconds / 60.0
        metrics = {
            "tracks": len(res.ids),
            "skipped_files": len(res.skipped),
            "cached_tracks": res.n_cached,
            "damaged_cache_entries": res.n_damaged,
            "models": len(specs),
            "models_skipped": len(skipped_models),
            "audio_minutes_extracted": minutes,
            "wall_seconds": wall,
            "audio_minutes_per_wall_minute": minutes / (wall / 60.0)
            if wall > 0 and minutes
            else 0.0,
        }
        write_json(Path(cfg.paths.metrics_dir) / "extract.json", metrics)
        tr.log_metrics(metrics)
        tr.log_artifacts(out_dir / "skipped.csv", out_dir / "list.csv", out_dir / "models.json")
    for tid, f, reason in res.skipped:
        log.warning("skipped %s (%s): %s", tid, f, reason)
    log.info(
        "extracted %d tracks (%d skipped, %d from cache) in %.1f s",
        len(res.ids),
        len(res.skipped),
        res.n_cached,
        wall,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
