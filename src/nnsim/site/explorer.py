"""The explorer: where two spaces disagree, track by track, with the audio.

:func:`write_explorer` writes ``explorer.html`` and its data into the results site.  The page
is static and opens from disk (``file://``), where browsers refuse ``fetch``: every data file
is therefore a small script, ``explorer-data/*.js``, that hands the page raw little-endian
typed arrays (base64 of the bytes: coordinates float32, neighbour indices int32, distances
float32, overlap counts uint8), never JSON of objects.  The page loads a space's file when it
needs it (the first view needs two spaces and two maps, not the whole collection).

Files
-----
``explorer-data/meta.js``
    Track ids, metadata columns, the spaces with their labels and maps, the S_n matrix of the
    comparison at the explorer's cutoffs, the audio addresses.
``explorer-data/space-<i>.js``
    Space ``i``: ``indices`` and ``distances`` [shape=(N, k)], ``occurrence`` [shape=(N,)]
    (how often each track is in another's top-k, :func:`nnsim.measures.k_occurrence`) and
    ``overlap`` [shape=(S, N, c)], ``|L_i,n(t) ∩ L_j,n(t)|`` for every space ``j`` and
    explorer cutoff ``n`` (:func:`nnsim.similarity.pair_overlap`, the engine's per-track
    S_n times n).
``explorer-data/map-<m>.js``
    Map ``m`` [shape=(N, 2), float32], NaN for a track the map does not have.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from nnsim.errors import InputError
from nnsim.measures import k_occurrence
from nnsim.progress import progress
from nnsim.similarity import pair_overlap

ASSETS = ("explorer.js", "explorer.css")


@dataclass
class ExplorerMap:
    """One 2-D map of a space.

    Attributes
    ----------
    space : str
        The space it maps.
    key : str
        Short name, unique per space (``tsne-s0``, ``pca``); used in the page's address.
    label : str
        What the page shows (``t-SNE, seed 0``).
    coords : np.ndarray [shape=(N, 2), dtype=float32]
        Aligned with :attr:`ExplorerData.ids`; NaN rows are not drawn.
    """

    space: str
    key: str
    label: str
    coords: np.ndarray


@dataclass
class ExplorerData:
    """Everything the explorer shows, aligned on one list of tracks.

    Attributes
    ----------
    ids : np.ndarray [shape=(N,), dtype=str]
        Track ids, the rows of every table and map.
    spaces : list of str
        Space names (the order of the S_n matrix).
    labels : list of str
        Short labels of the spaces.
    indices : mapping of str to np.ndarray [shape=(N, >= k), dtype=int]
        Each space's neighbour table (row numbers into ``ids``, nearest first).
    distances : mapping of str to np.ndarray [shape=(N, >= k), dtype=float]
    k : int
        Neighbours per track shown.
    cutoffs : list of int
        Cutoffs ``n <= k`` of the per-track agreement (increasing).
    distance : str
    maps : list of ExplorerMap
    metadata : mapping of str to sequence of str
        Columns of track metadata aligned with ``ids`` (shown, searched).
    colour_columns : list of str
        Metadata columns that colour the maps (few distinct values).
    audio : list of str or None, optional
        Address of each track's audio relative to the site (or absolute), None for none.
    synthetic : bool
    measures : list of dict, optional
        The comparison's other measures for the matrix (:func:`comparison_measures`).
    """

    ids: np.ndarray
    spaces: list[str]
    labels: list[str]
    indices: Mapping[str, np.ndarray]
    distances: Mapping[str, np.ndarray]
    k: int
    cutoffs: list[int]
    distance: str
    maps: list[ExplorerMap] = field(default_factory=list)
    metadata: Mapping[str, Sequence[str]] = field(default_factory=dict)
    colour_columns: list[str] = field(default_factory=list)
    audio: list[str | None] | None = None
    synthetic: bool = False
    measures: list[dict[str, object]] = field(default_factory=list)


def explorer_cutoffs(cutoffs: Sequence[int], k: int) -> list[int]:
    """The cutoffs of the explorer: the study's cutoffs up to ``k``, and ``k`` itself."""
    return sorted({int(c) for c in cutoffs if c <= k} | {int(k)})


