"""Generate ``params.yaml`` from ``conf/`` (Hydra composition), or check they agree.

    python -m nnsim.stages.params [OVERRIDES...]        # e.g. data=jamendo cutoffs=[5,10]
    python -m nnsim.stages.params --check

This is the composition DVC performs itself on ``dvc exp run`` (``hydra.enabled``); use it
before ``dvc repro`` after editing ``conf/``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nnsim.config import compose, dump, find_conf_dir
from nnsim.errors import NnsimError
from nnsim.files import atomic_write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides")
    ap.add_argument("--out", default="params.yaml")
    ap.add_argument("--check", action="store_true", help="fail if params.yaml differs from conf/")
    args = ap.parse_args(argv)
    try:
        conf = find_conf_dir()
        cfg = compose(args.overrides, conf)
    except NnsimError as exc:
        print(f"nnsim: error: {exc}", file=sys.stderr)
        return 2
    text = dump(cfg)
    out = Path(args.out)
    if args.check:
        if not out.is_file() or out.read_text() != text:
            print(f"{out} differs from conf/; regenerate it with `make params`.", file=sys.stderr)
            return 1
        print(f"{out} matches {conf}")
        return 0
    atomic_write_text(out, text)
    print(f"wrote {out} from {conf}")
    log = cfg.data.interactions
    if cfg.data.has_log and not cfg.data.synthetic and log and not Path(log).is_file():
        # said now, in one line: `dvc repro` would stop at the interactions stage with
        # DVC's own "No such file or directory"
        print(
            f"nnsim: error: data.interactions={log}: file not found. Put your listening log "
            "there (CSV: user_id,track_id[,value|event]), or set data.interactions=null to run "
            "on the audio alone (no CF spaces).",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
