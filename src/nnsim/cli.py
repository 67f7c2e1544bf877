"""Command-line interface: ``nnsim compare LIST.csv --data-dir DIR --out OUT/ ...``."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from nnsim.compare import (
    compare_spaces,
    curves_frame,
    factors_frame,
    prepare_spaces,
    similarity_frame,
)
from nnsim.errors import NnsimError, OutputError
from nnsim.neighbors import VALID_DISTANCES
from nnsim.plots import heatmap
from nnsim.similarity import VALID_MEASURES, check_cutoffs
from nnsim.spaces import read_space_list

log = logging.getLogger("nnsim")

#: Files ``nnsim compare`` writes into OUT.
COMPARE_OUTPUTS = ("similarity.csv", "curves.csv", "factors.csv", "heatmap.png")


def check_out_dir(out: Path, force: bool, outputs: Sequence[str] = COMPARE_OUTPUTS) -> None:
    """Refuse a non-empty output folder unless ``force`` (checked before any work).

    Raises
    ------
    OutputError
        ``out`` is a file, or a non-empty folder and ``force`` is False.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out exists and is not a folder. Choose a folder path.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(
            f"{out}: output folder is not empty. Choose a new folder, or pass --force to "
            f"replace {', '.join(outputs)} there (other files are left alone)."
        )


def write_outputs(
    out: Path,
    frames: Mapping[str, pd.DataFrame],
    figures: Mapping[str, Callable[[Path], object]],
) -> None:
    """Write tables to a scratch folder next to ``out`` and move them in when all succeeded."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        t = Path(tmp)
        for fname, df in frames.items():
            df.to_csv(t / fname, index=False, float_format="%.8g")
        for fname, draw in figures.items():
            draw(t / fname)
        for f in t.iterdir():
            f.replace(out / f.name)


def cmd_compare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_out_dir(out, args.force)
    check_cutoffs(args.cutoffs)
    spaces = read_space_list(args.list, args.data_dir, args.ids)
    log.info("loaded %d spaces from %s", len(spaces), args.list)
    prep = prepare_spaces(
        spaces,
        distance=args.distance,
        cutoffs=args.cutoffs,
        indices=args.indices,
        drop_zero_rows=args.drop_zero_rows,
    )
    n = prep.spaces[0].n_tracks
    dropped = {k: v for k, v in prep.dropped_unshared.items() if v}
    if dropped:
        print(
            "aligned on shared track ids: "
            + ", ".join(f"{k} dropped {v}" for k, v in dropped.items())
            + f"; {prep.n_shared} shared tracks kept"
        )
    if args.indices:
        n_subset = prep.spaces[0].n_tracks + prep.dropped_zero.size
        print(f"subset {args.indices}: {n_subset} of {prep.n_shared} tracks")
    if prep.dropped_zero.size:
        print(f"dropped {prep.dropped_zero.size} all-zero track(s) from every space (cosine)")
    cmp = compare_spaces(
        prep.spaces,
        args.cutoffs,
        args.distance,
        measures=args.measures,
        rbo_p=args.rbo_p,
        n_boot=args.n_boot,
        seed=args.seed,
        max_block_mb=args.max_block_mb,
        show_progress=not args.quiet,
    )
    frames = {
        "similarity.csv": similarity_frame(cmp, args.distance),
        "curves.csv": curves_frame(cmp, args.distance),
        "factors.csv": factors_frame(cmp, args.distance),
    }
    figures = {
        "heatmap.png": lambda p: heatmap(
            cmp.similarity,
            cmp.names,
            cmp.cutoffs,
            p,
            title=f"NN-similarity ({args.distance}, {n} tracks)",
        )
    }
    write_outputs(out, frames, figures)
    written = ", ".join(COMPARE_OUTPUTS)
    print(f"compared {len(cmp.names)} spaces over {n} tracks; wrote {written} to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnsim", description="Nearest-neighbour similarity of latent spaces."
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "compare",
        help="compare every pair of spaces in a list",
        description="Compute S_n for every pair of spaces in LIST.csv (columns name,file).",
    )
    c.add_argument("list", help="CSV with columns name,file[,kind,dataset,architecture,layer,ids]")
    c.add_argument(
        "--data-dir",
        default=None,
        help="folder the list's files are relative to (default: its folder)",
    )
    c.add_argument("--cutoffs", type=int, nargs="+", default=[5, 10, 100, 200])
    c.add_argument("--distance", default="cosine", choices=VALID_DISTANCES)
    c.add_argument("--out", required=True, help="output folder (new or empty unless --force)")
    c.add_argument(
        "--ids",
        default=None,
        help="track ids shared by every space without its own (large-jamendo-ids.txt)",
    )
    c.add_argument(
        "--indices", default=None, help="file of 0-based row indices to keep (small-indices.txt)"
    )
    c.add_argument(
        "--measures",
        nargs="+",
        default=["overlap"],
        choices=VALID_MEASURES,
        help="overlap is the paper's S_n; rbo and spearman are rank-aware extras",
    )
    c.add_argument("--rbo-p", type=float, default=0.9, help="RBO persistence p")
    c.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap replicates for the 95%% CI (0: none)"
    )
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    c.add_argument(
        "--max-block-mb", type=float, default=256.0, help="memory bound of one score block (MiB)"
    )
    c.add_argument(
        "--drop-zero-rows",
        action="store_true",
        help="under cosine, drop all-zero tracks from every space",
    )
    c.add_argument("--force", action="store_true", help="write into a non-empty --out")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_compare)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
