"""The listening test on a crowd platform: platform ids from the entry address, completion
codes, a limit on new participations per address, Secure cookies off loopback, and databases
of earlier versions opened without losing an answer."""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import replace

import pytest
from test_listening import make_study

from nnsim.config import compose
from nnsim.listening.app import NewSessionLimit, Player, create_app
from nnsim.listening.serve import durations
from nnsim.listening.store import Store, export_csv
from nnsim.listening.study import audio_files, load_study


@pytest.fixture
def crowd(tmp_path):
    path, audio = make_study(tmp_path, n_refs=2, n_spaces=2, length=1, seconds=40.0)
    study = load_study(path)
    files = audio_files(study.tracks, audio, metadata=None, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db" / "responses.sqlite", study.sha256, "test")

    def make(secure_cookies=False, **over):
        settings = replace(
            compose([]).listening.app,
            platform_param="PROLIFIC_PID",
            completion_url="https://platform.example/complete?cc={code}",
            **over,
        )
        return create_app(
            study,
            store,
            files,
            durations(files),
            Player(30.0, 15.0),
            title="t",
            crowd=settings,
            secure_cookies=secure_cookies,
        )

    return study, store, make


def _field(html, name):
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def _finish(c, study):
    for _ in study.study:
        html = c.get("/next").get_data(as_text=True)
        data = {"token": _field(html, "token"), "reference": _field(html, "reference")}
        assert c.post("/submit", data={**data, "action": "skip"}).status_code == 303
    tok = _field(c.get("/next").get_data(as_text=True), "token")
    assert c.post("/demographics", data={"token": tok}).status_code == 303
    return c.get("/next").get_data(as_text=True)


def test_the_platform_id_is_stored_resumed_and_exported_with_the_code(crowd, tmp_path):
    study, store, make = crowd
    app = make()
    c = app.test_client()
    welcome = c.get("/?PROLIFIC_PID=abc-123").get_data(as_text=True)
    assert _field(welcome, "platform_id") == "abc-123"
    assert "the id the study platform gave you" in welcome
    r = c.post("/consent", data={"consent": "yes", "platform_id": "abc-123"})
    assert r.status_code == 303
    p = store.by_platform_id("abc-123")
    assert p is not None and re.fullmatch(r"[0-9A-F]{8}", p.completion_code)
    # the same platform id in another browser carries on as the same participant
    other = app.test_client()
    r = other.get("/?PROLIFIC_PID=abc-123")
    assert r.status_code == 303 and r.headers["Location"].endswith("/next")
    assert _field(other.get("/next").get_data(as_text=True), "token") == p.token
    thanks = _finish(c, study)
    assert p.completion_code in thanks
    assert f"https://platform.example/complete?cc={p.completion_code}" in thanks
    # another participant without a platform id gets a code of their own
    anon = app.test_client()
    anon.post("/consent", data={"consent": "yes"})
    assert (
        len(
            {
                r[0]
                for r in sqlite3.connect(store.path).execute(
                    "SELECT completion_code FROM participants"
                )
            }
        )
        == 2
    )
    out = tmp_path / "answers.csv"
    export_csv(store.path, out, demographics_out=tmp_path / "people.csv")
    people = {r["participant"]: r for r in csv.DictReader((tmp_path / "people.csv").open())}
    assert people[p.id]["platform_id"] == "abc-123"
    assert people[p.id]["completion_code"] == p.completion_code
    assert people[p.id]["finished"] == "1"


def test_a_fixed_completion_code_and_bad_platform_ids(crowd):
    study, _store, make = crowd
    app = make(completion_code="C0DE42")
    c = app.test_client()
    r = c.get("/?PROLIFIC_PID=<script>")
    assert r.status_code == 400 and "PROLIFIC_PID" in r.get_data(as_text=True)
    assert "&lt;script&gt;" in r.get_data(as_text=True) and "<script>" not in r.get_data(
        as_text=True
    )
    r = c.post("/consent", data={"consent": "yes", "platform_id": "x" * 200})
    assert r.status_code == 400
    assert c.post("/consent", data={"consent": "yes", "platform_id": "ok_1"}).status_code == 303
    assert "C0DE42" in _finish(c, study)


def test_new_participations_are_limited_per_address_and_consent_comes_first(crowd):
    _study, store, make = crowd
    app = make(new_per_minute=3)
    for _ in range(5):  # no consent: nothing is stored
        assert app.test_client().post("/consent", data={}).status_code == 400
    codes = [
        app.test_client().post("/consent", data={"consent": "yes"}).status_code for _ in range(5)
    ]
    assert codes == [303, 303, 303, 429, 429]
    n = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM participants").fetchone()[0]
    assert n == 3
    r = app.test_client().post("/consent", data={"consent": "yes"})
    assert "wait a minute" in r.get_data(as_text=True)


def test_the_limit_is_a_sliding_minute_per_address():
    lim = NewSessionLimit(2)
    assert lim.allow("a", now=0.0) and lim.allow("a", now=10.0)
    assert not lim.allow("a", now=59.0)
    assert lim.allow("b", now=59.0)  # another address
    assert lim.allow("a", now=60.0)  # the first one left the window
    assert not lim.allow("a", now=60.5)
    assert all(NewSessionLimit(0).allow("a", now=0.0) for _ in range(100))


def test_cookies_are_secure_off_loopback(crowd):
    _, _, make = crowd
    for secure in (False, True):
        c = make(secure_cookies=secure).test_client()
        r = c.post("/consent", data={"consent": "yes"})
        cookie = r.headers["Set-Cookie"]
        assert ("Secure" in cookie) is secure and "HttpOnly" in cookie


def test_a_database_of_an_earlier_version_keeps_its_answers(tmp_path):
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE participants (id TEXT PRIMARY KEY, token TEXT NOT NULL,
            study_hash TEXT NOT NULL, plan TEXT NOT NULL, consented_at REAL NOT NULL,
            demographics TEXT, finished_at REAL);
        CREATE TABLE responses (participant TEXT NOT NULL REFERENCES participants(id),
            reference TEXT NOT NULL, reference_position INTEGER NOT NULL, space TEXT NOT NULL,
            position INTEGER NOT NULL, rating INTEGER, skipped INTEGER NOT NULL,
            timestamp REAL NOT NULL, app_version TEXT NOT NULL, study_hash TEXT NOT NULL,
            PRIMARY KEY (participant, reference, space));
        INSERT INTO participants VALUES ('p1', 'tok', 'h', '[["r", ["s"]]]', 1.0, NULL, NULL);
        INSERT INTO responses VALUES ('p1', 'r', 1, 's', 1, 2, 0, 1.0, 'old', 'h');"""
    )
    con.commit()
    con.close()
    store = Store(db, "h", "new")
    assert [r["rating"] for r in store.rows()] == [2]
    p = store.participant("p1")
    assert p is not None and p.platform_id is None and p.completion_code is None
    export_csv(db, tmp_path / "a.csv", demographics_out=tmp_path / "d.csv")
    assert "platform_id" in (tmp_path / "d.csv").read_text().splitlines()[0]


def test_balanced_subsets_are_a_latin_square_over_the_references():
    from collections import Counter

    import numpy as np

    from nnsim.listening.store import draw_plan

    study = {f"r{i}": {f"s{j}": ["x"] for j in range(3)} for i in range(4)}
    plans = [
        draw_plan(study, np.random.default_rng(k), per_participant=3, number=k) for k in range(8)
    ]
    assert all(len(p) == 3 for p in plans)
    at = Counter((ref, pos) for p in plans for pos, (ref, _) in enumerate(p))
    # over every 4 participants each reference is at each of the 3 positions exactly once
    assert set(at.values()) == {2} and len(at) == 4 * 3
    assert Counter(ref for p in plans for ref, _ in p) == {f"r{i}": 6 for i in range(4)}
    # the playlists are still in a random order per participant
    assert len({tuple(s) for p in plans for _, s in p}) > 1


def test_a_participant_of_a_subset_rates_only_their_references(crowd):
    _study, store, make = crowd
    app = make(per_participant=1)
    c = app.test_client()
    assert c.post("/consent", data={"consent": "yes"}).status_code == 303
    html = c.get("/next").get_data(as_text=True)
    assert "Reference 1 of 1" in html
    thanks = _finish_subset(c)
    assert "0 of 1 references rated, 1 skipped" in " ".join(thanks.split())
    second = app.test_client()
    second.post("/consent", data={"consent": "yes"})
    refs = {r["reference"] for r in store.rows()}
    other = _field(second.get("/next").get_data(as_text=True), "reference")
    assert len(refs) == 1 and other not in refs  # the next row of the Latin square


def _finish_subset(c):
    html = c.get("/next").get_data(as_text=True)
    data = {"token": _field(html, "token"), "reference": _field(html, "reference")}
    assert c.post("/submit", data={**data, "action": "skip"}).status_code == 303
    html = c.get("/next").get_data(as_text=True)
    assert "A few questions about you" in html
    assert c.post("/demographics", data={"token": data["token"]}).status_code == 303
    return c.get("/next").get_data(as_text=True)


def test_simulated_participants_follow_the_balanced_design():
    import numpy as np

    from nnsim.listening.simulate import ResponseModel, simulate_responses

    spaces = ["a", "b"]
    study = {f"r{i}": {s: ["x"] for s in spaces} for i in range(4)}
    model = ResponseModel(8, 1.0, 0.0, 0.3, 0.5, 0.0, 0.0, 0)
    df = simulate_responses(
        study,
        dict(zip(spaces, np.array([-0.1, 0.1]), strict=True)),
        model,
        study_hash="h",
        app_version="SIMULATED",
        per_participant=2,
    )
    assert (df.groupby("participant")["reference"].nunique() == 2).all()
    assert set(df.groupby("reference")["participant"].nunique()) == {4}
