"""The one writer of comparison outputs: CSV tables, figures and the metrics for tracking.

Used by ``nnsim compare``, the ``compare`` stage and the sweep app, so all three write the
same files (:data:`REPORT_FILES`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim.compare import GLOBAL_COLUMNS, CompareResult
from nnsim.plots import agreement_plot, curves_plot, figure_files, heatmap, short_label
from nnsim.similarity import Comparison, chance_jaccard, chance_level

#: Formats of the paper's tables: numbers (CSV), the README (Markdown), a paper (LaTeX).
TABLE_FORMATS: tuple[str, ...] = ("csv", "md", "tex")

#: Files :func:`write_report` writes.
REPORT_FILES: tuple[str, ...] = (
    "similarity.csv",
    "curves.csv",
    "factors.csv",
    "ambiguous.csv",
    "hubness.csv",
    "global.csv",
    "agreement.csv",
    "factors_measures.csv",
    *(f"table1.{ext}" for ext in TABLE_FORMATS),
    *(f"table2.{ext}" for ext in TABLE_FORMATS),
    *(f.name for f in figure_files("heatmap.png")),
    *(f.name for f in figure_files("curves.png")),
    *(f.name for f in figure_files("agreement.png")),
)


def pair_groups(result: CompareResult, variables: list[str]) -> np.ndarray:
    """What each pair differs in (see :func:`pair_difference`).

    Returns
    -------
    np.ndarray [shape=(m, m), dtype=object]
    """
    cmp = result.comparison
    m = len(cmp.names)
    out = np.full((m, m), "", dtype=object)
    for i in range(m):
        for j in range(m):
            if i != j:
                out[i, j] = pair_difference(
                    cmp.meta.get(cmp.names[i], {}), cmp.meta.get(cmp.names[j], {}), variables
                )
    return out


def write_report(
    result: CompareResult, out_dir: str | Path, *, variables: list[str], note: str = ""
) -> list[Path]:
    """Write every table and figure of a comparison into ``out_dir``.

    Parameters
    ----------
    result : CompareResult
    out_dir : str or Path
        Folder, created when missing (stages pass a scratch folder that they make atomic).
    variables : list of str
        Metadata variables that label the curves (``compare.variables``).
    note : str
        Appended to figure titles (e.g. ``SYNTHETIC demo``).

    Returns
    -------
    list of Path
        The files written, in :data:`REPORT_FILES` order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmp, d = result.comparison, result.distance
    sim = similarity_frame(cmp, d)
    groups = pair_groups(result, variables)
    sim.insert(
        len(sim.columns),
        "differs_in",
        [
            groups[cmp.names.index(a), cmp.names.index(b)]
            for a, b in zip(sim["src"], sim["dst"], strict=True)
        ],
    )
    written = [out / f for f in REPORT_FILES]
    if result.sn_errors is not None and result.recall is not None:
        # An approximate S_n never appears without the error the approximation put into it.
        sim = sim.merge(result.sn_errors, on=["src", "dst", "cutoff"], how="left")
        result.recall.to_csv(out / "recall.csv", index=False, float_format="%.8g")
        result.sn_errors.to_csv(out / "sn_error.csv", index=False, float_format="%.8g")
        written += [out / "recall.csv", out / "sn_error.csv"]
    sim.to_csv(out / "similarity.csv", index=False, float_format="%.8g")
    curves_frame(cmp, d).to_csv(out / "curves.csv", index=False, float_format="%.8g")
    result.factors.to_csv(out / "factors.csv", index=False, float_format="%.8g")
    result.ambiguous.to_csv(out / "ambiguous.csv", index=False, float_format="%.8g")
    hubness_frame(result).to_csv(out / "hubness.csv", index=False, float_format="%.8g")
    glob = result.global_measures
    if glob is None:
        glob = pd.DataFrame(columns=list(GLOBAL_COLUMNS))
    glob.to_csv(out / "global.csv", index=False, float_format="%.8g")
    mf = result.measure_factors if result.measure_factors is not None else pd.DataFrame()
    mf.to_csv(out / "factors_measures.csv", index=False, float_format="%.8g")
    agree = measure_agreement(result)
    agree.to_csv(out / "agreement.csv", index=False, float_format="%.8g")
    labels = list(pair_orderings(result))
    tau = np.eye(len(labels))
    where = {name: i for i, name in enumerate(labels)}
    for a, b, t in zip(agree["measure_a"], agree["measure_b"], agree["kendall_tau"], strict=True):
        tau[where[a], where[b]] = tau[where[b], where[a]] = float(t)
    agreement_plot(
        tau, labels, out / "agreement.png", title="Do the measures rank the pairs alike?"
    )
    n = result.n_tracks
    write_table(
        table1(result),
        out / "table1",
        caption=f"The compared spaces ({n} shared tracks{', ' + note if note else ''}).",
    )
    t2 = table2(result)
    write_table(
        t2,
        out / "table2",
        display=table2_display(t2) if len(t2) else None,
        caption=(
            f"Average NN-similarity $S_n$ of the pairs that differ in one variable only "
            f"({d} distance, {n} tracks, {result.comparison.ci_level:.0%} bootstrap CIs; "
            f"chance level $n/(N-1)$){', ' + note if note else ''}."
        ),
    )
    suffix = f", {note}" if note else ""
    heatmap(
        cmp.similarity,
        cmp.names,
        cmp.cutoffs,
        out / "heatmap.png",
        title=f"NN-similarity $S_n$ ({d}, {n} tracks{suffix})",
        labels=_unique_labels(cmp),
        chance=cmp.chance,
        kinds=[str(cmp.meta.get(nm, {}).get("kind", "")) for nm in cmp.names],
    )
    K = cmp.curves.shape[-1]
    curves_plot(
        cmp.curves,
        cmp.names,
        chance_level(np.arange(1, K + 1), n),
        out / "curves.png",
        groups=groups,
        title=f"$S_n$ of every pair ({d}, {n} tracks{suffix})",
    )
    return written


