"""Benchmark: nnsim vs the straightforward approach on spaces shaped like the paper's.

Builds 12 correlated random spaces of 29,275 tracks (dims 200, 50, 256, 50, 200, 50, 256,
50, 128, 64, 96, 128) and times, in the same run:

(a) baseline: scikit-learn ``NearestNeighbors(n_neighbors=K+1)`` per space (column 0 dropped
    as the query), then a Python set intersection per track, pair and cutoff;
(b) nnsim: ``run_comparison`` (the one workflow: scaled float32 blocked kNN, exact float64
    re-ranking of the candidates, one-pass overlap for every cutoff, 1000-replicate bootstrap
    CIs, ambiguity counts), in a child process whose peak RSS is reported;
(c) what the exact re-ranking costs: the float32 pass alone against ``neighbors`` (float32
    pass + re-ranking) on one 200-d space.

Also times nnsim on the paper's small subset size (1,372 tracks).

(d) the exact neighbour tables against the naive floor: the first 6 spaces, cutoffs
5/10/100/200 (tables of width 201), cosine, no bootstrap; per space, back to back, one
naive blocked float32 X.Xt (256 MiB blocks, unit rows), nnsim's exact certified table
(:func:`nnsim.search.exact.neighbors`) and faiss ``IndexFlatIP`` top-202 (float32, no
re-ranking, no certificate).  Run in one child process per OpenBLAS kernel setting: the
environment's (``OPENBLAS_CORETYPE=Haswell`` unless it names another) and the processor's
own (``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset for that child only).  The numba
kernels' first-run cost is timed apart: compiling into an empty cache, then loading from it.

Prints a table and writes ``benchmarks/results/similarity.json`` (and ``exact.json`` for
(d)).  Run: ``make bench`` or ``python benchmarks/bench_similarity.py [--n-tracks N]
[--spaces M] [--exact-only]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import resource
import time
from pathlib import Path

import numpy as np

import nnsim  # noqa: F401  (first: sets the BLAS/OpenMP thread-wait policy before numpy)

DIMS = (200, 50, 256, 50, 200, 50, 256, 50, 128, 64, 96, 128)
CUTOFFS = (5, 10, 100, 200)


def make_spaces(n_tracks: int, n_spaces: int, seed: int = 0) -> list[np.ndarray]:
    """Correlated spaces: a shared clustered latent layout seen through random maps + noise."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((40, 24)) * 1.5
    Z = centers[rng.integers(0, 40, n_tracks)] + rng.standard_normal((n_tracks, 24))
    out = []
    for d in DIMS[:n_spaces]:
        W = rng.standard_normal((24, d)).astype(np.float32)
        X = Z.astype(np.float32) @ W + 2.0 * rng.standard_normal((n_tracks, d)).astype(np.float32)
        out.append(X.astype(np.float32))
    return out


def baseline(spaces: list[np.ndarray], cutoffs: tuple[int, ...]) -> tuple[np.ndarray, dict]:
    from sklearn.neighbors import NearestNeighbors

    K = max(cutoffs)
    t0 = time.perf_counter()
    tables = []
    for X in spaces:
        nn = NearestNeighbors(n_neighbors=K + 1, metric="cosine", algorithm="brute").fit(X)
        idx = nn.kneighbors(X, return_distance=False)
        tables.append(idx[:, 1:])
    t_knn = time.perf_counter() - t0
    m = len(spaces)
    S = np.ones((m, m, len(cutoffs)))
    t1 = time.perf_counter()
    for i in range(m):
        for j in range(i + 1, m):
            for ci, n in enumerate(cutoffs):
                A, B = tables[i], tables[j]
                vals = [len(set(a[:n]) & set(b[:n])) / n for a, b in zip(A, B, strict=True)]
                S[i, j, ci] = S[j, i, ci] = float(np.mean(vals))
    t_pairs = time.perf_counter() - t1
    return S, {"knn_s": t_knn, "pairs_s": t_pairs, "total_s": t_knn + t_pairs}


def options(cutoffs: tuple[int, ...]):
    """The settings of ``conf/`` (own data) with the benchmark's cutoffs and table width."""
    from nnsim.cli import CLI_OVERRIDES
    from nnsim.config import compose

    cfg = compose(CLI_OVERRIDES)
    from dataclasses import replace

    return {
        "cutoffs": list(cutoffs),
        "neighbors": replace(cfg.neighbors, k=max(cutoffs)),
        "compare": replace(cfg.compare, n_boot=1000),
    }


