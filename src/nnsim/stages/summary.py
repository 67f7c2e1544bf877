"""``make demo``'s last words: where the results, the MLflow runs and the listening test are.

Not a DVC stage: it reads ``params.yaml`` and prints what the pipeline's outputs are and how
to open them, instead of DVC's hint about ``git add dvc.lock`` and ``dvc push``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnsim.settings import Settings
from nnsim.stages.common import run_stage


def lines(cfg: Settings) -> list[str]:
    """The summary, one line per place (only places that exist)."""
    results = Path(cfg.paths.results_dir)
    out = [
        "",
        "nnsim: the pipeline is up to date."
        + (" (SYNTHETIC demo data)" if cfg.data.synthetic else ""),
    ]
    places = [
        (results / "site" / "index.html", "the results site: every figure and table (open it)"),
        (results / "site" / "explorer.html", "the explorer: where two spaces disagree, per track"),
        (results / "compare", "S_n, Table 1-2 (CSV/Markdown/LaTeX), Figure 2 (PNG/PDF/SVG)"),
        (results / "cf_select", "Figure 1: ALS factor count by NDCG/MAP"),
        (results / "figure3", "Figure 3: 2-D maps against their spaces, seed vs seed"),
        (results / "projections", "the 2-D maps' scores, curves and scatter plots"),
        (results / "listening_stats", "Figure 5: listening-test statistics"),
        (Path(cfg.paths.release_dir), "the release bundle for Zenodo"),
    ]
    for path, what in places:
        if path.exists():
            shown = str(path) + ("/" if path.is_dir() else "")
            out.append(f"  {shown:<28} {what}")
    if cfg.mlflow.enabled:
        out.append(
            f"  make ui                      MLflow runs on http://{cfg.mlflow.ui_host}:{cfg.mlflow.ui_port}/"
        )
    app = cfg.listening.app
    out.append(
        f"  make listen                  the listening test on http://{app.host}:{app.port}/"
    )
    srv = cfg.site.serve
    out.append(f"  make site                    the results site on http://{srv.host}:{srv.port}/")
    return out


def run(cfg: Settings, args: argparse.Namespace) -> None:
    print("\n".join(lines(cfg)))


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
