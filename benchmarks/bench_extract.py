"""Benchmark: minutes of audio processed per wall minute by the content-based extraction.

Synthesises N 30-s clips, then runs the real extraction (all four MusiCNN/VGG graphs, both
layers, `audio.workers` processes) with an empty cache and reports audio minutes per wall
minute.  Target on this 2-core machine: at least 20.  Needs the frozen graphs
(`dvc repro models`).  Run: ``make bench`` or ``python benchmarks/bench_extract.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import soundfile as sf

import nnsim  # noqa: F401
from nnsim.audio.extract import extract, find_audio
from nnsim.audio.models import check_graph, model_specs
from nnsim.audio.synth import STYLES, synth_clip
from nnsim.config import load_params


def checked_specs(cfg: dict) -> list:
    """The musicnn-wheel models of ``cfg`` with their frozen graphs checked."""
    specs = [s for s in model_specs(cfg.models, cfg.paths.models_dir) if s.checkpoint]
    for s in specs:
        check_graph(s)
    return specs


def write_clips(folder: Path, n: int) -> list:
    """``n`` synthetic 30-s clips (16 kHz FLAC) in ``folder``; returns them as tracks."""
    for i in range(n):
        sf.write(
            folder / f"{i:04d}.flac",
            synth_clip(STYLES[i % len(STYLES)], i, duration=30.0, sr=16000),
            16000,
        )
    return find_audio(folder, ["flac"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "extract.json"))
    args = ap.parse_args()
    cfg = load_params()
    specs = checked_specs(cfg)
    workers = args.workers or int(cfg.audio.workers)
    with tempfile.TemporaryDirectory() as tmp:
        tracks = write_clips(Path(tmp), args.clips)
        t0 = time.perf_counter()
        res = extract(
            tracks,
            specs,
            cfg.audio,
            Path(tmp) / "cache",
            workers=workers,
            show_progress=True,
        )
        wall = time.perf_counter() - t0
    minutes = res.audio_seconds / 60
    rate = minutes / (wall / 60)
    print(
        f"{len(res.ids)} clips, {minutes:.1f} audio min in {wall:.1f} s with {workers} "
        f"worker(s): {rate:.1f} audio min per wall min (target >= 20)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "clips": len(res.ids),
                "audio_minutes": minutes,
                "wall_s": wall,
                "workers": workers,
                "audio_min_per_wall_min": rate,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
