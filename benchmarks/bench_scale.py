"""Benchmark: the comparison against N for the exact engine (one process), the exact engine on
a 2-worker Dask LocalCluster and the approximate (hnswlib) backend; extraction throughput on
Dask with 1 and 2 workers.  Also the approximate backend's library choice (hnswlib vs faiss).

Each (N, method) runs in a child process; the parent samples the resident memory of the child
and all its descendants (Dask workers included) for the peak.  4 synthetic spaces per N
(200-, 50-, 200- and 50-dimensional, like the paper's embeddings and taggrams, clustered),
cutoffs 5/10/100/200, 1000 bootstrap replicates, tables memory-mapped above
``neighbors.memmap_mb``.  Peak memory is reported as resident set size and as RSS minus
resident file-backed pages (what the OS cannot reclaim).
Writes ``benchmarks/results/scale.json`` and the log-log plot ``docs/scale.png``.

Run: ``make bench`` or ``python benchmarks/bench_scale.py [--sizes 10000 30000 ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIMS = (200, 50, 200, 50)
CUTOFFS = "[5,10,100,200]"


def spaces(n: int, seed: int = 0):
    from nnsim.spaces import Space

    rng = np.random.default_rng(seed)
    z = (
        rng.normal(size=(n, 16)).astype(np.float32)
        + 3 * rng.normal(size=(64, 16)).astype(np.float32)[rng.integers(0, 64, n)]
    )
    out = []
    meta = [
        ("msd", "musicnn", "embeddings"),
        ("msd", "musicnn", "taggrams"),
        ("mtat", "musicnn", "embeddings"),
        ("mtat", "musicnn", "taggrams"),
    ]
    for i, (d, m) in enumerate(zip(DIMS, meta, strict=True)):
        W = rng.normal(size=(16, d)).astype(np.float32)
        X = np.tanh(z @ W) + 0.3 * rng.normal(size=(n, d)).astype(np.float32)
        out.append(
            Space(
                f"s{i}-{d}",
                X.astype(np.float32),
                meta=dict(zip(("dataset", "architecture", "layer"), m, strict=True)),
            )
        )
    return out


def child_compare(n: int, method: str) -> dict:
    import nnsim  # noqa: F401  (thread settings before numpy work)
    from nnsim.cluster import DaskRun
    from nnsim.compare import run_comparison
    from nnsim.config import compose
    from nnsim.tables import TableStore

    backend = "approximate" if method == "approximate" else "exact"
    cfg = compose([f"cutoffs={CUTOFFS}", "neighbors.k=200", f"neighbors.backend={backend}"])
    opts = {"cutoffs": cfg.cutoffs, "neighbors": cfg.neighbors, "compare": cfg.compare}
    sp = spaces(n)
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks" / "results") as tmp:
        store = TableStore(tmp, "cosine")
        if method == "dask":
            from nnsim.cluster import dask_client

            t0 = time.perf_counter()
            with dask_client(cfg.cluster) as client:
                startup = time.perf_counter() - t0
                t0 = time.perf_counter()
                res = run_comparison(
                    sp,
                    **opts,
                    distance="cosine",
                    store=store,
                    dask=DaskRun(client, cfg.cluster.retries),
                )
                secs = time.perf_counter() - t0
            out = {"startup_s": startup}
        else:
            t0 = time.perf_counter()
            res = run_comparison(sp, **opts, distance="cosine", store=store)
            secs = time.perf_counter() - t0
            out = {}
    out.update(seconds=secs, s200=float(res.comparison.similarity[0, 2, -1]))
    if res.recall is not None:
        out["recall_min"] = float(res.recall["recall"].min())
        out["sn_error_max"] = float(res.sn_errors["sn_error"].abs().max())
        out["sn_error_ci_max"] = float(
            (res.sn_errors["sn_error_high"] - res.sn_errors["sn_error_low"]).max()
        )
    return out


def child_extract(workers: int, clips: int) -> dict:
    from bench_extract import checked_specs, write_clips  # same clips and models

    import nnsim  # noqa: F401
    from nnsim.audio.extract import extract
    from nnsim.cluster import DaskRun, dask_client
    from nnsim.config import compose

    cfg = compose()
    specs = checked_specs(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        tracks = write_clips(Path(tmp), clips)
        with dask_client(replace(cfg.cluster, n_workers=workers)) as client:
            t0 = time.perf_counter()
            res = extract(
                tracks,
                specs,
                cfg.audio,
                Path(tmp) / "cache",
                workers=1,
                show_progress=False,
                dask=DaskRun(client, cfg.cluster.retries),
            )
            secs = time.perf_counter() - t0
    return {
        "seconds": secs,
        "audio_min_per_wall_min": res.audio_seconds / secs,
        "clips": clips,
        "models": len(specs),
    }


def child_library(n: int) -> dict:
    """hnswlib vs faiss HNSW: build and query time at equal graph parameters, recall@100."""
    import faiss
    import hnswlib

    from nnsim.search.exact import neighbors

    X = spaces(n)[0].X[:, :100].copy()
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    ex, _ = neighbors(X, 100, "cosine", max_block_mb=256)
    rows = np.random.default_rng(0).choice(n, 1000, replace=False)

    def recall(nbr):
        return float(
            np.mean([len(set(nbr[i][nbr[i] != i][:100]) & set(ex[i])) / 100 for i in rows])
        )

    out = {}
    t0 = time.perf_counter()
    p = hnswlib.Index(space="cosine", dim=Xn.shape[1])
    p.init_index(max_elements=n, ef_construction=200, M=16, random_seed=0)
    p.add_items(Xn, np.arange(n), num_threads=2)
    build = time.perf_counter() - t0
    p.set_ef(200)
    t0 = time.perf_counter()
    nbr, _ = p.knn_query(Xn, k=101, num_threads=2)
    out["hnswlib"] = {
        "build_s": build,
        "query_s": time.perf_counter() - t0,
        "recall100": recall(nbr),
    }
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    idx = faiss.IndexHNSWFlat(Xn.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = 200
    idx.add(Xn)
    build = time.perf_counter() - t0
    idx.hnsw.efSearch = 200
    t0 = time.perf_counter()
    _, nbr = idx.search(Xn, 101)
    out["faiss"] = {"build_s": build, "query_s": time.perf_counter() - t0, "recall100": recall(nbr)}
    return out


def run_child(args: list[str]) -> dict:
    """Run this script as a child; returns its JSON and the peak RSS of its process tree."""
    import psutil

    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ps = psutil.Process(proc.pid)
    peak = peak_anon = 0
    while proc.poll() is None:
        try:
            mem = [p.memory_info() for p in [ps, *ps.children(recursive=True)] if p.is_running()]
            peak = max(peak, sum(m.rss for m in mem))
            # RSS minus resident file-backed pages (memory-mapped tables, libraries): the
            # memory the OS cannot reclaim by dropping clean pages
            peak_anon = max(peak_anon, sum(m.rss - m.shared for m in mem))
        except psutil.Error:
            pass
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{err[-3000:]}")
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_mb"] = peak / 2**20
    res["peak_anon_mb"] = peak_anon / 2**20
    return res


def fit_exponent(ns: list[int], ts: list[float]) -> float:
    """Slope of log(time) against log(N)."""
    return float(np.polyfit(np.log(ns), np.log(ts), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000])
    ap.add_argument("--methods", nargs="+", default=["exact", "dask", "approximate"])
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    ap.add_argument("--plot", default=str(ROOT / "docs" / "scale.png"))
    ap.add_argument("--child", nargs="+", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "compare":
            res = child_compare(int(rest[0]), rest[1])
        elif kind == "extract":
            res = child_extract(int(rest[0]), int(rest[1]))
        else:
            res = child_library(int(rest[0]))
        print(json.dumps(res))
        return
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "machine": f"{os.cpu_count()} cores",
        "dims": DIMS,
        "cutoffs": CUTOFFS,
        "compare": {},
        "extract": {},
    }

    def save() -> None:
        out_path.write_text(json.dumps(results, indent=2) + "\n")

    results["library"] = run_child(["library", "50000"])
    print("library choice (50,000 x 100):", json.dumps(results["library"]), flush=True)
    save()
    for n in args.sizes:
        for method in args.methods:
            r = run_child(["compare", str(n), method])
            results["compare"].setdefault(method, {})[str(n)] = r
            print(
                f"N={n:>7} {method:>11}: {r['seconds']:8.1f} s, peak {r['peak_mb']:7.0f} MB"
                + (
                    f", recall >= {r['recall_min']:.4f}, |S_n error| <= {r['sn_error_max']:.4f}"
                    if "recall_min" in r
                    else ""
                ),
                flush=True,
            )
            save()
    for method, rows in results["compare"].items():
        ns = sorted(int(k) for k in rows)
        if len(ns) >= 2:
            rows_b = fit_exponent(ns, [rows[str(k)]["seconds"] for k in ns])
            results.setdefault("exponent", {})[method] = rows_b
            print(f"{method}: time grows as N^{rows_b:.2f}")
    if (ROOT / "models" / "frozen").is_dir():
        for w in (1, 2):
            r = run_child(["extract", str(w), str(args.clips)])
            results["extract"][str(w)] = r
            print(
                f"extraction on Dask, {w} worker(s): "
                f"{r['audio_min_per_wall_min']:.1f} audio-min per wall-min",
                flush=True,
            )
    else:
        print("models/frozen missing: extraction throughput skipped (dvc repro models)")
    save()
    plot(results, Path(args.plot))
    print(f"-> {out_path}, {args.plot}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    labels = {
        "exact": "exact, 1 process",
        "dask": "exact, Dask 2 workers",
        "approximate": "approximate (hnswlib)",
    }
    for method, rows in results["compare"].items():
        ns = sorted(int(k) for k in rows)
        ts = [rows[str(k)]["seconds"] for k in ns]
        b = results.get("exponent", {}).get(method)
        ax.loglog(ns, ts, "o-", label=f"{labels[method]}" + (f" (N^{b:.2f})" if b else ""))
    ax.set_xlabel("tracks N (4 spaces)")
    ax.set_ylabel("comparison time (s)")
    ax.set_title("nnsim comparison time against N (2 cores)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
