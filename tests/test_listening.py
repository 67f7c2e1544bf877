"""The listening test's web app: answers stored durably, order recorded, bad requests refused.

Fast tests use Flask's test client; the browser test drives Debian's Chromium through a whole
session with a reload in the middle and a server restart, then checks the stored rows.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser import page, wait_until
from servers import free_port, stop, wait_http

from nnsim.config import compose, dump
from nnsim.errors import ConfigError, InputError
from nnsim.listening.app import Player, clip_window, create_app
from nnsim.listening.serve import durations, prepare
from nnsim.listening.store import EXPORT_COLUMNS, Store, draw_plan, export_csv
from nnsim.listening.study import audio_files, load_study
from nnsim.net import check_host

SR = 8000


def make_study(root: Path, n_refs: int = 3, n_spaces: int = 3, length: int = 2, seconds=40.0):
    """A small study on synthetic audio: tones of different pitch, ``seconds`` long."""
    rng = np.random.default_rng(0)
    audio = root / "audio"
    (audio / "00").mkdir(parents=True, exist_ok=True)
    tracks = [f"t{i:02d}" for i in range(12)]
    t = np.arange(int(seconds * SR)) / SR
    for i, name in enumerate(tracks):
        sf.write(audio / "00" / f"{name}.wav", 0.2 * np.sin(2 * np.pi * (220 + 40 * i) * t), SR)
    refs = tracks[:n_refs]
    study = {
        r: {
            f"space{j}": [str(x) for x in rng.choice(tracks[n_refs:], length, replace=False)]
            for j in range(n_spaces)
        }
        for r in refs
    }
    path = root / "study.json"
    path.write_text(json.dumps({"study": study, "spaces": sorted(study[refs[0]])}))
    return path, audio


@pytest.fixture
def app_setup(tmp_path):
    path, audio = make_study(tmp_path)
    study = load_study(path)
    files = audio_files(study.tracks, audio, metadata=None, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db" / "responses.sqlite", study.sha256, "test")
    app = create_app(study, store, files, durations(files), Player(30.0, 15.0), title="t")
    return study, store, app


def start(client):
    r = client.post("/consent", data={"consent": "yes"})
    assert r.status_code == 303
    html = client.get("/next").get_data(as_text=True)
    return html


def form(html):
    tok = re.search(r'name="token" value="([^"]+)"', html).group(1)
    ref = re.search(r'name="reference" value="([^"]+)"', html).group(1)
    return tok, ref


def test_plan_is_a_permutation_and_differs_between_participants():
    study = {f"r{i}": {f"s{j}": ["x"] for j in range(5)} for i in range(4)}
    plans = [draw_plan(study, np.random.default_rng(seed)) for seed in range(20)]
    for plan in plans:
        assert sorted(r for r, _ in plan) == sorted(study)
        assert all(sorted(s) == sorted(study[r]) for r, s in plan)
    assert len({json.dumps(p) for p in plans}) > 15


def test_clip_window_starts_at_30s_or_fits_short_tracks():
    p = Player(30.0, 15.0)
    assert clip_window(200.0, p) == (30.0, 45.0)
    assert clip_window(30.0, p) == (15.0, 30.0)
    assert clip_window(10.0, p) == (0.0, 10.0)
    assert clip_window(None, p) == (30.0, 45.0)


def test_answers_are_stored_with_order_and_submitting_twice_keeps_the_first(app_setup):
    study, store, app = app_setup
    c = app.test_client()
    html = start(c)
    tok, ref = form(html)
    pid = sqlite3.connect(store.path).execute("SELECT id FROM participants").fetchone()[0]
    plan = dict(store.participant(pid).plan)
    # The page shows the playlists in the stored order, without naming the spaces.
    for j, space in enumerate(plan[ref]):
        block = html.split(f'data-position="{j + 1}"')[1].split("</div>")[0]
        shown = re.findall(r'src="/audio/([^"#]+)#', block)
        assert shown == study.study[ref][space]
    assert not any(s in html for s in study.spaces)
    ratings = {f"rating-{j + 1}": str((j + 1) % 4) for j in range(len(plan[ref]))}
    assert c.post("/submit", data={"token": tok, "reference": ref, **ratings}).status_code == 303
    again = {k: "0" for k in ratings}
    assert c.post("/submit", data={"token": tok, "reference": ref, **again}).status_code == 303
    rows = store.rows()
    assert [(r["space"], r["position"], r["rating"]) for r in rows] == [
        (s, j + 1, (j + 1) % 4) for j, s in enumerate(plan[ref])
    ]
    assert {r["study_hash"] for r in rows} == {study.sha256}
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_bad_requests_get_clear_4xx(app_setup):
    study, store, app = app_setup
    c = app.test_client()
    # Before consent: no participant.
    r = c.post("/submit", data={"token": "x", "reference": "t00", "rating-1": "1"})
    assert r.status_code == 403 and b"consent" in r.data
    assert c.post("/consent", data={}).status_code == 400
    tok, ref = form(start(c))
    n = len(study.study[ref])
    good = {f"rating-{j + 1}": "2" for j in range(n)}
    cases = [
        ({**good, "rating-1": "4"}, 400, "not one of 0, 1, 2, 3"),
        ({**good, "rating-1": "-1"}, 400, "not one of"),
        ({**good, "rating-1": "1.5"}, 400, "not one of"),
        ({**good, f"rating-{n + 1}": "1"}, 400, "unknown playlist"),
        # a missed rating: the same page again, naming it (the page keeps the others)
        ({k: v for k, v in good.items() if k != "rating-2"}, 400, "playlist 2 (0–3) before"),
    ]
    for data, code, msg in cases:
        r = c.post("/submit", data={"token": tok, "reference": ref, **data})
        assert r.status_code == code and msg in r.get_data(as_text=True), data
    r = c.post("/submit", data={"token": tok, "reference": "nope", **good})
    assert r.status_code == 400 and "unknown reference" in r.get_data(as_text=True)
    r = c.post("/submit", data={"token": "forged", "reference": ref, **good})
    assert r.status_code == 403 and "token" in r.get_data(as_text=True)
    r = c.post("/demographics", data={"token": tok, "age_group": "18-24"})
    assert r.status_code == 409
    assert store.rows() == []
    # Audio: only the study's tracks; no traversal, no listing.
    for url in [
        "/audio/../study.json",
        "/audio/%2e%2e%2fstudy.json",
        "/audio/..%2f..%2fetc%2fpasswd",
        "/audio/",
        "/audio/00",
        "/audio/t11.wav",
        "/study.json",
        "/static/x",
    ]:
        assert c.get(url).status_code == 404, url
    track = next(iter(study.tracks))
    r = c.get(f"/audio/{track}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.data) == 100


def test_skip_and_demographics_validation(app_setup):
    study, store, app = app_setup
    c = app.test_client()
    tok, ref = form(start(c))
    for _ in study.study:
        html = c.get("/next").get_data(as_text=True)
        tok, ref = form(html)
        # the skip button skips, also after a partial rating (which it does not keep)
        partial = {"token": tok, "reference": ref, "action": "skip", "rating-2": "3"}
        assert c.post("/submit", data=partial).status_code == 303
    page_html = c.get("/next").get_data(as_text=True)
    for option in ("14-17", "non-binary", "hobbyist", "professional", "per day"):
        assert option in page_html  # the paper's demographic groups
    r = c.post("/demographics", data={"token": tok, "age_group": "12"})
    assert r.status_code == 400 and "age_group" in r.get_data(as_text=True)
    r = c.post("/demographics", data={"token": tok, "age_group": "25-34"})
    assert r.status_code == 303
    thanks = c.get("/next").get_data(as_text=True)
    n = len(study.study)
    assert "Thank you" in thanks and "all" not in thanks  # not "all references" after skips
    assert f"0 of {n} references\nrated, {n} skipped" in thanks
    rows = store.rows()
    assert len(rows) == sum(len(v) for v in study.study.values())
    assert all(r["skipped"] == 1 and r["rating"] is None for r in rows)


def test_bad_study_files_and_hosts_are_refused(tmp_path):
    path, audio = make_study(tmp_path)
    doc = json.loads(path.read_text())
    ref = next(iter(doc["study"]))
    doc["study"][ref]["space0"] = ["t00", "no-such-track"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    st = load_study(bad)
    with pytest.raises(InputError, match=r"bad.json.*no audio.*no-such-track"):
        audio_files(st.tracks, audio, metadata=None, extensions=["wav"], study_path=bad)
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json: not a JSON study"):
        load_study(bad)
    bad.write_text(json.dumps({"study": {"r": {"s": []}}}))
    with pytest.raises(InputError, match="non-empty list"):
        load_study(bad)
    with pytest.raises(ConfigError, match="--allow-remote"):
        check_host("0.0.0.0", allow_remote=False)
    check_host("127.0.0.1", allow_remote=False)
    check_host("localhost", allow_remote=False)


def test_spaces_not_in_the_comparison_and_a_database_of_another_study(tmp_path):
    path, audio = make_study(tmp_path)
    cfg = compose([f"paths.results_dir={tmp_path / 'results'}"])
    sim = tmp_path / "results" / "compare" / cfg.listening.distance / "similarity.csv"
    sim.parent.mkdir(parents=True)
    sim.write_text("src,dst,cutoff,similarity\nspace0,space1,10,0.5\n")
    with pytest.raises(InputError, match=r"study.json: spaces space2 are not in the comparison"):
        prepare(cfg, study_path=str(path), db=str(tmp_path / "db.sqlite"), audio_dir=str(audio))
    sim.write_text("src,dst,cutoff,similarity\nspace0,space1,10,0.5\nspace1,space2,10,0.4\n")
    study, store, _ = prepare(
        cfg, study_path=str(path), db=str(tmp_path / "db.sqlite"), audio_dir=str(audio)
    )
    store.new_participant(study.study)
    other = tmp_path / "other.json"
    other.write_text(path.read_text().replace("space0", "space1", 0) + " ")
    with pytest.raises(InputError, match=r"db.sqlite holds answers to another study"):
        prepare(cfg, study_path=str(other), db=str(tmp_path / "db.sqlite"), audio_dir=str(audio))


def _serve(params, study, db, audio, port, cwd):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnsim.cli",
            "listening",
            "serve",
            "--params",
            str(params),
            "--study",
            str(study),
            "--db",
            str(db),
            "--audio-dir",
            str(audio),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        start_new_session=True,
    )


def _export(params, db, out):
    """``nnsim listening export`` as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nnsim.cli",
            "listening",
            "export",
            "--params",
            str(params),
            "--db",
            str(db),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=out.parent,
    )


