"""Stage ``cf``: ALS on all filtered interactions at ``cf.factors`` → CF spaces (item factors).

Writes ``spaces/cf/cf-<factors>.npy`` (+ ids, manifest) and ``spaces/cf/list.csv``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from nnsim.cf.als import fit_als
from nnsim.cf.log import to_matrix
from nnsim.errors import InputError
from nnsim.spaces import Space, save_space
from nnsim.stages.common import atomic_dir, log, run_stage
from nnsim.tracking import stage_run


def losses_callback(acc: list[float]) -> Callable[[int, float, float], None]:
    """An implicit ``fit`` callback that records the training loss of every iteration."""

    def cb(_iteration: int, _elapsed: float, loss: float) -> None:
        acc.append(float(loss))

    return cb


def run(cfg: dict[str, Any], args: argparse.Namespace) -> None:
    c = cfg["cf"]
    df = pd.read_parquet("data/interim/interactions.parquet")
    matrix, _users, tracks = to_matrix(df)
    if max(c["factors"]) >= min(matrix.shape):
        raise InputError(
            f"cf.factors={c['factors']} needs fewer factors than users and tracks "
            f"({matrix.shape[0]} x {matrix.shape[1]} after filtering); lower cf.factors."
        )
    params = {
        "cf": {
            k: c[k]
            for k in ("factors", "regularization", "alpha", "iterations", "seed", "deterministic")
        }
    }
    rows = []
    with (
        stage_run(cfg, "cf", params) as tr,
        atomic_dir(Path(cfg["paths"]["spaces_dir"]) / "cf") as tmp,
    ):
        for f in c["factors"]:
            losses: list[float] = []
            model = fit_als(
                matrix,
                int(f),
                regularization=float(c["regularization"]),
                alpha=float(c["alpha"]),
                iterations=int(c["iterations"]),
                seed=int(c["seed"]),
                deterministic=bool(c["deterministic"]),
                show_progress=not args.quiet,
                callback=losses_callback(losses),
            )
            name = f"cf-{f}"
            meta = {
                "kind": "cf",
                "factors": int(f),
                "regularization": c["regularization"],
                "alpha": c["alpha"],
                "iterations": c["iterations"],
                "seed": c["seed"],
                "deterministic": c["deterministic"],
                "users": int(matrix.shape[0]),
                "synthetic": bool(cfg["data"].get("synthetic")),
            }
            save_space(Space(name, model.item_factors, tracks, meta), tmp / f"{name}.npy")
            rows.append(
                {
                    "name": name,
                    "file": f"{name}.npy",
                    "kind": "cf",
                    "dataset": "",
                    "architecture": "",
                    "layer": "",
                }
            )
            if losses:
                tr.log_metrics({f"cf.loss.{f}": losses[-1]})
            log.info("%s: %d tracks x %d factors", name, tracks.size, f)
        pd.DataFrame(rows).to_csv(tmp / "list.csv", index=False)


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
