"""The listening test as a participant meets it, in real Chromium (desktop and phone): a missed
rating keeps the page, skipping needs no ratings, a reload keeps unsubmitted ratings, players
with a usable timeline that pause each other, a phone layout without sideways scrolling, named
players and grouped scales, and an accessibility audit."""

from __future__ import annotations

import threading

import pytest
from browser import page, wait_until
from servers import free_port
from test_listening import make_study

from nnsim.listening.app import Player, create_app
from nnsim.listening.serve import durations
from nnsim.listening.store import Store
from nnsim.listening.study import audio_files, load_study

pytestmark = pytest.mark.browser

DESKTOP, PHONE = (1280, 900), (390, 844)


@pytest.fixture
def served(tmp_path):
    """The app on a study of 3 references x 3 playlists x 2 tracks, on loopback."""
    from werkzeug.serving import make_server

    path, audio = make_study(tmp_path, n_refs=3, n_spaces=3, length=2, seconds=40.0)
    study = load_study(path)
    files = audio_files(study.tracks, audio, metadata=None, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db" / "responses.sqlite", study.sha256, "test")
    app = create_app(study, store, files, durations(files), Player(30.0, 15.0), title="t")
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{port}", study, store
    finally:
        server.shutdown()


def _start(pg, base):
    pg.goto(base + "/")
    pg.check('input[name="consent"]')
    pg.click("button[type=submit]")
    pg.wait_for_url(base + "/next")


def _reference(pg) -> str:
    return pg.get_attribute('input[name="reference"]', "value")


def _audit(pg) -> list:
    from axe_playwright_python.sync_playwright import Axe

    report = Axe().run(pg)
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:3])
        for v in report.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_a_missed_rating_keeps_the_page_with_the_given_ratings_and_names_the_playlist(served, size):
    base, _, store = served
    posts: list[str] = []
    with page(*size) as pg:
        pg.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        _start(pg, base)
        ref = _reference(pg)
        pg.check('input[name="rating-1"][value="3"]')
        pg.check('input[name="rating-3"][value="0"]')
        # the browser refuses to send a form with an unrated playlist ...
        pg.click("button[value=submit]")
        assert pg.evaluate("document.querySelector('[name=rating-2]').validity.valueMissing")
        assert not [u for u in posts if u.endswith("/submit")] and _reference(pg) == ref
        # ... and a browser that sends it anyway gets the page back, ratings kept, 2 named
        pg.evaluate("document.getElementById('rating-form').noValidate = true")
        pg.click("button[value=submit]")
        pg.wait_for_selector("#form-error")
        assert "Please rate playlist 2" in " ".join(pg.inner_text("#form-error").split())
        assert _reference(pg) == ref
        assert pg.is_checked('input[name="rating-1"][value="3"]')
        assert pg.is_checked('input[name="rating-3"][value="0"]')
        assert pg.get_attribute('fieldset[data-position="2"]', "class").split()[-1] == "missing"
        assert "not rated yet" in pg.inner_text('fieldset[data-position="2"]')
        assert not _audit(pg), _audit(pg)
        pg.check('input[name="rating-2"][value="1"]')
        pg.click("button[value=submit]")
        wait_until(pg, f"document.querySelector('[name=reference]').value !== '{ref}'")
    rows = [r for r in store.rows() if r["reference"] == ref]
    assert sorted(r["rating"] for r in rows) == [0, 1, 3]


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_skipping_needs_no_ratings_and_a_reload_keeps_unsubmitted_ratings(served, size):
    base, _, store = served
    with page(*size) as pg:
        _start(pg, base)
        first = _reference(pg)
        pg.click("button[value=skip]")
        wait_until(pg, f"document.querySelector('[name=reference]').value !== '{first}'")
        second = _reference(pg)
        pg.check('input[name="rating-1"][value="2"]')
        pg.check('input[name="rating-3"][value="1"]')
        pg.reload()
        assert _reference(pg) == second
        assert pg.is_checked('input[name="rating-1"][value="2"]')
        assert pg.is_checked('input[name="rating-3"][value="1"]')
        assert not pg.is_checked('input[name="rating-2"][value="0"]')
    skipped = [r for r in store.rows() if r["reference"] == first]
    assert skipped and all(r["skipped"] == 1 and r["rating"] is None for r in skipped)
    assert not [r for r in store.rows() if r["reference"] == second]


