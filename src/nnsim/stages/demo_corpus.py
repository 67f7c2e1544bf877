"""Stage ``demo_corpus``: synthesise the embedded demo's audio (SYNTHETIC) and its track table.

Also writes three deliberately bad files (corrupt, silent, too short) so the extraction's
skip report has something to show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from nnsim.audio.synth import synth_clip
from nnsim.files import atomic_dir, atomic_write_text
from nnsim.progress import progress
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage


def demo_paths(cfg: Settings) -> tuple[Path, Path]:
    """The stage's outputs (DVC outs, whatever data option is selected): audio folder, list."""
    root = Path(cfg.paths.demo_dir)
    return root / "audio", root / "tracks.csv"


def make_corpus(cfg: Settings, args: argparse.Namespace) -> None:
    DEMO_AUDIO, DEMO_TRACKS = demo_paths(cfg)
    demo = cfg.data.demo
    if not demo:
        with atomic_dir(DEMO_AUDIO) as out:
            (out / "NOT-USED.txt").write_text(
                f"data={cfg.data.name}: the demo corpus is not used.\n"
            )
        atomic_write_text(DEMO_TRACKS, "track_id,style,file,synthetic\n")
        log.info("data=%s has no demo corpus; wrote placeholders", cfg.data.name)
        return
    sr = int(cfg.audio.sample_rate)
    styles = list(demo.styles)
    rng = np.random.default_rng(int(demo.seed))
    n = int(demo.n_clips)
    assign = np.array([styles[i % len(styles)] for i in range(n)])
    rng.shuffle(assign)
    audio_dir = DEMO_AUDIO
    rows = []
    with atomic_dir(audio_dir) as out:
        for i in progress(
            range(n), desc="synthesising demo clips", unit="clip", enabled=not args.quiet
        ):
            tid = f"demo{i:04d}"
            sub = out / f"{i % 10:02d}"  # MTG-Jamendo-like NN/ID layout
            sub.mkdir(exist_ok=True)
            x = synth_clip(
                assign[i], int(demo.seed) * 100003 + i, duration=float(demo.duration), sr=sr
            )
            sf.write(sub / f"{tid}.flac", x, sr, subtype="PCM_16")
            rows.append(
                {
                    "track_id": tid,
                    "style": assign[i],
                    "file": f"{sub.name}/{tid}.flac",
                    "synthetic": True,
                }
            )
        bad = out / "bad"
        bad.mkdir()
        (bad / "bad-corrupt.mp3").write_bytes(b"ID3\x03\x00 this is not audio " * 50)
        sf.write(bad / "bad-silent.wav", np.zeros(sr * 10, dtype=np.float32), sr)
        sf.write(bad / "bad-short.wav", synth_clip("pad", 7, duration=1.0, sr=sr), sr)
    tracks_csv = DEMO_TRACKS
    tracks_csv.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(tracks_csv, pd.DataFrame(rows).to_csv(index=False))
    log.info("wrote %d synthetic clips (+3 bad files) to %s", n, audio_dir)


def main(argv: list[str] | None = None) -> int:
    return run_stage(make_corpus, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