def float32_only(X: np.ndarray, k: int, max_block_mb: float) -> float:
    """Seconds of the float32 candidate pass alone (no re-ranking), for the cost table."""
    from nnsim.search.exact import _prepare, _topk_block, block_rows_for

    t0 = time.perf_counter()
    _, work, _, _ = _prepare(X, "cosine", "bench")
    n = work.shape[0]
    idx = np.empty((n, k), dtype=np.int32)
    sc = np.empty((n, k), dtype=np.float32)
    off = np.zeros(n, dtype=np.float32)  # cosine: the score is the product
    rows = block_rows_for(n, max_block_mb)
    buf = np.empty((rows, n), dtype=np.float32)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        S = np.matmul(work[start:stop], work.T, out=buf[: stop - start])
        self_cols = np.arange(start, stop, dtype=np.int64)
        _topk_block(S, self_cols, k, 1.0, off, idx[start:stop], sc[start:stop])
    return time.perf_counter() - t0


def _nnsim_child(n_tracks: int, n_spaces: int, cutoffs: tuple[int, ...], q: mp.Queue) -> None:
    from nnsim.compare import run_comparison
    from nnsim.search.exact import neighbors
    from nnsim.spaces import Space

    opts = options(cutoffs)
    spaces = [Space(f"s{i}", X) for i, X in enumerate(make_spaces(n_tracks, n_spaces))]
    # Warm the numba kernels on tiny data so compile time is not counted.
    warm = [Space("a", spaces[0].X[:300]), Space("b", spaces[1].X[:300])]
    run_comparison(warm, **options((5, 10)), distance="cosine")
    float32_only(spaces[0].X[:300], 10, opts["neighbors"].max_block_mb)
    t0 = time.perf_counter()
    res = run_comparison(spaces, **opts, distance="cosine")
    total = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    K = max(cutoffs) + 1
    t32 = float32_only(spaces[0].X, K, opts["neighbors"].max_block_mb)
    t1 = time.perf_counter()
    neighbors(spaces[0].X, K, "cosine", max_block_mb=opts["neighbors"].max_block_mb)
    t_exact = time.perf_counter() - t1
    q.put(
        {
            "total_s": total,
            "peak_rss_mb": peak_mb,
            "S": res.comparison.similarity.tolist(),
            "one_space_float32_pass_s": t32,
            "one_space_exact_s": t_exact,
            "ambiguous_lists": int(res.ambiguous["ambiguous_lists"].sum()),
        }
    )


def run_nnsim(n_tracks: int, n_spaces: int, cutoffs: tuple[int, ...]) -> dict:
    return _in_child(_nnsim_child, (n_tracks, n_spaces, cutoffs), {})


EXACT_SPACES = 6
EXACT_WIDTH = 201  # cutoffs up to 200, plus the (n+1)-th neighbour for the ambiguity counts


def naive_product(X: np.ndarray, block_mb: float = 256.0) -> None:
    """The naive floor: unit rows, then X.Xt in blocks of rows (no selection at all)."""
    U = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    n = U.shape[0]
    rows = max(1, int(block_mb * 2**20) // (4 * n))
    buf = np.empty((rows, n), dtype=np.float32)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        np.matmul(U[s:e], U.T, out=buf[: e - s])


def _exact_child(n_tracks: int, q: mp.Queue) -> None:
    import faiss

    from nnsim.search.exact import neighbors

    spaces = make_spaces(n_tracks, EXACT_SPACES)
    # warm-ups (numba kernels loaded from their cache, BLAS and faiss threads started)
    neighbors(spaces[0][:20000], EXACT_WIDTH, "cosine", max_block_mb=256.0)
    naive_product(spaces[0][:4000])
    rows = []
    for X in spaces:
        t0 = time.perf_counter()
        naive_product(X)
        t_naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        neighbors(X, EXACT_WIDTH, "cosine", max_block_mb=256.0)
        t_nnsim = time.perf_counter() - t0
        t0 = time.perf_counter()
        U = np.ascontiguousarray(X / np.linalg.norm(X, axis=1, keepdims=True), dtype=np.float32)
        index = faiss.IndexFlatIP(U.shape[1])
        index.add(U)
        index.search(U, EXACT_WIDTH + 1)
        t_faiss = time.perf_counter() - t0
        rows.append({"dim": X.shape[1], "naive_s": t_naive, "nnsim_s": t_nnsim, "faiss_s": t_faiss})
    q.put(rows)


def _jit_child(q: mp.Queue) -> None:
    t0 = time.perf_counter()
    from nnsim.search.exact import neighbors

    X = np.random.default_rng(0).standard_normal((20000, 8)).astype(np.float32)
    t1 = time.perf_counter()
    neighbors(X[:500], 10, "cosine", max_block_mb=256.0)  # symmetric pass, no floors
    neighbors(X, 10, "cosine", max_block_mb=256.0)  # with floors
    neighbors(X[:500], 10, "cosine", max_block_mb=0.01)  # row-block pass
    q.put({"import_s": t1 - t0, "first_calls_s": time.perf_counter() - t1})


def _set_env(env: dict[str, str | None]) -> dict[str, str | None]:
    """Set (or, for None, unset) environment variables; return what they were."""
    saved = {k: os.environ.get(k) for k in env}
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    return saved


def _in_child(target, args: tuple, env: dict[str, str | None]):  # type: ignore[no-untyped-def]
    """Run ``target(*args, queue)`` in a spawned child with ``env`` changes; its result."""
    saved = _set_env(env)
    try:
        ctx = mp.get_context("spawn")
        q: mp.Queue = ctx.Queue()
        p = ctx.Process(target=target, args=(*args, q))
        p.start()
    finally:
        _set_env(saved)
    while True:  # a child that dies must not leave the benchmark waiting forever
        try:
            res = q.get(timeout=5)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"benchmark child failed (exit code {p.exitcode})") from None
    p.join()
    return res


