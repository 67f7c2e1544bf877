"""Command-line interface: ``nnsim compare LIST.csv --data-dir DIR --out OUT/ ...``.

Defaults are not written here: they come from composing ``conf/`` (the working directory's,
else the installed checkout's) for your own data (``data=jamendo``), so ``nnsim compare``
and the pipeline use the same settings unless told otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.errors import ConfigError, NnsimError, OutputError
from nnsim.files import check_file_target
from nnsim.report import REPORT_FILES, ambiguity_summary, write_report
from nnsim.settings import DISTANCES, MEASURES, Settings
from nnsim.spaces import read_space_list
from nnsim.tables import TableStore

log = logging.getLogger("nnsim")

#: Overrides the CLI composes ``conf/`` with (a user's own spaces, not the demo).
CLI_OVERRIDES: tuple[str, ...] = ("data=jamendo",)
#: Files ``nnsim compare`` writes into OUT.
COMPARE_OUTPUTS = REPORT_FILES


def check_out_dir(out: Path, force: bool, outputs: Sequence[str] = COMPARE_OUTPUTS) -> None:
    """Check ``--out`` before any work: a folder we can create and write, empty unless ``force``.

    Raises
    ------
    OutputError
        ``out`` (or a parent) is a file, the path is invalid, the nearest existing folder is
        not writable, or ``out`` is a non-empty folder and ``force`` is False.
    """
    if "\0" in str(out):
        raise OutputError(f"{out!r}: --out contains a NUL character. Choose a plain folder path.")
    try:
        name_max = os.pathconf(out.anchor or ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    long = [p for p in out.parts if len(os.fsencode(p)) > name_max]
    if long:
        raise OutputError(
            f"{out}: --out has a path component longer than {name_max} bytes "
            f"({long[0][:20]}...). Choose a shorter folder name."
        )
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out exists and is not a folder. Choose a folder path.")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{out}: --out lies under {existing}, which is a file, not a folder. "
            "Choose a path whose parents are folders."
        )
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".nnsim-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{out}: cannot write under {existing} ({exc.strerror}). Choose a writable folder."
        ) from None
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputError(
            f"{out}: output folder is not empty. Choose a new folder, or pass --force to "
            f"replace {', '.join(outputs)} there (other files are left alone)."
        )


def defaults() -> Settings:
    """The CLI's defaults: ``conf/`` composed with :data:`CLI_OVERRIDES`."""
    return compose(CLI_OVERRIDES)


def settings_from_args(args: argparse.Namespace, base: Settings) -> Settings:
    """The composed settings with the command line's values in place, checked."""
    if sorted(set(args.cutoffs)) != list(args.cutoffs):
        raise ConfigError(
            f"--cutoffs {' '.join(map(str, args.cutoffs))}: give them increasing without "
            f"repeats, e.g. --cutoffs {' '.join(map(str, sorted(set(args.cutoffs))))}."
        )
    cfg = replace(
        base,
        cutoffs=list(args.cutoffs),
        distance=args.distance,
        # tables as wide as the largest cutoff
        neighbors=replace(base.neighbors, max_block_mb=args.max_block_mb, k=max(args.cutoffs)),
        compare=replace(
            base.compare,
            measures=list(args.measures),
            rbo_p=args.rbo_p,
            n_boot=args.n_boot,
            ci_level=args.ci_level,
            seed=args.seed,
            drop_zero_rows=bool(args.drop_zero_rows),
        ),
    )
    try:
        cfg.check()
    except ConfigError as exc:
        msg = str(exc)
        for key, opt in (
            ("setting cutoffs", "--cutoffs"),
            ("setting compare.n_boot", "--n-boot"),
            ("setting compare.rbo_p", "--rbo-p"),
            ("setting compare.ci_level", "--ci-level"),
            ("setting compare.measures", "--measures"),
            ("setting neighbors.max_block_mb", "--max-block-mb"),
        ):
            msg = msg.replace(key, opt)
        raise ConfigError(msg) from None
    return cfg


