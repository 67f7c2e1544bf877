"""What every stage entry point shares: params, logging, error reporting, atomic outputs."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nnsim.config import load_params
from nnsim.errors import Interrupted, NnsimError
from nnsim.settings import Settings

__all__ = ["log", "no_log_reason", "run_stage"]


SPACE_LIST_HEADER = "name,file,kind,dataset,architecture,layer\n"

log = logging.getLogger("nnsim")


def no_log_reason(cfg: Settings) -> str:
    """Why the CF stages have nothing to do (they write empty placeholders)."""
    if cfg.data.from_latentjam:
        return "spaces are imported, no listening log or ALS"
    return (
        "data.interactions is null: no listening log, so no CF spaces; every later stage runs "
        "on the content-based spaces"
    )


def run_stage(
    fn: Callable[[Settings, argparse.Namespace], None],
    description: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Parse ``--params``, configure logging, run ``fn(cfg, args)``; errors without traceback."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--params", default="params.yaml", help="generated settings (make params)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    if extra:
        extra(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("implicit", "alembic", "mlflow", "openTSNE", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stage = Path(sys.argv[0]).stem if argv is None else "stage"
    try:
        cfg = load_params(args.params)
        fn(cfg, args)
    except Interrupted as exc:
        print(f"nnsim: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        # Outputs are written through scratch folders that an interruption removes.
        print(
            f"nnsim: interrupted: {stage} stopped; it left no half-written file (outputs go "
            "through scratch folders). Under `dvc repro`, DVC removed the stage's previous "
            "outputs before it ran: rerun it (dvc repro) to make them.",
            file=sys.stderr,
        )
        return 130
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2
    return 0
