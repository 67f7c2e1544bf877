"""Dask for the heavy stages: a client on a LocalCluster (loopback) or a named scheduler.

a worker plugin that keeps the model graphs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nnsim.errors import ClusterError
from nnsim.settings import ClusterSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaskRun:
    """Run the exact search's row blocks on a Dask cluster.

    Attributes
    ----------
    client : dask.distributed.Client
        From :func:`nnsim.cluster.dask_client`.
    retries : int
        Retries of a failed task (``cluster.retries``).
    """

    client: Any
    retries: int


def _connect(client_cls: Any, address: str, timeout: float) -> Any:
    """``Client(address)`` within ``timeout`` seconds, whatever the peer does.

    Dask's own timeout covers opening the connection, not a peer that accepts it and never
    answers (a hung scheduler, a proxy, another service): the attempt runs in a daemon thread
    and is abandoned at the deadline.
    """
    box: dict[str, Any] = {}

    def attempt() -> None:
        try:
            box["client"] = client_cls(address, timeout=f"{timeout}s")
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=attempt, name="nnsim-dask-connect", daemon=True)
    worker.start()
    worker.join(timeout + 2.0)  # Dask's own timeout, and a margin for its clean-up
    if worker.is_alive():
        raise ClusterError(
            f"{address} accepted the connection but did not answer as a Dask scheduler within "
            f"{timeout:g} s (cluster.connect_timeout). Check that the address is the "
            "scheduler's (`dask scheduler` prints it), not another service or a proxy, or set "
            "cluster.address: null for a local cluster."
        )
    if "error" in box:
        raise box["error"]
    return box["client"]


@contextmanager
def dask_client(settings: ClusterSettings) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for the settings ``cluster`` (closed on exit).

    ``address: null`` starts a :class:`~dask.distributed.LocalCluster` of ``n_workers``
    processes on 127.0.0.1; an address connects to that scheduler within
    ``connect_timeout`` seconds or raises :class:`~nnsim.errors.ClusterError` naming it.
    The dashboard address is logged.
    """
    from dask.distributed import Client, LocalCluster

    address = settings.address
    timeout = float(settings.connect_timeout)
    cluster = None
    if address:
        try:
            client = _connect(Client, str(address), timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                f"({type(exc).__name__}: {exc}). Start it (`dask scheduler`), check the "
                "address and firewall, or set cluster.address: null for a local cluster."
            ) from None
    else:
        threads = str(int(settings.threads_per_worker))
        cluster = LocalCluster(
            n_workers=int(settings.n_workers),
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
            memory_limit=str(settings.memory_limit),
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