def test_the_page_works_without_scripts(served):
    base, _, store = served
    from browser import ARGS, CHROMIUM, require_browser
    from playwright.sync_api import sync_playwright

    require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            pg = browser.new_context(java_script_enabled=False).new_page()
            _start(pg, base)
            ref = _reference(pg)
            for j in range(3):
                pg.check(f'input[name="rating-{j + 1}"][value="{j}"]')
            pg.click("button[value=submit]")
            pg.wait_for_load_state()
            assert _reference(pg) != ref
        finally:
            browser.close()
    assert sorted(r["rating"] for r in store.rows() if r["reference"] == ref) == [0, 1, 2]


@pytest.mark.parametrize("size", [DESKTOP, PHONE, (360, 740)])
def test_players_have_a_full_width_timeline_and_the_phone_layout_fits(served, size):
    base, _, _ = served
    with page(*size) as pg:
        _start(pg, base)
        overflow = pg.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"sideways scroll at {size[0]} px"
        widths = pg.evaluate(
            "[...document.querySelectorAll('.playlist audio')].map(a => "
            "[a.getBoundingClientRect().width, a.closest('li').getBoundingClientRect().width])"
        )
        assert widths and all(w >= 0.95 * li and w >= 250 for w, li in widths), widths
        ref = pg.evaluate("document.querySelector('.reference audio').getBoundingClientRect()")
        assert ref["right"] <= size[0]
        # the scale: one row, 0..3 left to right, tap targets of at least 44 px
        for pos in (1, 2, 3):
            boxes = pg.eval_on_selector_all(
                f'fieldset[data-position="{pos}"] .options label',
                "ls => ls.map(l => { const r = l.getBoundingClientRect(); "
                "return [l.querySelector('input').value, r.x, r.y, r.width, r.height]; })",
            )
            assert [b[0] for b in boxes] == ["0", "1", "2", "3"]
            assert len({round(b[2]) for b in boxes}) == 1, boxes  # one row
            assert all(boxes[i][1] < boxes[i + 1][1] for i in range(3))
            assert all(b[3] >= 44 and b[4] >= 44 for b in boxes), boxes
        small = pg.evaluate(
            "[...document.querySelectorAll('button, input[type=checkbox], select')]"
            ".filter(b => b.offsetParent && b.getBoundingClientRect().height < 24)"
            ".map(b => b.outerHTML.slice(0, 60))"
        )
        assert not small, small


