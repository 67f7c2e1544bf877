"""``make ui``: the MLflow UI over this project's store, opened on the runs table.

Creates the experiment if needed (tagged as a model-training experiment, so MLflow 3 shows
the runs table with the S_n and Table-2 metrics rather than its GenAI overview), prints the
address of that page, then runs ``mlflow ui`` on loopback.  The page opens a stored view of
the runs table whose columns are the Table-2 aggregates (``factor.<variable>.S<n>``) and the
listening test's p-values, refreshed from the logged runs each time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from nnsim.settings import Settings
from nnsim.stages.common import run_stage
from nnsim.tracking import experiment_id, runs_page, set_runs_view


def run(cfg: Settings, args: argparse.Namespace) -> None:
    mcfg = cfg.mlflow
    host = args.host or mcfg.ui_host
    port = args.port or mcfg.ui_port
    exp = experiment_id(cfg)
    set_runs_view(exp)
    url = runs_page(exp, host, port)
    print(f"MLflow UI: {url}  (Ctrl-C to stop)", flush=True)
    mlflow = shutil.which("mlflow") or "mlflow"
    argv = [
        mlflow,
        "ui",
        "--backend-store-uri",
        str(mcfg.tracking_uri),
        "--default-artifact-root",
        str(mcfg.artifact_root),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",  # a local UI for one person: one process, not four
    ]
    if not args.print_only:
        os.execv(argv[0], argv)


def main(argv: list[str] | None = None) -> int:
    def extra(ap: argparse.ArgumentParser) -> None:
        ap.add_argument("--host", default=None, help="default: mlflow.ui_host")
        ap.add_argument("--port", type=int, default=None, help="default: mlflow.ui_port")
        ap.add_argument("--print-only", action="store_true", help="print the address, do not serve")

    return run_stage(run, __doc__ or "", argv, extra=extra)


if __name__ == "__main__":
    sys.exit(main())