def _shot(pg, tmp_path, name):
    shot = tmp_path / name
    pg.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000


def _answer(pg, ratings):
    for pos, value in ratings.items():
        pg.check(f'input[name="rating-{pos}"][value="{value}"]')
    pg.click("button[value=submit]")


@pytest.mark.slow
@pytest.mark.browser
def test_a_whole_session_in_chromium_survives_a_reload_and_a_server_restart(tmp_path):
    study_path, audio = make_study(tmp_path, seconds=60.0)
    study = load_study(study_path)
    params = tmp_path / "params.yaml"
    params.write_text(dump(compose([])))
    db = tmp_path / "answers" / "responses.sqlite"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(params, study_path, db, audio, port, tmp_path)
    try:
        wait_http(base + "/")
        with page(width=1100, height=900) as pg:
            pg.goto(base + "/")
            assert "If you liked how this track sounds" in pg.inner_text("body")
            _shot(pg, tmp_path, "listening-welcome.png")
            pg.check('input[name="consent"]')
            pg.click("button[type=submit]")
            pg.wait_for_url(base + "/next")
            pid, plan_json = (
                sqlite3.connect(db).execute("SELECT id, plan FROM participants").fetchone()
            )
            plan = json.loads(plan_json)
            assert "Reference 1 of 3" in pg.inner_text("body")
            # The reference player starts at 0:30 (a media fragment the browser honours).
            wait_until(
                pg, "document.querySelector('.reference audio').readyState >= 1", timeout=20_000
            )
            t0 = pg.evaluate("document.querySelector('.reference audio').currentTime")
            ref0 = plan[0][0]
            want = clip_window(sf.info(str(audio / "00" / f"{ref0}.wav")).duration, Player(30, 15))
            assert want[0] == 30.0 and abs(t0 - want[0]) < 0.5
            _shot(pg, tmp_path, "listening-reference.png")
            expected = {}
            for step, (ref, spaces) in enumerate(plan):
                html = pg.content()
                assert f'name="reference" value="{ref}"' in html
                if step == 1:  # a reload in the middle: same reference, same order
                    pg.reload()
                    assert pg.content().count("data-position") == len(spaces)
                    assert f'name="reference" value="{ref}"' in pg.content()
                if step == 2:  # the server restarts; the participant carries on
                    stop(server)
                    server = _serve(params, study_path, db, audio, port, tmp_path)
                    wait_http(base + "/")
                    pg.goto(base + "/")
                    pg.wait_for_url(base + "/next")
                    assert f'name="reference" value="{ref}"' in pg.content()
                    assert f"Reference {step + 1} of 3" in pg.inner_text("body")
                srcs = pg.eval_on_selector_all(
                    ".playlist",
                    "els => els.map(e => [...e.querySelectorAll('audio')]"
                    ".map(a => a.getAttribute('src').split('#')[0].slice(7)))",
                )
                assert srcs == [study.study[ref][s] for s in spaces]
                if step == 1:
                    pg.click("button[value=skip]")
                    expected.update({(ref, s): (j + 1, None, 1) for j, s in enumerate(spaces)})
                else:
                    ratings = {j + 1: (step + j) % 4 for j in range(len(spaces))}
                    _answer(pg, ratings)
                    expected.update(
                        {(ref, s): (j + 1, ratings[j + 1], 0) for j, s in enumerate(spaces)}
                    )
                pg.wait_for_load_state()
            assert "A few questions about you" in pg.inner_text("body")
            _shot(pg, tmp_path, "listening-demographics.png")
            pg.select_option('select[name="age_group"]', "25-34")
            pg.click("button[type=submit]")
            pg.wait_for_load_state()
            assert "Thank you" in pg.inner_text("body")
            _shot(pg, tmp_path, "listening-thanks.png")
    finally:
        stop(server)
    out = tmp_path / "export.csv"
    proc = _export(params, db, out)
    assert proc.returncode == 0, proc.stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    got = {
        (r["reference"], r["space"]): (
            int(r["position"]),
            int(r["rating"]) if r["rating"] else None,
            int(r["skipped"]),
        )
        for r in rows
    }
    assert got == expected
    assert {r["participant"] for r in rows} == {pid}
    assert [int(r["reference_position"]) for r in rows] == [
        i + 1 for i, (_, s) in enumerate(plan) for _ in s
    ]
    assert {r["study_hash"] for r in rows} == {study.sha256}
    demo = list(csv.DictReader(out.with_name("export-demographics.csv").open()))
    code = sqlite3.connect(db).execute("SELECT completion_code FROM participants").fetchone()[0]
    assert demo == [
        {
            "participant": pid,
            "finished": "1",
            "age_group": "25-34",
            "gender": "",
            "musical_training": "",
            "listening_hours": "",
            "platform_id": "",
            "completion_code": code,
            "checks": "0",  # this study has no attention checks
            "checks_failed": "0",
        }
    ]
    # Export refuses to overwrite without --force.
    proc = _export(params, db, out)
    assert proc.returncode == 2 and "--force" in proc.stderr


