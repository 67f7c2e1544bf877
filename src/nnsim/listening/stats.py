"""Statistics of a listening test's answers (the paper's Section 6, and beyond).

The paper's tests: Shapiro-Wilk on the ratings; one-way ANOVA and Kruskal-Wallis by space (and
by reference, by participant); Tukey HSD between spaces; mean ± std per space (Figure 5).
Beyond: a cumulative-link (ordinal logit) model and a linear mixed model with the participant
as a random effect, both with the position a playlist was shown at, which nnsim stores.
Every test returns a dict with either its numbers or ``"skipped"``: the reason it was not run
(too few participants, one group only, all ratings equal), never a NaN.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from nnsim.errors import InputError, preview
from nnsim.listening.checks import is_check, participant_checks
from nnsim.settings import AttentionSettings

#: The tests :func:`analyse` reports, each a dict of numbers or ``{"skipped": reason}``.
TESTS: tuple[str, ...] = (
    "shapiro",
    "by_space",
    "by_reference",
    "by_participant",
    "by_position",
    "ordinal",
    "mixed",
    "agreement",
)
#: Columns an export must have for the statistics.
REQUIRED: tuple[str, ...] = ("participant", "reference", "space", "position", "rating", "skipped")


def read_responses(path: str | Path) -> pd.DataFrame:
    """Read an export (``nnsim listening export`` or the simulated one) and check it.

    Returns
    -------
    pandas.DataFrame
        All rows; ``rating`` as nullable integers, ``skipped`` as bool.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{path}: no responses here; export them (nnsim listening export --out {path}) "
            "or set listening.stats.responses."
        )
    df = pd.read_csv(path, dtype={"participant": str, "reference": str, "space": str})
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}; an export of nnsim listening "
            f"export has {', '.join(REQUIRED)} (and more)."
        )
    skipped = pd.to_numeric(df["skipped"], errors="coerce")
    bad = df.index[~skipped.isin([0, 1])]
    if len(bad):
        raise InputError(f"{path}: 'skipped' must be 0 or 1 (rows {preview(bad + 2)}).")
    rating = pd.to_numeric(df["rating"], errors="coerce")
    bad = df.index[(skipped == 0) & ~rating.isin([0, 1, 2, 3])]
    if len(bad):
        raise InputError(
            f"{path}: ratings must be 0, 1, 2 or 3 where not skipped (rows {preview(bad + 2)})."
        )
    position = pd.to_numeric(df["position"], errors="coerce")
    bad = df.index[~(position >= 1)]
    if len(bad):
        raise InputError(f"{path}: 'position' must be 1, 2, ... (rows {preview(bad + 2)}).")
    df["rating"] = rating.where(skipped == 0).astype("Int64")
    df["skipped"] = skipped.astype(bool)
    df["position"] = position.astype(int)
    return df


