"""Stage ``site``: the results site (``results/site/``), the last stage of the pipeline.

Gathers the paper's figures and tables that the pipeline wrote (Figure 1 from ``cf_select``,
Figure 2 and Tables 1-2 from ``compare@<distance>``, Figure 3 from ``projection_figures``,
Figure 5 from ``listening_stats``) with their provenance (git revision, model graph hashes,
the vectors' fingerprints, the settings) into one static folder that opens from disk
(:mod:`nnsim.site.build`).  Labelled SYNTHETIC on the demo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nnsim import __version__
from nnsim.config import dump
from nnsim.errors import InputError, preview
from nnsim.files import atomic_dir
from nnsim.listening.study import locate_audio
from nnsim.plots import label_of_name
from nnsim.projection.figure3 import METHOD_LABELS, projection_groups
from nnsim.settings import Settings
from nnsim.site.build import Figure, Provenance, Section, Table, build_site
from nnsim.site.explorer import (
    ExplorerData,
    ExplorerMap,
    comparison_measures,
    explorer_cutoffs,
    pca_map,
    write_explorer,
    write_previews,
)
from nnsim.spaces import Space, read_space_list
from nnsim.stages.common import log, run_stage
from nnsim.stages.space_lists import pipeline_spaces
from nnsim.tables import TableStore
from nnsim.tracking import git_revision, stage_run


def sections(cfg: Settings) -> list[Section]:
    """What the index page shows, in the paper's order."""
    res = Path(cfg.paths.results_dir)
    dists = cfg.neighbors.distances
    fig1 = Section(
        "figure-1",
        "Figure 1: ALS factor count",
        "NDCG and MAP of the ALS item factors against the factor counts tried; the chosen "
        "count makes the collaborative-filtering space.",
        figures=[
            Figure(
                res / "cf_select" / "figure.png",
                "Figure 1",
                "NDCG and MAP by factor count, with the popularity baseline and the chosen count.",
            )
        ],
    )
    fig2 = Section(
        "figure-2",
        "Figure 2 and Tables 1-2: how far the spaces agree",
        "S_n, the share of a track's n nearest neighbours that two spaces have in common, "
        "averaged over every track, for every pair of spaces; Table 2 averages the pairs that "
        "differ in one variable only.",
    )
    for d in dists:
        cdir = res / "compare" / d
        fig2.figures += [
            Figure(cdir / "heatmap.png", f"Figure 2 ({d})", f"S_n of every pair, {d} distance."),
            Figure(
                cdir / "curves.png",
                f"S_n for every n ({d})",
                f"S_n against n for every pair, {d} distance, with the chance level.",
            ),
            Figure(
                cdir / "agreement.png",
                f"Do the measures agree? ({d})",
                "Kendall's tau between the orderings of the pairs by every two measures "
                "(S_n per cutoff and the measures of compare.measures; agreement.csv).",
            ),
        ]
        fig2.tables.append(
            Table(
                cdir / "table2.csv",
                f"Table 2 ({d})",
                "Average S_n of the pairs that differ in one variable, with bootstrap CIs and "
                "the chance level.",
            )
        )
        fig2.tables.append(
            Table(
                cdir / "global.csv",
                f"Global measures ({d})",
                "Measures of two whole spaces chosen in compare.measures (CKA, debiased CKA, "
                "Procrustes distance, RSA, SVCCA), with the chance level: the mean over seeded "
                "row permutations of the second space; a note says why a measure is undefined.",
            )
        )
        fig2.tables.append(
            Table(
                cdir / "hubness.csv",
                f"Hubness ({d})",
                "Per space and cutoff n: skewness of how often each track is in another's "
                "top-n, the shares of hubs (listed more than 2n times) and antihubs (never), "
                "the most a track is listed, and the Robin Hood index (0: no hubs).",
            )
        )
    if dists:
        fig2.tables.insert(
            0,
            Table(res / "compare" / dists[0] / "table1.csv", "Table 1", "The compared spaces."),
        )
    fig3 = Section(
        "figure-3",
        "Figure 3: 2-D projections",
        "PCA, t-SNE and UMAP maps of a space, scored by S_n against the space itself and "
        "between seeds; the layers of one model side by side.",
    )
    f3 = res / "figure3"
    groups = projection_groups(
        {
            sp: json.loads(p.read_text())
            if (p := res / "projections" / sp / "space.json").is_file()
            else {}
            for sp in cfg.projection.spaces
        }
    )
    for group, names in groups.items():
        for d in cfg.projection.distances:
            fig3.figures.append(
                Figure(
                    f3 / f"{group}.{d}.png",
                    f"Figure 3: {group} ({d})",
                    f"S_n of each map of {' and '.join(names)} against the space ({d} distance "
                    "in the space) and between seeds.",
                )
            )
    for sp in cfg.projection.spaces:
        pdir = res / "projections" / sp
        fig3.figures.append(Figure(pdir / f"{sp}.scatter.png", f"Maps of {sp}", "The maps."))
        for d in cfg.projection.distances:
            fig3.figures.append(
                Figure(
                    pdir / f"{sp}.{d}.curves.png",
                    f"{sp}: S_n for every n ({d})",
                    "S_n of each map against the space, for every n.",
                )
            )
    fig5 = Section(
        "figure-5",
        "Figure 5: the listening test",
        "How similar listeners rated the playlists that each space proposes for a reference track.",
        figures=[
            Figure(
                res / "listening_stats" / "ratings.png",
                "Figure 5",
                "Mean ± std of the ratings per space; spaces sharing a letter do not differ.",
            )
        ],
        tables=[Table(res / "listening_stats" / "tests.csv", "Tests", "The statistical tests.")],
    )
    return [fig2, fig1, fig3, fig5]