def test_export_of_a_file_that_is_not_a_database(tmp_path):
    bad = tmp_path / "x.sqlite"
    bad.write_text("hello")
    with pytest.raises(InputError, match=r"x\.sqlite: not a responses database"):
        export_csv(bad, tmp_path / "out.csv")
    with pytest.raises(InputError, match="no responses database here"):
        export_csv(tmp_path / "missing.sqlite", tmp_path / "out.csv")


def test_export_never_overwrites_the_database_or_an_existing_demographics_file(tmp_path, capsys):
    from nnsim.cli import main
    from nnsim.listening.store import Store

    db = tmp_path / "responses.sqlite"
    Store(db, "0" * 64, "test")  # an empty responses database
    before = db.read_bytes()
    params = tmp_path / "params.yaml"
    from nnsim.config import compose, dump

    params.write_text(dump(compose()))

    def export(out, *extra):
        args = ["listening", "export", "--params", str(params), "--db", str(db)]
        return main([*args, "--out", str(out), *extra])

    for out in (db, Path(f"{db}-wal"), tmp_path / "responses.sqlite-shm"):
        rc = export(out, "--force")
        assert rc == 2 and "responses database" in capsys.readouterr().err
    assert db.read_bytes() == before  # every answer kept
    (tmp_path / "a-demographics.csv").write_text("mine\n")
    rc = export(tmp_path / "a.csv")
    assert rc == 2 and "a-demographics.csv exists" in capsys.readouterr().err
    assert (tmp_path / "a-demographics.csv").read_text() == "mine\n"


