from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import synthetic_spaces

from nnsim.cli import main
from nnsim.spaces import save_space


@pytest.fixture()
def space_dir(tmp_path):
    spaces = synthetic_spaces(150, seed=3, cf_factors=(16,))
    rows = ["name,file,kind,dataset,architecture,layer"]
    for s in spaces:
        save_space(s, tmp_path / "spaces" / f"{s.name}.npy")
        m = s.meta
        rows.append(
            f"{s.name}, {s.name}.npy ,{m.get('kind', '')},{m.get('dataset', '')},"
            f"{m.get('architecture', '')},{m.get('layer', '')}"
        )
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def run(argv):
    return main([str(a) for a in argv])


def test_compare_writes_all_outputs(space_dir, capsys):
    out = space_dir / "out"
    rc = run(
        [
            "compare",
            space_dir / "list.csv",
            "--data-dir",
            space_dir / "spaces",
            "--cutoffs",
            5,
            10,
            20,
            "--out",
            out,
            "--n-boot",
            100,
            "--quiet",
        ]
    )
    assert rc == 0
    sim = pd.read_csv(out / "similarity.csv")
    assert list(sim.columns) == [
        "src",
        "dst",
        "distance",
        "cutoff",
        "similarity",
        "ci_low",
        "ci_high",
        "chance",
        "differs_in",
    ]
    m = 9
    assert len(sim) == m * (m - 1) // 2 * 3
    assert (sim["ci_low"] <= sim["similarity"] + 1e-9).all()
    assert (sim["similarity"] <= sim["ci_high"] + 1e-9).all()
    np.testing.assert_allclose(sim["chance"], sim["cutoff"] / 149, rtol=1e-6)
    curves = pd.read_csv(out / "curves.csv")
    assert curves["n"].max() == 20 and len(curves) == m * (m - 1) // 2 * 20
    # curves at the cutoffs equal the table values
    merged = sim.merge(curves, left_on=["src", "dst", "cutoff"], right_on=["src", "dst", "n"])
    np.testing.assert_allclose(merged["similarity_x"], merged["similarity_y"], atol=1e-6)
    fac = pd.read_csv(out / "factors.csv")
    assert sorted(fac["variable"].unique()) == ["architecture", "dataset", "layer"]
    assert set(fac["n_pairs"]) == {4}
    assert (out / "heatmap.png").stat().st_size > 1000
    assert not list(out.glob(".partial-*"))


def test_refuses_non_empty_out_and_force_keeps_other_files(space_dir, capsys):
    out = space_dir / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    rc = run(
        [
            "compare",
            space_dir / "list.csv",
            "--data-dir",
            space_dir / "spaces",
            "--cutoffs",
            5,
            "--out",
            out,
            "--quiet",
        ]
    )
    assert rc == 2
    assert "not empty" in capsys.readouterr().err
    assert not (out / "similarity.csv").exists()
    rc = run(
        [
            "compare",
            space_dir / "list.csv",
            "--data-dir",
            space_dir / "spaces",
            "--cutoffs",
            5,
            "--out",
            out,
            "--quiet",
            "--force",
            "--n-boot",
            0,
        ]
    )
    assert rc == 0 and (out / "notes.txt").read_text() == "mine"


