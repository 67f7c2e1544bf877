"""How much do outputs change between CPUs?  (Why a fresh ``make demo`` dirties ``dvc.lock``.)

BLAS and TensorFlow pick kernels by instruction set, so float results differ in their last
bits between machines; DVC hashes files, so the committed ``dvc.lock`` does not match.  On
one machine we can switch OpenBLAS's kernels (``OPENBLAS_CORETYPE``) and see the effect on the
CF stage: the item factors of ALS on the demo's filtered log, fitted with each core type in a
fresh process, compared by max |difference| and by S_n of their neighbour lists.

Run after ``make demo``: ``python benchmarks/cpu_variation.py``; writes
``benchmarks/results/cpu_variation.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CORES = ("Haswell", "SandyBridge", "Nehalem", "Prescott")
CHILD = r"""
import sys, numpy as np, pandas as pd
from nnsim.cf.als import fit_als
from nnsim.cf.log import to_matrix
from nnsim.config import compose
cfg = compose()
c = cfg.cf
df = pd.read_parquet(cfg.paths.interim_dir + "/interactions.parquet")
m, _, _ = to_matrix(df)
model = fit_als(m, 32, regularization=c["regularization"], alpha=c["alpha"],
                iterations=c["iterations"], seed=c["seed"], deterministic=True)
np.save(sys.argv[1], model.item_factors)
"""


def main() -> None:
    out = Path("benchmarks/results/cpu_variation.json")
    tmp = Path("benchmarks/results/.cpu_variation")
    tmp.mkdir(parents=True, exist_ok=True)
    facs = {}
    for core in CORES:
        env = {**os.environ, "OPENBLAS_CORETYPE": core}
        path = tmp / f"{core}.npy"
        subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, check=True)
        facs[core] = np.load(path)
    from nnsim.compare import run_comparison
    from nnsim.config import compose
    from nnsim.spaces import Space

    c = compose(["compare.n_boot=0"])
    opts = {"cutoffs": c.cutoffs, "neighbors": c.neighbors, "compare": c.compare}
    ref = facs[CORES[0]]
    rows = []
    for core in CORES[1:]:
        X = facs[core]
        res = run_comparison(
            [Space("ref", ref), Space(core, X)], **opts, distance="cosine", show_progress=False
        )
        rows.append(
            {
                "core": core,
                "identical_bytes": bool(np.array_equal(ref, X)),
                "max_abs_diff": float(np.abs(ref - X).max()),
                "max_rel_diff": float((np.abs(ref - X) / (np.abs(ref) + 1e-12)).max()),
                "S_n": dict(
                    zip(
                        map(str, opts["cutoffs"]),
                        map(float, res.comparison.similarity[0, 1]),
                        strict=True,
                    )
                ),
            }
        )
        print(rows[-1])
    out.write_text(json.dumps({"reference": CORES[0], "runs": rows}, indent=2) + "\n")
    for p in tmp.glob("*.npy"):
        p.unlink()
    tmp.rmdir()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
