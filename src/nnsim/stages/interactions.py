"""Stage ``interactions``: read, aggregate and filter the interaction log (counts per step).

Writes ``data/interim/interactions.parquet`` (user_id, track_id, value) and
``results/interactions/report.csv``.  The input log is never modified.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nnsim.cf.log import preprocess, read_log
from nnsim.files import atomic_dir, atomic_write_bytes, write_json
from nnsim.settings import Settings
from nnsim.spaces import read_space_list
from nnsim.stages.common import log, no_log_reason, run_stage
from nnsim.tracking import stage_run


def cb_track_ids(cfg: Settings) -> list[str] | None:
    """Track ids of the content-based spaces (None when cf.restrict_to_cb is off)."""
    if not cfg.cf.restrict_to_cb:
        return None
    lst = Path(cfg.paths.spaces_dir) / "cb" / "list.csv"
    spaces = read_space_list(lst)
    ids = spaces[0].ids
    return None if ids is None else ids.tolist()


def run(cfg: Settings, args: argparse.Namespace) -> None:
    if not cfg.data.has_log:  # LatentJam spaces, or audio only (data.interactions: null)
        interim = Path(cfg.paths.interim_dir)
        empty = pd.DataFrame(
            {
                "user_id": pd.Series(dtype=str),
                "track_id": pd.Series(dtype=str),
                "value": pd.Series(dtype="float32"),
            }
        )
        atomic_write_bytes(interim / "interactions.parquet", empty.to_parquet(index=False))
        with atomic_dir(Path(cfg.paths.results_dir) / "interactions") as tmp:
            (tmp / "report.csv").write_text("step,rows,users,tracks\n")
        write_json(Path(cfg.paths.metrics_dir) / "interactions.json", {"rows": 0})
        log.info("data=%s: %s", cfg.data.name, no_log_reason(cfg))
        return
    c = cfg.cf
    assert cfg.data.interactions is not None  # has_log
    df = read_log(cfg.data.interactions)
    keep = cb_track_ids(cfg)
    params = {
        "cf": {
            k: getattr(c, k)
            for k in (
                "aggregate",
                "event_weights",
                "min_user_interactions",
                "min_track_interactions",
                "max_user_quantile",
                "restrict_to_cb",
            )
        }
    }
    with stage_run(cfg, "interactions", params) as tr:
        out, rep = preprocess(
            df,
            aggregate_how=c.aggregate,
            event_weights=c.event_weights,
            min_user=int(c.min_user_interactions),
            min_track=int(c.min_track_interactions),
            max_user_quantile=float(c.max_user_quantile),
            keep_tracks=keep,
        )
        interim = Path(cfg.paths.interim_dir)
        atomic_write_bytes(interim / "interactions.parquet", out.to_parquet(index=False))
        rdir = Path(cfg.paths.results_dir) / "interactions"
        rdir.mkdir(parents=True, exist_ok=True)
        report = rep.frame()
        report.to_csv(rdir / "report.csv", index=False)
        final = report.iloc[-1]
        metrics = {
            "rows": int(final["rows"]),
            "users": int(final["users"]),
            "tracks": int(final["tracks"]),
            "density": float(final["rows"]) / (float(final["users"]) * float(final["tracks"])),
        }
        write_json(Path(cfg.paths.metrics_dir) / "interactions.json", metrics)
        tr.log_metrics(metrics)
        tr.log_artifacts(rdir / "report.csv")
    log.info("filtered log:\n%s", report.to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
