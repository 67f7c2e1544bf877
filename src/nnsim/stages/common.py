"""What every stage entry point shares: params, logging, error reporting, atomic outputs."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nnsim.config import load_params
from nnsim.errors import NnsimError

log = logging.getLogger("nnsim")


def run_stage(
    fn: Callable[[dict[str, Any], argparse.Namespace], None],
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
    for noisy in ("implicit", "alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        cfg = load_params(args.params)
        fn(cfg, args)
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2
    return 0


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Write a folder completely or not at all.

    Yields a scratch folder next to ``path``; on success it replaces ``path``, on error it is
    removed and ``path`` is left as it was (so DVC never caches half-written outputs).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final) if final.is_dir() else final.unlink()
    tmp.replace(final)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (metrics files DVC reads)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.partial")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")
    tmp.replace(p)
    return p