def provenance(cfg: Settings) -> Provenance:
    """Provenance of the results: code, models, data and settings."""
    graphs, data = {}, {}
    for s in pipeline_spaces(cfg):
        sha = s.meta.get("graph_sha256")
        if sha and s.meta.get("model"):
            graphs[str(s.meta["model"])] = str(sha)
        data[s.name] = hashlib.sha256(np.ascontiguousarray(s.X).tobytes()).hexdigest()
    m = cfg.mlflow
    mlflow = (
        f"Every stage logged a run to the MLflow experiment '{m.experiment}' "
        f"({m.tracking_uri}); `make ui` opens them on http://{m.ui_host}:{m.ui_port}/."
        if m.enabled
        else "Tracking was off (mlflow=off)."
    )
    return Provenance(
        revision=git_revision(),
        version=__version__,
        settings=dump(cfg),
        graphs=graphs,
        data=data,
        mlflow=mlflow,
        synthetic=bool(cfg.data.synthetic),
    )


def _aligned(space: Space, ids: np.ndarray) -> np.ndarray:
    """Rows of ``space`` in the order of ``ids`` (NaN rows for tracks it does not have)."""
    out = np.full((len(ids), space.X.shape[1]), np.nan, dtype=np.float64)
    if space.ids is None:
        if space.n_tracks != len(ids):
            raise InputError(
                f"{space.name}: no track ids and {space.n_tracks} rows, not {len(ids)}."
            )
        return np.asarray(space.X, dtype=np.float64)
    rows = {t: i for i, t in enumerate(space.ids)}
    have = [(k, rows[t]) for k, t in enumerate(ids) if t in rows]
    if have:
        dst, src = zip(*have, strict=True)
        out[list(dst)] = np.asarray(space.X)[list(src)]
    return out


