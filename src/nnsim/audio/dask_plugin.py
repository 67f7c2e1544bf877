"""The Dask worker plugin of the extraction: each worker loads every model graph once.

Imported only when the extraction runs on a Dask cluster (``cluster.extract``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

from nnsim.audio.extractor import Extractor, SkipTrack
from nnsim.audio.models import ModelSpec
from nnsim.settings import AudioSettings


class ExtractorPlugin(WorkerPlugin):
    """Keeps one :class:`~nnsim.audio.extract.Extractor` (graphs loaded) per worker.

    A worker that joins later (or is restarted after dying) runs :meth:`setup` too.
    """

    def __init__(self, specs: list[ModelSpec], settings: AudioSettings, name: str) -> None:
        self.specs = specs
        self.settings = settings
        self.name = name
        self.extractor: Extractor | None = None

    def setup(self, worker: Any) -> None:
        self.extractor = Extractor(self.specs, self.settings)


def work(item: tuple[str, str, str, list[str]], plugin: str) -> tuple[str, Any, Any, float]:
    """One track on a worker: ``(track id, vectors or None, skip reason, audio seconds)``.

    The same per-track computation as the process pool's; the caller caches the result.
    """
    own = get_worker().plugins[plugin]
    assert isinstance(own, ExtractorPlugin) and own.extractor is not None
    ex = own.extractor
    tid, path, _fhash, todo = item
    try:
        audio = ex.load(Path(path))
        res = ex.run(audio, todo)
    except SkipTrack as exc:
        return tid, None, str(exc), 0.0
    return tid, res, None, audio.size / ex.settings.sample_rate
