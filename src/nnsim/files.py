"""Writing files safely: every output is complete or absent, never half-written.

One place for atomic writes (a scratch file or folder next to the target, then a rename),
used by the stages, the CLI and the library's stores.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from nnsim.errors import OutputError

#: Columns of a space list (the paper's authors' format) in the order they are written.
SPACE_LIST_COLUMNS = ("name", "file", "kind", "dataset", "architecture", "layer")


def check_file_target(path: str | Path, option: str, example: str) -> Path:
    """Refuse a file path that cannot hold a file: a folder, or a path under a file.

    Parameters
    ----------
    path : str or Path
        Where a file is to be written or created.
    option : str
        The option or setting that named it (``--out``, ``--db``), for the message.
    example : str
        A file name to suggest (``answers.csv``).

    Returns
    -------
    Path
    """
    p = Path(path)
    if p.is_dir():
        raise OutputError(
            f"{option} {p} is a folder; give a file path, e.g. {option} {p / example}."
        )
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(
                f"{option} {p}: {parent} is a file, so nothing can be written under it. "
                f"Choose another {option}."
            )
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a scratch file and a rename.

    Parameters
    ----------
    path : str or Path
        Target file; its folder is created.
    text : str
        Content (UTF-8).

    Returns
    -------
    Path
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a scratch file and a rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.partial-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        tmp.replace(p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (sorted keys, floats as numbers; metrics files DVC reads)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Write a folder completely or not at all.

    Yields a scratch folder next to ``path``; on success it replaces ``path``, on error (or
    Ctrl-C) it is removed and ``path`` is left as it was (so DVC never caches half-written
    outputs).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final) if final.is_dir() else final.unlink()
    tmp.replace(final)


def write_space_list(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write a space list (``name,file,kind,dataset,architecture,layer`` + extra columns).

    Parameters
    ----------
    path : str or Path
        Target CSV (written atomically).
    rows : sequence of mapping
        One mapping per space with at least ``name`` and ``file``.

    Returns
    -------
    Path
    """
    df = pd.DataFrame(list(rows))
    extra = [c for c in df.columns if c not in SPACE_LIST_COLUMNS]
    cols = [c for c in SPACE_LIST_COLUMNS if c in df.columns] + extra
    return atomic_write_text(path, df[cols].to_csv(index=False))
