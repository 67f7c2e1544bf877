"""Table-2 aggregates: which variable (dataset, architecture, layer) moves neighbours most.

For a variable ``v`` the pairs of spaces that differ in ``v`` only (equal in every other
variable) are averaged.  Variables come from the spaces' metadata, not from their names;
spaces missing any of the variables (e.g. collaborative-filtering spaces) take no part.
On the paper's eight MusiCNN/VGG spaces this averages four pairs per variable (Table 2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from nnsim.similarity import percentile_ci


def _level(meta: Mapping[str, object], var: str) -> str | None:
    val = meta.get(var)
    if val is None:
        return None
    text = str(val).strip()
    return text or None


def factor_pairs(
    names: Sequence[str],
    meta: Mapping[str, Mapping[str, object]],
    variable: str,
    variables: Sequence[str],
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of spaces differing in ``variable`` only.

    Parameters
    ----------
    names : sequence of str
        Space names (matrix order).
    meta : mapping
        Metadata per name.
    variable : str
        The variable that must differ.
    variables : sequence of str
        All variables considered; the others must be equal.

    Returns
    -------
    list of tuple of int
    """
    levels = [{v: _level(meta.get(n, {}), v) for v in variables} for n in names]
    pairs = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = levels[i], levels[j]
            if any(a[v] is None or b[v] is None for v in variables):
                continue
            if a[variable] != b[variable] and all(a[v] == b[v] for v in variables if v != variable):
                pairs.append((i, j))
    return pairs


def factor_table(
    S: np.ndarray,
    names: Sequence[str],
    meta: Mapping[str, Mapping[str, object]],
    cutoffs: Sequence[int] | np.ndarray,
    variables: Sequence[str],
    *,
    boot: np.ndarray | None = None,
    ci_level: float,
) -> pd.DataFrame:
    """Average NN-similarity along each variable (the paper's Table 2).

    Parameters
    ----------
    S : np.ndarray [shape=(m, m, c)]
        Pairwise S_n matrices.
    names : sequence of str
        Space names, length ``m``.
    meta : mapping
        Metadata per space with the variables as keys.
    cutoffs : sequence of int
        Cutoffs, length ``c``.
    variables : sequence of str
        Variables to aggregate over.
    boot : np.ndarray [shape=(m, m, n_boot, c)], optional
        Paired bootstrap replicates of S_n (:attr:`nnsim.similarity.Comparison.boot`); the
        aggregate's CI is the percentile interval of the replicates' mean over the pairs.
    ci_level : float
        Confidence level (``compare.ci_level``).

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, levels, cutoff, similarity, ci_low, ci_high, std, min, max,
        n_pairs, pairs``; one row per variable with at least one pair and cutoff (CI bounds
        equal the value without replicates).
    """
    rows = []
    for var in variables:
        pairs = factor_pairs(names, meta, var, variables)
        if not pairs:
            continue
        lv = sorted({str(_level(meta[names[i]], var)) for p in pairs for i in p})
        label = "; ".join(f"{names[i]}|{names[j]}" for i, j in pairs)
        for ci, cut in enumerate(cutoffs):
            vals = np.array([S[i, j, ci] for i, j in pairs])
            lo = hi = float(vals.mean())
            if boot is not None and boot.shape[2] > 0:
                reps = np.mean([boot[i, j, :, ci] for i, j in pairs], axis=0)
                low, high = percentile_ci(reps, ci_level)
                lo, hi = float(low), float(high)
            rows.append(
                {
                    "variable": var,
                    "levels": " vs ".join(lv),
                    "cutoff": int(cut),
                    "similarity": float(vals.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                    "std": float(vals.std()),
                    "min": float(vals.min()),
                    "max": float(vals.max()),
                    "n_pairs": len(pairs),
                    "pairs": label,
                }
            )
    cols = [
        "variable",
        "levels",
        "cutoff",
        "similarity",
        "ci_low",
        "ci_high",
        "std",
        "min",
        "max",
        "n_pairs",
        "pairs",
    ]
    return pd.DataFrame(rows, columns=cols)
