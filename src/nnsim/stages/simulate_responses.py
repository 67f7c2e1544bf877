"""Stage ``simulate_responses``: SIMULATED answers to the demo's listening test.

The demo has no participants; this stage draws answers from the model stated in
:mod:`nnsim.listening.simulate` (settings ``listening.simulate``) so that the statistics stage
runs inside ``dvc repro``.  The strength of a space is its mean S_n (at ``listening.cutoff``)
to the other tested spaces of the reference space's family (content-based or collaborative
filtering).  Writes ``results/listening_sim/responses.csv`` in the columns of
``nnsim listening export``; participant ids and ``app_version`` say SIMULATED.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.config import as_dict
from nnsim.errors import InputError
from nnsim.files import atomic_dir
from nnsim.listening.simulate import SIMULATED, ResponseModel, simulate_responses, space_strength
from nnsim.listening.store import app_version
from nnsim.listening.study import load_study
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.tracking import stage_run


def space_kinds(cfg: Settings) -> dict[str, str]:
    """``{space name: kind}`` from the pipeline's space lists (no vectors loaded)."""
    kinds: dict[str, str] = {}
    for sub in ("cb", "cf", "latentjam"):
        lst = Path(cfg.paths.spaces_dir) / sub / "list.csv"
        if lst.is_file():
            df = pd.read_csv(lst, dtype=str)
            if len(df):
                kinds.update(zip(df["name"], df["kind"].fillna(sub), strict=True))
    return kinds


def run(cfg: Settings, args: argparse.Namespace) -> None:
    lcfg = cfg.listening
    path = Path(cfg.paths.results_dir) / "listening" / "study.json"
    study = load_study(path)
    doc = json.loads(path.read_text())
    pairs = {tuple(k.split("|")): float(v) for k, v in doc.get("S_n", {}).items()}
    if not pairs:
        raise InputError(f"{path}: no S_n between the tested spaces; rerun dvc repro playlists.")
    kinds = space_kinds(cfg)
    ref_kind = kinds.get(str(lcfg.reference_space))
    family = [s for s in study.spaces if kinds.get(s) == ref_kind]
    if len(family) < 2:
        log.info(
            "fewer than two tested spaces of kind %s: the family is every tested space", ref_kind
        )
        family = list(study.spaces)
    strength = space_strength(pairs, study.spaces, family)  # type: ignore[arg-type]
    model = ResponseModel(
        **{k: getattr(lcfg.simulate, k) for k in ResponseModel.__dataclass_fields__}
    )
    df = simulate_responses(
        study.study,
        strength,
        model,
        study_hash=study.sha256,
        app_version=f"{SIMULATED} ({app_version()})",
        per_participant=lcfg.app.per_participant,
    )
    # what a crowd platform would hold: each participant's id there and completion code
    rng = np.random.default_rng(int(lcfg.simulate.seed))
    people = pd.DataFrame(
        {
            "participant": sorted(df["participant"].unique()),
            "platform_id": None,
            "completion_code": None,
        }
    )
    people["platform_id"] = [f"{SIMULATED}-PID-{i + 1:04d}" for i in range(len(people))]
    people["completion_code"] = [f"{int(v):08X}" for v in rng.integers(0, 2**32, len(people))]
    out = Path(cfg.paths.results_dir) / "listening_sim"
    with (
        stage_run(
            cfg,
            "simulate_responses",
            {"listening.simulate": lcfg.simulate},
            tags={"nnsim.simulated": "true"},
        ) as tr,
        atomic_dir(out) as tmp,
    ):
        df.to_csv(tmp / "responses.csv", index=False)
        people.to_csv(tmp / "participants.csv", index=False)
        (tmp / "model.json").write_text(
            json.dumps(
                {
                    "SIMULATED": True,
                    "model": as_dict(lcfg.simulate),
                    "family": family,
                    "strength": strength,
                },
                indent=2,
                sort_keys=True,
            )
            + "\n"
        )
        tr.log_artifacts(tmp / "model.json")
    log.info(
        "SIMULATED: %d participants, %d answer rows -> %s",
        model.n_participants,
        len(df),
        out / "responses.csv",
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
