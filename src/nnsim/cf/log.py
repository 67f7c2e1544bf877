"""Interaction logs: read, validate, aggregate and filter (every step's counts reported).

A log is a table ``user_id, track_id, value[, event, timestamp]`` (CSV or Parquet, ids of any
type, read as strings).  The file is never modified.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from nnsim.errors import ConfigError, InputError, preview
from nnsim.settings import AGGREGATES

log = logging.getLogger(__name__)

REQUIRED = ("user_id", "track_id", "value")


def read_log(path: str | Path) -> pd.DataFrame:
    """Read and validate an interaction log.

    Parameters
    ----------
    path : path
        ``.csv`` (header required) or ``.parquet``.

    Returns
    -------
    pandas.DataFrame
        ``user_id`` and ``track_id`` as str, ``value`` as float64, plus optional columns.

    Raises
    ------
    InputError
        Missing file or columns (header shown), non-numeric, negative or NaN values (rows).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"interaction log {p} not found. Point data.interactions (conf/data/) at a CSV or "
            "Parquet file with columns user_id,track_id,value."
        )
    if p.suffix.lower() in (".parquet", ".pq"):
        df = pd.read_parquet(p)
        df = df.astype({c: str for c in ("user_id", "track_id") if c in df.columns})
    else:
        df = pd.read_csv(p, dtype={"user_id": str, "track_id": str}, keep_default_na=True)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{p}: missing column(s) {', '.join(missing)}; header found: {list(df.columns)}. "
            "The log needs user_id,track_id,value (optional: event,timestamp)."
        )
    if df.empty:
        raise InputError(f"{p}: the log has no rows.")
    raw = df["value"]
    vals = pd.to_numeric(raw, errors="coerce")
    line = lambda idx: [int(i) + 2 for i in idx]  # noqa: E731  (1-based, header is line 1)
    non_num = vals.isna() & raw.notna()
    if non_num.any():
        bad = df.index[non_num]
        raise InputError(
            f"{p}: non-numeric value on line(s) {preview(line(bad), 5)} "
            f"(e.g. {raw[bad[0]]!r}). Values must be numbers."
        )
    if vals.isna().any():
        raise InputError(
            f"{p}: empty/NaN value on line(s) {preview(line(df.index[vals.isna()]), 5)}."
        )
    if (vals < 0).any():
        raise InputError(
            f"{p}: negative value on line(s) {preview(line(df.index[vals < 0]), 5)}. "
            "Implicit feedback needs values >= 0; map negative events to 0 or drop them."
        )
    for c in ("user_id", "track_id"):
        empty = df[c].isna() | (df[c].astype(str).str.strip() == "")
        if empty.any():
            raise InputError(f"{p}: empty {c} on line(s) {preview(line(df.index[empty]), 5)}.")
    df = df.assign(value=vals.astype(np.float64))
    df["user_id"] = df["user_id"].astype(str).str.strip()
    df["track_id"] = df["track_id"].astype(str).str.strip()
    return df


@dataclass
class FilterReport:
    """Counts after every preprocessing step."""

    steps: list[dict[str, object]] = field(default_factory=list)

    def add(self, step: str, df: pd.DataFrame, **extra: object) -> None:
        self.steps.append(
            {
                "step": step,
                "rows": len(df),
                "users": df["user_id"].nunique(),
                "tracks": df["track_id"].nunique(),
                **extra,
            }
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.steps)


def apply_events(df: pd.DataFrame, weights: Mapping[str, float] | None) -> pd.DataFrame:
    """Multiply values by the confidence weight of their event type (if there is an event column).

    Unknown event types are an error listing them and the configured ones.
    """
    if "event" not in df.columns or not weights:
        return df
    ev = df["event"].astype(str)
    unknown = sorted(set(ev) - set(weights))
    if unknown:
        raise ConfigError(
            f"event type(s) {unknown} have no weight in cf.event_weights (configured: "
            f"{sorted(weights)}). Add them to conf/cf/."
        )
    return df.assign(value=df["value"] * ev.map(weights).astype(np.float64))


