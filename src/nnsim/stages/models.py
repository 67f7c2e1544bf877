"""Stage ``models``: freeze the musicnn wheel's checkpoints into Essentia-ready graphs.

Runs ``src/nnsim/audio/convert_musicnn.py`` in the TensorFlow environment
(``models.tf_python``, made by ``make setup``) for every model of ``models.list`` that has an
offline source, checks each graph's sha256 against ``models.specs.*.sha256`` when pinned, and
writes ``models/frozen/models.json``.  Models without an offline source (VGGish) are listed
with the command that fetches their official graph.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from nnsim.audio.models import download_hint, model_specs
from nnsim.errors import ConfigError, InputError
from nnsim.files import atomic_dir
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage

CONVERTER = Path(__file__).resolve().parents[1] / "audio" / "convert_musicnn.py"


def musicnn_dir() -> Path:
    """Folder of the installed ``musicnn`` wheel (data only; installed with --no-deps)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the musicnn wheel is not installed; run `make setup` "
            "(it runs `pip install --no-deps musicnn==0.1.0`)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def freeze_one(tf_python: str, ckpt: Path, out: Path, outputs: list[str]) -> dict[str, Any]:
    """Run the converter in the TensorFlow environment; return its JSON summary.

    Writes the frozen graph ``out`` (Essentia's TensorflowPredict) and the same graph as ONNX
    beside it (``out`` with suffix ``.onnx``, for ``audio.runtime=onnxruntime``).
    """
    if not Path(tf_python).is_file():
        raise ConfigError(
            f"models.tf_python={tf_python} not found: the TensorFlow environment is made by "
            "`make setup` (.venv-tf)."
        )
    proc = subprocess.run(
        [
            tf_python,
            str(CONVERTER),
            "freeze",
            str(ckpt),
            str(out),
            "--outputs",
            *outputs,
            "--onnx",
            str(out.with_suffix(".onnx")),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        hint = (
            " The TensorFlow environment lacks tf2onnx: run `make setup` (it installs it)."
            if "No module named 'tf2onnx'" in proc.stderr
            else ""
        )
        raise InputError(f"freezing {ckpt} failed:\n{proc.stderr.strip()[-2000:]}{hint}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def build(cfg: Settings, args: argparse.Namespace) -> None:
    specs = model_specs(cfg.models, cfg.paths.models_dir)
    out_dir = Path(cfg.paths.models_dir) / "frozen"
    summary: dict[str, Any] = {"models": {}, "unavailable": {}}
    with atomic_dir(out_dir) as tmp:
        wheel = None
        for s in specs:
            if not s.checkpoint:
                summary["unavailable"][s.name] = {
                    "graph": str(s.graph),
                    "present": s.graph.is_file(),
                    "fetch": download_hint(s),
                }
                continue
            wheel = wheel or musicnn_dir()
            log.info("freezing %s from %s", s.name, wheel / s.checkpoint)
            info = freeze_one(
                cfg.models.tf_python,
                wheel / s.checkpoint,
                tmp / f"{s.name}.pb",
                list(s.layers.values()),
            )
            if s.sha256 and info["sha256"] != s.sha256:
                raise InputError(
                    f"model {s.name}: the rebuilt graph has sha256 {info['sha256']}, conf/ pins "
                    f"{s.sha256}. The TensorFlow or musicnn version differs from the one pinned; "
                    "fix the environment (make setup) or update the pin on purpose."
                )
            info.update(
                dataset=s.dataset, architecture=s.architecture, layers=s.layers, dims=s.dims
            )
            summary["models"][s.name] = info
        if wheel is not None:
            lic = wheel.parent / "musicnn-0.1.0.dist-info" / "LICENSE.md"
            if lic.is_file():
                shutil.copy(lic, tmp / "MUSICNN-LICENSE.md")
        (tmp / "models.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    for name, u in summary["unavailable"].items():
        if not u["present"]:
            log.warning(
                "%s: no offline weights; its graph is absent, fetch with: %s", name, u["fetch"]
            )


def main(argv: list[str] | None = None) -> int:
    return run_stage(build, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
