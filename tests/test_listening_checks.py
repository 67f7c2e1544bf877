"""Attention checks: catch playlists built from the reference space, shown blind at random
positions, scored per participant, flagged in the export and left out of the statistics."""

from __future__ import annotations

import csv
import json
import re
import threading

import numpy as np
import pandas as pd
import pytest
from browser import page
from servers import free_port
from test_listening import make_study

from nnsim.config import compose
from nnsim.errors import ConfigError
from nnsim.listening.app import Player, clip_window, create_app, other_windows
from nnsim.listening.checks import add_checks, participant_checks, passed
from nnsim.listening.serve import durations
from nnsim.listening.simulate import ResponseModel, simulate_responses
from nnsim.listening.stats import analyse, read_responses
from nnsim.listening.store import Store, export_csv
from nnsim.listening.study import audio_files, load_study

ATT = compose([]).listening.attention


def test_far_checks_are_the_farthest_tracks_and_same_checks_the_reference():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    ids = [f"t{i:02d}" for i in range(30)]
    study = {"t00": {"a": ["t01", "t02"]}, "t05": {"a": ["t06", "t07"]}}
    out = add_checks(study, ["same", "far"], ids=ids, X=X, distance="euclidean", length=3)
    assert out["t00"]["check:same"] == ["t00"] * 3
    # slow: every track's distance to the reference, by a loop, farthest first
    ref = X[5]
    d = [(float(np.sqrt(sum((X[j] - ref) ** 2))), j) for j in range(30)]
    far = [
        ids[j]
        for _, j in sorted(d, key=lambda x: (-x[0], x[1]))
        if ids[j] not in {"t05", "t06", "t07"}
    ]
    assert out["t05"]["check:far"] == far[:3]
    assert study["t00"] == {"a": ["t01", "t02"]}  # the input is not changed
    cos = add_checks(study, ["far"], ids=ids, X=X, distance="cosine", length=2)
    u = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = [(float(u[j] @ u[0]), j) for j in range(30)]
    want = [ids[j] for _, j in sorted(sims) if ids[j] not in {"t00", "t01", "t02"}][:2]
    assert cos["t00"]["check:far"] == want
    with pytest.raises(ConfigError, match=r"listening\.attention\.kinds"):
        add_checks(study, ["loud"], ids=ids, X=X, distance="cosine", length=2)


def test_scoring_of_checks_per_participant():
    assert passed("check:same", 3, pass_same=2, pass_far=1) is True
    assert passed("check:same", 1, pass_same=2, pass_far=1) is False
    assert passed("check:far", 1, pass_same=2, pass_far=1) is True
    assert passed("check:far", 2, pass_same=2, pass_far=1) is False
    assert passed("space-a", 0, pass_same=2, pass_far=1) is None
    df = pd.DataFrame(
        {
            "participant": ["p1", "p1", "p2", "p2", "p3"],
            "space": ["check:same", "check:far", "check:same", "check:far", "a"],
            "rating": [3, 0, 3, 3, 2],
        }
    )
    t = participant_checks(df, pass_same=2, pass_far=1)
    assert t.to_dict("records") == [
        {"participant": "p1", "checks": 2, "failed": 0, "passed": True},
        {"participant": "p2", "checks": 2, "failed": 1, "passed": False},
        {"participant": "p3", "checks": 0, "failed": 0, "passed": True},
    ]


def test_other_excerpts_of_the_reference_differ_from_its_own():
    p = Player(30.0, 15.0)
    own = clip_window(200.0, p)
    spots = other_windows(200.0, p, 3)
    assert len(spots) == 3 and own not in spots
    assert all(0 <= a < b <= 200.0 and b - a == pytest.approx(15.0) for a, b in spots)
    assert len(set(spots)) == 3
    assert other_windows(20.0, p, 2) == [clip_window(20.0, p)] * 2  # too short: the same one