def comparison_metrics(result: CompareResult) -> dict[str, float]:
    """Metrics of a comparison for MLflow (one batch): S_n per pair, aggregates, ambiguity.

    Keys: ``S<n>.<a>.<b>``, ``factor.<variable>.S<n>`` (+ ``.ci_low``/``.ci_high``),
    ``ambiguous.<space>.S<n>`` (lists with an ambiguous cut-off), ``tracks``,
    ``global.<measure>.<a>.<b>`` (the global measures), ``<measure>.<n>.<a>.<b>`` (the other
    measures of the lists: rbo, cknna, ...).
    """
    cmp = result.comparison
    metrics: dict[str, float] = {}
    m = len(cmp.names)
    for i in range(m):
        for j in range(i + 1, m):
            for c, cut in enumerate(cmp.cutoffs):
                metrics[f"S{int(cut)}.{cmp.names[i]}.{cmp.names[j]}"] = float(
                    cmp.similarity[i, j, c]
                )
    for _, r in result.factors.iterrows():
        key = f"factor.{r['variable']}.S{int(r['cutoff'])}"
        metrics[key] = float(r["similarity"])
        metrics[key + ".ci_low"] = float(r["ci_low"])
        metrics[key + ".ci_high"] = float(r["ci_high"])
    for _, r in result.ambiguous.iterrows():
        metrics[f"ambiguous.{r['space']}.S{int(r['cutoff'])}"] = float(r["ambiguous_lists"])
    metrics["tracks"] = float(result.n_tracks)
    for key, values in cmp.values.items():  # the other measures of the lists, per pair
        if key == "overlap":
            continue
        for i in range(m):
            for j in range(i + 1, m):
                for c, cut in enumerate(cmp.cutoffs):
                    if np.isfinite(values[i, j, c]):
                        metrics[f"{key}.{int(cut)}.{cmp.names[i]}.{cmp.names[j]}"] = float(
                            values[i, j, c]
                        )
    if result.global_measures is not None:
        g = result.global_measures
        for a, b, meas, value, note in zip(
            g["src"], g["dst"], g["measure"], g["value"], g["note"], strict=True
        ):
            if not note:
                metrics[f"global.{meas}.{a}.{b}"] = float(value)
    if result.recall is not None:
        for _, r in result.recall.iterrows():
            metrics[f"recall.{r['space']}.S{int(r['cutoff'])}"] = float(r["recall"])
    if result.sn_errors is not None:
        for _, r in result.sn_errors.iterrows():
            key = f"sn_error.S{int(r['cutoff'])}.{r['src']}.{r['dst']}"
            metrics[key] = float(r["sn_error"])
    return metrics


