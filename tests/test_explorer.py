"""The explorer of the results site: its data against independent slow code, and the page in
real Chromium (desktop and phone), on synthetic spaces whose tables the engine computed."""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from browser import page, wait_until
from reference import slow_cka, slow_rank_similarity
from servers import free_port
from synthetic import comparison_settings, synthetic_spaces

from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.errors import ConfigError, InputError
from nnsim.report import similarity_frame
from nnsim.site.explorer import (
    ExplorerData,
    ExplorerMap,
    comparison_measures,
    explorer_cutoffs,
    overlap_counts,
    pca_map,
    write_explorer,
    write_previews,
)
from nnsim.tables import TableStore

N_TRACKS, K = 120, 10
EVIL = '<img src=x onerror="window.pwned=1">'


def read_payload(path: Path) -> dict:
    """Decode one ``explorer-data/*.js`` file in Python (the page's format, read independently)."""
    text = path.read_text()
    body = text[text.index("]=") + 2 : text.rindex(";")]
    out = {}
    for key, arr in json.loads(body).items():
        if isinstance(arr, dict) and "b64" in arr:
            raw = base64.b64decode(arr["b64"])
            out[key] = np.frombuffer(raw, dtype=np.dtype(arr["dtype"]).newbyteorder("<")).reshape(
                arr["shape"]
            )
        else:
            out[key] = arr
    return out


def slow_agreement(A: np.ndarray, B: np.ndarray, n: int) -> np.ndarray:
    """Per-track S_n with Python sets."""
    return np.array([len(set(a[:n]) & set(b[:n])) / n for a, b in zip(A, B, strict=True)])


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    """An explorer of 9 synthetic spaces (tables from the engine), with previews for some."""
    root = tmp_path_factory.mktemp("explorer")
    cfg = compose(
        [
            "data=jamendo",
            "cutoffs=[5,10]",
            f"neighbors.k={K}",
            "compare.n_boot=0",
            "compare.global_n_boot=0",
            "compare.measures=[overlap,rank,cka,procrustes]",
        ]
    )
    spaces = synthetic_spaces(N_TRACKS, seed=5, cf_factors=(16,))
    store = TableStore(root / "neighbors", "cosine")
    res = run_comparison(spaces, **comparison_settings(cfg), distance="cosine", store=store)
    names = [s.name for s in spaces]
    ids = store.ids(names[0])
    rng = np.random.default_rng(0)
    style = rng.choice(["pad", "drums", "arp"], size=N_TRACKS).tolist()
    title = [f"song {i}" for i in range(N_TRACKS)]
    title[3] = EVIL
    maps = [ExplorerMap(s.name, "pca", "PCA of the space", pca_map(s.X)) for s in spaces]
    holes = pca_map(spaces[0].X[:, ::-1])
    holes[:5] = np.nan  # a map that lacks five tracks
    maps.insert(1, ExplorerMap(names[0], "flipped", "PCA, reversed columns", holes))
    audio_dir = root / "audio"
    audio_dir.mkdir()
    files = {}
    for i, t in enumerate(ids[:40]):
        x = 0.2 * np.sin(2 * np.pi * (220 + 5 * i) * np.arange(32000) / 16000)
        files[t] = audio_dir / f"{t}.wav"
        sf.write(files[t], x, 16000)
    site = root / "site"
    data = ExplorerData(
        ids=ids,
        spaces=names,
        labels=[s.name.upper() for s in spaces],
        indices={n: store.indices(n) for n in names},
        distances={n: store.distances(n) for n in names},
        k=K,
        cutoffs=explorer_cutoffs(cfg.cutoffs, K),
        distance="cosine",
        maps=maps,
        metadata={"style": style, "title": title},
        colour_columns=["style"],
        audio=write_previews(list(ids), files, site, seconds=1.0),
        synthetic=True,
        measures=comparison_measures(
            similarity_frame(res.comparison, "cosine"),
            res.global_measures,
            names,
            explorer_cutoffs(cfg.cutoffs, K),
        ),
    )
    written = write_explorer(data, site, title="explorer test")
    tables = {n: np.asarray(store.indices(n))[:, :K] for n in names}
    dists = {n: np.asarray(store.distances(n))[:, :K] for n in names}
    return site, data, tables, dists, written


# ---- the data, against slow code -------------------------------------------------------------


