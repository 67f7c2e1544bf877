"""Benchmark: 2-D projections at the paper's size (29,275 tracks x 200 dims), same run.

Times PCA, t-SNE by openTSNE (FFT-accelerated interpolation) and by scikit-learn (Barnes-Hut),
and UMAP, with the settings of ``conf/projection/`` (one seed, random initialisation), on a
clustered synthetic space shaped like a MusiCNN embedding.  Also reports how much of the
original's neighbourhoods each map keeps (S_10, cosine), so speed is not bought with quality.
Writes ``benchmarks/results/projection.json``.  Run: ``make bench`` or
``python benchmarks/bench_projection.py [--n-tracks N] [--n-jobs J]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from bench_similarity import make_spaces

import nnsim  # noqa: F401  (first: thread-wait policy)
from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.projection.methods import project
from nnsim.spaces import Space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-tracks", type=int, default=29275)
    ap.add_argument("--n-jobs", type=int, default=2, help="threads for t-SNE and UMAP")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "projection.json"))
    args = ap.parse_args()
    cfg = compose(["data=jamendo", "cutoffs=[10]", "neighbors.k=10", "compare.n_boot=0"])
    X = make_spaces(args.n_tracks, 1)[0]
    print(f"projections of {X.shape[0]} x {X.shape[1]}, n_jobs={args.n_jobs}")
    runs = [("pca", "-"), ("tsne", "opentsne"), ("tsne", "sklearn"), ("umap", "-")]
    results = []
    for method, impl in runs:
        opts = replace(cfg.projection, n_jobs=args.n_jobs)
        if method == "tsne":
            opts = replace(opts, tsne=replace(opts.tsne, implementation=impl))
        t0 = time.perf_counter()
        Y = project(X, method, seed=0, options=opts, name="bench")
        secs = time.perf_counter() - t0
        res = run_comparison(
            [Space("orig", X), Space("map", Y)],
            cutoffs=cfg.cutoffs,
            neighbors=cfg.neighbors,
            compare=cfg.compare,
            distance="cosine",
            space_distances={"map": "euclidean"},
        )
        s10 = float(res.comparison.similarity[0, 1, 0])
        label = method if impl == "-" else f"{method} ({impl})"
        print(f"  {label:<18} {secs:8.1f} s   S_10 vs original (cosine) = {s10:.3f}", flush=True)
        results.append({"method": method, "implementation": impl, "seconds": secs, "S10": s10})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"n_tracks": args.n_tracks, "n_jobs": args.n_jobs, "runs": results}, indent=2)
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