def summary_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The part of :func:`comparison_metrics` a DVC metrics file keeps (aggregates, counts)."""
    keep = ("factor.", "ambiguous.", "tracks", "recall.")
    return {
        k: v
        for k, v in metrics.items()
        if k.startswith(keep) or k.startswith(tuple("small." + x for x in keep))
    }


def ambiguity_summary(result: CompareResult) -> pd.DataFrame:
    """Spaces and cutoffs with at least one ambiguous list (for messages)."""
    a = result.ambiguous
    return a[a["ambiguous_lists"] > 0]


def pair_difference(
    a: Mapping[str, object], b: Mapping[str, object], variables: Sequence[str]
) -> str:
    """What two spaces differ in: one variable's name, ``CF``, ``several`` or ``none``.

    A pair with a collaborative-filtering space (``kind == "cf"``) is ``CF``; otherwise the
    variables (e.g. dataset, architecture, layer) whose values differ decide.
    """
    if "cf" in (str(a.get("kind", "")), str(b.get("kind", ""))):
        return "CF"
    diff = [v for v in variables if str(a.get(v, "")) != str(b.get(v, ""))]
    if not diff:
        return "none"
    return diff[0] if len(diff) == 1 else "several"


#: Global measures where smaller means more alike (their order is reversed for agreement).
DISTANCE_MEASURES = frozenset({"procrustes"})


def pair_orderings(result: CompareResult) -> dict[str, np.ndarray]:
    """Every measure's value per unordered pair (pairs in ``(i < j)`` order), larger = more
    alike: ``S_<n>`` and ``<list measure>@<n>`` per cutoff, then each global measure."""
    cmp = result.comparison
    m = len(cmp.names)
    iu = np.triu_indices(m, k=1)
    out: dict[str, np.ndarray] = {}
    for key, values in cmp.values.items():
        for c, cut in enumerate(cmp.cutoffs):
            label = f"S_{int(cut)}" if key == "overlap" else f"{key}@{int(cut)}"
            out[label] = values[:, :, c][iu]
    glob = result.global_measures
    if glob is not None and len(glob):
        names = np.array(cmp.names)
        pos = {
            (str(a), str(b)): k
            for k, (a, b) in enumerate(zip(names[iu[0]], names[iu[1]], strict=True))
        }
        for name, part in glob.groupby("measure", sort=False):
            v = np.full(len(pos), np.nan)
            for a, b, value in zip(part["src"], part["dst"], part["value"], strict=True):
                v[pos[(str(a), str(b))]] = float(value)
            out[str(name)] = -v if name in DISTANCE_MEASURES else v
    return out


def measure_agreement(result: CompareResult) -> pd.DataFrame:
    """Do the measures rank the pairs alike?  Kendall's tau-b between the pair orderings of
    every two measures (:func:`pair_orderings`; pairs a measure leaves undefined are left out
    of that row).

    Returns
    -------
    pandas.DataFrame
        ``measure_a, measure_b, kendall_tau, pairs``.
    """
    from scipy.stats import kendalltau

    order = pair_orderings(result)
    names = list(order)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ok = np.isfinite(order[a]) & np.isfinite(order[b])
            x, y = order[a][ok], order[b][ok]
            tau = float(kendalltau(x, y).statistic) if ok.sum() >= 2 else float("nan")
            rows.append(
                {"measure_a": a, "measure_b": b, "kendall_tau": tau, "pairs": int(ok.sum())}
            )
    return pd.DataFrame(rows, columns=["measure_a", "measure_b", "kendall_tau", "pairs"])


def hubness_frame(result: CompareResult) -> pd.DataFrame:
    """Hubness of every compared space at every cutoff, from its neighbour table.

    Returns
    -------
    pandas.DataFrame
        ``space, distances, cutoff, skewness, hub_share, antihub_share, max_occurrence,
        robin_hood`` and each statistic's ``_ci_low`` / ``_ci_high``
        (:func:`nnsim.measures.hubness_table`; a track listed by no other is an antihub, one
        listed by more than ``2n`` others a hub).  ``distances`` is ``primary`` for the
        spaces' own distances and names the hubness reduction for the re-ranked tables
        (``compare.hubness_reduction``), so the two sit side by side.
    """
    return result.hubness


def similarity_frame(cmp: Comparison, distance: str) -> pd.DataFrame:
    """Long table: one row per unordered pair and cutoff (and extra measure columns).

    Returns
    -------
    pandas.DataFrame
        ``src, dst, distance, cutoff, similarity, ci_low, ci_high, chance`` then, per extra
        measure ``x``, ``x, x_ci_low, x_ci_high, x_chance`` (closed form for ``jaccard``, the
        permutation chance level of :attr:`~nnsim.similarity.Comparison.chance_of` for the
        others) and ``x_note`` when ``x`` is undefined for some pair (why; ``x`` is empty).
    """
    rows = []
    chance = cmp.chance
    m = len(cmp.names)
    extra = [k for k in cmp.values if k != "overlap"]
    jaccard_chance = chance_jaccard(cmp.cutoffs, cmp.n_tracks) if "jaccard" in extra else None
    for i in range(m):
        for j in range(i + 1, m):
            for ci, cut in enumerate(cmp.cutoffs):
                row = {
                    "src": cmp.names[i],
                    "dst": cmp.names[j],
                    "distance": distance,
                    "cutoff": int(cut),
                    "similarity": cmp.values["overlap"][i, j, ci],
                    "ci_low": cmp.ci_low["overlap"][i, j, ci],
                    "ci_high": cmp.ci_high["overlap"][i, j, ci],
                    "chance": chance[ci],
                }
                for k in extra:
                    row[k] = cmp.values[k][i, j, ci]
                    row[f"{k}_ci_low"] = cmp.ci_low[k][i, j, ci]
                    row[f"{k}_ci_high"] = cmp.ci_high[k][i, j, ci]
                    if k == "jaccard" and jaccard_chance is not None:
                        row["jaccard_chance"] = jaccard_chance[ci]
                    elif k in cmp.chance_of:
                        row[f"{k}_chance"] = cmp.chance_of[k][i, j, ci]
                    if cmp.notes.get(k):
                        row[f"{k}_note"] = cmp.notes[k].get((i, j), "")
                rows.append(row)
    return pd.DataFrame(rows)


def curves_frame(cmp: Comparison, distance: str) -> pd.DataFrame:
    """S_n for every n = 1..K and pair: ``src, dst, distance, n, similarity, chance``."""
    K = cmp.curves.shape[-1]
    n = np.arange(1, K + 1)
    frames = []
    m = len(cmp.names)
    for i in range(m):
        for j in range(i + 1, m):
            frames.append(
                pd.DataFrame(
                    {
                        "src": cmp.names[i],
                        "dst": cmp.names[j],
                        "distance": distance,
                        "n": n,
                        "similarity": cmp.curves[i, j],
                        "chance": chance_level(n, cmp.n_tracks),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def table1(result: CompareResult) -> pd.DataFrame:
    """The paper's Table 1: the compared spaces and what they are.

    Returns
    -------
    pandas.DataFrame
        ``space, kind, dataset, architecture, layer, dim, tracks`` (one row per space).
    """
    rows = []
    for s in result.prepared.spaces:
        rows.append(
            {
                "space": s.name,
                "kind": s.meta.get("kind", ""),
                "dataset": s.meta.get("dataset", ""),
                "architecture": s.meta.get("architecture", ""),
                "layer": s.meta.get("layer", ""),
                "dim": s.dim,
                "tracks": s.n_tracks,
            }
        )
    return pd.DataFrame(rows)


def table2(result: CompareResult) -> pd.DataFrame:
    """The paper's Table 2 with CIs and the chance level: one row per variable and cutoff.

    Returns
    -------
    pandas.DataFrame
        ``variable, levels, pairs, n, S_n, ci_low, ci_high, chance`` (the numbers of
        ``factors.csv`` and of the ``factor.<variable>.S<n>`` metrics).  The Markdown and
        LaTeX tables show it as the paper does: a row per variable, a column per cutoff, and
        a last row with the chance level (:func:`table2_display`).
    """
    f = result.factors
    cmp = result.comparison
    chance = dict(zip((int(c) for c in cmp.cutoffs), cmp.chance, strict=True))
    out = pd.DataFrame(
        {
            "variable": f["variable"],
            "levels": f["levels"],
            "pairs": f["n_pairs"].astype(int),
            "n": f["cutoff"].astype(int),
            "S_n": f["similarity"],
            "ci_low": f["ci_low"],
            "ci_high": f["ci_high"],
            "chance": [chance[int(c)] for c in f["cutoff"]],
        }
    )
    return out


def table2_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 2 as text, laid out as in the paper: variables down, cutoffs across.

    Each cell is ``S_n [ci_low, ci_high]``; the last row is the chance level ``n/(N-1)``.
    """
    cuts = sorted({int(n) for n in frame["n"]})
    rows = []
    for (var, levels, pairs), g in frame.groupby(["variable", "levels", "pairs"], sort=False):
        by = {int(n): r for n, r in zip(g["n"], g.itertuples(), strict=True)}
        row = {"variable": str(var), "levels": str(levels), "pairs": str(pairs)}
        for n in cuts:
            r = by.get(n)
            row[f"$S_{{{n}}}$"] = (
                f"{r.S_n:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]" if r is not None else ""
            )
        rows.append(row)
    chance = {int(n): float(c) for n, c in zip(frame["n"], frame["chance"], strict=True)}
    rows.append(
        {
            "variable": "chance",
            "levels": "",
            "pairs": "",
            **{f"$S_{{{n}}}$": f"{chance[n]:.3f}" for n in cuts},
        }
    )
    return pd.DataFrame(rows)


