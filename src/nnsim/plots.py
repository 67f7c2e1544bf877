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


def _annotate(
    ax: Any, values: np.ndarray, *, fontsize: int, strip_zero: bool, vmax: float = 1.0
) -> None:
    """Write each cell's value (2 decimals) on an ``imshow`` of values in [0, vmax]; NaN
    cells (e.g. the hidden upper triangle) stay empty."""
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isnan(v):
                continue
            text = f"{v:.2f}".lstrip("0") if strip_zero else f"{v:.2f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="black" if v > 0.6 * vmax else "white",
            )


def _log_n_axis(ax: Any, k: int) -> None:
    """A log cutoff axis from 1 to ``k`` with plain tick labels (1, 2, 5, 10, 20, ...)."""
    ax.set_xscale("log")
    ticks = [t * 10**e for e in range(7) for t in (1, 2, 5) if t * 10**e <= k]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(0.9, k * 1.1)


def figure_files(path: str | Path) -> list[Path]:
    """The files :func:`_save` writes for a figure at ``path``: PNG, PDF, SVG."""
    out = Path(path)
    return [out, *(out.with_suffix(f".{ext}") for ext in VECTOR_FORMATS)]


def _save(fig: Any, path: str | Path, dpi: int = 120, layout: bool = True) -> Path:
    """Lay out, write (PNG at ``path``, PDF and SVG beside it) and close a figure."""
    if layout:
        fig.tight_layout()
    png, pdf, svg = figure_files(path)
    fig.savefig(png, dpi=dpi, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Producer": None})
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return png


#: Width of a figure across both columns of a two-column paper (inches); fonts are set for it.
PAPER_WIDTH = 7.0
#: Smallest font at print size (points).
MIN_FONT = 7
#: Colour-blind-safe colours (Okabe & Ito) for lines and bars.
OKABE_ITO = ("#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442")

_DATASETS = {"msd": "MSD", "mtat": "MTAT", "audioset": "AudioSet"}
_ARCHS = {"musicnn": "MusiCNN", "vgg": "VGG", "vggish": "VGGish"}
_LAYERS = {"embeddings": "emb", "taggrams": "tag"}


def short_label(name: str, meta: dict[str, Any] | None) -> str:
    """A readable short label of a space: ``MSD MusiCNN emb``, ``CF 96``, else its name."""
    meta = meta or {}
    if meta.get("kind") == "cf":
        dim = meta.get("factors") or meta.get("dim")
        return f"CF {dim}" if dim else name
    parts = [
        _DATASETS.get(str(meta.get("dataset", "")), str(meta.get("dataset", ""))),
        _ARCHS.get(str(meta.get("architecture", "")), str(meta.get("architecture", ""))),
        _LAYERS.get(str(meta.get("layer", "")), str(meta.get("layer", ""))),
    ]
    label = " ".join(p for p in parts if p)
    return label or name


def label_of_name(name: str) -> str:
    """:func:`short_label` from a space's name alone (``msd-musicnn-embeddings``,
    ``cb-msd-musicnn-embeddings``, ``cf-96``), for figures drawn without the spaces' metadata;
    any other name is returned as it is."""
    parts = name.split("-")
    if len(parts) == 4 and parts[0] == "cb":  # LatentJam's file names
        parts = parts[1:]
    if len(parts) == 2 and parts[0] == "cf" and parts[1].isdigit():
        return short_label(name, {"kind": "cf", "factors": parts[1]})
    if len(parts) == 3 and parts[0] in _DATASETS and parts[1] in _ARCHS and parts[2] in _LAYERS:
        meta = {"kind": "cb", "dataset": parts[0], "architecture": parts[1], "layer": parts[2]}
        return short_label(name, meta)
    return name


def _outline_cb_cf(ax: Any, kinds: list[str]) -> None:
    """Outline the content-based vs collaborative-filtering pairs of a lower-triangle panel
    (one rectangle when the CF spaces come last, as the pipeline orders them)."""
    m = len(kinds)
    cf = [i for i, k in enumerate(kinds) if k == "cf"]
    cb = [i for i, k in enumerate(kinds) if k == "cb"]
    if not cf or not cb:
        return
    style: dict[str, Any] = {"fill": False, "lw": 1.5, "ec": "#d55e00"}
    if cf == list(range(m - len(cf), m)) and cb == list(range(len(cb))):
        # rows cf (shifted up by one: row 0 of the panel is space 1), columns cb
        ax.add_patch(plt.Rectangle((-0.5, cf[0] - 1.5), len(cb), len(cf), **style))
        return
    for i in range(1, m):
        for j in range(i):
            if {kinds[i], kinds[j]} == {"cb", "cf"}:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 1.5), 1, 1, **style))


