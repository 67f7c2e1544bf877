"""A simulated interaction log for the embedded demo (labelled simulated everywhere).

Users have a latent taste for a few styles (Dirichlet) and tracks a power-law popularity;
each user's plays are drawn with probability proportional to taste x popularity, some with
``like`` or ``skip`` events.  Enough structure that ALS beats a popularity baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_log(
    track_ids: np.ndarray,
    styles: np.ndarray,
    *,
    n_users: int,
    events_per_user: int,
    seed: int,
) -> pd.DataFrame:
    """Simulate implicit feedback over a catalogue.

    Parameters
    ----------
    track_ids : np.ndarray [shape=(n_tracks,)]
    styles : np.ndarray [shape=(n_tracks,)]
        Style label of each track.
    n_users : int
    events_per_user : int
        Mean number of events per user (log-normal spread).
    seed : int

    Returns
    -------
    pandas.DataFrame
        ``user_id, track_id, value, event`` (value 1 per event; repeated pairs possible).
    """
    rng = np.random.default_rng(seed)
    tracks = np.asarray(track_ids).astype(str)
    labels, style_idx = np.unique(np.asarray(styles).astype(str), return_inverse=True)
    n_styles = labels.size
    popularity = (rng.pareto(1.2, tracks.size) + 1.0) ** 1.5
    rows_u, rows_t, rows_e = [], [], []
    for u in range(n_users):
        taste = rng.dirichlet(np.full(n_styles, 0.3))
        w = taste[style_idx] * popularity
        w /= w.sum()
        n_ev = max(5, int(rng.lognormal(np.log(events_per_user), 0.5)))
        picks = rng.choice(tracks.size, n_ev, p=w)
        ev = rng.choice(["play", "like", "skip"], n_ev, p=[0.85, 0.05, 0.10])
        rows_u += [f"user{u:05d}"] * n_ev
        rows_t += tracks[picks].tolist()
        rows_e += ev.tolist()
    return pd.DataFrame({"user_id": rows_u, "track_id": rows_t, "value": 1.0, "event": rows_e})
