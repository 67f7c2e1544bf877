"""The pipeline's spaces as the extraction, CF and import stages listed them (no search engine).

Reads ``<spaces_dir>/{cb,cf,latentjam}/list.csv`` and applies ``select``; used by the
``compare``, ``project``, ``score_projections``, ``playlists`` and ``export`` stages.
"""

from __future__ import annotations

from pathlib import Path

from nnsim.errors import InputError
from nnsim.settings import Settings
from nnsim.spaces import Space, read_space_list


def pipeline_spaces(cfg: Settings) -> list[Space]:
    """Every space the pipeline produced (``<spaces_dir>/{cb,cf,latentjam}/list.csv``)."""
    sdir = Path(cfg.paths.spaces_dir)
    spaces: list[Space] = []
    for kind in ("cb", "cf", "latentjam"):
        lst = sdir / kind / "list.csv"
        # a stage with nothing to do (e.g. extraction under data=latentjam) writes a header only
        if lst.is_file() and len(lst.read_text().strip().splitlines()) > 1:
            spaces += read_space_list(lst)
    return spaces


def find_space(cfg: Settings, name: str) -> Space:
    """The pipeline's space called ``name`` (error lists the names there are)."""
    spaces = pipeline_spaces(cfg)
    for s in spaces:
        if s.name == name:
            return s
    raise InputError(
        f"no space named {name!r} under {cfg.paths.spaces_dir}; available: "
        f"{', '.join(s.name for s in spaces) or 'none (run the extraction and CF stages)'}. "
        "Fix projection.spaces in conf/projection/."
    )


def selected_spaces(cfg: Settings) -> list[Space]:
    """Spaces the pipeline produced, content-based ones filtered by ``select``."""
    sdir = Path(cfg.paths.spaces_dir)
    spaces = pipeline_spaces(cfg)
    sel = cfg.select
    keep = []
    for s in spaces:
        if s.meta.get("kind") == "cb" and (
            s.meta.get("architecture") not in sel.architectures
            or s.meta.get("dataset") not in sel.datasets
            or s.meta.get("layer") not in sel.layers
        ):
            continue
        keep.append(s)
    if len(keep) < 2:
        raise InputError(
            f"only {len(keep)} space(s) under {sdir} match select={sel}; widen the model/"
            "dataset/layer selection or run the extraction and CF stages first."
        )
    return keep