def heatmap(
    S: np.ndarray,
    names: list[str],
    cutoffs: np.ndarray,
    path: str | Path,
    *,
    title: str,
    labels: list[str] | None = None,
    chance: np.ndarray | None = None,
    kinds: list[str] | None = None,
) -> Path:
    """The paper's Figure 2: lower-triangle S_n matrices, one panel per cutoff.

    Panels sit in a grid (2 x 2 for four cutoffs) with one shared colour bar whose range is
    that of the pairs (the diagonal, always 1, is not drawn).  Pairs of a content-based and a
    collaborative-filtering space are outlined (the paper's "CB vs CF" reading).

    Parameters
    ----------
    S : np.ndarray [shape=(m, m, c)]
        Pairwise S_n.
    names : list of str
        Space names, length ``m``.
    cutoffs : np.ndarray [shape=(c,)]
    path : str or Path
        PNG to write (PDF and SVG beside it).
    title : str
        Figure title.
    labels : list of str, optional
        Short labels of the spaces (default: the names).
    chance : np.ndarray [shape=(c,)], optional
        Chance level per cutoff, printed under the panels.
    kinds : list of str, optional
        ``cb`` / ``cf`` per space (outlines the CB-vs-CF pairs).

    Returns
    -------
    Path
    """
    m, c = len(names), len(cutoffs)
    labels = list(labels or names)
    if m < 2:
        raise ValueError("a heatmap needs at least two spaces")
    ncols = 2 if c in (2, 4) else min(c, 3)
    nrows = -(-c // ncols)
    off = S[~np.eye(m, dtype=bool)] if m > 1 else S.ravel()
    vmax = float(min(1.0, max(0.1, np.ceil(np.nanmax(off) * 10) / 10)))
    panel = PAPER_WIDTH / ncols
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(PAPER_WIDTH + 0.6, panel * nrows * 0.92 + 0.6),
        squeeze=False,
    )
    lower = np.tril(np.ones((m, m), dtype=bool), k=-1)
    annotate = m <= 12
    image = None
    for ci in range(nrows * ncols):
        ax = axes[ci // ncols][ci % ncols]
        if ci >= c:
            ax.set_visible(False)  # no empty panels
            continue
        M = np.where(lower, S[:, :, ci], np.nan)[1:, :-1]
        image = ax.imshow(M, vmin=0.0, vmax=vmax, cmap="viridis")
        ax.set_title(f"$S_{{{int(cutoffs[ci])}}}$", fontsize=MIN_FONT + 2)
        ax.set_xticks(range(m - 1), labels[:-1], rotation=90, fontsize=MIN_FONT)
        ax.set_yticks(range(m - 1), labels[1:] if ci % ncols == 0 else [""] * (m - 1))
        ax.tick_params(axis="y", labelsize=MIN_FONT)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if annotate:
            _annotate(ax, M, fontsize=MIN_FONT, strip_zero=True, vmax=vmax)
        if kinds is not None:
            _outline_cb_cf(ax, kinds)
    fig.suptitle(title, fontsize=MIN_FONT + 2)
    notes = []
    if chance is not None:
        notes.append(
            "chance level n/(N-1): "
            + ", ".join(f"$S_{{{int(n)}}}$ {v:.3f}" for n, v in zip(cutoffs, chance, strict=True))
        )
    if kinds is not None and {"cb", "cf"} <= set(kinds):
        notes.append("outlined: content-based vs collaborative-filtering pairs")
    fig.tight_layout(rect=(0, 0.04 if notes else 0, 0.9, 1))
    cax = fig.add_axes((0.92, 0.25, 0.02, 0.5))
    assert image is not None
    cb = fig.colorbar(image, cax=cax)
    cb.set_label("$S_n$", fontsize=MIN_FONT + 1)
    cb.ax.tick_params(labelsize=MIN_FONT)
    if notes:
        fig.text(0.01, 0.01, "; ".join(notes), fontsize=MIN_FONT, ha="left", va="bottom")
    return _save(fig, path, dpi=200, layout=False)


def agreement_plot(tau: np.ndarray, labels: list[str], path: str | Path, *, title: str) -> Path:
    """How alike the measures rank the pairs: Kendall's tau of every two measures.

    Parameters
    ----------
    tau : np.ndarray [shape=(k, k)]
        Symmetric, 1 on the diagonal (NaN: not computed).
    labels : list of str
        The measures (``S_5``, ``cka``, ...).
    path : str or Path
        PNG to write (PDF and SVG beside it).
    title : str

    Returns
    -------
    Path
    """
    k = len(labels)
    side = min(PAPER_WIDTH, 1.6 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(side + 0.9, side))
    lower = np.tril(np.ones((k, k), dtype=bool), k=-1)
    M = np.where(lower, tau, np.nan)[1:, :-1] if k > 1 else np.full((1, 1), np.nan)
    image = ax.imshow(M, vmin=-1.0, vmax=1.0, cmap="RdBu_r")
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if np.isfinite(M[i, j]):
                ax.text(
                    j,
                    i,
                    f"{M[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=MIN_FONT,
                    color="white" if abs(M[i, j]) > 0.6 else "black",
                )
    ax.set_xticks(range(max(k - 1, 1)), labels[:-1] or labels, rotation=90, fontsize=MIN_FONT)
    ax.set_yticks(range(max(k - 1, 1)), labels[1:] or labels, fontsize=MIN_FONT)
    for side_name in ("top", "right"):
        ax.spines[side_name].set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("Kendall's $\\tau$ of the pair orderings", fontsize=MIN_FONT + 1)
    bar.ax.tick_params(labelsize=MIN_FONT)
    ax.set_title(title, fontsize=MIN_FONT + 2)
    return _save(fig, path, dpi=200)


#: Colours of pair groups in :func:`curves_plot` (what the two spaces differ in).
GROUP_COLOURS = {
    "dataset": OKABE_ITO[0],
    "architecture": OKABE_ITO[1],
    "layer": OKABE_ITO[2],
    "CF": OKABE_ITO[3],
    "several": "#999999",
    "none": OKABE_ITO[4],
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
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH, 3.4))
    counts: dict[str, int] = {}
    for i in range(m):
        for j in range(i + 1, m):
            g = str(groups[i, j]) if groups is not None else "pair"
            counts[g] = counts.get(g, 0) + 1
            ax.plot(n, curves[i, j], lw=0.9, alpha=0.8, color=GROUP_COLOURS.get(g, OKABE_ITO[5]))
    handles = [
        plt.Line2D([], [], color=GROUP_COLOURS.get(g, OKABE_ITO[5]), lw=2) for g in sorted(counts)
    ]
    labels = [
        f"differ in {g} ({counts[g]} pair{'s' if counts[g] != 1 else ''})" for g in sorted(counts)
    ]
    handles.append(plt.Line2D([], [], color="k", ls="--", lw=1))
    labels.append("chance n/(N-1)")
    ax.plot(n, chance, "k--", lw=1)
    _log_n_axis(ax, K)
    ax.set_xlabel("cutoff n", fontsize=MIN_FONT + 1)
    ax.set_ylabel("$S_n$", fontsize=MIN_FONT + 1)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=MIN_FONT + 2)
    ax.tick_params(labelsize=MIN_FONT)
    # beside the axes, never over the lines
    ax.legend(
        handles,
        labels,
        fontsize=MIN_FONT,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
    )
    return _save(fig, path, dpi=200)


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