def rated(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with a rating (skipped references left out), ``rating`` as int."""
    out = df[~df["skipped"]].copy()
    out["rating"] = out["rating"].astype(int)
    return out


def shapiro(r: pd.DataFrame) -> dict[str, Any]:
    """Shapiro-Wilk on all ratings."""
    x = r["rating"].to_numpy(float)
    if len(x) < 3:
        return {"skipped": f"{len(x)} ratings; Shapiro-Wilk needs at least 3"}
    if np.ptp(x) == 0:
        return {"skipped": "all ratings are equal"}
    res = st.shapiro(x)
    return {"W": float(res.statistic), "p": float(res.pvalue), "n": len(x)}


def group_tests(r: pd.DataFrame, by: str) -> dict[str, Any]:
    """One-way ANOVA and Kruskal-Wallis of the ratings grouped by ``by``."""
    groups = [g["rating"].to_numpy(float) for _, g in r.groupby(by, sort=True)]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:
        return {"skipped": f"fewer than two {by} groups with two or more ratings"}
    if np.ptp(np.concatenate(groups)) == 0:
        return {"skipped": "all ratings are equal"}
    if all(np.ptp(g) == 0 for g in groups):
        return {"skipped": f"no variation within any {by} group"}
    a = st.f_oneway(*groups)
    k = st.kruskal(*groups)
    return {
        "anova_F": float(a.statistic),
        "anova_p": float(a.pvalue),
        "kruskal_H": float(k.statistic),
        "kruskal_p": float(k.pvalue),
        "groups": len(groups),
    }


def compact_letters(order: list[str], tukey_table: pd.DataFrame) -> dict[str, str]:
    """Compact letter display of Tukey HSD results: spaces sharing a letter do not differ.

    Each maximal group of spaces none of which differ pairwise (a maximal clique of the
    "not rejected" graph, Bron-Kerbosch) gets a letter, ``a`` for the group whose best-ranked
    member comes first in ``order``.  Two spaces share a letter if and only if Tukey HSD
    did not find them different.

    Parameters
    ----------
    order : list of str
        Spaces, best first (e.g. by mean rating).
    tukey_table : pandas.DataFrame
        :func:`tukey`'s ``group1, group2, reject``.

    Returns
    -------
    dict of str to str
        Letters per space.

    Examples
    --------
    >>> t = pd.DataFrame({"group1": ["A", "A", "B"], "group2": ["B", "C", "C"],
    ...                   "reject": [False, True, False]})
    >>> compact_letters(["A", "B", "C"], t)
    {'A': 'a', 'B': 'ab', 'C': 'b'}
    """
    same: dict[str, set[str]] = {s: set() for s in order}  # neighbours, not oneself
    for g1, g2, rej in zip(
        tukey_table["group1"], tukey_table["group2"], tukey_table["reject"], strict=True
    ):
        if not bool(rej) and g1 in same and g2 in same:
            same[g1].add(g2)
            same[g2].add(g1)
    cliques: list[frozenset[str]] = []

    def expand(r: set[str], p: set[str], x: set[str]) -> None:
        if not p and not x:
            cliques.append(frozenset(r))
            return
        for v in sorted(p, key=order.index):
            expand(r | {v}, p & same[v], x & same[v])
            p = p - {v}
            x = x | {v}

    expand(set(), set(order), set())
    rank = {s: i for i, s in enumerate(order)}
    cliques.sort(key=lambda c: sorted(rank[s] for s in c))
    letters = {s: "" for s in order}
    for i, c in enumerate(cliques):
        for s in c:
            letters[s] += "abcdefghijklmnopqrstuvwxyz"[i % 26]
    return {s: "".join(sorted(v)) for s, v in letters.items()}


def tukey(r: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Tukey HSD between every pair of spaces (statsmodels)."""
    from statsmodels.stats.multicomp import pairwise_tukeyhsd

    res = pairwise_tukeyhsd(r["rating"].to_numpy(float), r["space"].to_numpy(), alpha=alpha)
    names = res.groupsunique
    i, j = np.triu_indices(len(names), 1)
    return pd.DataFrame(
        {
            "group1": names[i],
            "group2": names[j],
            "meandiff": res.meandiffs,
            "p_adj": res.pvalues,
            "lower": res.confint[:, 0],
            "upper": res.confint[:, 1],
            "reject": res.reject,
        }
    )


def means(r: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std and count of the ratings per space (Figure 5)."""
    g = r.groupby("space")["rating"]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1), "n": g.size()}).reset_index()


def _design(r: pd.DataFrame, with_space: bool) -> pd.DataFrame:
    cols: list[pd.Series | pd.DataFrame] = [
        (r["position"] - r["position"].mean()).rename("position").astype(float)
    ]
    if with_space:
        cols.append(pd.get_dummies(r["space"], prefix="space", drop_first=True, dtype=float))
    return pd.concat(cols, axis=1)


def ordinal_model(r: pd.DataFrame) -> dict[str, Any]:
    """Cumulative-link (logit) model: rating ~ space + position (statsmodels OrderedModel).

    Returns the position's coefficient (log-odds per position) with its p-value, and a
    likelihood-ratio test of the spaces.
    """
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    levels = sorted(r["rating"].unique())
    if len(levels) < 3:
        return {"skipped": f"only {len(levels)} distinct rating(s); the model needs 3"}
    y = pd.Series(pd.Categorical(r["rating"], categories=levels, ordered=True), index=r.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = OrderedModel(y, _design(r, True), distr="logit").fit(method="bfgs", disp=False)
        reduced = OrderedModel(y, _design(r, False), distr="logit").fit(method="bfgs", disp=False)
    lr = max(0.0, 2.0 * (full.llf - reduced.llf))
    dof = r["space"].nunique() - 1
    return {
        "position_coef": float(full.params["position"]),
        "position_p": float(full.pvalues["position"]),
        "space_LR": float(lr),
        "space_df": int(dof),
        "space_p": float(st.chi2.sf(lr, dof)),
        "converged": bool(full.mle_retvals.get("converged", True)),
    }


def mixed_model(r: pd.DataFrame) -> dict[str, Any]:
    """Linear mixed model: rating ~ space + position, participant as a random intercept."""
    import statsmodels.formula.api as smf

    data = r.assign(pos_c=r["position"] - r["position"].mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("rating ~ C(space) + pos_c", data, groups=data["participant"]).fit(
            reml=False
        )
        base = smf.mixedlm("rating ~ pos_c", data, groups=data["participant"]).fit(reml=False)
    lr = max(0.0, 2.0 * (fit.llf - base.llf))
    dof = r["space"].nunique() - 1
    return {
        "position_coef": float(fit.params["pos_c"]),
        "position_p": float(fit.pvalues["pos_c"]),
        "participant_var": float(fit.cov_re.iloc[0, 0]),
        "residual_var": float(fit.scale),
        "space_LR": float(lr),
        "space_p": float(st.chi2.sf(lr, dof)),
        "converged": bool(fit.converged),
    }


def agreement_model(
    r: pd.DataFrame, agreement: Mapping[str, Mapping[str, float]], *, alpha: float
) -> dict[str, Any]:
    """Does offline agreement predict perceived similarity?

    A linear mixed model ``rating ~ agreement`` with crossed random intercepts of the
    participant and the reference (statsmodels ``MixedLM``, variance components), where the
    agreement of a playlist is its space's per-reference S_n with the other tested spaces'
    playlists for the same reference (:func:`nnsim.listening.playlists.playlist_agreement`).

    Returns
    -------
    dict
        ``coef`` (rating points per unit of agreement), its ``ci_low``/``ci_high`` at level
        ``1 - alpha``, ``p``, the variance components, or ``{"skipped": reason}``.
    """
    import statsmodels.formula.api as smf

    x = [agreement.get(ref, {}).get(s) for ref, s in zip(r["reference"], r["space"], strict=True)]
    data = r.assign(agreement=pd.to_numeric(pd.Series(x, index=r.index), errors="coerce"))
    data = data.dropna(subset=["agreement"])
    if len(data) < 10 or data["agreement"].nunique() < 2:
        return {"skipped": "fewer than two distinct agreement values among the rated playlists"}
    if data["reference"].nunique() < 2 or data["participant"].nunique() < 2:
        return {"skipped": "the random effects need two references and two participants"}
    data = data.assign(one=1)
    vc = {"participant": "0 + C(participant)", "reference": "0 + C(reference)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm(
            "rating ~ agreement", data, groups=data["one"], vc_formula=vc, re_formula="0"
        ).fit(reml=True)
    lo, hi = (float(v) for v in fit.conf_int(alpha=alpha).loc["agreement"])
    names = list(fit.model.exog_vc.names)
    return {
        "coef": float(fit.params["agreement"]),
        "ci_low": lo,
        "ci_high": hi,
        "p": float(fit.pvalues["agreement"]),
        "rows": len(data),
        **{f"{n}_var": float(v) for n, v in zip(names, fit.vcomp, strict=True)},
        "residual_var": float(fit.scale),
        "converged": bool(fit.converged),
    }


def analyse(
    df: pd.DataFrame,
    *,
    alpha: float,
    min_participants: int,
    attention: AttentionSettings | None = None,
    agreement: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """Every test of the study over checked responses (:func:`read_responses`).

    ``agreement`` (``{reference: {space: per-reference S_n}}``, the study file's) adds
    :func:`agreement_model`.  Attention checks (spaces ``check:<kind>``) are never counted as
    spaces: they are scored
    per participant (``attention``), and with ``attention.exclude_failed`` the participants
    who failed one are left out of every test.

    Returns
    -------
    dict
        ``{"n": {...}, "shapiro": {...}, "by_space"/"by_reference"/"by_participant"/
        "by_position": {...}, "ordinal": {...}, "mixed": {...}, "means": DataFrame,
        "tukey": DataFrame or None, "attention": DataFrame (per participant) or None,
        "excluded": [participant ids], "notes": [str]}``.
    """
    checks = df["space"].map(is_check)
    table, excluded = None, []
    if checks.any() and attention is not None:
        table = participant_checks(
            df[checks & ~df["skipped"]], pass_same=attention.pass_same, pass_far=attention.pass_far
        )
        failed = list(table.loc[~table["passed"], "participant"])
        if attention.exclude_failed and failed:
            excluded = failed
    df = df[~checks & ~df["participant"].isin(excluded)]
    r = rated(df)
    n_part = int(r["participant"].nunique())
    out: dict[str, Any] = {
        "n": {
            "participants": n_part,
            "ratings": len(r),
            "skipped_rows": int(df["skipped"].sum()),
            "spaces": int(r["space"].nunique()),
            "references": int(r["reference"].nunique()),
        },
        "alpha": alpha,
        "means": means(r),
        "tukey": None,
        "attention": table,
        "excluded": excluded,
        "notes": [],
    }
    per = r.groupby("participant")["reference"].nunique()
    if len(per) and per.max() < r["reference"].nunique():
        out["notes"].append(
            f"participants rated subsets of the references ({int(per.min())}-{int(per.max())} "
            f"of {r['reference'].nunique()}, listening.app.per_participant); the mixed models' "
            "participant and reference effects account for the design"
        )
        out["n"]["references_per_participant"] = int(per.max())
    if table is not None:
        out["n"]["failed_checks"] = int((~table["passed"]).sum())
        out["n"]["excluded"] = len(excluded)
        if excluded:
            out["notes"].append(
                f"{len(excluded)} participant(s) failed an attention check and are left out "
                "(listening.attention.exclude_failed)"
            )
    if n_part < min_participants:
        why = (
            f"{n_part} participant(s) with ratings, fewer than listening.stats."
            f"min_participants={min_participants}: no test was run"
        )
        out["notes"].append(why)
        for key in TESTS:
            out[key] = {"skipped": why}
        return out
    out["shapiro"] = shapiro(r)
    for by in ("space", "reference", "participant", "position"):
        out[f"by_{by}"] = group_tests(r, by)
    if r["space"].nunique() >= 2 and np.ptp(r["rating"].to_numpy()) > 0:
        out["tukey"] = tukey(r, alpha)
        out["ordinal"] = ordinal_model(r)
        out["mixed"] = mixed_model(r)
    else:
        why = "fewer than two spaces or all ratings equal"
        out["ordinal"] = out["mixed"] = {"skipped": why}
    out["agreement"] = (
        agreement_model(r, agreement, alpha=alpha)
        if agreement is not None
        else {"skipped": "no per-reference agreement (the study file has none)"}
    )
    return out