def test_inattentive_participants_fail_and_are_left_out_of_the_statistics(tmp_path):
    spaces = [f"s{j}" for j in range(4)]
    study = {f"r{i}": {s: ["x"] for s in spaces} for i in range(4)}
    study["r0"]["check:same"] = ["r0"]
    study["r1"]["check:far"] = ["x"]
    strength = dict(zip(spaces, np.linspace(-0.1, 0.1, 4), strict=True))
    model = ResponseModel(40, 4.0, 0.0, 0.3, 0.5, 0.0, 0.25, 3)
    df = simulate_responses(study, strength, model, study_hash="h", app_version="SIMULATED")
    path = tmp_path / "r.csv"
    df.to_csv(path, index=False)
    df = read_responses(path)
    res = analyse(df, alpha=0.05, min_participants=3, attention=ATT)
    table = res["attention"]
    assert len(table) == 40 and (table["checks"] == 2).all()
    # slow scoring of the same rows
    fails = {}
    for row in df.itertuples():
        if row.space == "check:same":
            fails[row.participant] = fails.get(row.participant, 0) + int(row.rating < 2)
        elif row.space == "check:far":
            fails[row.participant] = fails.get(row.participant, 0) + int(row.rating > 1)
    assert dict(zip(table["participant"], table["failed"], strict=True)) == fails
    failed = sorted(p for p, f in fails.items() if f)
    assert 0 < len(failed) < 20 and res["excluded"] == failed
    assert res["n"]["participants"] == 40 - len(failed)
    assert set(res["means"]["space"]) == set(spaces)  # checks are never spaces
    kept = analyse(
        df,
        alpha=0.05,
        min_participants=3,
        attention=ATT.__class__(**{**vars(ATT), "exclude_failed": False}),
    )
    assert kept["excluded"] == [] and kept["n"]["participants"] == 40


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 900), (390, 844)])
def test_checks_are_shown_blind_and_flagged_in_the_export(tmp_path, size):
    from werkzeug.serving import make_server

    path, audio = make_study(tmp_path, n_refs=2, n_spaces=2, length=2, seconds=120.0)
    doc = json.loads(path.read_text())
    ref0, ref1 = sorted(doc["study"])
    doc["study"][ref0]["check:same"] = [ref0, ref0]
    doc["study"][ref1]["check:far"] = ["t10", "t11"]
    path.write_text(json.dumps(doc))
    study = load_study(path)
    assert study.checks == ["check:far", "check:same"] and "check:same" not in study.spaces
    files = audio_files(study.tracks, audio, metadata=None, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db.sqlite", study.sha256, "test")
    app = create_app(study, store, files, durations(files), Player(30.0, 15.0), title="t")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        with page(*size) as pg:
            pg.goto(base + "/")
            pg.check('input[name="consent"]')
            pg.click("button[type=submit]")
            pg.wait_for_url(base + "/next")
            for _ in range(2):
                html = pg.content()
                assert "check" not in html.lower().replace("checked", "").replace("checkbox", "")
                ref = pg.get_attribute('input[name="reference"]', "value")
                srcs = pg.eval_on_selector_all(
                    ".playlist",
                    "els => els.map(e => [...e.querySelectorAll('audio')]"
                    ".map(a => a.getAttribute('src')))",
                )
                ref_src = pg.get_attribute(".reference audio", "src")
                n = len(srcs)
                for j in range(n):
                    # a same-check: the reference at other places of the track; rate it 0
                    same = all(s.split("#")[0] == f"/audio/{ref}" for s in srcs[j])
                    if same:
                        assert ref_src not in srcs[j] and len(set(srcs[j])) == 2
                    pg.check(f'input[name="rating-{j + 1}"][value="{0 if same else 3}"]')
                pg.click("button[value=submit]")
                pg.wait_for_load_state()
    finally:
        server.shutdown()
    out = tmp_path / "a.csv"
    export_csv(store.path, out, demographics_out=tmp_path / "p.csv", attention=ATT)
    people = list(csv.DictReader((tmp_path / "p.csv").open()))
    # rated the same-check 0 (fails) and the far-check 3 (fails)
    assert [(r["checks"], r["checks_failed"]) for r in people] == [("2", "2")]
    rows = list(csv.DictReader(out.open()))
    assert {r["space"] for r in rows} >= {"check:same", "check:far"}
    assert re.fullmatch(r"[0-9a-f]{16}", rows[0]["participant"])