def test_track_ids_with_url_characters_play(tmp_path):
    """Ids with ``/`` (audio.track_id=relpath), ``#``, ``?``, ``%`` or a space are encoded in
    the page, and every player's address serves that track's own file."""
    ids = ["rock/a#1", "b?x", "c%41", "d e", "plain", "f/g/h"]
    audio = tmp_path / "audio"
    audio.mkdir()
    t = np.arange(int(20 * SR)) / SR
    rows = ["track_id,file"]
    for i, name in enumerate(ids):
        f = f"file{i}.wav"
        sf.write(audio / f, 0.2 * np.sin(2 * np.pi * (220 + 40 * i) * t), SR)
        rows.append(f'"{name}",{f}')
    meta = tmp_path / "meta.csv"
    meta.write_text("\n".join(rows) + "\n")
    study_doc = {"study": {ids[0]: {"s1": ids[1:3], "s2": ids[3:5]}, ids[5]: {"s1": ids[1:3]}}}
    study_doc["study"][ids[5]]["s2"] = ids[3:5]
    path = tmp_path / "study.json"
    path.write_text(json.dumps({**study_doc, "spaces": ["s1", "s2"]}))
    study = load_study(path)
    files = audio_files(study.tracks, audio, metadata=meta, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db" / "responses.sqlite", study.sha256, "test")
    app = create_app(study, store, files, durations(files), Player(30.0, 15.0), title="t")
    client = app.test_client()
    html = start(client)
    srcs = re.findall(r'<audio[^>]* src="([^"]+)"', html)
    assert len(srcs) == 5  # the reference and four playlist tracks
    served = set()
    for src in srcs:
        url = src.split("#t=")[0]
        assert "#" not in url and "?" not in url  # a fragment or query would cut the id
        r = client.get(url)
        assert r.status_code == 200, url
        body = r.get_data()
        match = [t for t in ids if files[t].read_bytes() == body]
        assert len(match) == 1
        served.add(match[0])
    _, ref = form(html)
    assert ref in served and len(served) == 5


def test_bad_ports_databases_and_export_paths_are_clear_errors(tmp_path, capsys):
    """``listening serve --port -1 / 99999``, a ``--db`` that is a text file, a folder, under a
    file or another program's database, and an ``export --out`` that is a folder or under a
    file: exit 2 with a message naming the option; nothing the user had is changed."""
    import socket

    from nnsim.cli import main

    path, audio = make_study(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(dump(compose([f"paths.results_dir={tmp_path}/results"])))  # not the cwd's
    base = ["listening", "serve", "--params", str(params), "--study", str(path)]
    base += ["--audio-dir", str(audio)]
    db = tmp_path / "db.sqlite"

    def serve(*extra):
        rc = main([*base, *extra])
        return rc, capsys.readouterr().err

    for port in ("-1", "99999", "0"):
        rc, err = serve("--db", str(db), "--port", port)
        assert rc == 2 and f"--port {port} is out of range" in err
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE songs (id TEXT)")
    other_bytes = other.read_bytes()
    cases = [
        (text, "not a responses database of nnsim"),
        (tmp_path, "is a folder; give a file path"),
        (text / "db.sqlite", "notes.txt is a file, so nothing can be written under it"),
        (other, "an SQLite database of something else (tables songs)"),
    ]
    for bad, message in cases:
        rc, err = serve("--db", str(bad), "--port", str(free_port()))
        assert rc == 2 and message in err, err
        assert "Traceback" not in err
    assert text.read_text() == "my notes\n" and other.read_bytes() == other_bytes
    # a port already taken: the message says so, no traceback
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        rc, err = serve("--db", str(db), "--port", str(taken.getsockname()[1]))
    assert rc == 2 and "cannot serve on 127.0.0.1:" in err and "Choose another --port" in err

    from nnsim.listening.store import Store

    Store(db, "0" * 64, "test")
    exp = ["listening", "export", "--params", str(params), "--db", str(db)]
    for out, message in (
        (tmp_path, "is a folder; give a file path, e.g. --out"),
        (text / "a.csv", "notes.txt is a file"),
    ):
        rc = main([*exp, "--out", str(out)])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, err


def test_the_welcome_page_states_the_time_the_study_takes(app_setup):
    """References x players x excerpt length, from the study itself."""
    study, _, app = app_setup
    players = sum(1 + sum(len(pl) for pl in lists.values()) for lists in study.study.values())
    minutes = round(players * 15.0 / 60)  # Player(30.0, 15.0): 15-s excerpts
    html = app.test_client().get("/").get_data(as_text=True)
    assert f"It takes about {minutes} minutes" in html and "plays 15 seconds" in html
