"""SIMULATED answers to a listening test (the demo has no participants).

The stated model, per participant ``p``, reference ``r`` and playlist of space ``s`` shown at
position ``k`` (1-based, the participant's own random order):

    latent = 1.5 + effect * x_s + position_effect * (k - mean k) + b_p + e,
    b_p ~ N(0, participant_sd),  e ~ N(0, noise_sd),
    rating = clip(round(latent), 0, 3);

``x_s`` is the space's centred strength (the stage uses its mean S_n to the other tested
spaces of the reference space's family).  An attention check (:mod:`nnsim.listening.checks`)
has ``latent = expected + b_p + e`` (3 for ``same``, 0 for ``far``).  A participant skips a
reference with probability ``skip_rate``; a share ``inattentive_rate`` of the participants
answer every playlist uniformly at random (and so tend to fail the checks).  Every row says
``SIMULATED`` in ``app_version`` and its participant id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nnsim.errors import ConfigError, InputError
from nnsim.listening.checks import EXPECTED, PREFIX, is_check
from nnsim.listening.store import EXPORT_COLUMNS, draw_plan

SIMULATED = "SIMULATED"


@dataclass(frozen=True)
class ResponseModel:
    """Parameters of the stated model (see the module docstring)."""

    n_participants: int
    effect: float
    position_effect: float
    participant_sd: float
    noise_sd: float
    skip_rate: float
    inattentive_rate: float
    seed: int

    def __post_init__(self) -> None:
        if self.n_participants < 1:
            raise ConfigError("listening.simulate.n_participants must be at least 1.")
        if not 0 <= self.skip_rate < 1:
            raise ConfigError("listening.simulate.skip_rate must be in [0, 1).")
        if not 0 <= self.inattentive_rate <= 1:
            raise ConfigError("listening.simulate.inattentive_rate must be in [0, 1].")
        if self.participant_sd < 0 or self.noise_sd < 0:
            raise ConfigError("listening.simulate: standard deviations must be >= 0.")


def space_strength(
    S: Mapping[tuple[str, str], float], spaces: Sequence[str], family: Sequence[str]
) -> dict[str, float]:
    """Each space's mean S_n to the other members of ``family``, centred over ``spaces``.

    Parameters
    ----------
    S : mapping
        ``{(a, b): S_n}`` for pairs of tested spaces (either order).
    spaces : sequence of str
        The tested spaces.
    family : sequence of str
        The tested spaces of the reference space's family (at least two).
    """
    if len(family) < 2:
        raise InputError(f"the family {list(family)} needs at least two tested spaces.")

    def s(a: str, b: str) -> float:
        if (a, b) in S:
            return float(S[(a, b)])
        if (b, a) in S:
            return float(S[(b, a)])
        raise InputError(f"no S_n for the pair {a}, {b} in the study file.")

    raw = {a: float(np.mean([s(a, b) for b in family if b != a])) for a in spaces}
    mean = float(np.mean(list(raw.values())))
    return {a: v - mean for a, v in raw.items()}


def simulate_responses(
    study: Mapping[str, Mapping[str, Sequence[str]]],
    strength: Mapping[str, float],
    model: ResponseModel,
    *,
    study_hash: str,
    app_version: str,
    per_participant: int | None = None,
) -> pd.DataFrame:
    """Answers of ``model.n_participants`` simulated participants, one row per playlist.

    With ``per_participant`` each rates a subset of the references from the app's balanced
    design (:func:`nnsim.listening.store.draw_plan`), as real participants would.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`nnsim.listening.store.EXPORT_COLUMNS`; ``rating`` is ``<NA>`` where
        skipped.
    """
    missing = sorted({s for v in study.values() for s in v if not is_check(s)} - set(strength))
    if missing:
        raise InputError(f"no strength for space(s) {missing}.")
    rng = np.random.default_rng(model.seed)
    rows = []
    width = len(str(model.n_participants))
    for p in range(model.n_participants):
        pid = f"{SIMULATED}-{p + 1:0{width}d}"
        plan = draw_plan(study, rng, per_participant=per_participant, number=p)
        bias = rng.normal(0.0, model.participant_sd)
        # drawn for every participant (one stream): the rates change who, not everyone's draws
        inattentive = bool(rng.random() < model.inattentive_rate)
        for i, (ref, spaces) in enumerate(plan):
            skipped = bool(rng.random() < model.skip_rate)
            mid = (len(spaces) + 1) / 2
            for k, s in enumerate(spaces, start=1):
                noise = rng.normal(0.0, model.noise_sd)
                if is_check(s):
                    latent = EXPECTED[s[len(PREFIX) :]] + bias + noise
                else:
                    latent = (
                        1.5
                        + model.effect * strength[s]
                        + model.position_effect * (k - mid)
                        + bias
                        + noise
                    )
                if inattentive:
                    latent = float(rng.integers(0, 4))
                rating = None if skipped else int(np.clip(np.rint(latent), 0, 3))
                rows.append(
                    (pid, ref, i + 1, s, k, rating, int(skipped), "", app_version, study_hash)
                )
    df = pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))
    df["rating"] = df["rating"].astype("Int64")
    df["timestamp"] = SIMULATED
    return df
