from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from nnsim.config import PACKAGE_CONF_DIR, as_dict, compose, dump, load_params
from nnsim.errors import ConfigError
from nnsim.stages.common import run_stage

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_is_the_composition_of_conf():
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert as_dict(compose()) == committed


def _options():
    for group in sorted(p for p in PACKAGE_CONF_DIR.iterdir() if p.is_dir()):
        for opt in sorted(group.glob("*.yaml")):
            yield f"{group.name}={opt.stem}"


@pytest.mark.parametrize("override", list(_options()))
def test_every_config_option_composes_and_validates(override):
    cfg = compose([override])  # composition checks every type and range
    assert cfg.cutoffs and cfg.neighbors.k >= max(cfg.cutoffs)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["cutoffs=[5,-1]"], r"cutoffs=-1 is out of range; it must be >= 1"),
        (["cutoffs=[10,5]"], r"must be increasing without repeats; write cutoffs=\[5, 10\]"),
        (["neighbors.k=0"], "neighbors.k=0 is out of range"),
        (["listening.app.port=99999"], "listening.app.port=99999 is out of range"),
        (["listening.stats.alpha=5"], "listening.stats.alpha=5.0 is out of range"),
        (["listening.spaces=[a,a]"], "listening.spaces=.* repeats a"),
        (["compare.ci_level=1.5"], "compare.ci_level=1.5 is out of range"),
        (["cluster.retries=-1"], "cluster.retries=-1 is out of range"),
        (["projection.init=lle"], "projection.init='lle' is not valid"),
        (["projection.tsne.learning_rate=fast"], "learning_rate='fast' is not valid"),
        (["cluster.memory_limit=lots"], "memory_limit='lots' is not valid"),
        (["projection.seeds=[1,1]"], "projection.seeds=.* repeats 1"),
        (["distance=manhattan"], "distance"),
        (["cutoffs=[5,500]"], "exceeds neighbors.k=50"),
        (["neighbors.distances=[cosine,hamming]"], "valid values: cosine, euclidean"),
        (["subset=tiny"], "valid values: large, small"),
        (["subset=small"], "needs data.small_indices"),
        (["compare.measures=[kendall]"], "valid values: overlap, rbo, spearman"),
        (["models.list=[msd-musicnn,foo-net]"], "unknown model 'foo-net'"),
        (["audio.resample_quality=9"], "audio.resample_quality=9"),
        (["neighbors.k=ten"], "neighbors.k"),
    ],
)
def test_invalid_values_name_the_setting(overrides, message):
    with pytest.raises(ConfigError, match=message):
        compose(overrides)


def test_unknown_group_option_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"(?s)data=nosuch.*demo.*jamendo.*latentjam"):
        compose(["data=nosuch"])


def test_stage_reports_config_errors_without_traceback(tmp_path, capsys):
    p = tmp_path / "params.yaml"
    cfg = compose()
    cfg.cutoffs = [0]
    p.write_text(dump(cfg))
    rc = run_stage(lambda c, a: None, "x", ["--params", str(p)])
    assert rc == 2
    assert "cutoffs=0 is out of range" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="make params"):
        load_params(tmp_path / "missing.yaml")


def test_ctrl_c_in_any_stage_exits_130_without_partial_outputs(tmp_path, capsys):
    from nnsim.files import atomic_dir

    p = tmp_path / "params.yaml"
    p.write_text(dump(compose()))
    out = tmp_path / "results" / "x"

    def long_stage(cfg, args):
        with atomic_dir(out) as tmp:
            (tmp / "half.csv").write_text("a,b\n")
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of the work

    assert run_stage(long_stage, "x", ["--params", str(p)]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "no half-written file" in err and "Traceback" not in err
    assert "DVC removed the stage's previous outputs" in err  # what DVC does, said
    assert not out.exists() and not list(out.parent.glob(".*partial*"))


def test_a_sweep_parent_is_named_by_what_it_sweeps():
    from nnsim.stages.sweep import swept_overrides

    argv = ["-m", "distance=cosine,euclidean", "cutoffs=[5,10],[20,50]", "layer=taggrams"]
    assert swept_overrides(argv) == "distance=cosine,euclidean cutoffs=[5,10],[20,50]"
    assert swept_overrides(["-m", "cutoffs=[5,10]", "compare.n_boot=range(1,3)"]) == (
        "compare.n_boot=range(1,3)"
    )


def test_make_demo_ends_by_saying_where_the_results_are(tmp_path):
    from nnsim.stages.summary import lines

    cfg = compose([f"paths.results_dir={tmp_path}", f"paths.release_dir={tmp_path}/release"])
    (tmp_path / "compare").mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html></html>")
    text = "\n".join(lines(cfg))
    assert f"{tmp_path}/compare/" in text and "Figure 2" in text
    assert f"{tmp_path}/site/index.html " in text  # the site first, as a file to open
    assert text.index("site/index.html") < text.index("compare/")
    assert "cf_select" not in text  # only what exists
    assert f"http://{cfg.listening.app.host}:{cfg.listening.app.port}/" in text


def _ruled_settings(cls, prefix=""):
    """Every (dotted key, rule, type) of the schema with a range or a set of choices."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _ruled_settings(tp, f"{prefix}{f.name}.")
            continue
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if args and dataclasses.is_dataclass(args[0]):
            yield from _ruled_settings(args[0], f"{prefix}{f.name}.")
            continue
        rule = f.metadata.get("rule")
        if rule and (rule["choices"] or any(rule[k] is not None for k in ("ge", "gt", "le", "lt"))):
            yield f"{prefix}{f.name}", rule, tp


def _bad_value(rule, tp):
    if rule["choices"]:
        return "not-a-valid-choice" if isinstance(rule["choices"][0], str) else 999
    if rule["ge"] is not None:
        return rule["ge"] - 1
    if rule["gt"] is not None:
        return rule["gt"] - (1 if "int" in str(tp) else 0.5)
    if rule["le"] is not None:
        return rule["le"] + 1
    return rule["lt"] + 1


@pytest.mark.parametrize(
    ("key", "rule", "tp"), list(_ruled_settings(__import__("nnsim.settings").settings.Settings))
)
def test_every_ranged_setting_refuses_a_value_outside_its_range_naming_it(key, rule, tp):
    """Each value goes through what composition and params.yaml both end in (to_settings:
    the schema, the types, the ranges), on the composed settings of the demo."""
    import copy

    from nnsim.config import to_settings

    bad = _bad_value(rule, tp)
    cfg = copy.deepcopy(_COMPOSED)
    node = cfg
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = [bad] if "list" in str(tp) else bad
    with pytest.raises(ConfigError, match=re.escape(f"setting {key}=")):
        to_settings(cfg, "test")


_COMPOSED = as_dict(compose())