def cmd_compare(args: argparse.Namespace) -> int:
    out = Path(args.out)
    cfg = settings_from_args(args, args.base)
    check_out_dir(out, args.force)
    if args.tables:
        check_out_dir(Path(args.tables), True)
    spaces = read_space_list(args.list, args.data_dir, args.ids)
    log.info("loaded %d spaces from %s", len(spaces), args.list)
    result = run_comparison(
        spaces,
        cutoffs=cfg.cutoffs,
        neighbors=cfg.neighbors,
        compare=cfg.compare,
        distance=args.distance,
        indices=args.indices,
        store=TableStore(args.tables, args.distance) if args.tables else None,
        show_progress=not args.quiet,
    )
    prep = result.prepared
    n = result.n_tracks
    dropped = {k: v for k, v in prep.dropped_unshared.items() if v}
    if dropped:
        print(
            "aligned on shared track ids: "
            + ", ".join(f"{k} dropped {v}" for k, v in dropped.items())
            + f"; {prep.n_shared} shared tracks kept"
        )
    if args.indices:
        print(f"subset {args.indices}: {n + prep.dropped_zero.size} of {prep.n_shared} tracks")
    if prep.dropped_zero.size:
        print(f"dropped {prep.dropped_zero.size} all-zero track(s) from every space (cosine)")
    amb = ambiguity_summary(result)
    if len(amb):
        print(
            "ambiguous cut-offs (n-th and (n+1)-th neighbour equally far, see ambiguous.csv): "
            + ", ".join(f"{r.space} n={r.cutoff}: {r.ambiguous_lists}" for r in amb.itertuples())
        )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        files = write_report(result, Path(tmp), variables=cfg.compare.variables)
        for f in files:
            f.replace(out / f.name)
    written = ", ".join(COMPARE_OUTPUTS)
    print(
        f"compared {len(result.comparison.names)} spaces over {n} tracks; wrote {written} to {out}"
    )
    return 0


