"""Stage ``import_latentjam``: the spaces of a LatentJam release folder as pipeline spaces.

With ``data=latentjam`` (``data.latentjam_dir``): reads the folder (one ``.npy`` per space,
``large-jamendo-ids.txt``, ``small-indices.txt``), checks every file (row counts against the
ids, duplicate ids, indices in range, small ids), and writes ``spaces/latentjam/`` (the spaces
with ids and metadata parsed from their names, ``list.csv``, ``small-indices.txt``).  With any
other data option it writes an empty list.  Under ``data=latentjam`` ``data.audio_dir`` names
the release folder, which is the stage's DVC dependency: editing the folder reruns it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnsim.files import atomic_dir, write_space_list
from nnsim.release.latentjam import read_latentjam
from nnsim.settings import Settings
from nnsim.spaces import save_space
from nnsim.stages.common import SPACE_LIST_HEADER, log, run_stage


def run(cfg: Settings, args: argparse.Namespace) -> None:
    out = Path(cfg.paths.spaces_dir) / "latentjam"
    if not cfg.data.from_latentjam:
        with atomic_dir(out) as tmp:
            (tmp / "list.csv").write_text(SPACE_LIST_HEADER)
        return
    folder = Path(str(cfg.data.latentjam_dir))
    lj = read_latentjam(folder)
    rows = []
    with atomic_dir(out) as tmp:
        for s in lj.spaces:
            save_space(s, tmp / f"{s.name}.npy")
            m = s.meta
            rows.append(
                {
                    "name": s.name,
                    "file": f"{s.name}.npy",
                    "kind": m.get("kind", "unknown"),
                    "dataset": m.get("dataset", ""),
                    "architecture": m.get("architecture", ""),
                    "layer": m.get("layer", ""),
                }
            )
        write_space_list(tmp / "list.csv", rows)
        if lj.small_indices is not None:
            (tmp / "small-indices.txt").write_text("\n".join(map(str, lj.small_indices)) + "\n")
    log.info(
        "imported %d spaces of %d tracks from %s (small subset: %s)",
        len(lj.spaces),
        lj.ids.size,
        folder,
        "none" if lj.small_indices is None else f"{lj.small_indices.size} tracks",
    )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
