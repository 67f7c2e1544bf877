"""The exact search's row blocks as Dask tasks: same tables bit for bit, survives lost workers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from nnsim.errors import ClusterError
from nnsim.progress import progress
from nnsim.search.exact import ExactEngine, block_rows_for, new_table

log = logging.getLogger(__name__)


def _rows_task(engine: Any, start: int, stop: int) -> tuple[int, Any, Any, int]:
    idx, dist, uncertain = engine.rows(start, stop)
    return start, idx, dist, uncertain


def neighbors_on_cluster(
    client: Any,
    engine: ExactEngine,
    *,
    max_block_mb: float,
    retries: int,
    show_progress: bool,
    out: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`nnsim.search.exact.exact_table` with its row blocks computed as Dask tasks.

    The prepared space (:class:`nnsim.search.exact.ExactEngine`) is scattered to every worker
    once; each task computes the exact neighbours of a block of rows against the whole space.
    A block's result does not depend on the split, so the tables equal the single-machine
    engine's bit for bit.  Blocks are written into ``out`` (e.g. memory-mapped ``.npy``) as
    they arrive.  A task whose worker dies is rerun elsewhere (``retries`` more times for
    errors).

    Returns
    -------
    indices : np.ndarray [shape=(n, k), dtype=int32]
    distances : np.ndarray [shape=(n, k), dtype=float32]
    recomputed : int
        Rows recomputed in float64 (the table's certificate, as on one machine).
    """
    name = engine.name
    from concurrent.futures import CancelledError

    from dask.distributed import as_completed

    n = engine.n
    indices, dist = out if out is not None else new_table(n, engine.k)
    # at least ~4 tasks per worker so that every worker has work and a lost one costs little
    workers = max(1, len(client.scheduler_info()["workers"]))
    rows = max(1, min(block_rows_for(n, max_block_mb), -(-n // (4 * workers))))
    todo = set(range(0, n, rows))
    n_blocks = len(todo)
    current: list[Any] = []

    def results() -> Iterator[tuple[int, Any, Any, int]]:
        for _ in range(retries + 1):
            # Scattered data have no recipe: if the workers holding them die, the tasks that
            # need them are cancelled ("lost dependencies"); those blocks are run again.
            [remote] = client.scatter([engine], broadcast=True, hash=False)
            current[:] = [
                client.submit(_rows_task, remote, s, min(n, s + rows), retries=retries, pure=False)
                for s in sorted(todo)
            ]
            for fut in as_completed(current):
                try:
                    res = fut.result()
                except CancelledError:
                    continue
                todo.discard(res[0])
                fut.release()
                yield res
            if not todo:
                return
            log.warning(
                "%s: %d block(s) lost their data with a worker; running them again", name, len(todo)
            )
        raise ClusterError(
            f"{name}: {len(todo)} block(s) of the neighbour search failed {retries + 1} times "
            f"on the Dask cluster at {client.scheduler.address}; check the workers' logs."
        )

    uncertain = 0
    try:
        for start, idx, d, u in progress(
            results(),
            total=n_blocks,
            unit="block",
            desc=f"neighbours {name} (dask)",
            enabled=show_progress,
        ):
            indices[start : start + len(idx)], dist[start : start + len(idx)] = idx, d
            uncertain += u
    except BaseException:
        client.cancel(current)
        raise
    engine.report(uncertain)
    return indices, dist, uncertain
