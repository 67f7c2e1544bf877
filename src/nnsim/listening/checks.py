"""Attention checks of the listening test: catch playlists with a known answer.

A check is a playlist of a pseudo-space named ``check:<kind>`` in the study file, shown like
any other playlist at a random position (the page never names spaces):

``check:same``
    Other excerpts of the reference itself: expected *very similar* (3); passed with a rating
    of at least ``listening.attention.pass_same``.
``check:far``
    The reference's farthest tracks in ``listening.reference_space``: expected *not similar*
    (0); passed with a rating of at most ``listening.attention.pass_far``.

The statistics never count checks as spaces; participants who fail a check are flagged in the
export and in the statistics, and left out of the analysis with
``listening.attention.exclude_failed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nnsim.errors import ConfigError

PREFIX = "check:"
#: Kinds of check and the rating a participant who listens gives.
EXPECTED: dict[str, int] = {"same": 3, "far": 0}


def is_check(space: str) -> bool:
    """Whether a playlist's space is an attention check (``check:<kind>``)."""
    return str(space).startswith(PREFIX)


def add_checks(
    study: Mapping[str, Mapping[str, Sequence[str]]],
    kinds: Sequence[str],
    *,
    ids: Sequence[str],
    X: np.ndarray,
    distance: str,
    length: int,
) -> dict[str, dict[str, list[str]]]:
    """The study with one check playlist of each kind, the ``i``-th kind on the ``i``-th
    reference (cycling when there are more kinds than references).

    Parameters
    ----------
    study : mapping
        ``{reference: {space: [track ids]}}``.
    kinds : sequence of str
        Kinds of :data:`EXPECTED`.
    ids : sequence of str
        Track ids of the rows of ``X``.
    X : np.ndarray [shape=(n_tracks, d)]
        The reference space (``far``: its farthest tracks from the reference).
    distance : {"cosine", "euclidean"}
    length : int
        Tracks per check playlist (the study's playlist length).

    Returns
    -------
    dict
        A new study; the playlists of the spaces are unchanged.
    """
    bad = [k for k in kinds if k not in EXPECTED]
    if bad:
        raise ConfigError(
            f"listening.attention.kinds has {bad}; valid: {', '.join(EXPECTED)} (or [] for none)."
        )
    out = {r: {s: list(v) for s, v in lists.items()} for r, lists in study.items()}
    refs = list(out)
    row = {t: i for i, t in enumerate(ids)}
    V = np.asarray(X, dtype=np.float64)
    if distance == "cosine":
        V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    for i, kind in enumerate(kinds):
        ref = refs[i % len(refs)]
        if kind == "same":
            out[ref][PREFIX + kind] = [ref] * length
            continue
        shown = {t for lists in out[ref].values() for t in lists} | {ref}
        v = V[row[ref]]
        d = 1.0 - V @ v if distance == "cosine" else np.linalg.norm(V - v, axis=1)
        order = np.lexsort((np.arange(len(d)), -d))  # farthest first, ties by row
        far = [str(ids[j]) for j in order if str(ids[j]) not in shown][:length]
        out[ref][PREFIX + kind] = far
    return out


def passed(space: str, rating: float | None, *, pass_same: int, pass_far: int) -> bool | None:
    """Whether a check's rating passes (None: not a check, or not rated)."""
    if not is_check(space) or rating is None or pd.isna(rating):
        return None
    kind = space[len(PREFIX) :]
    if kind == "same":
        return bool(rating >= pass_same)
    if kind == "far":
        return bool(rating <= pass_far)
    return None


def participant_checks(df: pd.DataFrame, *, pass_same: int, pass_far: int) -> pd.DataFrame:
    """Per participant: how many checks were rated and how many failed.

    Parameters
    ----------
    df : pandas.DataFrame
        Answer rows (``participant``, ``space``, ``rating``).

    Returns
    -------
    pandas.DataFrame
        ``participant``, ``checks`` (rated checks), ``failed`` (failed checks), ``passed``
        (no failed check); every participant of ``df``, in order.
    """
    rows = []
    for pid, g in df.groupby("participant", sort=True):
        res = [
            passed(s, r, pass_same=pass_same, pass_far=pass_far)
            for s, r in zip(g["space"], g["rating"], strict=True)
        ]
        done = [x for x in res if x is not None]
        failed = sum(1 for x in done if not x)
        rows.append(
            {"participant": pid, "checks": len(done), "failed": failed, "passed": not failed}
        )
    return pd.DataFrame(rows, columns=["participant", "checks", "failed", "passed"])
