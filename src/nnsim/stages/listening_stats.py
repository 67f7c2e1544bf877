"""Stage ``listening_stats``: the statistics of a listening test's answers (paper Sec. 6).

Reads ``listening.stats.responses`` (an ``nnsim listening export``; on the demo the SIMULATED
answers of ``simulate_responses``) and writes ``results/listening_stats/``: ``summary.json``
(every test, or why it was not run), ``tests.csv`` (one row per test), ``means.csv``,
``tukey.csv`` and ``ratings.png`` (mean ± std per space, the paper's Figure 5).  Everything is
logged to MLflow; simulated answers are labelled SIMULATED in the files, the figure and the
run's tags.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from nnsim.files import atomic_dir
from nnsim.listening.simulate import SIMULATED
from nnsim.listening.stats import TESTS, analyse, compact_letters, read_responses
from nnsim.plots import rating_bars
from nnsim.settings import Settings
from nnsim.stages.common import log, run_stage
from nnsim.tracking import stage_run


def tests_frame(res: dict[str, Any]) -> pd.DataFrame:
    """One row per (test, statistic); a test that was not run has its reason in ``note``."""
    rows = []
    for t in TESTS:
        for k, v in res[t].items():
            if k == "skipped":
                rows.append({"test": t, "statistic": "", "value": None, "note": v})
            else:
                rows.append({"test": t, "statistic": k, "value": v, "note": ""})
    return pd.DataFrame(rows)


def study_agreement(path: Path, df: pd.DataFrame) -> dict[str, dict[str, float]] | None:
    """The study file's per-reference agreement, when the answers are to that study."""
    if not path.is_file():
        log.warning("%s not found: agreement vs ratings is not modelled", path)
        return None
    raw = path.read_bytes()
    doc = json.loads(raw)
    sha = hashlib.sha256(raw).hexdigest()
    if "study_hash" in df.columns and not set(df["study_hash"].astype(str)) <= {sha}:
        log.warning(
            "%s is not the study these answers are to (its sha256 differs); agreement vs "
            "ratings is not modelled: point listening.stats.study at the served study file",
            path,
        )
        return None
    agreement = doc.get("agreement") if isinstance(doc, dict) else None
    return agreement if isinstance(agreement, dict) else None


def run(cfg: Settings, args: argparse.Namespace) -> None:
    scfg = cfg.listening.stats
    src = Path(scfg.responses)
    df = read_responses(src)
    simulated = (
        df.get("app_version", pd.Series(dtype=str)).astype(str).str.contains(SIMULATED).any()
    )
    res = analyse(
        df,
        alpha=float(scfg.alpha),
        min_participants=int(scfg.min_participants),
        attention=cfg.listening.attention,
        agreement=study_agreement(Path(scfg.study), df),
    )
    label = f"{SIMULATED} answers — " if simulated else ""
    out = Path(cfg.paths.results_dir) / "listening_stats"
    tags = {"nnsim.simulated": str(bool(simulated)).lower(), "nnsim.responses": str(src)}
    with (
        stage_run(
            cfg,
            "listening_stats",
            {"listening.stats": scfg, "listening.attention": cfg.listening.attention},
            tags=tags,
        ) as tr,
        atomic_dir(out) as tmp,
    ):
        summary = {k: v for k, v in res.items() if k not in ("means", "tukey", "attention")}
        summary["simulated"] = bool(simulated)
        summary["responses"] = str(src)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        tests = tests_frame(res)
        tests.to_csv(tmp / "tests.csv", index=False)
        res["means"].to_csv(tmp / "means.csv", index=False)
        if res["attention"] is not None:  # per participant: checks rated, failed, excluded
            att = res["attention"].assign(
                excluded=res["attention"]["participant"].isin(res["excluded"])
            )
            att.to_csv(tmp / "attention.csv", index=False)
        if res["tukey"] is not None:
            res["tukey"].to_csv(tmp / "tukey.csv", index=False)
        else:
            (tmp / "tukey.csv").write_text("group1,group2,meandiff,p_adj,lower,upper,reject\n")
        n = res["n"]
        letters = None
        if res["tukey"] is not None:
            order = list(res["means"].sort_values("mean", ascending=False)["space"])
            letters = compact_letters(order, res["tukey"])
        rating_bars(
            res["means"],
            tmp / "ratings.png",
            letters=letters,
            title=f"{label}rated similarity per space\n({n['participants']} participants, "
            f"{n['ratings']} ratings)",
        )
        metrics = {f"listening.n.{k}": float(v) for k, v in n.items()}
        for t in TESTS:
            metrics.update(
                {
                    f"listening.{t}.{k}": float(v)
                    for k, v in res[t].items()
                    if k != "skipped" and isinstance(v, (int, float))
                }
            )
        for row in res["means"].itertuples():
            metrics[f"listening.mean.{row.space}"] = float(row.mean)
        tr.log_metrics(metrics)
        tr.log_artifacts(*sorted(tmp.iterdir()))
    for note in res["notes"]:
        log.warning("%s", note)
    ag = res["agreement"]
    if "skipped" in ag:
        log.info("%sagreement vs ratings: not modelled (%s)", label, ag["skipped"])
    else:
        log.info(
            "%sagreement vs ratings: %+.2f rating points per unit of S_n [%.2f, %.2f], p=%.3g",
            label,
            ag["coef"],
            ag["ci_low"],
            ag["ci_high"],
            ag["p"],
        )
    bs = res["by_space"]
    if "skipped" in bs:
        log.info("%sby space: not tested (%s)", label, bs["skipped"])
    else:
        log.info(
            "%sby space: ANOVA p=%.3g, Kruskal-Wallis p=%.3g", label, bs["anova_p"], bs["kruskal_p"]
        )


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