def run_exact(n_tracks: int, out: Path) -> dict:
    """(d): nnsim's exact tables against the naive floor and faiss, under both kernels."""
    import tempfile

    settings = {
        "haswell": {"OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "Haswell")},
        "native": {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None},
    }
    summary: dict = {"n_tracks": n_tracks, "width": EXACT_WIDTH, "spaces": EXACT_SPACES}
    with tempfile.TemporaryDirectory() as cache:
        jit = {"NUMBA_CACHE_DIR": cache}
        summary["jit_first_run"] = _in_child(_jit_child, (), jit)
        summary["jit_cached"] = _in_child(_jit_child, (), jit)
    print(
        f"  numba kernels: first run {summary['jit_first_run']['first_calls_s']:.1f} s "
        f"(compiling into an empty cache), later runs "
        f"{summary['jit_cached']['first_calls_s']:.2f} s (loaded from the cache)"
    )
    for name, env in settings.items():
        rows = _in_child(_exact_child, (n_tracks,), env)
        tot = {key: sum(r[key] for r in rows) for key in ("naive_s", "nnsim_s", "faiss_s")}
        summary[name] = {
            "env": env,
            "per_space": rows,
            **tot,
            "nnsim_over_naive": tot["nnsim_s"] / tot["naive_s"],
            "faiss_over_naive": tot["faiss_s"] / tot["naive_s"],
        }
        print(
            f"  {name}: naive X.Xt {tot['naive_s']:.1f} s, nnsim exact {tot['nnsim_s']:.1f} s "
            f"({tot['nnsim_s'] / tot['naive_s']:.2f}x), faiss IndexFlatIP "
            f"{tot['faiss_s']:.1f} s ({tot['faiss_s'] / tot['naive_s']:.2f}x)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-tracks", type=int, default=29275)
    ap.add_argument("--spaces", type=int, default=12)
    ap.add_argument("--small", type=int, default=1372, help="tracks of the small-subset timing")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "similarity.json"))
    ap.add_argument(
        "--skip-baseline", action="store_true", help="only nnsim (e.g. to measure memory at scale)"
    )
    ap.add_argument("--exact-only", action="store_true", help="only (d), the exact tables")
    args = ap.parse_args()
    print(
        f"exact tables: {EXACT_SPACES} spaces x {args.n_tracks} tracks, width {EXACT_WIDTH}, "
        "cosine, against the naive X.Xt and faiss"
    )
    run_exact(args.n_tracks, Path(args.out).with_name("exact.json"))
    if args.exact_only:
        return
    print(f"nnsim: {args.spaces} spaces x {args.n_tracks} tracks, cutoffs {CUTOFFS}, cosine")
    res_b = run_nnsim(args.n_tracks, args.spaces, CUTOFFS)
    print(f"  nnsim total {res_b['total_s']:.1f} s, peak RSS {res_b['peak_rss_mb']:.0f} MB")
    print(
        f"  one 200-d space: float32 pass alone {res_b['one_space_float32_pass_s']:.2f} s, "
        f"with exact re-ranking {res_b['one_space_exact_s']:.2f} s"
    )
    if args.skip_baseline:
        return
    res_small = run_nnsim(args.small, args.spaces, CUTOFFS)
    print(f"  nnsim small subset ({args.small} tracks): {res_small['total_s']:.2f} s")
    print("baseline: scikit-learn NearestNeighbors + Python sets ...")
    S_a, res_a = baseline(make_spaces(args.n_tracks, args.spaces), CUTOFFS)
    print(
        f"  baseline total {res_a['total_s']:.1f} s "
        f"(kNN {res_a['knn_s']:.1f} s, pair overlaps {res_a['pairs_s']:.1f} s)"
    )
    diff = float(np.abs(np.asarray(res_b["S"]) - S_a).max())
    speedup = res_a["total_s"] / res_b["total_s"]
    print(f"speed-up {speedup:.1f}x; max |S_n(nnsim) - S_n(baseline)| = {diff:.2e}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "n_tracks": args.n_tracks,
        "n_spaces": args.spaces,
        "cutoffs": CUTOFFS,
        "baseline": res_a,
        "nnsim": {k: v for k, v in res_b.items() if k != "S"},
        "nnsim_small": {k: v for k, v in res_small.items() if k != "S"},
        "speedup": speedup,
        "max_abs_diff": diff,
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
