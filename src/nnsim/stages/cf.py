"""Stage ``cf``: ALS on all filtered interactions → CF spaces (item factors).

The factor counts are the one ``cf_select`` measured best (``results/cf_select/best.json``)
plus ``cf.extra_factors``, so the CF spaces are not ones the selection rejected.

Writes ``spaces/cf/cf-<factors>.npy`` (+ ids, manifest) and ``spaces/cf/list.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from nnsim.cf.als import fit_als
from nnsim.cf.log import to_matrix
from nnsim.errors import InputError
from nnsim.files import atomic_dir, write_space_list
from nnsim.settings import Settings
from nnsim.spaces import Space, save_space
from nnsim.stages.common import SPACE_LIST_HEADER, log, no_log_reason, run_stage
from nnsim.tracking import stage_run


def losses_callback(acc: list[float]) -> Callable[[int, float, float], None]:
    """An implicit ``fit`` callback that records the training loss of every iteration."""

    def cb(_iteration: int, _elapsed: float, loss: float) -> None:
        acc.append(float(loss))

    return cb


def factor_counts(cfg: Settings) -> list[int]:
    """The best factor count measured by ``cf_select`` followed by ``cf.extra_factors``."""
    best_file = Path(cfg.paths.results_dir) / "cf_select" / "best.json"
    if not best_file.is_file():
        raise InputError(f"{best_file} not found; run the cf_select stage first (dvc repro).")
    best = int(json.loads(best_file.read_text())["best_factors"])
    extra = [int(f) for f in cfg.cf.extra_factors or [] if int(f) != best]
    return [best, *dict.fromkeys(extra)]


def run(cfg: Settings, args: argparse.Namespace) -> None:
    if not cfg.data.has_log:  # LatentJam spaces, or audio only (data.interactions: null)
        with atomic_dir(Path(cfg.paths.spaces_dir) / "cf") as tmp:
            (tmp / "list.csv").write_text(SPACE_LIST_HEADER)
        log.info("data=%s: %s", cfg.data.name, no_log_reason(cfg))
        return
    c = cfg.cf
    df = pd.read_parquet(Path(cfg.paths.interim_dir) / "interactions.parquet")
    matrix, _users, tracks = to_matrix(df)
    factors = factor_counts(cfg)
    if max(factors) >= min(matrix.shape):
        raise InputError(
            f"factor counts {factors} (best of cf_select + cf.extra_factors) need fewer factors "
            f"than users and tracks ({matrix.shape[0]} x {matrix.shape[1]} after filtering); "
            "lower cf.extra_factors or cf.select.factors."
        )
    params = {
        "cf": {
            k: getattr(c, k)
            for k in (
                "extra_factors",
                "regularization",
                "alpha",
                "iterations",
                "seed",
                "deterministic",
            )
        },
        "cf.factors": factors,
    }
    rows = []
    final_loss: dict[str, float] = {}
    with (
        stage_run(cfg, "cf", params) as tr,
        atomic_dir(Path(cfg.paths.spaces_dir) / "cf") as tmp,
    ):
        for f in factors:
            losses: list[float] = []
            model = fit_als(
                matrix,
                int(f),
                regularization=float(c.regularization),
                alpha=float(c.alpha),
                iterations=int(c.iterations),
                seed=int(c.seed),
                deterministic=bool(c.deterministic),
                show_progress=not args.quiet,
                callback=losses_callback(losses),
            )
            name = f"cf-{f}"
            meta = {
                "kind": "cf",
                "factors": int(f),
                "regularization": c.regularization,
                "alpha": c.alpha,
                "iterations": c.iterations,
                "seed": c.seed,
                "deterministic": c.deterministic,
                "users": int(matrix.shape[0]),
                "synthetic": bool(cfg.data.synthetic),
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
                final_loss[f"cf.loss.{f}"] = losses[-1]
            log.info("%s: %d tracks x %d factors", name, tracks.size, f)
        write_space_list(tmp / "list.csv", rows)
        tr.log_metrics(final_loss)


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