def test_indices_and_alignment(space_dir, capsys):
    sp = space_dir / "spaces"
    # Drop the last 10 ids of one space: alignment keeps the 140 shared tracks.
    X = np.load(sp / "cf-16.npy")
    ids = (sp / "cf-16.ids.txt").read_text().split()
    np.save(sp / "cf-16.npy", X[:-10])
    (sp / "cf-16.ids.txt").write_text("\n".join(ids[:-10]) + "\n")
    (space_dir / "small.txt").write_text("\n".join(str(i) for i in range(0, 140, 2)) + "\n")
    out = space_dir / "o2"
    rc = run(
        [
            "compare",
            space_dir / "list.csv",
            "--data-dir",
            sp,
            "--cutoffs",
            5,
            "--indices",
            space_dir / "small.txt",
            "--out",
            out,
            "--quiet",
            "--n-boot",
            0,
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "msd-musicnn-embeddings dropped 10" in printed
    assert "140 shared tracks kept" in printed and "70 of 140" in printed
    sim = pd.read_csv(out / "similarity.csv")
    np.testing.assert_allclose(sim["chance"], 5 / 69, rtol=1e-6)


def test_shared_ids_file_latentjam_style(tmp_path, capsys):
    # LatentJam: one .npy per space, one ids file for all, a small-indices file.
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", rng.standard_normal((30, 4)).astype(np.float32))
    (tmp_path / "list.csv").write_text("name,file\na,a.npy\nb,b.npy\n")
    (tmp_path / "large-jamendo-ids.txt").write_text("\n".join(f"t{i}" for i in range(30)) + "\n")
    (tmp_path / "small-indices.txt").write_text("\n".join(map(str, range(0, 30, 3))) + "\n")
    rc = run(
        [
            "compare",
            tmp_path / "list.csv",
            "--ids",
            tmp_path / "large-jamendo-ids.txt",
            "--indices",
            tmp_path / "small-indices.txt",
            "--cutoffs",
            3,
            "--out",
            tmp_path / "o",
            "--quiet",
            "--n-boot",
            0,
        ]
    )
    assert rc == 0
    assert pd.read_csv(tmp_path / "o" / "similarity.csv")["chance"].iloc[0] == pytest.approx(3 / 9)
    (tmp_path / "bad-ids.txt").write_text("x\ny\n")
    rc = run(
        [
            "compare",
            tmp_path / "list.csv",
            "--ids",
            tmp_path / "bad-ids.txt",
            "--out",
            tmp_path / "o2",
            "--quiet",
        ]
    )
    assert rc == 2
    assert "2 track ids for a matrix of 30 rows" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--distance", "manhattan"], "invalid choice"),
        (["--cutoffs", "150"], "cutoff 150 does not fit: the spaces share 150 tracks"),
        (["--cutoffs", "5", "150", "200"], "cutoff 150 200 does not fit"),
        (["--cutoffs", "5", "150", "200"], "Keep 5, or use cutoffs up to 149"),
        (["--cutoffs", "0"], "--cutoffs=0 is out of range; it must be >= 1"),
        (["--n-boot", "-5"], "--n-boot=-5 is out of range; it must be >= 0"),
        # replicates that cannot fit in memory: refused before any work, with the size
        (["--n-boot", "1000000000"], "compare.n_boot=1000000000 (--n-boot): the bootstrap of"),
        (["--cutoffs", "10", "5", "5"], "--cutoffs 5 10"),
    ],
)
def test_bad_settings(space_dir, capsys, args, message):
    base = [
        "compare",
        space_dir / "list.csv",
        "--data-dir",
        space_dir / "spaces",
        "--out",
        space_dir / "o3",
        "--quiet",
    ]
    try:
        rc = run([*base, *args])
    except SystemExit as exc:  # argparse rejects choices itself
        rc = exc.code
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (space_dir / "o3" / "similarity.csv").exists()


def test_zero_rows_error_or_drop(space_dir, capsys):
    sp = space_dir / "spaces"
    X = np.load(sp / "msd-vgg-taggrams.npy")
    X[[3, 7]] = 0
    np.save(sp / "msd-vgg-taggrams.npy", X)
    base = [
        "compare",
        space_dir / "list.csv",
        "--data-dir",
        sp,
        "--cutoffs",
        5,
        "--quiet",
        "--n-boot",
        0,
    ]
    assert run([*base, "--out", space_dir / "z1"]) == 2
    err = capsys.readouterr().err
    assert "msd-vgg-taggrams: rows 3, 7" in err and "--drop-zero-rows" in err
    assert run([*base, "--out", space_dir / "z2", "--drop-zero-rows"]) == 0
    assert "dropped 2 all-zero" in capsys.readouterr().out


def test_version_and_defaults_in_help(capsys):
    from nnsim import __version__
    from nnsim.config import compose

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"nnsim {__version__}"
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    base = compose(["data=jamendo"])
    assert f"(default: {base.compare.n_boot})" in text
    assert f"(default: {base.distance})" in text
    assert f"bootstrap seed (default: {base.compare.seed})" in text


def test_knn_jaccard_is_a_measure_of_the_comparison_with_its_ci(space_dir):
    out = space_dir / "oj"
    base = ["compare", space_dir / "list.csv", "--data-dir", space_dir / "spaces"]
    extra = ["--measures", "overlap", "jaccard"]
    assert run([*base, "--cutoffs", 5, 10, "--out", out, "--n-boot", 100, "--quiet", *extra]) == 0
    sim = pd.read_csv(out / "similarity.csv")
    assert {"jaccard", "jaccard_ci_low", "jaccard_ci_high"} <= set(sim.columns)
    # per track J = s / (2 - s) <= s: the mean Jaccard is at most the mean S_n, equal at 0, 1
    assert (sim["jaccard"] <= sim["similarity"] + 1e-12).all()
    assert (sim["jaccard_ci_low"] <= sim["jaccard"] + 1e-12).all()
    assert (sim["jaccard"] <= sim["jaccard_ci_high"] + 1e-12).all()
