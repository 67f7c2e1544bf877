"""Neighbour-table backends behind one entry point, :func:`neighbor_table`.

Every backend keeps the one table contract (:class:`nnsim.tables.NeighborTable`): indices
int32 ``(n, k)`` and distances float32 ``(n, k)``, self excluded, sorted by (distance, index),
with a certificate saying how the table was made:

- :mod:`nnsim.search.exact`: blocked float32 products, float64 re-ranking; every row is
  certified or recomputed against every track (the certificate counts those rows).
- :mod:`nnsim.search.dask_blocks`: the exact engine's row blocks as Dask tasks (the same
  table bit for bit).
- :mod:`nnsim.search.hnsw`: approximate HNSW graphs (hnswlib) for very large spaces; their
  error is measured by :mod:`nnsim.search.audit`, never assumed.

Which backend runs is decided here from :class:`nnsim.settings.NeighborsSettings`
(``backend``, ``exact_below``) and whether a Dask client is given.  Nothing here imports the
comparison workflow.
"""

from __future__ import annotations

import logging

import numpy as np

from nnsim.cluster import DaskRun
from nnsim.search.exact import ExactEngine, exact_table
from nnsim.settings import NeighborsSettings
from nnsim.spaces import Space
from nnsim.tables import Certificate, NeighborTable

log = logging.getLogger(__name__)


def neighbor_table(
    space: Space,
    settings: NeighborsSettings,
    *,
    width: int,
    distance: str,
    dask: DaskRun | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
    show_progress: bool = False,
) -> NeighborTable:
    """The neighbour table of a space by the configured backend.

    Parameters
    ----------
    space : Space
        Vectors ``(n, d)`` (aligned, prepared for the distance).
    settings : NeighborsSettings
        ``neighbors`` of the settings: backend, block memory, hnsw parameters.
    width : int
        Columns of the table, ``1 <= width <= n - 1``.
    distance : {"cosine", "euclidean"}
        Checked where the settings entered (composition, :func:`nnsim.compare.run_comparison`).
    dask : DaskRun, optional
        Compute an exact table's row blocks on this cluster (same table bit for bit).
    out : (np.ndarray, np.ndarray), optional
        ``(n, width)`` int32 and float32 arrays to fill (e.g. memory-mapped ``.npy``).
    show_progress : bool

    Returns
    -------
    NeighborTable
        With its :class:`~nnsim.tables.Certificate`.
    """
    n = space.n_tracks
    if settings.approximate_for(n):
        from nnsim.search.hnsw import hnsw_table

        log.info(
            "approximate neighbours of %s (%d x %d, %s, k=%d, hnswlib)",
            space.name,
            n,
            space.dim,
            distance,
            width,
        )
        idx, dist = hnsw_table(
            space.X,
            width,
            distance,
            options=settings.approximate,
            name=space.name,
            out=out,
            show_progress=show_progress,
        )
        return NeighborTable(idx, dist, Certificate(method="hnsw", recomputed=0))
    log.info(
        "neighbours of %s (%d x %d, %s, k=%d%s)",
        space.name,
        n,
        space.dim,
        distance,
        width,
        ", dask" if dask is not None else "",
    )
    engine = ExactEngine.prepare(space.X, width, distance, space.name)
    if dask is not None:
        from nnsim.search.dask_blocks import neighbors_on_cluster

        idx, dist, recomputed = neighbors_on_cluster(
            dask.client,
            engine,
            max_block_mb=settings.max_block_mb,
            retries=dask.retries,
            show_progress=show_progress,
            out=out,
        )
    else:
        idx, dist, recomputed = exact_table(
            engine,
            settings.max_block_mb,
            symmetric_mb=settings.symmetric_mb,
            show_progress=show_progress,
            out=out,
        )
    return NeighborTable(idx, dist, Certificate(method="exact", recomputed=recomputed))


__all__ = ["DaskRun", "neighbor_table"]
