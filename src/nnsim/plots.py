"""Figures: annotated S_n heatmaps (the paper's Figure 2) and S_n curves.

Every figure is written three times from one drawing: PNG (for MLflow and the README) and,
beside it, PDF and SVG (vector, for papers).  The vector files carry no time stamp, so the
same numbers give the same bytes (a rerun of a DVC stage changes no output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

matplotlib.rcParams["svg.hashsalt"] = "nnsim"  # stable ids inside the SVG files

#: Formats every figure is written in: the PNG path given, then these beside it.
VECTOR_FORMATS: tuple[str, ...] = ("pdf", "svg")


def _annotate(ax: Any, values: np.ndarray, *, fontsize: int, strip_zero: bool) -> None:
    """Write each cell's value (2 decimals) on an ``imshow`` of values in [0, 1]."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = f"{v:.2f}".lstrip("0") if strip_zero else f"{v:.2f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="black" if v > 0.6 else "white",
            )


def figure_files(path: str | Path) -> list[Path]:
    """The files :func:`_save` writes for a figure at ``path``: PNG, PDF, SVG."""
    out = Path(path)
    return [out, *(out.with_suffix(f".{ext}") for ext in VECTOR_FORMATS)]


def _save(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Lay out, write (PNG at ``path``, PDF and SVG beside it) and close a figure."""
    fig.tight_layout()
    png, pdf, svg = figure_files(path)
    fig.savefig(png, dpi=dpi, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Producer": None})
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return png


def heatmap(
    S: np.ndarray,
    names: list[str],
    cutoffs: np.ndarray,
    path: str | Path,
    *,
    title: str = "NN-similarity $S_n$",
) -> Path:
    """One annotated heatmap panel per cutoff.

    Parameters
    ----------
    S : np.ndarray [shape=(m, m, c)]
        Pairwise S_n.
    names : list of str
        Space names, length ``m``.
    cutoffs : np.ndarray [shape=(c,)]
    path : str or Path
        PNG to write.
    title : str
        Figure title.

    Returns
    -------
    Path
    """
    m, c = len(names), len(cutoffs)
    size = max(3.0, 0.55 * m + 1.5)
    fig, axes = plt.subplots(1, c, figsize=(size * c, size), squeeze=False)
    for ci, ax in enumerate(axes[0]):
        ax.imshow(S[:, :, ci], vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"$S_{{{int(cutoffs[ci])}}}$")
        ax.set_xticks(range(m), names, rotation=90, fontsize=7)
        ax.set_yticks(range(m), names if ci == 0 else [""] * m, fontsize=7)
        if m <= 20:
            _annotate(ax, S[:, :, ci], fontsize=6, strip_zero=True)
    fig.suptitle(title)
    return _save(fig, path)


#: Colours of pair groups in :func:`curves_plot` (what the two spaces differ in).
GROUP_COLOURS = {
    "dataset": "tab:blue",
    "architecture": "tab:orange",
    "layer": "tab:green",
    "CF": "tab:red",
    "several": "tab:gray",
    "none": "tab:purple",
}


def curves_plot(
    curves: np.ndarray,
    names: list[str],
    chance: np.ndarray,
    path: str | Path,
    *,
    groups: np.ndarray | None = None,
    title: str = "$S_n$ of every pair",
) -> Path:
    """S_n against n for every pair, coloured by what the pair differs in, with chance.

    As the paper's Figure 2: one line per pair, one colour per group (dataset, architecture,
    layer, CF, several), a legend with the number of pairs per group, the chance level dashed.

    Parameters
    ----------
    curves : np.ndarray [shape=(m, m, K)]
    names : list of str
    chance : np.ndarray [shape=(K,)]
        Chance level for n = 1..K.
    path : str or Path
    groups : np.ndarray [shape=(m, m), dtype=object], optional
        Group label per pair (default: every pair in one group "pair").
    title : str

    Returns
    -------
    Path
    """
    m, K = len(names), curves.shape[-1]
    n = np.arange(1, K + 1)
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    counts: dict[str, int] = {}
    for i in range(m):
        for j in range(i + 1, m):
            g = str(groups[i, j]) if groups is not None else "pair"
            counts[g] = counts.get(g, 0) + 1
            ax.plot(n, curves[i, j], lw=0.9, alpha=0.8, color=GROUP_COLOURS.get(g, "tab:olive"))
    handles = [
        plt.Line2D([], [], color=GROUP_COLOURS.get(g, "tab:olive"), lw=2) for g in sorted(counts)
    ]
    labels = [f"differ in {g} ({counts[g]} pairs)" for g in sorted(counts)]
    handles.append(plt.Line2D([], [], color="k", ls="--", lw=1))
    labels.append("chance n/(N-1)")
    ax.plot(n, chance, "k--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("cutoff n")
    ax.set_ylabel("$S_n$")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(handles, labels, fontsize=7, loc="best")
    return _save(fig, path)


def score_grid(
    values: np.ndarray,
    rows: list[str],
    cols: list[str],
    path: str | Path,
    *,
    title: str,
) -> Path:
    """An annotated grid of S_n values (the paper's Figure 3: maps x cutoffs).

    Parameters
    ----------
    values : np.ndarray [shape=(r, c)]
    rows, cols : list of str
        Row labels (maps) and column labels (cutoffs or originals).
    path : str or Path
    title : str

    Returns
    -------
    Path
    """
    r, c = values.shape
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * c, 1.0 + 0.4 * r))
    ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(c), cols, fontsize=8)
    ax.set_yticks(range(r), rows, fontsize=8)
    _annotate(ax, values, fontsize=7, strip_zero=False)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def map_curves(
    curves: dict[str, np.ndarray], chance: np.ndarray, path: str | Path, *, title: str
) -> Path:
    """S_n (map vs original) against n, one line per map, coloured by method.

    Parameters
    ----------
    curves : dict of str to np.ndarray [shape=(K,)]
        Keyed ``method`` or ``method seed``; the method is the first word.
    chance : np.ndarray [shape=(K,)]
    path : str or Path
    title : str

    Returns
    -------
    Path
    """
    colours = {"pca": "tab:blue", "tsne": "tab:orange", "umap": "tab:green"}
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    n = np.arange(1, chance.size + 1)
    seen = set()
    for label, y in curves.items():
        method = label.split()[0]
        ax.plot(
            n,
            y,
            lw=1,
            color=colours.get(method, "tab:gray"),
            label=method if method not in seen else None,
        )
        seen.add(method)
    ax.plot(n, chance, "k--", lw=1, label="chance n/(N-1)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("cutoff n")
    ax.set_ylabel("$S_n$ (map vs original)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def scatter_maps(
    maps: dict[str, np.ndarray],
    path: str | Path,
    *,
    labels: np.ndarray | None = None,
    label_name: str = "",
    title: str = "",
) -> Path:
    """Small multiples: one scatter per 2-D map, points coloured by a metadata column.

    Parameters
    ----------
    maps : dict of str to np.ndarray [shape=(n, 2)]
        Title of each panel -> coordinates (all of the same tracks, same order).
    path : str or Path
    labels : np.ndarray [shape=(n,)], optional
        Category per track (e.g. the demo's style); None: one colour.
    label_name : str
        Legend title.
    title : str

    Returns
    -------
    Path
    """
    k = len(maps)
    ncol = min(k, 4)
    nrow = int(np.ceil(k / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 3.2 * nrow), squeeze=False)
    cats = sorted({str(v) for v in labels}) if labels is not None else []
    cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
    for ax, (name, Y) in zip(axes.ravel(), maps.items(), strict=False):
        if labels is None:
            ax.scatter(Y[:, 0], Y[:, 1], s=4, alpha=0.7)
        else:
            for ci, cat in enumerate(cats):
                sel = np.asarray([str(v) == cat for v in labels])
                ax.scatter(Y[sel, 0], Y[sel, 1], s=4, alpha=0.7, color=cmap(ci % cmap.N), label=cat)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[k:]:
        ax.axis("off")
    if cats:
        handles, names = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, names, title=label_name, fontsize=7, loc="lower right", markerscale=3)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=110)


def rating_bars(means: Any, path: str | Path, *, title: str) -> Path:
    """Mean ± std of the ratings per space as bars (the paper's Figure 5).

    Parameters
    ----------
    means : pandas.DataFrame
        Columns ``space``, ``mean``, ``std``, ``n`` (one row per space).
    path : str or Path
        PNG to write.
    title : str
        Figure title (says SIMULATED for simulated answers).
    """
    m = means.sort_values("mean", ascending=False)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(m), 4.2))
    x = np.arange(len(m))
    ax.bar(x, m["mean"], yerr=m["std"].fillna(0), capsize=4, color="#4c72b0")
    ax.set_xticks(
        x,
        [f"{s}\n(n={n})" for s, n in zip(m["space"], m["n"], strict=True)],
        rotation=30,
        ha="right",
        fontsize=8,
    )
    ax.set_ylim(0, 3.4)
    ax.set_yticks([0, 1, 2, 3], ["0 not", "1 somewhat", "2 similar", "3 very"])
    ax.set_ylabel("rated similarity (mean ± std)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