def _latex_escape(text: str) -> str:
    """LaTeX text with its special characters escaped; ``$...$`` math is kept as it is."""
    parts = text.split("$")
    if len(parts) % 2 == 1 and len(parts) > 1:
        return "$".join(p if i % 2 else _latex_escape(p) for i, p in enumerate(parts))
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        text = text.replace(a, b)
    return text


def _cell(v: object) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.3f}"
    return str(v)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """Table cells as text: S_n with its CI in one cell, three decimals."""
    if {"S_n", "ci_low", "ci_high"} <= set(frame.columns):
        frame = frame.copy()
        frame["S_n"] = [
            f"{s:.3f} [{lo:.3f}, {hi:.3f}]"
            for s, lo, hi in zip(frame["S_n"], frame["ci_low"], frame["ci_high"], strict=True)
        ]
        frame = frame.drop(columns=["ci_low", "ci_high"]).rename(columns={"S_n": "S_n [CI]"})
    return frame.map(_cell) if len(frame) else frame.astype(str)


def write_table(
    frame: pd.DataFrame,
    stem: str | Path,
    *,
    caption: str,
    display: pd.DataFrame | None = None,
) -> list[Path]:
    """Write a table as ``<stem>.csv`` (numbers), ``.md`` (Markdown) and ``.tex`` (booktabs).

    Parameters
    ----------
    frame : pandas.DataFrame
        The numbers (full precision in the CSV).
    stem : path
        Path without suffix.
    caption : str
        Caption of the Markdown and LaTeX tables.
    display : pandas.DataFrame, optional
        The text cells of the Markdown and LaTeX tables (default: ``frame``, three decimals).

    Returns
    -------
    list of Path
        The three files.
    """
    stem = Path(stem)
    csv, md, tex = (stem.with_suffix(f".{ext}") for ext in TABLE_FORMATS)
    frame.to_csv(csv, index=False, float_format="%.8g")
    shown = display.astype(str) if display is not None else _display(frame)
    cols = list(shown.columns)
    lines = [f"| {' | '.join(cols)} |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += [f"| {' | '.join(row)} |" for row in shown.itertuples(index=False)]
    md.write_text("\n".join(lines) + f"\n\n{caption}\n", encoding="utf-8")
    body = [
        " & ".join(_latex_escape(str(v)) for v in row) + r" \\"
        for row in shown.itertuples(index=False)
    ]
    tex.write_text(
        "\n".join(
            [
                r"\begin{table}[t]",
                r"\centering",
                rf"\caption{{{_latex_escape(caption)}}}",
                r"\begin{tabular}{" + "l" * len(cols) + "}",
                r"\toprule",
                " & ".join(_latex_escape(c) for c in cols) + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
                r"\end{table}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return [csv, md, tex]


def _unique_labels(cmp: Comparison) -> list[str]:
    """Short labels of the compared spaces (their names where two would read the same)."""
    labels = [short_label(n, cmp.meta.get(n)) for n in cmp.names]
    return [
        lab if labels.count(lab) == 1 else name for lab, name in zip(labels, cmp.names, strict=True)
    ]
