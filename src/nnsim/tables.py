"""The neighbour-table store: save, load and fingerprint tables, reused across stages and sweeps.

A folder holds, per space, ``<name>.indices.npy`` (int32 ``(n, k)``),
``<name>.distances.npy`` (float32 ``(n, k)``), ``<name>.ids.txt`` (the rows' track ids, when
known), ``<name>.certificate.json`` (how the table was made) and ``<name>.fingerprint``
(sha256 of the distance, the prepared vectors and the ids).  Every file is written
atomically (a temporary file renamed into place), the fingerprint last.
A table is reused only when the fingerprint of the vectors at hand matches, so a table is
never applied to other data; the first ``k`` columns of a wider table are the answer at ``k``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nnsim.files import atomic_write_text
from nnsim.spaces import Space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Certificate:
    """How a neighbour table was made.

    Attributes
    ----------
    method : {"exact", "hnsw"}
        ``exact``: every row's list equals a float64 evaluation of every pair (certified by
        the float32 error bound, or recomputed); ``hnsw``: approximate (its recall is
        measured by :mod:`nnsim.search.audit`).
    recomputed : int
        Exact tables: rows that the float32 pass could not certify and that were recomputed
        against every track in float64.
    """

    method: str
    recomputed: int

    @property
    def exact(self) -> bool:
        """Whether every list is exact."""
        return self.method == "exact"


@dataclass
class NeighborTable:
    """Neighbour lists of one space (the contract of every search backend).

    Attributes
    ----------
    indices : np.ndarray [shape=(n, k), dtype=int32]
        Nearest first, self excluded, ties by smaller index.
    distances : np.ndarray [shape=(n, k), dtype=float32]
        Non-decreasing along each row.
    certificate : Certificate
        How the table was made.
    secondary : str or None
        ``None``: the distances are the space's own; otherwise the hubness reduction
        (``csls``, ``mutual_proximity``) whose secondary distances ranked the candidates
        (:func:`nnsim.measures.hubness_reduced`).
    """

    indices: np.ndarray
    distances: np.ndarray
    certificate: Certificate
    secondary: str | None = None

    @property
    def k(self) -> int:
        """Width of the table."""
        return int(self.indices.shape[1])

    def head(self, k: int) -> NeighborTable:
        """The first ``k`` columns (the table at a smaller ``k``)."""
        return NeighborTable(
            np.ascontiguousarray(self.indices[:, :k]),
            np.ascontiguousarray(self.distances[:, :k]),
            self.certificate,
            self.secondary,
        )


def fingerprint(space: Space, distance: str) -> str:
    """sha256 of the distance, the vectors (dtype, shape, bytes) and the track ids."""
    h = hashlib.sha256(distance.encode())
    X = np.ascontiguousarray(space.X)
    h.update(f"{X.dtype.str}{X.shape}".encode())
    h.update(X.tobytes())
    if space.ids is not None:
        h.update("\n".join(map(str, space.ids)).encode())
    return h.hexdigest()


class TableStore:
    """A folder of neighbour tables for one distance.

    Parameters
    ----------
    folder : str or Path
        Where the tables live.
    distance : str
        The distance every table in the folder was computed with.
    """

    def __init__(self, folder: str | Path, distance: str) -> None:
        self.folder = Path(folder)
        self.distance = distance

    def _path(self, name: str, what: str) -> Path:
        return self.folder / f"{name}.{what}"

    def save(self, space: Space, table: NeighborTable) -> None:
        """Write a space's table, its ids and the fingerprint of its vectors."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._path(space.name, "fingerprint").unlink(missing_ok=True)  # invalid until rewritten
        for what, arr in (("indices.npy", table.indices), ("distances.npy", table.distances)):
            tmp = self._path(space.name, what + f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self._path(space.name, what))
        self._write_meta(space, table.certificate)

    def _write_meta(self, space: Space, certificate: Certificate) -> None:
        atomic_write_text(
            self._path(space.name, "certificate.json"), json.dumps(asdict(certificate)) + "\n"
        )
        if space.ids is not None:
            atomic_write_text(self._path(space.name, "ids.txt"), "\n".join(space.ids) + "\n")
        atomic_write_text(
            self._path(space.name, "fingerprint"), fingerprint(space, self.distance) + "\n"
        )

    def allocate(self, space: Space, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Memory-mapped ``.npy`` arrays to fill with a space's table (then :meth:`commit`).

        For tables too large to hold in RAM: the search writes each block straight to disk.
        The files carry a ``.partial`` suffix until :meth:`commit`.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        idx = np.lib.format.open_memmap(
            self._path(space.name, "indices.npy.partial"), mode="w+", dtype=np.int32, shape=(n, k)
        )
        dist = np.lib.format.open_memmap(
            self._path(space.name, "distances.npy.partial"),
            mode="w+",
            dtype=np.float32,
            shape=(n, k),
        )
        return idx, dist

    def commit(self, space: Space, certificate: Certificate) -> NeighborTable:
        """Finish a table filled through :meth:`allocate`; returns it memory-mapped."""
        self._path(space.name, "fingerprint").unlink(missing_ok=True)
        for what in ("indices.npy", "distances.npy"):
            self._path(space.name, what + ".partial").replace(self._path(space.name, what))
        self._write_meta(space, certificate)
        return NeighborTable(
            np.load(self._path(space.name, "indices.npy"), mmap_mode="r"),
            np.load(self._path(space.name, "distances.npy"), mmap_mode="r"),
            certificate,
        )

    def load(self, space: Space, k: int) -> NeighborTable | None:
        """The table of exactly these vectors at width ``>= k`` (first ``k`` columns), or None."""
        paths = [
            self._path(space.name, w)
            for w in ("indices.npy", "distances.npy", "fingerprint", "certificate.json")
        ]
        if not all(p.is_file() for p in paths):
            return None
        if paths[2].read_text().strip() != fingerprint(space, self.distance):
            log.info(
                "%s: the table in %s is for other vectors; recomputing", space.name, self.folder
            )
            return None
        try:
            idx = np.load(paths[0], mmap_mode="r")
            dist = np.load(paths[1], mmap_mode="r")
            cert = Certificate(**json.loads(paths[3].read_text()))
        except (OSError, ValueError, TypeError):
            log.warning("%s: unreadable table in %s; recomputing", space.name, self.folder)
            return None
        if idx.ndim != 2 or idx.shape != dist.shape or idx.shape[0] != space.n_tracks:
            return None
        if idx.shape[1] < k:
            return None
        if idx.nbytes > 2**30:  # large: stay on disk (compare_tables reads it block by block)
            return NeighborTable(idx[:, :k], dist[:, :k], cert)
        return NeighborTable(np.array(idx[:, :k]), np.array(dist[:, :k]), cert)

    def indices(self, name: str) -> np.ndarray:
        """The stored indices of the space called ``name``, memory-mapped (for reading stages).

        Raises
        ------
        InputError
            No complete table of that name in the folder (names the folder and the stage).
        """
        return self._stored(name, "indices.npy")

    def distances(self, name: str) -> np.ndarray:
        """The stored distances of the space called ``name``, memory-mapped (as :meth:`indices`)."""
        return self._stored(name, "distances.npy")

    def _stored(self, name: str, what: str) -> np.ndarray:
        from nnsim.errors import InputError

        path = self._path(name, what)
        if not (path.is_file() and self._path(name, "fingerprint").is_file()):
            raise InputError(
                f"no neighbour table of {name!r} in {self.folder}; run the compare stage "
                "(dvc repro compare) for this distance first."
            )
        return np.load(path, mmap_mode="r")

    def shared_ids(self, names: Sequence[str]) -> np.ndarray:
        """The track ids of the stored tables of ``names``, which must all cover the same tracks.

        Raises
        ------
        InputError
            No names, or two tables over different tracks (rerun the compare stage).
        """
        from nnsim.errors import InputError

        ids: np.ndarray | None = None
        for name in names:
            t_ids = self.ids(name)
            if ids is not None and not np.array_equal(ids, t_ids):
                raise InputError(
                    f"{self.folder}: the neighbour tables cover different tracks; rerun compare."
                )
            ids = t_ids
        if ids is None:
            raise InputError(f"{self.folder}: no spaces named; rerun the compare stage.")
        return ids

    def ids(self, name: str) -> np.ndarray:
        """The track ids of the rows of the stored table of ``name``.

        Raises
        ------
        InputError
            The table was stored without ids (a space without track ids).
        """
        from nnsim.errors import InputError

        path = self._path(name, "ids.txt")
        if not path.is_file():
            raise InputError(
                f"{self.folder}: the table of {name!r} has no track ids ({path.name} missing); "
                "rerun the compare stage."
            )
        return np.asarray(path.read_text().split())
