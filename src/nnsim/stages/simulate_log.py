"""Stage ``simulate_log``: a SIMULATED interaction log over the demo corpus (demo only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nnsim.cf.simulate import simulate_log
from nnsim.files import atomic_write_text
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage


def run(cfg: Settings, args: argparse.Namespace) -> None:
    root = Path(cfg.paths.demo_dir)
    DEMO_LOG = root / "interactions.csv"  # the stage's DVC out, whatever data option
    demo = cfg.data.demo
    if not demo:
        atomic_write_text(DEMO_LOG, "user_id,track_id,value,event\n")
        name = cfg.data.name
        log.info("data=%s: no simulated log needed; wrote an empty placeholder", name)
        return
    tracks = pd.read_csv(root / "tracks.csv", dtype=str)
    df = simulate_log(
        tracks["track_id"].to_numpy(),
        tracks["style"].to_numpy(),
        n_users=int(demo.n_users),
        events_per_user=int(demo.events_per_user),
        seed=int(demo.log_seed),
    )
    out = atomic_write_text(DEMO_LOG, df.to_csv(index=False))
    log.info(
        "simulated %d events by %d users over %d tracks -> %s",
        len(df),
        df["user_id"].nunique(),
        df["track_id"].nunique(),
        out,
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