#: Display range of a measure in the matrix (values outside are clamped); a distance
#: (Procrustes) is drawn reversed.  Unlisted measures: [0, 1].
MEASURE_RANGES: dict[str, tuple[float, float]] = {
    "spearman": (-1.0, 1.0),
    "rsa": (-1.0, 1.0),
    "procrustes": (0.0, 2.0**0.5),
}
#: Measures where a smaller value means closer spaces.
DISTANCE_MEASURES = ("procrustes",)
#: Columns of ``similarity.csv`` that are not a measure of their own.
_NOT_MEASURES = ("src", "dst", "distance", "cutoff", "similarity", "ci_low", "ci_high", "chance")


def comparison_measures(
    similarity: pd.DataFrame,
    global_: pd.DataFrame | None,
    spaces: Sequence[str],
    cutoffs: Sequence[int],
) -> list[dict[str, object]]:
    """The comparison's measures other than S_n as matrices for the explorer.

    Parameters
    ----------
    similarity : pandas.DataFrame
        ``similarity.csv`` of the comparison (one column per list measure).
    global_ : pandas.DataFrame or None
        ``global.csv`` (``src, dst, measure, value, note``).
    spaces : sequence of str
        The explorer's spaces (the matrix order).
    cutoffs : sequence of int
        The explorer's cutoffs.

    Returns
    -------
    list of dict
        ``key, label, per_cutoff, range, distance, values``: ``values[i][j]`` is a list over
        ``cutoffs`` (``per_cutoff``; None at a cutoff the comparison did not use) or one
        number (a global measure); None where the measure is undefined for the pair.
    """
    pos = {n: i for i, n in enumerate(spaces)}
    m = len(spaces)
    out: list[dict[str, object]] = []

    def entry(key: str, per_cutoff: bool, values: list) -> dict[str, object]:
        lo, hi = MEASURE_RANGES.get(key, (0.0, 1.0))
        return {
            "key": key,
            "label": key.replace("_", " "),
            "per_cutoff": per_cutoff,
            "range": [lo, hi],
            "distance": key in DISTANCE_MEASURES,
            "values": values,
        }

    cols = [
        c
        for c in similarity.columns
        if c not in _NOT_MEASURES
        and c != "differs_in"
        and not c.endswith(("_ci_low", "_ci_high", "_chance", "_note"))
    ]
    cpos = {int(c): k for k, c in enumerate(cutoffs)}
    for col in cols:
        M: list[list[list[float | None]]] = [
            [[None] * len(cutoffs) for _ in range(m)] for _ in range(m)
        ]
        for a, b, cut, v in zip(
            similarity["src"], similarity["dst"], similarity["cutoff"], similarity[col], strict=True
        ):
            if a in pos and b in pos and int(cut) in cpos and pd.notna(v):
                M[pos[a]][pos[b]][cpos[int(cut)]] = M[pos[b]][pos[a]][cpos[int(cut)]] = round(
                    float(v), 6
                )
        out.append(entry(col, True, M))
    if global_ is not None and len(global_):
        for name, part in global_.groupby("measure", sort=False):
            G: list[list[float | None]] = [[None] * m for _ in range(m)]
            for a, b, v in zip(part["src"], part["dst"], part["value"], strict=True):
                if a in pos and b in pos and pd.notna(v):
                    G[pos[a]][pos[b]] = G[pos[b]][pos[a]] = round(float(v), 6)
            out.append(entry(str(name), False, G))
    return out


