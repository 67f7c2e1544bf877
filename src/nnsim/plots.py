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


def curves_plot(curves: np.ndarray, names: list[str], chance: np.ndarray, path: str | Path) -> Path:
    """S_n against n for every pair of spaces, with the chance level.

    Parameters
    ----------
    curves : np.ndarray [shape=(m, m, K)]
    names : list of str
    chance : np.ndarray [shape=(K,)]
        Chance level for n = 1..K.
    path : str or Path

    Returns
    -------
    Path
    """
    m, K = len(names), curves.shape[-1]
    n = np.arange(1, K + 1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i in range(m):
        for j in range(i + 1, m):
            ax.plot(n, curves[i, j], lw=0.8, label=f"{names[i]} / {names[j]}" if m <= 5 else None)
    ax.plot(n, chance, "k--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("cutoff n")
    ax.set_ylabel("$S_n$")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=6)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
