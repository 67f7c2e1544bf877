"""Benchmark: interaction-log preprocessing + one ALS fit at the paper's size.

Generates a log shaped like the paper's final CF data (29,275 tracks x 27,235 users x
793,963 non-zeros, power-law activity and popularity), then times, in one run:
read (CSV) + preprocess (aggregate, outlier users, min-count filter to a fixed point) and one
ALS fit with 96 factors and 15 iterations (implicit, all cores).  Target: under 60 s.
Run: ``make bench`` or ``python benchmarks/bench_cf.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import nnsim  # noqa: F401  (first: thread-wait policy before numpy)
from nnsim.cf.als import fit_als
from nnsim.cf.log import preprocess, read_log, to_matrix


def make_log(n_users: int, n_tracks: int, nnz: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pop = rng.pareto(2.5, n_tracks) + 1
    pop /= pop.sum()
    act = rng.pareto(1.3, n_users) + 1
    act = np.maximum(5, (act / act.sum() * nnz * 1.27).astype(int))
    users = np.repeat(np.arange(n_users), act)
    tracks = rng.choice(n_tracks, users.size, p=pop)
    vals = rng.integers(1, 20, users.size)
    return pd.DataFrame(
        {"user_id": users.astype(str), "track_id": tracks.astype(str), "value": vals}
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=27235)
    ap.add_argument("--tracks", type=int, default=29275)
    ap.add_argument("--nnz", type=int, default=793963)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "cf.json"))
    args = ap.parse_args()
    df = make_log(args.users, args.tracks, args.nnz)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        df.to_csv(path, index=False)
        t0 = time.perf_counter()
        log = read_log(path)
        out, rep = preprocess(
            log,
            aggregate_how="sum",
            event_weights=None,
            min_user=5,
            min_track=5,
            max_user_quantile=0.999,
        )
        m, _, _ = to_matrix(out)
        t_pre = time.perf_counter() - t0
    t1 = time.perf_counter()
    fit_als(m, 96, regularization=0.01, alpha=1.0, iterations=15, seed=0, deterministic=False)
    t_als = time.perf_counter() - t1
    print(rep.frame().to_string(index=False))
    print(f"matrix {m.shape[0]} users x {m.shape[1]} tracks, {m.nnz} non-zeros")
    print(
        f"read + preprocess {t_pre:.1f} s; ALS 96 factors x 15 iterations {t_als:.1f} s; "
        f"total {t_pre + t_als:.1f} s (target < 60 s)"
    )
    res = {
        "users": m.shape[0],
        "tracks": m.shape[1],
        "nnz": int(m.nnz),
        "preprocess_s": t_pre,
        "als_s": t_als,
        "total_s": t_pre + t_als,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
