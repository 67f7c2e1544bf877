"""Progress bars that stay readable in logs: tqdm on a terminal, sparse lines elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], *, enabled: bool = True, **kwargs: Any) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar (rate and ETA).

    On a terminal the bar refreshes continuously; when stderr is a file or a pipe (``dvc
    repro``, CI logs) it prints a line at most every 15 s, so long work is never silent and
    logs stay short.

    Parameters
    ----------
    iterable : iterable
    enabled : bool
        False: no bar at all.
    **kwargs
        Passed to tqdm (``desc``, ``unit``, ``total``...).
    """
    if not sys.stderr.isatty():
        kwargs.setdefault("mininterval", 15.0)
        kwargs.setdefault("ncols", 100)
    return iter(tqdm(iterable, disable=not enabled, **kwargs))
