"""Figures: annotated S_n heatmaps (the paper's Figure 2) and S_n curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


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
            for i in range(m):
                for j in range(m):
                    v = S[i, j, ci]
                    ax.text(
                        j,
                        i,
                        f"{v:.2f}".lstrip("0"),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="black" if v > 0.6 else "white",
                    )
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


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
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