def test_overlap_counts_equal_set_intersections():
    rng = np.random.default_rng(1)
    tabs = [np.stack([rng.permutation(30)[:8] for _ in range(30)]) for _ in range(3)]
    counts = overlap_counts(tabs, [3, 8])
    assert counts.shape == (3, 3, 30, 2) and counts.dtype == np.uint8
    for i in range(3):
        for j in range(3):
            for c, n in enumerate([3, 8]):
                want = slow_agreement(tabs[i], tabs[j], n) * n
                np.testing.assert_array_equal(counts[i, j, :, c], want)


def test_the_data_files_hold_the_engines_tables_exactly(explorer):
    site, data, tables, dists, _ = explorer
    meta = read_payload(site / "explorer-data" / "meta.js")
    assert meta["ids"] == list(data.ids) and meta["spaces"] == data.spaces
    assert meta["cutoffs"] == [5, 10]
    for i, name in enumerate(data.spaces):
        p = read_payload(site / "explorer-data" / f"space-{i}.js")
        assert p["indices"].dtype == np.int32 and p["distances"].dtype == np.float32
        np.testing.assert_array_equal(p["indices"], tables[name])
        np.testing.assert_array_equal(p["distances"], dists[name].astype(np.float32))
        occ = np.zeros(N_TRACKS, dtype=int)
        for row in tables[name]:
            for j in row:
                occ[j] += 1
        np.testing.assert_array_equal(p["occurrence"], occ)
        for j, other in enumerate(data.spaces):
            for c, n in enumerate(meta["cutoffs"]):
                want = slow_agreement(tables[name], tables[other], n)
                np.testing.assert_allclose(p["overlap"][j, :, c] / n, want)
                # the matrix is the mean of the per-track values (Figure 2's S_n)
                assert meta["matrix"][i][j][c] == pytest.approx(want.mean(), abs=1e-6)
    m = read_payload(site / "explorer-data" / "map-1.js")["coords"]
    assert m.dtype == np.float32 and np.isnan(m[:5]).all() and np.isfinite(m[5:]).all()


def test_pca_map_matches_the_covariance_eigenvectors():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    Y = pca_map(X)
    Xc = X - X.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(Xc.T))
    top = v[:, np.argsort(w)[::-1][:2]]
    for c in range(2):  # same axes up to sign
        ref = Xc @ top[:, c]
        assert abs(np.corrcoef(Y[:, c], ref)[0, 1]) == pytest.approx(1.0, abs=1e-9)
    assert np.var(Y[:, 0]) >= np.var(Y[:, 1])


def test_previews_are_short_ogg_files_from_the_middle(tmp_path):
    sr = 8000
    t = np.arange(4 * sr) / sr
    x = np.where(t < 2, 0.1, 0.5) * np.sin(2 * np.pi * 300 * t)  # louder second half
    sf.write(tmp_path / "a.wav", x, sr)
    addr = write_previews(["a", "b"], {"a": tmp_path / "a.wav"}, tmp_path / "site", seconds=2.0)
    assert addr == ["explorer-audio/0.ogg", None]
    info = sf.info(str(tmp_path / "site" / addr[0]))
    assert info.format == "OGG" and info.channels == 1
    assert info.duration == pytest.approx(2.0, abs=0.05)
    y, _ = sf.read(str(tmp_path / "site" / addr[0]))
    half = len(y) // 2  # from the middle: quiet then loud
    assert np.abs(y[half:]).mean() > 3 * np.abs(y[:half]).mean()


def test_an_unreadable_audio_file_names_the_file_and_the_setting(tmp_path):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(InputError, match=r"broken\.mp3.*site\.explorer\.previews=false"):
        write_previews(["x"], {"x": bad}, tmp_path / "site", seconds=1.0)


def test_a_table_narrower_than_k_is_refused(explorer, tmp_path):
    _, data, _, _, _ = explorer
    from dataclasses import replace

    narrow = dict(data.indices)
    narrow[data.spaces[1]] = np.asarray(narrow[data.spaces[1]])[:, :3]
    with pytest.raises(InputError, match=rf"{data.spaces[1]}.*site\.explorer\.k=10"):
        write_explorer(replace(data, indices=narrow, audio=None), tmp_path, title="t")


def test_explorer_settings_are_checked_where_they_enter():
    with pytest.raises(ConfigError, match=r"site\.explorer\.k"):
        compose(["site.explorer.k=0"])
    with pytest.raises(ConfigError, match=r"site\.explorer\.distance"):
        compose(["site.explorer.distance=manhattan"])
    cfg = compose(["site.explorer.k=500"])
    with pytest.raises(ConfigError, match=r"site\.explorer\.k=500 exceeds neighbors\.k"):
        cfg.site.check_against(cfg.neighbors)
    cfg = compose(["site.explorer.audio_url=https://example.org/a.mp3"])
    with pytest.raises(ConfigError, match=r"\{track_id\}"):
        cfg.site.check_against(cfg.neighbors)


