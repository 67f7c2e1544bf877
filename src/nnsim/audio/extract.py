"""Essentia-TensorFlow extraction of content-based spaces, resumable and parallel.

Per track: decode with ``MonoLoader`` (16 kHz, explicit resampling quality), skip unreadable,
too short or silent files (with the reason), compute the MusiCNN mel front end once
(``TensorflowInputMusiCNN`` on 512/256 frames, 187-frame patches at ``patch_hop``), run every
MusiCNN/VGG graph once fetching both layers (``TensorflowPredict``), run VGGish
(``TensorflowPredictVGGish``) when its graph is present, and mean-pool over patches.

Results are cached per track and model under a key of the file's content hash, the graph's
hash and the settings, so re-running after an interruption or after adding files only
extracts what is new.  Work is spread over processes (``spawn``: TensorFlow state is never
forked); each process builds its predictors once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import multiprocessing as mp
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnsim.audio.extractor import Extractor, SkipTrack
from nnsim.audio.models import ModelSpec, file_sha256
from nnsim.cluster import DaskRun
from nnsim.errors import ConfigError, InputError, Interrupted, preview
from nnsim.files import atomic_write_bytes
from nnsim.progress import progress
from nnsim.settings import TRACK_ID_RULES, AudioSettings

log = logging.getLogger(__name__)


def find_audio(
    audio_dir: str | Path, extensions: Sequence[str], track_id: str
) -> list[tuple[str, Path]]:
    """Audio files under a folder with their track ids, sorted by id.

    Parameters
    ----------
    audio_dir : path
        Folder searched recursively (MTG-Jamendo layout ``NN/ID.mp3`` works).
    extensions : sequence of str
        File extensions to take, without dots.
    track_id : {"stem", "relpath"}
        Track id rule: the file stem (``NN/1234.mp3`` -> ``1234``) or the relative path
        without extension.

    Returns
    -------
    list of (str, Path)
    """
    root = Path(audio_dir)
    if not root.is_dir():
        raise InputError(
            f"audio folder {root} not found. Point data.audio_dir (conf/data/) at your audio, "
            "or use data=demo."
        )
    exts = {"." + e.lower().lstrip(".") for e in extensions}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise InputError(
            f"audio folder {root} has no files with extensions {sorted(exts)}. "
            "Add audio or change audio.extensions."
        )
    if track_id == "stem":
        ids = [p.stem for p in files]
    elif track_id == "relpath":
        ids = [str(p.relative_to(root).with_suffix("")) for p in files]
    else:
        raise ConfigError(
            f"audio.track_id={track_id!r} is not valid; valid: {', '.join(TRACK_ID_RULES)}."
        )
    seen: dict[str, Path] = {}
    dups = []
    for i, p in zip(ids, files, strict=True):
        if i in seen:
            dups.append(f"{i} ({seen[i]} and {p})")
        seen[i] = p
    if dups:
        raise InputError(
            f"{len(dups)} track id(s) appear twice under {root}: {preview(dups, 3)}. "
            "Use audio.track_id=relpath or remove the duplicates."
        )
    return sorted(zip(ids, files, strict=True))


def settings_key(spec: ModelSpec, graph_sha: str, settings: AudioSettings) -> str:
    """Hash of everything besides the audio that determines a model's output."""
    blob = json.dumps(
        {
            "graph": graph_sha,
            "layers": spec.layers,
            "input": spec.input,
            "frontend": spec.frontend,
            "settings": settings.decoding(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class TrackCache:
    """Per-track, per-model vectors on disk: ``<dir>/<model>/<settings>/<ab>/<filehash>.npz``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        #: Entries found damaged (unreadable, truncated, garbage, wrong shape) and ignored.
        self.damaged: list[Path] = []

    def path(self, model: str, skey: str, fhash: str) -> Path:
        return self.root / model / skey / fhash[:2] / f"{fhash}.npz"

    def get(
        self, model: str, skey: str, fhash: str, dims: Mapping[str, int] | None = None
    ) -> dict[str, np.ndarray] | None:
        """The cached vectors, or None for a miss.

        A damaged entry (a torn write, a partial copy, a full disk, garbage, or arrays of the
        wrong shape for ``dims``) is a miss too: it is logged with its path, counted in
        :attr:`damaged`, and replaced atomically when the track is recomputed.
        """
        p = self.path(model, skey, fhash)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                vecs = {k: np.asarray(z[k]) for k in z.files}
        except Exception as exc:
            self._damaged(p, f"unreadable ({type(exc).__name__}: {exc})")
            return None
        if dims is not None:
            for layer, dim in dims.items():
                v = vecs.get(layer)
                if v is None or v.shape != (dim,) or not np.isfinite(v).all():
                    shape = None if v is None else v.shape
                    self._damaged(p, f"layer {layer}: shape {shape}, expected ({dim},)")
                    return None
        return vecs

    def _damaged(self, p: Path, why: str) -> None:
        log.warning("damaged cache entry %s: %s; recomputing that track", p, why)
        self.damaged.append(p)

    def put(self, model: str, skey: str, fhash: str, vecs: Mapping[str, np.ndarray]) -> None:
        buf = io.BytesIO()
        np.savez(buf, **dict(vecs))  # type: ignore[arg-type]
        atomic_write_bytes(self.path(model, skey, fhash), buf.getvalue())


# --- process pool -----------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(
    specs: list[ModelSpec],
    settings: AudioSettings,
    cache_root: str,
    skeys: dict[str, str],
    in_main: bool = False,
) -> None:
    if not in_main:  # Ctrl-C is the parent's to handle (it stops the pool and reports)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER["ex"] = Extractor(specs, settings)
    _WORKER["cache"] = TrackCache(cache_root)
    _WORKER["skeys"] = skeys


def _work(item: tuple[str, str, str, list[str]]) -> tuple[str, dict | None, str | None, float]:
    tid, path, fhash, todo = item
    ex: Extractor = _WORKER["ex"]
    cache: TrackCache = _WORKER["cache"]
    try:
        audio = ex.load(Path(path))
        res = ex.run(audio, todo)
    except SkipTrack as exc:
        return tid, None, str(exc), 0.0
    for model, vecs in res.items():
        cache.put(model, _WORKER["skeys"][model], fhash, vecs)
    return tid, res, None, audio.size / ex.settings.sample_rate


def _on_cluster(
    client: Any,
    items: list[tuple[str, str, str, list[str]]],
    specs: list[ModelSpec],
    settings: AudioSettings,
    skeys: dict[str, str],
    retries: int,
) -> Iterator[tuple[str, dict | None, str | None, float]]:
    """Per-track results from Dask tasks, in completion order (cancelled on interruption)."""
    from dask.distributed import as_completed

    from nnsim.audio.dask_plugin import ExtractorPlugin, work

    # one plugin per set of graphs and settings: a changed model is a new plugin
    name = (
        "nnsim-extractor-"
        + hashlib.sha256(json.dumps(sorted(skeys.items())).encode()).hexdigest()[:12]
    )
    client.register_plugin(ExtractorPlugin(specs, settings, name), name=name)
    futures = [
        client.submit(work, item, name, retries=retries, pure=False, key=f"extract-{item[0]}-{i}")
        for i, item in enumerate(items)
    ]
    try:
        for fut in as_completed(futures):
            yield fut.result()
            fut.release()
    except BaseException:
        client.cancel(futures)
        raise


@dataclass
class ExtractionResult:
    """Vectors of every extracted track and what was skipped.

    Attributes
    ----------
    ids : list of str
        Tracks with features from every model, sorted.
    vectors : dict of str to dict of str to np.ndarray [shape=(n_ids, dim)]
        ``vectors[model][layer]``.
    skipped : list of (str, str, str)
        ``(track_id, file, reason)``.
    audio_seconds : float
        Audio decoded in this run (cache hits excluded).
    n_cached : int
        Tracks fully served from the cache.
    n_damaged : int
        Damaged cache entries found and recomputed.
    """

    ids: list[str]
    vectors: dict[str, dict[str, np.ndarray]]
    skipped: list[tuple[str, str, str]]
    audio_seconds: float
    n_cached: int
    n_damaged: int = 0


def extract(
    tracks: Sequence[tuple[str, Path]],
    specs: Sequence[ModelSpec],
    settings: AudioSettings,
    cache_dir: str | Path,
    *,
    workers: int,
    show_progress: bool,
    dask: DaskRun | None = None,
    callback: Callable[[int, int], None] | None = None,
) -> ExtractionResult:
    """Extract every model's layers for every track, reusing the cache.

    Parameters
    ----------
    tracks : sequence of (str, Path)
        Track ids and files (see :func:`find_audio`).
    specs : sequence of ModelSpec
        Models whose graphs are present.
    settings : AudioSettings
    cache_dir : path
        Per-track cache root.
    workers : int
        Processes (1: in this process).
    show_progress : bool
        tqdm bar with tracks/s and ETA.
    dask : DaskRun, optional
        Run the per-track work as Dask tasks on this cluster instead of local processes
        (each worker loads the graphs once; workers must see the audio and graph files).
        Results come back here and are cached here, so a dead worker's finished tracks are
        never recomputed.  Same vectors as the local path.
    callback : callable, optional
        ``callback(done, total)`` after each extracted (or skipped) track, in this process:
        ``done`` of the ``total`` tracks to extract in this run (for a progress display of
        one's own; an exception it raises stops the run like Ctrl-C does).

    Returns
    -------
    ExtractionResult
    """
    cache = TrackCache(cache_dir)
    if dask is None and workers != settings.workers:
        # the runtime's threads per process follow the processes really started
        settings = dataclasses.replace(settings, workers=workers)
    skeys = {s.name: settings_key(s, file_sha256(s.graph), settings) for s in specs}
    names = [s.name for s in specs]
    dims_of = {s.name: {layer: int(s.dims[layer]) for layer in s.layers} for s in specs}
    got: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    todo_items = []
    n_cached = 0
    for tid, path in progress(tracks, desc="hashing audio", unit="file", enabled=show_progress):
        fhash = file_sha256(path)
        have = {}
        for m in names:
            v = cache.get(m, skeys[m], fhash, dims_of[m])
            if v is not None:
                have[m] = v
        got[tid] = have
        missing = [m for m in names if m not in have]
        if missing:
            todo_items.append((tid, str(path), fhash, missing))
        else:
            n_cached += 1
    log.info(
        "%d track(s) cached, %d to extract with %d model(s)", n_cached, len(todo_items), len(names)
    )
    skipped: list[tuple[str, str, str]] = []
    seconds = 0.0
    files = dict(tracks)
    fhashes = {item[0]: item[2] for item in todo_items}

    def collect(results: Iterator[tuple[str, dict | None, str | None, float]]) -> None:
        nonlocal seconds
        n_done = 0
        bar = progress(
            results, total=len(todo_items), desc="extracting", unit="track", enabled=show_progress
        )
        for tid, res, reason, secs in bar:
            if dask is not None and res is not None:  # workers return, this side caches
                fh = fhashes[tid]
                for model, vecs in res.items():
                    cache.put(model, skeys[model], fh, vecs)
            if res is None:
                skipped.append((tid, str(files[tid]), str(reason)))
                got.pop(tid, None)
            else:
                got[tid].update(res)
                seconds += secs
            n_done += 1
            if callback is not None:
                callback(n_done, len(todo_items))

    done_before = n_cached
    if todo_items:
        try:
            if dask is not None:
                collect(
                    _on_cluster(dask.client, todo_items, list(specs), settings, skeys, dask.retries)
                )
            elif workers <= 1:
                _init_worker(list(specs), settings, str(cache_dir), skeys, in_main=True)
                collect(map(_work, todo_items))
            else:
                ctx = mp.get_context("spawn")
                with ctx.Pool(
                    workers, _init_worker, (list(specs), settings, str(cache_dir), skeys)
                ) as pool:
                    try:
                        collect(pool.imap_unordered(_work, todo_items, chunksize=1))
                    except KeyboardInterrupt:
                        pool.terminate()  # workers ignore SIGINT: stop them here
                        raise
        except KeyboardInterrupt:
            kept = done_before + sum(1 for t, v in got.items() if len(v) == len(names))
            raise Interrupted(
                f"interrupted: {kept} of {len(tracks)} tracks cached under {cache_dir}; "
                "rerun to resume"
            ) from None
    ids = sorted(t for t, v in got.items() if all(m in v for m in names))
    vectors = {
        s.name: {
            layer: np.stack([got[t][s.name][layer] for t in ids]).astype(np.float32)
            if ids
            else np.zeros((0, s.dims[layer]), dtype=np.float32)
            for layer in s.layers
        }
        for s in specs
    }
    return ExtractionResult(ids, vectors, sorted(skipped), seconds, n_cached, len(cache.damaged))
