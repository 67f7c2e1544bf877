"""Stage ``simulate_log``: a SIMULATED interaction log over the demo corpus (demo only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from nnsim.cf.simulate import simulate_log
from nnsim.stages.common import log, run_stage

#: Fixed output of the stage (DVC out).
DEMO_LOG = Path("data/demo/interactions.csv")


def run(cfg: dict[str, Any], args: argparse.Namespace) -> None:
    demo = cfg["data"]["demo"]
    if not demo:
        DEMO_LOG.parent.mkdir(parents=True, exist_ok=True)
        DEMO_LOG.write_text("user_id,track_id,value,event\n")
        log.info("data=%s uses a real log; wrote an empty placeholder", cfg["data"]["name"])
        return
    tracks = pd.read_csv("data/demo/tracks.csv", dtype=str)
    df = simulate_log(
        tracks["track_id"].to_numpy(),
        tracks["style"].to_numpy(),
        n_users=int(demo["n_users"]),
        events_per_user=int(demo["events_per_user"]),
        seed=int(demo["log_seed"]),
    )
    out = DEMO_LOG
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    df.to_csv(tmp, index=False)
    tmp.replace(out)
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