# ---- the page in Chromium --------------------------------------------------------------------


def _open(pg, site: Path, fragment: str = ""):
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((site / "explorer.html").as_uri() + fragment)
    pg.evaluate("window.nnsimExplorer.ready")
    return errors


def _lit_pixels(pg, which: str) -> int:
    return pg.evaluate(
        f"""(() => {{ const c = document.querySelector('{which} canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i+1] < 250) n++;
        return n; }})()"""
    )


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_a_matrix_cell_opens_two_maps_and_the_page_is_accessible(explorer, width):
    from axe_playwright_python.sync_playwright import Axe

    site, data, tables, _, _ = explorer
    requested: list[str] = []
    with page(width=width, height=900) as pg:
        pg.on("request", lambda r: requested.append(r.url))
        errors = _open(pg, site)
        assert pg.is_hidden("#pair-section")
        # the cells show the S_n matrix (mean of independent per-track values)
        a, b = data.spaces[0], data.spaces[8]
        cell = pg.locator('#matrix button[data-a="0"][data-b="8"]')
        want = slow_agreement(tables[a], tables[b], 10).mean()
        assert float(cell.inner_text()) == pytest.approx(want, abs=0.005)
        cell.click()
        pg.wait_for_selector("#pair-section:not([hidden])")
        assert _lit_pixels(pg, "#map-a") > 100 and _lit_pixels(pg, "#map-b") > 100
        assert pg.inner_text("#map-a figcaption").startswith(data.labels[0])
        assert pg.inner_text("#map-b figcaption").startswith(data.labels[8])
        overflow = pg.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the explorer scrolls sideways at {width} px"
        pg.fill("#search", "trk0001")
        pg.click("#search-results button >> nth=0")
        pg.wait_for_selector("#track:not([hidden])")
        report = Axe().run(pg)
        serious = [
            (v["id"], [n["target"] for n in v["nodes"]][:3])
            for v in report.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert not serious, serious
        if width == 390:  # tap targets
            small = pg.evaluate(
                "[...document.querySelectorAll('main button, main select')]"
                ".filter(b => b.offsetParent && b.getBoundingClientRect().height < 43.5)"
                ".map(b => b.outerHTML.slice(0, 80))"
            )
            assert not small, small
        assert not errors, errors
    assert requested and all(u.startswith(("file://", "blob:")) for u in requested), {
        u for u in requested if not u.startswith("file://")
    }


@pytest.mark.browser
def test_the_matrix_shows_every_measure_of_the_comparison(explorer):
    site, data, tables, _, _ = explorer
    keys = {x["key"] for x in data.measures}
    assert keys == {"rank", "cka", "procrustes"}
    with page(width=1280, height=900) as pg:
        errors = _open(pg, site)
        a, b = data.spaces[0], data.spaces[8]
        cell = '#matrix button[data-a="0"][data-b="8"]'
        pg.select_option("#measure", "rank")
        want = slow_rank_similarity(tables[a], tables[b], 10).mean()
        assert float(pg.inner_text(cell)) == pytest.approx(want, abs=0.005)
        assert "rank at n = 10" in pg.get_attribute(cell, "aria-label")
        pg.select_option("#measure", "cka")
        X = {sp.name: sp.X for sp in synthetic_spaces(N_TRACKS, seed=5, cf_factors=(16,))}
        want = slow_cka(X[a], X[b])
        assert float(pg.inner_text(cell)) == pytest.approx(want, abs=0.005)
        assert "m=cka" in pg.evaluate("location.hash")
        pg.reload()  # the measure is part of the view's address
        pg.evaluate("window.nnsimExplorer.ready")
        assert pg.input_value("#measure") == "cka"
        assert float(pg.inner_text(cell)) == pytest.approx(want, abs=0.005)
        assert not errors, errors


@pytest.mark.browser
def test_a_tracks_lists_in_every_space_are_the_tables(explorer):
    site, data, tables, _, _ = explorer
    t = 17
    with page() as pg:
        errors = _open(pg, site, "#n=5&ref=" + data.spaces[2])
        pg.fill("#search", str(data.ids[t]))
        pg.click("#search-results button >> nth=0")
        pg.wait_for_selector("#track:not([hidden])")
        cols = pg.evaluate(
            """(() => { const S = document.querySelectorAll('#lists thead th[data-space]').length;
            const rows = [...document.querySelectorAll('#lists tbody tr')];
            return [...Array(S).keys()].map(s => rows.map(r => {
                const td = r.querySelectorAll('td')[s];
                return [td.dataset.track, +td.dataset.count]; })); })()"""
        )
        heads = pg.eval_on_selector_all(
            "#lists thead th[data-space]",
            "hs => hs.map(h => [h.dataset.space, +h.querySelector('[data-agreement]')"
            ".dataset.agreement, +h.querySelector('[data-occurrence]').dataset.occurrence])",
        )
        assert not errors, errors
    n = 5
    lists = {s: [str(data.ids[j]) for j in tables[s][t, :n]] for s in data.spaces}
    proposed: dict[str, int] = {}
    for s in data.spaces:
        for j in lists[s]:
            proposed[j] = proposed.get(j, 0) + 1
    ref = data.spaces[2]
    for s, col, (name, agree, occ) in zip(data.spaces, cols, heads, strict=True):
        assert name == s
        assert [c[0] for c in col] == lists[s]
        assert [c[1] for c in col] == [proposed[j] for j in lists[s]]
        assert agree == pytest.approx(len(set(lists[s]) & set(lists[ref])) / n)
        assert occ == int((tables[s] == t).sum())


@pytest.mark.browser
def test_play_requests_the_preview_and_time_advances(explorer):
    site, data, _, _, _ = explorer
    requested: list[str] = []
    with page() as pg:
        pg.on("request", lambda r: requested.append(r.url))
        errors = _open(pg, site, f"#t={data.ids[2]}")
        pg.click(f'#track-head button.play[data-track="{data.ids[2]}"]')
        wait_until(pg, "document.querySelector('#player').currentTime > 0.3", timeout=20_000)
        assert any(u.endswith("explorer-audio/2.ogg") for u in requested), requested
        # a track without audio has no working button; the page says why
        silent = pg.locator(f'#lists button.play[aria-label="Play {data.ids[60]}"]')
        if silent.count():
            assert silent.first.is_disabled()
        assert not errors, errors


@pytest.mark.browser
def test_colour_by_agreement_is_the_per_track_s_n(explorer):
    site, data, tables, _, _ = explorer
    a, b = data.spaces[1], data.spaces[4]
    with page() as pg:
        errors = _open(pg, site, f"#a={a}&b={b}&n=10&colour=agreement")
        values = pg.evaluate("window.nnsimExplorer.colourValues()")
        colours = pg.evaluate("window.nnsimExplorer.colours()")
        pg.select_option("#colour", "style")
        styles = pg.evaluate("window.nnsimExplorer.colourValues()")
        style_colours = pg.evaluate("window.nnsimExplorer.colours()")
        assert not errors, errors
    np.testing.assert_allclose(values, slow_agreement(tables[a], tables[b], 10))
    # the colour is a function of the value, and different values get different colours
    by_value: dict[float, set[int]] = {}
    for v, c in zip(values, colours, strict=True):
        by_value.setdefault(v, set()).add(c)
    assert all(len(c) == 1 for c in by_value.values())
    assert len({next(iter(c)) for c in by_value.values()}) == len(by_value)
    assert styles == data.metadata["style"]
    assert len(set(style_colours)) == len(set(styles))


@pytest.mark.browser
def test_a_brushed_selection_exports_the_tables(explorer, tmp_path):
    site, data, tables, dists, _ = explorer
    a, b = data.spaces[0], data.spaces[3]
    with page() as pg:
        errors = _open(pg, site, f"#a={a}&b={b}&n=5")
        pg.locator("#map-a canvas").scroll_into_view_if_needed()
        box = pg.locator("#map-a canvas").bounding_box()
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        pg.keyboard.down("Shift")
        pg.mouse.move(x + 2, y + 2)
        pg.mouse.down()
        pg.mouse.move(x + w * 0.6, y + h * 0.6, steps=8)
        pg.mouse.up()
        pg.keyboard.up("Shift")
        sel = pg.evaluate("window.nnsimExplorer.state.sel")
        assert 0 < len(sel) < N_TRACKS
        assert pg.inner_text("#selection-count") == f"{len(sel)} tracks selected"
        # the selection lights up in the other map too: only selected tracks are active
        active = pg.evaluate("window.nnsimExplorer.active()")
        assert {i for i, v in enumerate(active) if v} == set(sel)
        with pg.expect_download() as dl:
            pg.click("#export-csv")
        path = tmp_path / dl.value.suggested_filename
        dl.value.save_as(path)
        assert not errors, errors
    import pandas as pd

    got = pd.read_csv(path, dtype={"track_id": str, "neighbor_id": str})
    rows = []
    for i in sel:
        lists = {s: tables[s][i, :5] for s in data.spaces}
        for s in data.spaces:
            for r in range(5):
                j = lists[s][r]
                rows.append(
                    (
                        str(data.ids[i]),
                        s,
                        r + 1,
                        str(data.ids[j]),
                        float(dists[s][i, r]),
                        sum(j in lists[o] for o in data.spaces),
                    )
                )
    assert list(got.columns) == [
        "track_id",
        "space",
        "rank",
        "neighbor_id",
        "distance",
        "spaces_proposing",
    ]
    assert [tuple(r) for r in got.itertuples(index=False)] == rows


@pytest.mark.browser
def test_reloading_the_link_brings_the_same_view_back(explorer):
    site, data, _, _, _ = explorer
    with page() as pg:
        errors = _open(pg, site)
        pg.click('#matrix button[data-a="0"][data-b="5"]')
        pg.wait_for_selector("#pair-section:not([hidden])")
        pg.select_option("#map-a .map-select", "flipped")
        pg.select_option("#cutoff", "5")
        pg.select_option("#colour", "style")
        pg.click("#map-b [data-zoom=in]")
        pg.evaluate("window.nnsimExplorer.panBy(1, 30, -20)")
        pg.evaluate("window.nnsimExplorer.select([3, 4, 9])")
        pg.fill("#search", str(data.ids[9]))
        pg.click("#search-results button >> nth=0")
        pg.wait_for_selector("#track:not([hidden])")
        pg.select_option("#reference", "2")
        pg.wait_for_timeout(50)
        probe = """(() => { const e = window.nnsimExplorer, s = e.state;
            return {a: s.a, b: s.b, n: s.n, colour: s.colour, track: s.track, ref: s.ref,
                    sel: s.sel, maps: e.views.map(v => v.key),
                    views: e.views.map(v => v.viewString()),
                    lists: document.querySelector('#lists').innerText}; })()"""
        before = pg.evaluate(probe)
        link = pg.input_value("#link")
        assert link == pg.url
        pg.goto("about:blank")
        pg.goto(link)
        pg.evaluate("window.nnsimExplorer.ready")
        after = pg.evaluate(probe)
        assert not errors, errors
    assert before["maps"] == ["flipped", "pca"] and before["sel"] == [3, 4, 9]
    assert before["a"] == 0 and before["b"] == 5 and before["n"] == 5
    assert after == before


@pytest.mark.browser
def test_metadata_is_shown_as_text_never_as_html(explorer):
    site, _, _, _, _ = explorer
    with page() as pg:
        errors = _open(pg, site)
        pg.fill("#search", "<img")
        pg.wait_for_selector("#search-results button")
        assert EVIL in pg.inner_text("#search-results")
        pg.click("#search-results button >> nth=0")
        pg.wait_for_selector("#track:not([hidden])")
        assert EVIL in pg.inner_text("#track-head")
        assert pg.evaluate("window.pwned === undefined")
        assert pg.locator("main img").count() == 0
        assert not errors, errors


# ---- nnsim site serve ------------------------------------------------------------------------


def test_site_serve_serves_the_site_folder_only_and_on_loopback(explorer, tmp_path):
    from nnsim.site.serve import make_server

    site = explorer[0]
    (site.parent / "secret.txt").write_text("not for the web")
    if not (site / "index.html").exists():
        (site / "index.html").write_text("<!doctype html><title>results</title>")
    with pytest.raises(ConfigError, match="--allow-remote"):
        make_server(site, "0.0.0.0", free_port(), allow_remote=False)
    with pytest.raises(InputError, match=r"index\.html"):
        make_server(tmp_path, "127.0.0.1", free_port(), allow_remote=False)
    port = free_port()
    server = make_server(site, "127.0.0.1", port, allow_remote=False)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        base = f"http://127.0.0.1:{port}"
        body = urllib.request.urlopen(base + "/explorer.html", timeout=10).read().decode()
        assert "explorer-data/meta.js" in body
        for bad in ("/../secret.txt", "/%2e%2e/secret.txt", "/explorer-data/../../secret.txt"):
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(base + bad, timeout=10)
            assert exc.value.code == 404, bad
        listing = urllib.request.Request(base + "/explorer-data/")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(listing, timeout=10)
        assert exc.value.code == 404  # no folder listings
        assert re.search(r"nosniff", str(urllib.request.urlopen(base + "/").headers))
    finally:
        server.shutdown()
        server.server_close()