def explorer_data(cfg: Settings) -> ExplorerData:
    """What the explorer shows: the comparison's tables, the maps, the metadata."""
    ecfg = cfg.site.explorer
    d = ecfg.distance or cfg.neighbors.distances[0]
    store = TableStore(Path(cfg.paths.neighbors_dir) / d, d)
    sim_csv = Path(cfg.paths.results_dir) / "compare" / d / "similarity.csv"
    if not sim_csv.is_file():
        raise InputError(f"{sim_csv} not found: run the compare stage (dvc repro compare) first.")
    sim = pd.read_csv(sim_csv)
    glob_csv = sim_csv.parent / "global.csv"
    glob = pd.read_csv(glob_csv) if glob_csv.is_file() else None
    compared = set(sim["src"]) | set(sim["dst"])
    spaces = {s.name: s for s in pipeline_spaces(cfg)}
    names = [n for n in spaces if n in compared] + sorted(compared - set(spaces))
    if ecfg.spaces:
        unknown = [n for n in ecfg.spaces if n not in compared]
        if unknown:
            raise InputError(
                f"site.explorer.spaces names {preview(unknown)}, not in the comparison "
                f"({preview(names)}); fix conf/site/."
            )
        names = [n for n in names if n in ecfg.spaces]
    if not names:
        raise InputError(f"{sim_csv} names no spaces; rerun the compare stage.")
    ids = store.shared_ids(names)
    indices = {n: np.asarray(store.indices(n)[:, : ecfg.k]) for n in names}
    distances = {n: np.asarray(store.distances(n)[:, : ecfg.k]) for n in names}
    order = {m: i for i, m in enumerate(("tsne", "umap", "pca"))}
    maps: list[ExplorerMap] = []
    for name in names:
        lst = Path(cfg.paths.projections_dir) / name / "list.csv"
        projected = read_space_list(lst) if lst.is_file() else []
        projected.sort(key=lambda m: (order.get(str(m.meta.get("method")), 9), str(m.name)))
        for m in projected:
            method, seed = str(m.meta.get("method")), m.meta.get("seed")
            key = m.name.split("@", 1)[-1]
            label = f"{METHOD_LABELS.get(method, method)}, seed {seed}"
            maps.append(ExplorerMap(name, key, label, _aligned(m, ids).astype(np.float32)))
        if not projected:
            if name not in spaces:
                raise InputError(f"{name}: no vectors under {cfg.paths.spaces_dir} for its map.")
            X = _aligned(spaces[name], ids)
            maps.append(ExplorerMap(name, "pca", "PCA of the space", pca_map(np.nan_to_num(X))))
    metadata: dict[str, list[str]] = {}
    colour: list[str] = []
    tracks_csv = cfg.data.tracks
    if tracks_csv and Path(tracks_csv).is_file():
        meta = pd.read_csv(tracks_csv, dtype=str).drop_duplicates("track_id").set_index("track_id")
        for col in meta.columns:
            if col in ("file", "synthetic"):
                continue
            values = meta[col].reindex(ids).fillna("")
            metadata[col] = [str(v) for v in values]
            if 1 < values.nunique() <= ecfg.max_categories:
                colour.append(col)
    return ExplorerData(
        ids=ids,
        spaces=names,
        labels=[label_of_name(n) for n in names],
        indices=indices,
        distances=distances,
        k=int(ecfg.k),
        cutoffs=explorer_cutoffs(cfg.cutoffs, int(ecfg.k)),
        distance=d,
        maps=maps,
        metadata=metadata,
        colour_columns=colour,
        synthetic=bool(cfg.data.synthetic),
        measures=comparison_measures(sim, glob, names, explorer_cutoffs(cfg.cutoffs, int(ecfg.k))),
    )


def explorer_audio(cfg: Settings, ids: np.ndarray, out: Path) -> list[str | None] | None:
    """The explorer's audio: the URL template, or previews of the collection's files."""
    from urllib.parse import quote

    ecfg = cfg.site.explorer
    if ecfg.audio_url:
        return [ecfg.audio_url.replace("{track_id}", quote(str(t), safe="")) for t in ids]
    if not ecfg.previews or not cfg.data.audio_dir or not Path(cfg.data.audio_dir).is_dir():
        log.info("explorer: no audio (no audio folder, previews off and no audio_url)")
        return None
    files = locate_audio(
        ids, cfg.data.audio_dir, metadata=cfg.data.tracks, extensions=cfg.audio.extensions
    )
    log.info("explorer: previews of %d of %d tracks", len(files), len(ids))
    return write_previews(list(map(str, ids)), files, out, seconds=float(ecfg.preview_seconds))


def run(cfg: Settings, args: argparse.Namespace) -> None:
    out = Path(cfg.paths.results_dir) / "site"
    params = {
        "data.name": cfg.data.name,
        "neighbors.distances": cfg.neighbors.distances,
        "site.explorer": {k: v for k, v in vars(cfg.site.explorer).items()},
    }
    cfg.site.check_against(cfg.neighbors)
    title = "nnsim results" + (" (SYNTHETIC demo)" if cfg.data.synthetic else "")
    ecfg = cfg.site.explorer
    with stage_run(cfg, "site", params) as tr, atomic_dir(out) as tmp:
        files = build_site(
            sections(cfg), provenance(cfg), tmp, title=title, explorer=bool(ecfg.enabled)
        )
        if ecfg.enabled:
            data = explorer_data(cfg)
            data.audio = explorer_audio(cfg, data.ids, tmp)
            files += write_explorer(data, tmp, title=title.replace("results", "explorer"))
            tr.log_metrics(
                {
                    "site.explorer.tracks": float(len(data.ids)),
                    "site.explorer.maps": float(len(data.maps)),
                }
            )
        tr.log_metrics({"site.files": float(len(files))})
    log.info("results site: %s (open index.html)", out / "index.html")


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
