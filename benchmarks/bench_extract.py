"""Benchmark: the extraction against a straightforward Essentia pipeline, on the same clips.

Synthesises N 30-s clips (16 kHz FLAC), then times in one run, each with an empty cache:

(a) the straightforward Essentia pipeline: one process; per track ``MonoLoader`` (the
    configured sample rate and resampling quality), ``TensorflowInputMusiCNN`` mel patches and
    one ``TensorflowPredict`` per model with both layers fetched in one run (predictors built
    once), mean over patches;
(b) the ``extract`` stage's code (``nnsim.audio.extract.extract``) with the settings of
    ``params.yaml`` (``audio.runtime``, ``audio.workers``), and with ``audio.runtime=essentia``.

Reports audio minutes per wall minute for each, the ratios to (a), and the smallest cosine
between (a)'s and (b)'s vectors over every track, model and layer.  Target (issue #23): (b) at
least 1.5x (a), cosine >= 0.99999.  Needs the frozen and converted graphs
(``dvc repro models``).  Run: ``make bench`` or ``python benchmarks/bench_extract.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

import nnsim  # noqa: F401
from nnsim.audio.extract import extract, find_audio
from nnsim.audio.models import check_graph, model_specs
from nnsim.audio.synth import STYLES, synth_clip
from nnsim.config import load_params


def checked_specs(cfg) -> list:  # type: ignore[no-untyped-def]
    """The musicnn-wheel models of ``cfg`` with their frozen graphs checked."""
    specs = [s for s in model_specs(cfg.models, cfg.paths.models_dir) if s.checkpoint]
    for s in specs:
        check_graph(s)
    return specs


def write_clips(folder: Path, n: int) -> list[tuple[str, Path]]:
    """``n`` synthetic 30-s clips (16 kHz FLAC) in ``folder``; returns them as tracks."""
    for i in range(n):
        sf.write(
            folder / f"{i:04d}.flac",
            synth_clip(STYLES[i % len(STYLES)], i, duration=30.0, sr=16000),
            16000,
        )
    return find_audio(folder, ["flac"], "stem")


def plain_essentia(tracks: list[tuple[str, Path]], specs: list, audio) -> dict:  # type: ignore[no-untyped-def]
    """(a): the straightforward pipeline, one track at a time in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    predictors = {
        s.name: es.TensorflowPredict(
            graphFilename=str(s.graph), inputs=[s.input], outputs=list(s.layers.values())
        )
        for s in specs
    }
    mel = es.TensorflowInputMusiCNN()
    cutter = dict(frameSize=512, hopSize=256)
    out: dict = {s.name: {layer: [] for layer in s.layers} for s in specs}
    seconds = 0.0
    for _tid, path in tracks:
        x = es.MonoLoader(
            filename=str(path), sampleRate=audio.sample_rate, resampleQuality=audio.resample_quality
        )()
        seconds += x.size / audio.sample_rate
        frames = [mel(f) for f in es.FrameGenerator(x, startFromZero=False, **cutter)]
        M = np.asarray(frames, dtype=np.float32)
        starts = range(0, M.shape[0] - 187 + 1, audio.patch_hop)
        patches = np.stack([M[s : s + 187] for s in starts])
        for s in specs:
            pool = essentia.Pool()
            pool.set(s.input, patches[:, None])
            res = predictors[s.name](pool)
            for layer, node in s.layers.items():
                v = np.asarray(res[node], dtype=np.float32).reshape(patches.shape[0], -1)
                out[s.name][layer].append(v.mean(axis=0))
    return {
        "seconds": seconds,
        "vectors": {m: {k: np.stack(v) for k, v in d.items()} for m, d in out.items()},
    }


def timed_stage(tracks, specs, audio, cache: Path, workers: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    res = extract(tracks, specs, audio, cache, workers=workers, show_progress=False)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "extract.json"))
    args = ap.parse_args()
    cfg = load_params()
    specs = checked_specs(cfg)
    audio = cfg.audio
    workers = args.workers or int(audio.workers)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tracks = write_clips(Path(tmp), args.clips)
        minutes = None
        t0 = time.perf_counter()
        plain = plain_essentia(tracks, specs, audio)
        wall_a = time.perf_counter() - t0
        minutes = plain["seconds"] / 60
        rows["plain_essentia"] = {"wall_s": wall_a, "workers": 1, "runtime": "essentia"}
        variants = {"stage": audio}
        if audio.runtime != "essentia":
            variants["stage_essentia_runtime"] = replace(audio, runtime="essentia")
        worst = {}
        for name, st in variants.items():
            wall, res = timed_stage(tracks, specs, st, Path(tmp) / f"cache-{name}", workers)
            rows[name] = {"wall_s": wall, "workers": workers, "runtime": st.runtime}
            cos = 1.0
            for m, layers in plain["vectors"].items():
                for layer, A in layers.items():
                    B = res.vectors[m][layer]
                    c = np.sum(A * B, 1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
                    cos = min(cos, float(c.min()))
            worst[name] = cos
            rows[name]["min_cosine_to_plain"] = cos
    for name, r in rows.items():
        r["audio_min_per_wall_min"] = minutes / (r["wall_s"] / 60)
        r["ratio_to_plain"] = wall_a / r["wall_s"]
        print(
            f"{name:24s} {r['runtime']:12s} {r['workers']} worker(s): {r['wall_s']:6.1f} s, "
            f"{r['audio_min_per_wall_min']:5.1f} audio min per wall min, "
            f"{r['ratio_to_plain']:.2f}x plain"
            + (f", min cosine {r['min_cosine_to_plain']:.7f}" if "min_cosine_to_plain" in r else "")
        )
    print(
        f"({args.clips} clips, {minutes:.1f} audio minutes; "
        "target: stage >= 1.5x plain, cosine >= 0.99999)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"clips": args.clips, "audio_minutes": minutes, **rows}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