def aggregate(df: pd.DataFrame, how: str) -> pd.DataFrame:
    """Combine repeated (user, track) rows; drop pairs whose combined value is 0."""
    if how not in AGGREGATES:
        raise ConfigError(f"cf.aggregate={how!r} is not valid; valid: {', '.join(AGGREGATES)}.")
    out = df.groupby(["user_id", "track_id"], as_index=False, sort=True)["value"].agg(how)
    return out[out["value"] > 0].reset_index(drop=True)


def filter_min_counts(
    df: pd.DataFrame, min_user: int, min_track: int, max_rounds: int = 100
) -> tuple[pd.DataFrame, int]:
    """Drop users and tracks with too few interactions, repeating until nothing changes.

    Returns
    -------
    df : pandas.DataFrame
        Every remaining user has >= ``min_user`` and every track >= ``min_track`` rows.
    rounds : int
        Passes needed to reach the fixed point.
    """
    rounds = 0
    while rounds < max_rounds:
        rounds += 1
        uc = df["user_id"].map(df["user_id"].value_counts())
        tc = df["track_id"].map(df["track_id"].value_counts())
        keep = (uc >= min_user) & (tc >= min_track)
        if keep.all():
            return df, rounds
        df = df[keep]
    return df, rounds


def drop_top_users(df: pd.DataFrame, quantile: float) -> tuple[pd.DataFrame, int]:
    """Drop users whose interaction count is above the given quantile of users."""
    if quantile >= 1.0:
        return df, 0
    counts = df["user_id"].value_counts()
    limit = counts.quantile(quantile)
    top = counts.index[counts > limit]
    return df[~df["user_id"].isin(top)], len(top)


def preprocess(
    df: pd.DataFrame,
    *,
    aggregate_how: str,
    event_weights: Mapping[str, float] | None,
    min_user: int,
    min_track: int,
    max_user_quantile: float,
    keep_tracks: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, FilterReport]:
    """The paper's preprocessing with counts after each step.

    Order: event weights → aggregate repeats → drop top-activity users → restrict to
    ``keep_tracks`` (tracks with content-based features) → min-count filter to a fixed point.

    Raises
    ------
    InputError
        The log is empty after a step (the message names the step).
    """
    rep = FilterReport()
    rep.add("read", df)
    df = aggregate(apply_events(df, event_weights), aggregate_how)
    rep.add("aggregate", df)
    _nonempty(df, "aggregating repeated rows (all values 0?)")
    df, n_top = drop_top_users(df, max_user_quantile)
    rep.add("drop_top_users", df, removed_users=n_top)
    _nonempty(df, f"dropping users above the {max_user_quantile} quantile")
    if keep_tracks is not None:
        keep = set(map(str, keep_tracks))
        unmatched = int((~df["track_id"].isin(keep)).sum())
        n_unmatched_tracks = int(df.loc[~df["track_id"].isin(keep), "track_id"].nunique())
        df = df[df["track_id"].isin(keep)]
        rep.add("restrict_to_cb", df, unmatched_rows=unmatched, unmatched_tracks=n_unmatched_tracks)
        if n_unmatched_tracks:
            log.warning("%d track id(s) in the log match no audio features", n_unmatched_tracks)
        _nonempty(df, "keeping tracks with content-based features (do the ids match?)")
    df, rounds = filter_min_counts(df, min_user, min_track)
    rep.add("min_counts", df, rounds=rounds)
    _nonempty(df, f"keeping users >= {min_user} and tracks >= {min_track} interactions")
    return df.reset_index(drop=True), rep


def _nonempty(df: pd.DataFrame, step: str) -> None:
    if df.empty:
        raise InputError(
            f"the interaction log is empty after {step}. Relax that filter in conf/cf/."
        )


def to_matrix(df: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Users x items CSR matrix with the user and track ids of its rows and columns.

    Returns
    -------
    matrix : scipy.sparse.csr_matrix [shape=(n_users, n_tracks), dtype=float32]
    users : np.ndarray [shape=(n_users,), dtype=str]
    tracks : np.ndarray [shape=(n_tracks,), dtype=str]
    """
    users, ui = np.unique(df["user_id"].to_numpy(dtype=str), return_inverse=True)
    tracks, ti = np.unique(df["track_id"].to_numpy(dtype=str), return_inverse=True)
    m = sp.csr_matrix(
        (df["value"].to_numpy(dtype=np.float32), (ui, ti)), shape=(users.size, tracks.size)
    )
    m.sum_duplicates()
    return m, users, tracks
