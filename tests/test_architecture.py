"""The architecture holds: DVC reruns only what an edit can change; MLflow artifacts stay home."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).with_name("dvc")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A temporary git clone of this checkout (working-tree changes included)."""
    dest = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    # the clone reflects the checkout being tested, committed or not
    for rel in ("dvc.yaml", "dvc.lock", "params.yaml"):
        shutil.copy(ROOT / rel, dest / rel)
    shutil.rmtree(dest / "src")
    shutil.copytree(
        ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    _lock_source_as_is(dest)
    return dest


def _lock_source_as_is(repo: Path) -> None:
    """Record the clone's source files in its dvc.lock as they are (what ``dvc repro`` records
    for them), so that ``dvc status`` shows what an edit changes, whatever the lock said."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for name, entry in lock["stages"].items():
        spec = stages.get(name.split("@")[0])
        if spec is None:
            continue
        src = [d for d in spec.get("do", spec)["deps"] if str(d).startswith("src/")]
        other = [d for d in entry.get("deps", []) if not d["path"].startswith("src/")]
        entry["deps"] = other + [
            {
                "path": d,
                "hash": "md5",
                "md5": hashlib.md5((repo / d).read_bytes()).hexdigest(),
                "size": (repo / d).stat().st_size,
            }
            for d in src
        ]
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))


def _stale_for(repo: Path, rel: str) -> set[str]:
    """Stages whose ``dvc status`` lists ``rel`` among their changed dependencies."""
    out = subprocess.run(
        [str(DVC), "status", "--json"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    stale = set()
    for stage, changes in json.loads(out or "{}").items():
        for change in changes:
            if isinstance(change, dict) and rel in change.get("changed deps", {}):
                stale.add(stage.split("@")[0])
    return stale


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        # the exact search engine: only the stages that compute neighbour tables
        ("src/nnsim/search/exact.py", {"compare", "score_projections"}),
        # plotting: the stages that draw figures (and the site, which lists their formats)
        (
            "src/nnsim/plots.py",
            {
                "cf_select",
                "compare",
                "score_projections",
                "projection_figures",
                "listening_stats",
                "site",
            },
        ),
        # the per-track audio computation: extraction only
        ("src/nnsim/audio/extractor.py", {"extract"}),
    ],
)
def test_an_edit_makes_only_the_stages_it_can_change_stale(clone, rel, expected):
    path = clone / rel
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        assert _stale_for(clone, rel) == expected
    finally:
        path.write_text(original)
    assert _stale_for(clone, rel) == set()


RUN_IN_CLONE = """
import sys
from pathlib import Path
from nnsim.config import compose
from nnsim.tracking import stage_run
Path("out.txt").write_text(sys.argv[1])
with stage_run(compose(["mlflow=local"]), "check") as tr:
    tr.log_artifacts(Path("out.txt").resolve())
    print(tr.run_id)
"""


@pytest.mark.slow
def test_mlflow_artifacts_follow_the_store_of_each_clone(tmp_path):
    """A copy of a clone (its mlruns/ copied too) writes its artifacts into its own mlruns/."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()

    def run_in(where: Path, text: str) -> Path:
        proc = subprocess.run(
            [sys.executable, "-c", RUN_IN_CLONE, text],
            cwd=where,
            capture_output=True,
            text=True,
            env={**os.environ, "NNSIM_MLFLOW": "1", "NNSIM_CONF": str(ROOT / "conf")},
        )
        assert proc.returncode == 0, proc.stderr
        run_id = proc.stdout.split()[-1]
        return where / "mlruns" / "artifacts" / "nnsim" / run_id / "artifacts" / "out.txt"

    a = run_in(first, "first")
    assert a.read_text() == "first"
    shutil.copytree(first, second)  # cp -r of a clone, its store included
    b = run_in(second, "second")
    assert b.read_text() == "second"
    # nothing of the second clone's run went into the first clone's folder
    assert not (first / "mlruns" / "artifacts" / "nnsim" / b.parent.parent.name).exists()
    c = run_in(first, "first again")  # and the first clone still writes at home
    assert c.read_text() == "first again"


def test_the_import_graph_has_no_circle_between_the_extraction_and_its_dask_plugin():
    """audio/extract.py uses its Dask plugin (inside a function); the plugin shares
    audio/extractor.py with it and never imports it back, at any depth (grimp reads
    function-level imports too)."""
    from deps_helper import _graph

    g = _graph()
    assert g.find_shortest_chain("nnsim.audio.extract", "nnsim.audio.dask_plugin")
    assert g.find_shortest_chain("nnsim.audio.dask_plugin", "nnsim.audio.extract") is None
    assert g.direct_import_exists(
        importer="nnsim.audio.dask_plugin", imported="nnsim.audio.extractor"
    )