def overlap_counts(indices: Sequence[np.ndarray], cutoffs: Sequence[int]) -> np.ndarray:
    """Per-track overlap of every two spaces' lists: ``|L_i,n(t) ∩ L_j,n(t)|``.

    Parameters
    ----------
    indices : sequence of np.ndarray [shape=(N, >= max(cutoffs)), dtype=int]
        The neighbour tables of S spaces over the same tracks.
    cutoffs : sequence of int

    Returns
    -------
    np.ndarray [shape=(S, S, N, c), dtype=uint8 (uint16 above n = 255)]
        Symmetric in the first two axes, ``n`` on the diagonal.
    """
    S, cut = len(indices), list(cutoffs)
    N = int(indices[0].shape[0]) if S else 0
    dtype = np.uint8 if max(cut) <= 255 else np.uint16
    out = np.zeros((S, S, N, len(cut)), dtype=dtype)
    for i in range(S):
        out[i, i] = np.asarray(cut, dtype=dtype)[None, :]
        for j in range(i + 1, S):
            per = pair_overlap(indices[i], indices[j], cut, measures=["overlap"], rbo_p=None)
            counts = np.rint(per.per_track * np.asarray(cut, dtype=np.float64)).astype(dtype)
            out[i, j] = out[j, i] = counts
    return out


def pca_map(X: np.ndarray) -> np.ndarray:
    """The first two principal components of ``X`` (the map of a space that has none).

    Parameters
    ----------
    X : np.ndarray [shape=(N, d)]

    Returns
    -------
    np.ndarray [shape=(N, 2), dtype=float32]
        Signs fixed so that each component's largest loading is positive.
    """
    Xc = np.asarray(X, dtype=np.float64)
    Xc = Xc - Xc.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    comps = vt[:2]
    comps = comps * np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])[:, None]
    Y = Xc @ comps.T
    if Y.shape[1] < 2:  # a 1-D space
        Y = np.column_stack([Y, np.zeros(len(Y))])
    return Y.astype(np.float32)