def projection_figure(
    panels: list[tuple[str, np.ndarray]],
    rows: list[str],
    cutoffs: list[int],
    path: str | Path,
    *,
    n_vs_original: int,
    title: str,
    chance: np.ndarray | None = None,
) -> Path:
    """The paper's Figure 3: S_n of every map against its space, and of seed against seed.

    One panel per space of a group (a model's embeddings and taggrams side by side), maps as
    rows and cutoffs as columns, one shared colour bar over [0, 1]; a rule separates the maps
    against the original from the seed-vs-seed rows.

    Parameters
    ----------
    panels : list of (str, np.ndarray [shape=(len(rows), len(cutoffs))])
        Panel title (the space's short label) and its values (NaN: not scored).
    rows : list of str
        Row labels, shared by the panels (from :func:`nnsim.projection.score.figure3_rows`).
    cutoffs : list of int
    path : str or Path
        PNG to write (PDF and SVG beside it).
    n_vs_original : int
        The first ``n_vs_original`` rows are maps against the original.
    title : str
    chance : np.ndarray [shape=(len(cutoffs),)], optional
        Chance level per cutoff, printed under the panels.

    Returns
    -------
    Path
    """
    p, r, c = len(panels), len(rows), len(cutoffs)
    if p == 0 or r == 0:
        raise ValueError("Figure 3 needs at least one space with scored maps")
    width = min(PAPER_WIDTH, 1.4 + p * (0.62 * c + 0.3)) + 0.8
    fig, axes = plt.subplots(1, p, figsize=(width, 0.9 + 0.3 * r), squeeze=False)
    image = None
    for k, (label, values) in enumerate(panels):
        ax = axes[0][k]
        image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        _annotate(ax, values, fontsize=MIN_FONT, strip_zero=False)
        ax.set_title(label, fontsize=MIN_FONT + 1)
        ax.set_xticks(range(c), [f"$S_{{{n}}}$" for n in cutoffs], fontsize=MIN_FONT)
        ax.set_yticks(range(r), rows if k == 0 else [""] * r, fontsize=MIN_FONT)
        ax.tick_params(length=0)
        if 0 < n_vs_original < r:
            ax.axhline(n_vs_original - 0.5, color="white", lw=2.5)
    fig.suptitle(title, fontsize=MIN_FONT + 2)
    note = "rows above the rule: map vs the original space; below: seed vs seed"
    if chance is not None:
        note += "; chance n/(N-1): " + ", ".join(
            f"$S_{{{n}}}$ {v:.3f}" for n, v in zip(cutoffs, chance, strict=True)
        )
    fig.tight_layout(rect=(0, 0.07, 0.88, 1))
    cax = fig.add_axes((0.9, 0.25, 0.02, 0.55))
    assert image is not None
    bar = fig.colorbar(image, cax=cax)
    bar.set_label("$S_n$", fontsize=MIN_FONT + 1)
    bar.ax.tick_params(labelsize=MIN_FONT)
    fig.text(0.01, 0.01, note, fontsize=MIN_FONT, ha="left", va="bottom", wrap=True)
    return _save(fig, path, dpi=200, layout=False)


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
    colours = {"pca": OKABE_ITO[0], "tsne": OKABE_ITO[1], "umap": OKABE_ITO[2]}
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH, 2.8))
    n = np.arange(1, chance.size + 1)
    seen = set()
    for label, y in curves.items():
        method = label.split()[0]
        ax.plot(
            n,
            y,
            lw=1,
            color=colours.get(method, "#999999"),
            label={"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get(method, method)
            if method not in seen
            else None,
        )
        seen.add(method)
    ax.plot(n, chance, "k--", lw=1, label="chance n/(N-1)")
    _log_n_axis(ax, chance.size)
    ax.set_ylim(0, 1)
    ax.set_ylabel("$S_n$ (map vs original)", fontsize=MIN_FONT + 1)
    ax.set_xlabel("cutoff n", fontsize=MIN_FONT + 1)
    ax.tick_params(labelsize=MIN_FONT)
    ax.set_title(title, fontsize=MIN_FONT + 1)
    ax.legend(fontsize=MIN_FONT, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return _save(fig, path, dpi=200)


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
    nrow = -(-k // 5)  # up to five panels a row, rows as even as they come
    ncol = -(-k // nrow)
    legend_w = 1.1 if labels is not None else 0.0
    panel = (PAPER_WIDTH - legend_w) / ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(PAPER_WIDTH, panel * nrow + 0.5), squeeze=False)
    cats = sorted({str(v) for v in labels}) if labels is not None else []
    colours = OKABE_ITO if len(cats) <= len(OKABE_ITO) else None
    cmap = plt.get_cmap("tab20")
    for ax, (name, Y) in zip(axes.ravel(), maps.items(), strict=False):
        if labels is None:
            ax.scatter(Y[:, 0], Y[:, 1], s=3, alpha=0.7, color=OKABE_ITO[0], linewidths=0)
        else:
            for ci, cat in enumerate(cats):
                sel = np.asarray([str(v) == cat for v in labels])
                colour = colours[ci] if colours else cmap(ci % cmap.N)
                ax.scatter(
                    Y[sel, 0], Y[sel, 1], s=3, alpha=0.8, color=colour, label=cat, linewidths=0
                )
        ax.set_title(name, fontsize=MIN_FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[k:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=MIN_FONT + 2)
    fig.tight_layout(rect=(0, 0, 1 - legend_w / PAPER_WIDTH, 1))
    if cats:
        # beside the panels, never over the points
        handles, names = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(
            handles,
            names,
            title=label_name,
            fontsize=MIN_FONT,
            title_fontsize=MIN_FONT,
            loc="center left",
            bbox_to_anchor=(1 - legend_w / PAPER_WIDTH + 0.01, 0.5),
            markerscale=3,
            frameon=False,
        )
    return _save(fig, path, dpi=200, layout=False)


def factor_selection(
    runs: Any,
    path: str | Path,
    *,
    k: int,
    best: int,
    title: str,
    ci_level: float,
) -> Path:
    """The paper's Figure 1: NDCG@k and MAP@k of ALS against the factor counts tried.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per fit: ``model`` (``als`` / ``popularity``), ``factors``, ``seed``,
        ``ndcg``, ``map``.
    path : str or Path
        PNG to write (PDF and SVG beside it).
    k : int
        The cutoff of the metrics.
    best : int
        The chosen factor count (marked).
    title : str
    ci_level : float
        Level of the t intervals of the mean over seeds.

    Returns
    -------
    Path
    """
    from scipy import stats

    als = runs[runs["model"] == "als"]
    pop = runs[runs["model"] == "popularity"]
    factors = sorted(int(f) for f in als["factors"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(PAPER_WIDTH, 2.8))
    for ax, metric in zip(axes, ("ndcg", "map"), strict=True):
        g = als.groupby("factors")[metric]
        mean, sd, n = g.mean(), g.std(ddof=1).fillna(0.0), g.count()
        half = stats.t.ppf(0.5 + ci_level / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
        ax.fill_between(factors, mean - half, mean + half, color=OKABE_ITO[0], alpha=0.2, lw=0)
        ax.plot(factors, mean, "o-", color=OKABE_ITO[0], ms=4, label="ALS (mean over seeds)")
        if len(pop):
            ax.axhline(
                float(pop[metric].mean()), color=OKABE_ITO[1], ls="--", lw=1.2, label="popularity"
            )
        ax.axvline(best, color=OKABE_ITO[3], ls=":", lw=1.2, label=f"chosen: {best}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(factors, [str(f) for f in factors])
        ax.minorticks_off()
        ax.set_xlabel("ALS factors", fontsize=MIN_FONT + 1)
        ax.set_ylabel(f"{metric.upper()}@{k}", fontsize=MIN_FONT + 1)
        ax.tick_params(labelsize=MIN_FONT)
        ax.legend(fontsize=MIN_FONT, frameon=False)
    note = f"shaded: {ci_level:.0%} t interval over {int(als['seed'].nunique())} seeds"
    if best in (factors[0], factors[-1]) and len(factors) > 1:
        note += (
            f"; the best count is at the {'lower' if best == factors[0] else 'upper'} edge of "
            "the grid: extend cf.select.factors"
        )
    fig.suptitle(title, fontsize=MIN_FONT + 2)
    fig.text(0.01, 0.01, note, fontsize=MIN_FONT, ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path, dpi=200, layout=False)


def rating_bars(
    means: Any, path: str | Path, *, title: str, letters: dict[str, str] | None = None
) -> Path:
    """Mean ± std of the ratings per space, sorted, with Tukey HSD groups (Figure 5).

    Parameters
    ----------
    means : pandas.DataFrame
        Columns ``space``, ``mean``, ``std``, ``n`` (one row per space).
    path : str or Path
        PNG to write (PDF and SVG beside it).
    title : str
        Figure title (says SIMULATED for simulated answers).
    letters : dict of str to str, optional
        Compact letter display per space (spaces sharing a letter do not differ).
    """
    m = means.sort_values("mean", ascending=False).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(min(PAPER_WIDTH, 1.6 + 0.75 * len(m)), 3.0))
    x = np.arange(len(m))
    mean = m["mean"].to_numpy(float)
    sd = m["std"].fillna(0).to_numpy(float)
    # whiskers stay on the scale (0..3): a rating cannot be below 0 or above 3
    err = np.vstack([np.minimum(sd, mean), np.minimum(sd, 3.0 - mean)])
    ax.bar(x, mean, yerr=err, capsize=3, color=OKABE_ITO[0], width=0.65)
    for i, row in m.iterrows():
        top = mean[i] + err[1, i]
        label = (letters or {}).get(str(row["space"]), "")
        ax.text(i, top + 0.06, label, ha="center", va="bottom", fontsize=MIN_FONT + 1)
    ax.set_xticks(
        x,
        [f"{label_of_name(str(s))}\n(n={n})" for s, n in zip(m["space"], m["n"], strict=True)],
        rotation=30,
        ha="right",
        fontsize=MIN_FONT,
    )
    ax.set_ylim(0, 3.45)
    ax.set_yticks([0, 1, 2, 3])
    ax.tick_params(axis="y", labelsize=MIN_FONT)
    ax.set_ylabel("rated similarity\n(0 not … 3 very similar)", fontsize=MIN_FONT + 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=MIN_FONT + 1)
    if letters:
        fig.text(
            0.01,
            0.01,
            "mean ± std; spaces sharing a letter do not differ (Tukey HSD)",
            fontsize=MIN_FONT,
            ha="left",
            va="bottom",
        )
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        return _save(fig, path, dpi=200, layout=False)
    return _save(fig, path, dpi=200)
