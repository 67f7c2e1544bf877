"""Helpers of the end-to-end tests: a clone-like copy of the checkout and a subprocess runner
with this environment's tools first on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(args, cwd, check=True, timeout=1800):
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NNSIM_MLFLOW": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def copy_checkout(dst: Path) -> None:
    """A clone-like copy of the tracked files (and the TensorFlow env), as a git repository."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for f in files:
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)
    (dst / ".venv-tf").symlink_to(ROOT / ".venv-tf")
    sh(["git", "init", "-q"], dst)
