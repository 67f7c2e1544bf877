"""Benchmark: what each measure beyond S_n adds to the comparison, at the paper's size.

12 correlated random spaces of 29,275 tracks shaped like the paper's (``bench_similarity``'s
``make_spaces``: dims 200, 50, 256, 50, 200, 50, 256, 50, 128, 64, 96, 128), cosine, cutoffs
5/10/100/200, the settings of ``conf/`` (``compare.n_boot``, ``global_n_boot``,
``chance_permutations``, ``rsa_max_tracks``, ``global_exact_below``) as a user gets them.
In one run:

(a) the S_n comparison: ``run_comparison`` with ``compare.measures=[overlap]`` (exact tables,
    S_n, its 1000-replicate bootstrap, Table 2): the baseline of every ratio;
(b) every global measure alone and all five together (``global_table``: the value, the CI
    from ``global_n_boot`` resamples and the chance level of every pair), on the same aligned
    spaces;
(c) every other measure of the lists (``compare_tables`` and the permutation chance levels)
    and the two vector measures (``vector_comparison``), on the tables of (a);
(d) a hubness reduction (CSLS and mutual proximity) of every table (the candidates of (a)).

The hubness of every space with its bootstrap CIs (``CompareResult.hubness``, computed when
the report first reads it) is timed on its own, after (a).

Target (issue #20): all global measures together add less than 20% to (a).  Prints a table
and writes ``benchmarks/results/measures.json``.  Run: ``make bench`` or
``python benchmarks/bench_measures.py [--n-tracks N] [--spaces M]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import nnsim  # noqa: F401  (first: sets the BLAS/OpenMP thread-wait policy before numpy)

CUTOFFS = (5, 10, 100, 200)
GLOBAL = ("cka", "debiased_cka", "procrustes", "rsa", "svcca")
LISTS = ("rbo", "spearman", "jaccard", "rank")
VECTOR = ("second_order_cosine", "cknna")


def main() -> None:
    from bench_similarity import make_spaces

    from nnsim.cli import CLI_OVERRIDES
    from nnsim.compare import run_comparison
    from nnsim.config import compose
    from nnsim.measures import (
        global_table,
        hubness_reduced,
        list_chance,
        vector_comparison,
    )
    from nnsim.similarity import compare_tables
    from nnsim.spaces import Space

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-tracks", type=int, default=29275)
    ap.add_argument("--spaces", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "measures.json"))
    ap.add_argument(
        "--parts",
        default="global,lists,vector,hubness",
        help="comma-separated parts after (a): global, lists, vector, hubness",
    )
    args = ap.parse_args()

    cfg = compose(CLI_OVERRIDES)
    c = replace(cfg.compare, measures=["overlap"], n_boot=1000)
    nb = replace(cfg.neighbors, k=max(CUTOFFS))
    spaces = [Space(f"s{i}", X) for i, X in enumerate(make_spaces(args.n_tracks, args.spaces))]
    # warm every numba kernel on tiny data: compile time is not a measure's cost at scale
    tiny = [Space(s.name, s.X[:300]) for s in spaces[:3]]
    small = replace(c, measures=["overlap", *LISTS, *VECTOR, *GLOBAL], n_boot=10)
    run_comparison(tiny, cutoffs=[5, 10], neighbors=nb, compare=small, distance="cosine")

    t0 = time.perf_counter()
    res = run_comparison(spaces, cutoffs=list(CUTOFFS), neighbors=nb, compare=c, distance="cosine")
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    res.hubness  # noqa: B018  (computed when first read: what writing the report adds)
    hub_s = time.perf_counter() - t0
    print(
        f"(a) S_n comparison, {args.spaces} spaces x {args.n_tracks} tracks: {base:.1f} s "
        f"(and {hub_s:.1f} s of hubness with its CIs when the report reads it)"
    )
    X = {s.name: s.X for s in res.prepared.spaces}
    tables = {name: t.indices for name, t in res.tables.items()}
    cut = np.asarray(CUTOFFS)
    kw = dict(
        distance="cosine",
        n_permutations=c.chance_permutations,
        max_tracks=c.rsa_max_tracks,
        seed=c.seed,
        n_boot=c.global_n_boot,
        ci_level=c.ci_level,
        exact_below=c.global_exact_below,
    )
    rows = []

    def timed(label: str, fn) -> float:
        t = time.perf_counter()
        fn()
        s = time.perf_counter() - t
        rows.append({"measure": label, "seconds": s, "share_of_sn": s / base})
        print(f"    {label:24s} {s:7.1f} s   {100 * s / base:5.1f}% of (a)")
        return s

    parts = set(args.parts.split(","))
    print("(b) global measures (value, CI, chance level of every pair)")
    for m in GLOBAL:
        timed(m, lambda m=m: global_table(X, [m], **kw))
    together = timed("all global together", lambda: global_table(X, list(GLOBAL), **kw))
    print("(c) measures of the lists (value, CI, chance level)")
    for m in LISTS if "lists" in parts else ():

        def lists(m=m):
            compare_tables(
                tables,
                cut,
                measures=[m],
                rbo_p=c.rbo_p,
                n_boot=c.n_boot,
                ci_level=c.ci_level,
                seed=c.seed,
            )
            if m in ("rbo", "spearman", "rank"):
                list_chance(
                    tables,
                    cut,
                    [m],
                    rbo_p=c.rbo_p,
                    n_permutations=c.chance_permutations,
                    seed=c.seed,
                    chance_tracks=c.chance_tracks,
                )

        timed(m, lists)
    if "vector" in parts:  # both come from one pass over the lists (and its permutations)
        timed(
            "second_order_cosine+cknna",
            lambda: vector_comparison(
                X, tables, cut, list(VECTOR), distance="cosine", n_boot=c.n_boot,
                ci_level=c.ci_level, seed=c.seed, n_permutations=c.chance_permutations,
                chance_tracks=c.chance_tracks,
            ),
        )  # fmt: skip
    print("(d) hubness reduction of every table (re-ranking its candidates)")
    for method in ("csls", "mutual_proximity") if "hubness" in parts else ():
        timed(
            method,
            lambda method=method: [
                hubness_reduced(t.indices, t.distances, method, k=c.hubness_k)
                for t in res.tables.values()
            ],
        )
    ratio = together / base
    print(f"all global measures together: {100 * ratio:.1f}% of the S_n comparison (target < 20%)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "n_tracks": args.n_tracks,
                "spaces": args.spaces,
                "cutoffs": list(CUTOFFS),
                "sn_comparison_s": base,
                "hubness_with_cis_s": hub_s,
                "global_n_boot": c.global_n_boot,
                "chance_permutations": c.chance_permutations,
                "global_together_share": ratio,
                "target_share": 0.2,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