def cmd_release_upload(args: argparse.Namespace) -> int:
    """Upload the export stage's bundle to Zenodo (resumable; publishing needs --publish)."""
    import hashlib
    import json

    from nnsim.config import load_params
    from nnsim.release.zenodo import ZenodoClient, read_token, state_path, upload_bundle

    cfg = load_params(args.params)  # the settings every stage read, `make params` included
    z = cfg.release.zenodo
    folder = Path(args.dir or cfg.paths.release_dir)
    meta_path = folder / ".zenodo.json"
    archive = folder / cfg.release.archive
    for need in (meta_path, archive):
        if not need.is_file():
            raise OutputError(f"{need} not found; make the bundle first (dvc repro export).")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise OutputError(
            f"{meta_path}: not valid JSON ({exc}); rebuild the bundle (dvc repro -f export)."
        ) from None
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    names = sorted(
        p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".zenodo-")
    )
    state = state_path(z.state_dir, z.base_url, sha)
    print(
        f"uploading {folder} (archive sha256 {sha[:12]}...) to {z.base_url} "
        f"(release.zenodo.base_url in {args.params}); upload state {state}",
        flush=True,
    )
    client = ZenodoClient(
        z.base_url,
        read_token(z.token_env, z.token_file),
        retries=z.retries,
        backoff=z.backoff,
        timeout=z.timeout,
    )

    def confirm(dep_id: int) -> bool:
        if args.yes:
            return True
        try:
            answer = input(
                f"Publish deposition {dep_id} on {z.base_url}? Publishing cannot be undone; "
                f"type the deposition id to confirm: "
            )
        except EOFError:  # no terminal (a pipe, CI): no confirmation
            print(file=sys.stderr)
            return False
        return answer.strip() == str(dep_id)

    res = upload_bundle(
        client, folder, names, metadata, state_file=state, publish=args.publish, confirm=confirm
    )
    print(
        f"deposition {res['deposition_id']} on {z.base_url}: uploaded {len(res['uploaded'])} "
        f"file(s), {len(res['skipped'])} already there; "
        + ("published" if res["published"] else "not published (draft)")
    )
    if args.publish and not res["published"]:
        print(
            f"nnsim: error: not published: the answer did not match deposition "
            f"{res['deposition_id']}. Run again with --publish and type that id (or --yes).",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_listening_serve(args: argparse.Namespace) -> int:
    """Serve the listening test (the playlists stage's study file) on loopback."""
    from nnsim.config import load_params
    from nnsim.listening.serve import serve

    serve(
        load_params(args.params),
        study_path=args.study,
        db=args.db,
        audio_dir=args.audio_dir,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
    )
    return 0


def cmd_site_serve(args: argparse.Namespace) -> int:
    """Serve the results site (the ``site`` stage's folder) on loopback."""
    from nnsim.config import load_params
    from nnsim.site.serve import serve

    cfg = load_params(args.params)
    serve(
        args.dir or Path(cfg.paths.results_dir) / "site",
        args.host or cfg.site.serve.host,
        args.port if args.port is not None else cfg.site.serve.port,
        allow_remote=args.allow_remote,
    )
    return 0


def cmd_listening_export(args: argparse.Namespace) -> int:
    """Write every stored answer as CSV (and the demographics beside it)."""
    from nnsim.config import load_params
    from nnsim.listening.store import export_csv

    cfg = load_params(args.params)
    db = Path(args.db or cfg.listening.app.db)
    out = check_file_target(args.out, "--out", "answers.csv")
    demo = out.with_name(out.stem + "-demographics.csv")
    store_files = {Path(f"{db}{s}").resolve() for s in ("", "-wal", "-shm", "-journal")}
    for target in (out, demo):
        if target.resolve() in store_files:
            raise OutputError(
                f"{target} is the responses database ({db}) or one of its files; exporting "
                "there would overwrite every answer. Choose another --out (e.g. answers.csv)."
            )
    for target in (out, demo):
        if target.exists() and not args.force:
            raise OutputError(
                f"{target} exists; pass --force to replace it (or choose another --out)."
            )
    n = export_csv(db, out, demographics_out=demo, attention=cfg.listening.attention)
    print(f"{n} answer rows -> {out}; demographics -> {demo}")
    return 0


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it has none or its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if d is None or d is False or d == argparse.SUPPRESS or "default" in text:
            return text
        return super()._get_help_string(action) or text


def build_parser(base: Settings) -> argparse.ArgumentParser:
    """The argument parser, its defaults taken from the composed settings ``base``."""
    cmp_cfg = base.compare
    from nnsim import __version__

    fmt = _DefaultsHelp  # every option's default in --help
    p = argparse.ArgumentParser(
        prog="nnsim",
        description="Nearest-neighbour similarity of latent spaces.",
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"nnsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser(
        "compare",
        formatter_class=fmt,
        help="compare every pair of spaces in a list",
        description="Compute S_n for every pair of spaces in LIST.csv (columns name,file). "
        "Defaults come from conf/ (data=jamendo).",
    )
    c.add_argument("list", help="CSV with columns name,file[,kind,dataset,architecture,layer,ids]")
    c.add_argument(
        "--data-dir",
        default=None,
        help="folder the list's files are relative to (default: its folder)",
    )
    c.add_argument(
        "--cutoffs",
        type=int,
        nargs="+",
        default=list(base.cutoffs),
        help="cutoffs n of S_n, increasing; each below the number of shared tracks",
    )
    c.add_argument(
        "--distance", default=base.distance, choices=DISTANCES, help="neighbour distance"
    )
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
        default=list(cmp_cfg.measures),
        choices=MEASURES,
        help="overlap is the paper's S_n; rbo and spearman are rank-aware extras",
    )
    c.add_argument("--rbo-p", type=float, default=cmp_cfg.rbo_p, help="RBO persistence p")
    c.add_argument(
        "--n-boot",
        type=int,
        default=cmp_cfg.n_boot,
        help="bootstrap replicates for the CIs (0: none)",
    )
    c.add_argument("--ci-level", type=float, default=cmp_cfg.ci_level, help="CI level")
    c.add_argument("--seed", type=int, default=cmp_cfg.seed, help="bootstrap seed")
    c.add_argument(
        "--max-block-mb",
        type=float,
        default=base.neighbors.max_block_mb,
        help="memory bound of one float32 score block (MiB); results do not depend on it",
    )
    c.add_argument(
        "--drop-zero-rows",
        action="store_true",
        default=bool(cmp_cfg.drop_zero_rows),
        help="under cosine, drop all-zero tracks from every space",
    )
    c.add_argument("--tables", default=None, help="also save the neighbour tables in this folder")
    c.add_argument("--force", action="store_true", help="write into a non-empty --out")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(func=cmd_compare, base=base)
    rel = sub.add_parser(
        "release", help="the release bundle: upload it to Zenodo", formatter_class=fmt
    )
    rsub = rel.add_subparsers(dest="release_command", required=True)
    up = rsub.add_parser(
        "upload",
        formatter_class=fmt,
        help="upload the bundle of the export stage to Zenodo (release.zenodo.base_url)",
        description="Create a deposition (or resume a half-finished one), upload the bundle's "
        "files, set its metadata from .zenodo.json. The token comes from "
        "$ZENODO_TOKEN or release.zenodo.token_file and is never printed.",
    )
    up.add_argument("--params", default="params.yaml", help="the pipeline's settings")
    up.add_argument("--dir", default=None, help="the bundle folder (default: paths.release_dir)")
    up.add_argument("--publish", action="store_true", help="publish after uploading (asks first)")
    up.add_argument("--yes", action="store_true", help="do not ask before publishing")
    up.set_defaults(func=cmd_release_upload, base=base)
    lis = sub.add_parser(
        "listening", help="the listening test: serve it, export its answers", formatter_class=fmt
    )
    lsub = lis.add_subparsers(dest="listening_command", required=True)
    sv = lsub.add_parser(
        "serve",
        formatter_class=fmt,
        help="serve the study file in the browser (loopback by default)",
        description="Serve the playlists stage's study (results/listening/study.json) with its "
        "audio; answers go to listening.app.db (SQLite) at once.",
    )
    sv.add_argument("--params", default="params.yaml", help="the pipeline's settings")
    sv.add_argument("--study", default=None, help="study file (default: the playlists stage's)")
    sv.add_argument("--db", default=None, help="responses database (default: listening.app.db)")
    sv.add_argument("--audio-dir", default=None, help="audio folder (default: data.audio_dir)")
    sv.add_argument("--host", default=None, help="address (default: listening.app.host)")
    sv.add_argument("--port", type=int, default=None, help="port (default: listening.app.port)")
    sv.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    sv.set_defaults(func=cmd_listening_serve)
    ex = lsub.add_parser(
        "export",
        formatter_class=fmt,
        help="write every answer as CSV",
        description="Columns: participant, reference, reference_position, space, position, "
        "rating, skipped, timestamp, app_version, study_hash. Demographics go to "
        "<out>-demographics.csv.",
    )
    ex.add_argument("--params", default="params.yaml", help="the pipeline's settings")
    ex.add_argument("--db", default=None, help="responses database (default: listening.app.db)")
    ex.add_argument("--out", required=True, help="CSV file to write")
    ex.add_argument("--force", action="store_true", help="replace an existing --out")
    ex.set_defaults(func=cmd_listening_export)
    site = sub.add_parser(
        "site", help="the results site and its explorer: serve them", formatter_class=fmt
    )
    ssub = site.add_subparsers(dest="site_command", required=True)
    ss = ssub.add_parser(
        "serve",
        formatter_class=fmt,
        help="serve the results site on a local web server (loopback by default)",
        description="The site opens from disk without a server; this serves the site folder "
        "(and nothing else) for convenience, e.g. to share it on a machine's loopback.",
    )
    ss.add_argument("--params", default="params.yaml", help="the pipeline's settings")
    ss.add_argument("--dir", default=None, help="site folder (default: <results_dir>/site)")
    ss.add_argument("--host", default=None, help="address (default: site.serve.host)")
    ss.add_argument("--port", type=int, default=None, help="port (default: site.serve.port)")
    ss.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    ss.set_defaults(func=cmd_site_serve)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        parser = build_parser(defaults())
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
