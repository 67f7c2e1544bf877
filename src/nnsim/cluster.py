"""Dask for the heavy stages: a client on a LocalCluster (loopback) or a named scheduler.

Only :func:`dask_client` talks to ``dask.distributed`` set-up; the work itself is in
:mod:`nnsim.neighbors` (row blocks of the exact search) and :mod:`nnsim.audio.extract`
(per-track extraction with a worker plugin that keeps the model graphs).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from nnsim.errors import ClusterError

log = logging.getLogger(__name__)


@contextmanager
def dask_client(ccfg: Mapping[str, Any]) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for the settings ``cluster`` (closed on exit).

    ``address: null`` starts a :class:`~dask.distributed.LocalCluster` of ``n_workers``
    processes on 127.0.0.1; an address connects to that scheduler within
    ``connect_timeout`` seconds or raises :class:`~nnsim.errors.ClusterError` naming it.
    The dashboard address is logged.
    """
    from dask.distributed import Client, LocalCluster

    address = ccfg.get("address")
    timeout = float(ccfg["connect_timeout"])
    cluster = None
    if address:
        try:
            client = Client(str(address), timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                f"({type(exc).__name__}: {exc}). Start it (`dask scheduler`), check the "
                "address and firewall, or set cluster.address: null for a local cluster."
            ) from None
    else:
        threads = str(int(ccfg["threads_per_worker"]))
        cluster = LocalCluster(
            n_workers=int(ccfg["n_workers"]),
            threads_per_worker=int(threads),
            # BLAS and numba in a worker use as many threads as Dask gives it: workers
            # sharing the machine do not oversubscribe its cores
            env={
                v: threads
                for v in (
                    "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS",
                )
            },
            memory_limit=str(ccfg["memory_limit"]),
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.WARNING,
        )
        client = Client(cluster)
    try:
        n = len(client.scheduler_info()["workers"])
        log.info(
            "Dask: %d worker(s) at %s; dashboard %s",
            n,
            client.scheduler.address,
            client.dashboard_link,
        )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _rows_task(engine: Any, start: int, stop: int) -> tuple[int, Any, Any, int]:
    idx, dist, uncertain = engine.rows(start, stop)
    return start, idx, dist, uncertain


def neighbors_on_cluster(
    client: Any,
    X: Any,
    k: int,
    distance: str,
    *,
    max_block_mb: float,
    retries: int,
    name: str = "space",
    show_progress: bool = False,
    out: tuple[Any, Any] | None = None,
) -> tuple[Any, Any]:
    """:func:`nnsim.neighbors.neighbors` with its row blocks computed as Dask tasks.

    The prepared space (:class:`nnsim.neighbors.ExactEngine`) is scattered to every worker
    once; each task computes the exact neighbours of a block of rows against the whole space.
    A block's result does not depend on the split, so the tables equal the single-machine
    engine's bit for bit.  Blocks are written into ``out`` (e.g. memory-mapped ``.npy``) as
    they arrive.  A task whose worker dies is rerun elsewhere (``retries`` more times for
    errors).

    Returns
    -------
    indices : np.ndarray [shape=(n, k), dtype=int32]
    distances : np.ndarray [shape=(n, k), dtype=float32]
    """
    from concurrent.futures import CancelledError

    from dask.distributed import as_completed

    from nnsim.neighbors import ExactEngine, block_rows_for, new_table
    from nnsim.progress import progress

    engine = ExactEngine.prepare(X, k, distance, name)
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
    return indices, dist