def test_starting_a_player_pauses_the_others(served):
    base, _, _ = served
    with page(*DESKTOP) as pg:
        _start(pg, base)
        wait_until(
            pg,
            "[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)",
            timeout=20_000,
        )
        players = pg.locator("audio")
        players.nth(0).click(position={"x": 20, "y": 24})  # the play button of the controls
        wait_until(pg, "!document.querySelectorAll('audio')[0].paused", timeout=10_000)
        players.nth(2).click(position={"x": 20, "y": 24})
        wait_until(pg, "!document.querySelectorAll('audio')[2].paused", timeout=10_000)
        wait_until(pg, "document.querySelectorAll('audio')[0].paused", timeout=10_000)
        playing = pg.evaluate("[...document.querySelectorAll('audio')].map(a => !a.paused)")
        assert playing.count(True) == 1 and playing[2]


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_players_are_named_scales_grouped_keyboard_order_and_audit(served, size):
    base, study, _ = served
    with page(*size) as pg:
        pg.goto(base + "/")
        assert not _audit(pg), _audit(pg)
        _start(pg, base)
        names = pg.eval_on_selector_all("audio", "as => as.map(a => a.getAttribute('aria-label'))")
        n = len(next(iter(study.study.values())))
        want = ["Reference track"] + [
            f"Playlist {p}, track {t}" for p in range(1, n + 1) for t in (1, 2)
        ]
        assert names == want
        legends = pg.eval_on_selector_all(
            "fieldset.playlist", "fs => fs.map(f => f.querySelector(':scope > legend').innerText)"
        )
        assert legends == [f"Playlist {p}" for p in range(1, n + 1)]
        assert pg.locator("fieldset.scale legend").count() == n
        # keyboard order = document order (no tabindex): the reference, then each playlist's
        # tracks and its scale, then Submit
        order = pg.evaluate(
            """[...document.querySelectorAll('audio, input[type=radio], button')]
            .filter(e => !e.closest('[hidden]') && e.tabIndex >= 0)
            .map(e => e.tagName === 'AUDIO' ? e.getAttribute('aria-label')
                 : e.tagName === 'BUTTON' ? 'button:' + e.value : e.name)"""
        )
        assert not pg.evaluate("document.querySelectorAll('[tabindex]').length")
        seq = [x for i, x in enumerate(order) if i == 0 or x != order[i - 1]]
        expected = ["Reference track"]
        for p in range(1, n + 1):
            expected += [f"Playlist {p}, track 1", f"Playlist {p}, track 2", f"rating-{p}"]
        assert seq == [*expected, "button:submit", "button:skip"]
        assert not _audit(pg), _audit(pg)
        for _ in study.study:
            pg.click("button[value=skip]")
            pg.wait_for_load_state()
        assert "A few questions about you" in pg.inner_text("body")
        assert not _audit(pg), _audit(pg)
        pg.click("button[type=submit]")
        pg.wait_for_load_state()
        assert "Thank you" in pg.inner_text("body")
        assert not _audit(pg), _audit(pg)


def test_a_crowd_participant_rates_a_subset_and_gets_the_completion_code(tmp_path):
    from dataclasses import replace

    from werkzeug.serving import make_server

    from nnsim.config import compose

    path, audio = make_study(tmp_path, n_refs=2, n_spaces=2, length=1, seconds=40.0)
    study = load_study(path)
    files = audio_files(study.tracks, audio, metadata=None, extensions=["wav"], study_path=path)
    store = Store(tmp_path / "db" / "responses.sqlite", study.sha256, "test")
    crowd = replace(
        compose([]).listening.app,
        platform_param="PROLIFIC_PID",
        completion_url="https://platform.example/complete?cc={code}",
        per_participant=1,  # a balanced subset: one of the two references each
    )
    app = create_app(
        study, store, files, durations(files), Player(30.0, 15.0), title="t", crowd=crowd
    )
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        for size in (DESKTOP, PHONE):
            with page(*size) as pg:
                pid = f"pp{size[0]}"
                pg.goto(f"{base}/?PROLIFIC_PID={pid}")
                pg.check('input[name="consent"]')
                pg.click("button[type=submit]")
                pg.wait_for_url(base + "/next")
                assert "Reference 1 of 1" in pg.inner_text("body")
                pg.click("button[value=skip]")
                pg.wait_for_load_state()
                assert "A few questions about you" in pg.inner_text("body")
                pg.click("button[type=submit]")
                pg.wait_for_load_state()
                code = pg.inner_text("#completion-code").strip()
                p = store.by_platform_id(pid)
                assert p is not None and code == p.completion_code and len(code) == 8
                href = pg.get_attribute("a[href^='https://platform.example']", "href")
                assert href == f"https://platform.example/complete?cc={code}"
                overflow = pg.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0
                assert not _audit(pg), _audit(pg)
    finally:
        server.shutdown()
