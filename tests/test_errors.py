"""Bad input gets a clear error naming the file, the line or the setting (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnsim.cli import CLI_OVERRIDES, build_parser, defaults, main
from nnsim.config import as_dict, compose
from nnsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def two_spaces(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((30, 4)).astype(np.float32))
    (tmp_path / "list.csv").write_text("name,file\na,a.npy\nb,b.npy\n")
    return tmp_path


def run_cli(tmp_path, lst, *extra):
    return main(
        [
            "compare",
            str(lst),
            "--data-dir",
            str(tmp_path),
            "--cutoffs",
            "2",
            "5",
            "--quiet",
            "--n-boot",
            "0",
            "--out",
            str(tmp_path / "out"),
            *map(str, extra),
        ]
    )


def err_of(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"list.csv: the space list is empty"),
        (b"name,file\na,a.npy\nb,b.npy,cb,extra\n", r"list.csv, line 3: a row has more fields"),
        (
            b"name,file\na,a.npy\n\xff\xfeb,b.npy\n",
            r"list.csv, line 3: the space list is not UTF-8",
        ),
    ],
    ids=["zero-bytes", "too-many-fields", "not-utf8"],
)
def test_bad_space_list(two_spaces, capsys, content, message):
    lst = two_spaces / "list.csv"
    lst.write_bytes(content)
    assert run_cli(two_spaces, lst) == 2
    assert pytest.importorskip("re").search(message, err_of(capsys))
    assert not (two_spaces / "out").exists()


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ('{"kind": "cb",\n "dataset": msd}', r"a\.json, line 2: not valid JSON"),
        ('["cb", "msd"]', r"a\.json, line 1: the metadata must be a JSON object"),
    ],
)
def test_bad_metadata_file(two_spaces, capsys, manifest, message):
    (two_spaces / "a.json").write_text(manifest)
    assert run_cli(two_spaces, two_spaces / "list.csv") == 2
    import re

    assert re.search(message, err_of(capsys))


def test_text_file_is_not_called_pickled_data(two_spaces, capsys):
    (two_spaces / "a.npy").write_text("0.1 0.2\n0.3 0.4\n")
    assert run_cli(two_spaces, two_spaces / "list.csv") == 2
    err = err_of(capsys)
    assert "a.npy: not a .npy file (a text file)" in err and "pickle" not in err


def test_float64_beyond_float32_says_so(two_spaces, capsys):
    X = np.ones((30, 4))
    X[3, 1] = 1e300
    np.save(two_spaces / "a.npy", X)
    assert run_cli(two_spaces, two_spaces / "list.csv") == 2
    err = err_of(capsys)
    assert "beyond float32's range" in err and "rows: 3" in err and "NaN" not in err


def test_indices_file_errors_name_the_real_line(two_spaces, capsys):
    idx = two_spaces / "idx.txt"
    idx.write_text("0\n\n1\n\n\n99\n")
    assert run_cli(two_spaces, two_spaces / "list.csv", "--indices", idx) == 2
    assert "line(s) 6" in err_of(capsys)
    idx.write_text("0\n1_0\n")
    assert run_cli(two_spaces, two_spaces / "list.csv", "--indices", idx) == 2
    assert "line 2: '1_0' is not an integer" in err_of(capsys)


def test_drop_zero_rows_blames_the_right_file(two_spaces, capsys):
    np.save(two_spaces / "b.npy", np.zeros((30, 4), dtype=np.float32))
    assert run_cli(two_spaces, two_spaces / "list.csv", "--drop-zero-rows") == 2
    err = err_of(capsys)
    assert "b.npy (b): 30 all-zero row(s)" in err and "a.npy" not in err


def test_negative_n_boot_is_refused(two_spaces, capsys):
    assert run_cli(two_spaces, two_spaces / "list.csv", "--n-boot", "-3") == 2
    assert "--n-boot=-3 is out of range; it must be >= 0" in err_of(capsys)


def test_out_is_checked_before_any_work(two_spaces, capsys):
    (two_spaces / "afile").write_text("x")
    cases = [
        (two_spaces / "afile" / "out", "which is a file"),
        (Path("/proc/nnsim-out"), "cannot write under /proc"),
        (two_spaces / ("x" * 300), "longer than"),
    ]
    for out, message in cases:
        rc = main(
            [
                "compare",
                str(two_spaces / "list.csv"),
                "--out",
                str(out),
                "--quiet",
                "--cutoffs",
                "2",
            ]
        )
        assert rc == 2
        assert message in err_of(capsys)


def test_cli_defaults_are_the_composed_configuration():
    cfg = compose(CLI_OVERRIDES)
    assert defaults() == cfg
    args = build_parser(cfg).parse_args(["compare", "l.csv", "--out", "o"])
    assert args.cutoffs == cfg.cutoffs
    assert args.distance == cfg.distance
    assert args.measures == cfg.compare.measures
    assert args.n_boot == cfg.compare.n_boot
    assert args.ci_level == cfg.compare.ci_level
    assert args.seed == cfg.compare.seed
    assert args.rbo_p == cfg.compare.rbo_p
    assert args.max_block_mb == cfg.neighbors.max_block_mb
    assert args.drop_zero_rows == cfg.compare.drop_zero_rows


@pytest.mark.parametrize(
    ("override", "message", "absent"),
    [
        ("+foo=1", "add settings that conf/ does not define", None),
        ("foo=1", "unknown setting 'foo'", "+foo"),
        ("neighbors.kk=3", "unknown setting 'neighbors.kk'", "+"),
        ("cutoffs=[10,5,5]", "write cutoffs=[5, 10]", None),
        ("compare.n_boot=-1", "compare.n_boot=-1 is out of range; it must be >= 0", None),
        ("compare.n_boot=abc", "compare.n_boot", None),
    ],
)
def test_composition_refuses_unknown_and_malformed_settings(override, message, absent):
    with pytest.raises(ConfigError) as exc:
        compose([override])
    assert message in str(exc.value)
    if absent:
        assert absent not in str(exc.value)


def test_params_composes_the_conf_of_the_working_directory(tmp_path):
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    demo = tmp_path / "conf" / "data" / "demo.yaml"
    demo.write_text(demo.read_text().replace("cutoffs: [5, 10, 20, 50]", "cutoffs: [3, 7]"))
    env = {k: v for k, v in os.environ.items() if k != "NNSIM_CONF"}
    proc = subprocess.run(
        [sys.executable, "-m", "nnsim.stages.params", "--out", "p.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(tmp_path / "conf") in proc.stdout
    assert yaml.safe_load((tmp_path / "p.yaml").read_text())["cutoffs"] == [3, 7]


def test_space_list_writer_round_trips(tmp_path):
    from nnsim.files import write_space_list
    from nnsim.spaces import read_space_list

    np.save(tmp_path / "x.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "x.json").write_text(json.dumps({"note": "kept"}))
    write_space_list(
        tmp_path / "l.csv", [{"layer": "t", "name": "x", "file": "x.npy", "kind": "cb"}]
    )
    assert (tmp_path / "l.csv").read_text().splitlines()[0] == "name,file,kind,layer"
    (s,) = read_space_list(tmp_path / "l.csv")
    assert s.meta["kind"] == "cb" and s.meta["layer"] == "t" and s.meta["note"] == "kept"


def test_params_yaml_is_checked_against_the_schema(tmp_path):
    from nnsim.config import load_params

    cfg = as_dict(compose())
    cfg["compare"]["n_bootstrap"] = 10  # a typo of n_boot
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"p\.yaml: setting 'compare\.n_bootstrap'"):
        load_params(tmp_path / "p.yaml")
    cfg = as_dict(compose())
    del cfg["neighbors"]["k"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"required setting\(s\) neighbors\.k"):
        load_params(tmp_path / "p.yaml")