def write_previews(
    ids: Sequence[str], files: Mapping[str, Path], out: str | Path, *, seconds: float
) -> list[str | None]:
    """Write a short Ogg Vorbis preview of each track that has an audio file.

    Parameters
    ----------
    ids : sequence of str
        Tracks, in the explorer's order.
    files : mapping of str to Path
        Audio file of each track that has one (any format libsndfile reads: MP3, FLAC, ...).
    out : path
        The site folder; previews go to ``explorer-audio/<row>.ogg``.
    seconds : float
        Length of a preview, from the middle of the clip (the whole clip when shorter).

    Returns
    -------
    list of str or None
        Address of each track's preview relative to the site, None without a file.
    """
    adir = Path(out) / "explorer-audio"
    adir.mkdir(parents=True, exist_ok=True)
    addresses: list[str | None] = [None] * len(ids)
    todo = [(i, t) for i, t in enumerate(ids) if t in files]
    for i, t in progress(todo, desc="audio previews", unit="track"):
        src = files[t]
        try:
            info = sf.info(str(src))
            frames = round(seconds * info.samplerate)
            start = max(0, (info.frames - frames) // 2)
            audio, sr = sf.read(
                str(src), start=start, frames=frames, dtype="float32", always_2d=True
            )
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise InputError(
                f"{src}: cannot read the audio of track {t!r} for its preview ({exc}); fix or "
                "remove the file, or set site.explorer.previews=false."
            ) from exc
        sf.write(str(adir / f"{i}.ogg"), audio.mean(axis=1), sr, format="OGG", subtype="VORBIS")
        addresses[i] = f"explorer-audio/{i}.ogg"
    return addresses


def _array(a: np.ndarray, dtype: str) -> dict[str, object]:
    arr = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    return {
        "dtype": np.dtype(dtype).name,
        "shape": list(arr.shape),
        "b64": base64.b64encode(arr.tobytes()).decode("ascii"),
    }


def _script(name: str, payload: Mapping[str, object]) -> str:
    # a script, not JSON: file:// pages may not fetch; "</" never closes anything in a .js file
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")
    return f"(window.NNSIM_DATA=window.NNSIM_DATA||{{}})[{json.dumps(name)}]={text};\n"


def _check(data: ExplorerData) -> None:
    N = len(data.ids)
    for name in data.spaces:
        for what, tabs in (("indices", data.indices), ("distances", data.distances)):
            t = tabs.get(name)
            if t is None or t.ndim != 2 or t.shape[0] != N or t.shape[1] < data.k:
                raise InputError(
                    f"explorer: the {what} of {name!r} must be a table of {N} rows and at least "
                    f"site.explorer.k={data.k} columns (got "
                    f"{None if t is None else t.shape}); rerun the compare stage."
                )
    for m in data.maps:
        if m.coords.shape != (N, 2):
            raise InputError(
                f"explorer: map {m.key!r} of {m.space!r} has shape {m.coords.shape}, not ({N}, 2)."
            )
    for col, values in data.metadata.items():
        if len(values) != N:
            raise InputError(f"explorer: metadata column {col!r} has {len(values)} rows, not {N}.")


def write_explorer(data: ExplorerData, out: str | Path, *, title: str) -> list[Path]:
    """Write ``explorer.html``, its script and style, and its data into the site folder ``out``.

    Parameters
    ----------
    data : ExplorerData
    out : path
        The site folder (``index.html`` links to the explorer).
    title : str
        Title of the page.

    Returns
    -------
    list of Path
        Every file written.
    """
    _check(data)
    out = Path(out)
    ddir = out / "explorer-data"
    ddir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    k, cut = int(data.k), list(data.cutoffs)
    tables = [np.asarray(data.indices[s])[:, :k] for s in data.spaces]
    counts = overlap_counts(tables, cut)
    for i, name in enumerate(data.spaces):
        payload = {
            "indices": _array(tables[i], "int32"),
            "distances": _array(np.asarray(data.distances[name])[:, :k], "float32"),
            "occurrence": _array(k_occurrence(tables[i], k), "int32"),
            "overlap": _array(counts[i], str(counts.dtype)),
        }
        p = ddir / f"space-{i}.js"
        p.write_text(_script(f"space-{i}", payload), encoding="utf-8")
        written.append(p)
    maps = []
    for m_i, m in enumerate(data.maps):
        p = ddir / f"map-{m_i}.js"
        p.write_text(_script(f"map-{m_i}", {"coords": _array(m.coords, "float32")}))
        written.append(p)
        maps.append({"space": data.spaces.index(m.space), "key": m.key, "label": m.label})
    meta = {
        "title": title,
        "ids": [str(t) for t in data.ids],
        "spaces": list(data.spaces),
        "labels": list(data.labels),
        "k": k,
        "cutoffs": cut,
        "distance": data.distance,
        # mean S_n of every pair: Figure 2's numbers (with compare.drop_zero_rows=false)
        "matrix": np.round(
            counts.mean(axis=2, dtype=np.float64) / np.asarray(cut, dtype=np.float64), 6
        ).tolist(),
        "maps": maps,
        "metadata": {c: [str(v) for v in vals] for c, vals in data.metadata.items()},
        "colour_columns": list(data.colour_columns),
        "audio": data.audio,
        "synthetic": bool(data.synthetic),
        "measures": list(data.measures),
    }
    p = ddir / "meta.js"
    p.write_text(_script("meta", meta), encoding="utf-8")
    written.append(p)
    assets = resources.files("nnsim.site") / "assets"
    for name in ASSETS:
        with resources.as_file(assets / name) as src:
            shutil.copyfile(src, out / name)
        written.append(out / name)
    page = (
        resources.files("nnsim.site")
        .joinpath("assets/explorer.html")
        .read_text(encoding="utf-8")
        .replace("{{TITLE}}", html.escape(title, quote=True))
        .replace(
            "{{BANNER}}",
            '<p class="banner" role="note"><strong>SYNTHETIC demo.</strong> Generated audio and '
            "a simulated listening log: what the explorer shows, not findings.</p>"
            if data.synthetic
            else "",
        )
    )
    (out / "explorer.html").write_text(page, encoding="utf-8")
    written.append(out / "explorer.html")
    return written
