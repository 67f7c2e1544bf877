"""The results site: built from a comparison's real outputs, checked in real Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from browser import page, wait_until
from synthetic import comparison_settings, synthetic_spaces

from nnsim.compare import run_comparison
from nnsim.config import compose
from nnsim.listening.stats import compact_letters
from nnsim.plots import factor_selection, rating_bars
from nnsim.report import write_report
from nnsim.site.build import Figure, Provenance, Section, Table, build_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site from a real comparison of synthetic spaces (and real Figure 1 and 5 plots)."""
    root = tmp_path_factory.mktemp("site")
    res = root / "results"
    cfg = compose(["data=jamendo", "cutoffs=[5,10]", "neighbors.k=10", "compare.n_boot=50"])
    result = run_comparison(
        synthetic_spaces(150, seed=3, cf_factors=(16,)),
        **comparison_settings(cfg),
        distance="cosine",
    )
    write_report(result, res / "compare" / "cosine", variables=cfg.compare.variables)
    runs = pd.DataFrame(
        [
            {
                "model": "als",
                "factors": f,
                "seed": s,
                "ndcg": 0.3 - f / 1000 + s / 100,
                "map": 0.2 - f / 2000 + s / 200,
            }
            for f in (8, 16, 32)
            for s in (0, 1, 2)
        ]
        + [
            {"model": "popularity", "factors": 0, "seed": s, "ndcg": 0.1, "map": 0.05}
            for s in (0, 1, 2)
        ]
    )
    (res / "cf_select").mkdir(parents=True)
    factor_selection(
        runs, res / "cf_select" / "figure.png", k=10, best=8, title="Figure 1", ci_level=0.95
    )
    means = pd.DataFrame(
        {"space": ["a", "b"], "mean": [2.0, 1.0], "std": [0.5, 0.4], "n": [10, 10]}
    )
    tukey = pd.DataFrame({"group1": ["a"], "group2": ["b"], "reject": [True]})
    (res / "listening_stats").mkdir(parents=True)
    rating_bars(
        means,
        res / "listening_stats" / "ratings.png",
        title="Figure 5",
        letters=compact_letters(["a", "b"], tukey),
    )
    sections = [
        Section(
            "figure-2",
            "Figure 2",
            "S_n of every pair.",
            figures=[Figure(res / "compare/cosine/heatmap.png", "Figure 2", "cosine")],
            tables=[
                Table(res / "compare/cosine/table1.csv", "Table 1", "spaces"),
                Table(res / "compare/cosine/table2.csv", "Table 2", "aggregates"),
            ],
        ),
        Section(
            "figure-1",
            "Figure 1",
            "ALS.",
            figures=[Figure(res / "cf_select/figure.png", "Figure 1", "factors")],
        ),
        Section(
            "figure-5",
            "Figure 5",
            "ratings.",
            figures=[Figure(res / "listening_stats/ratings.png", "Figure 5", "ratings")],
        ),
        Section(
            "empty",
            "Nothing here",
            "no files",
            figures=[Figure(res / "missing.png", "missing", "")],
        ),
    ]
    prov = Provenance(
        revision="abc123",
        version="0.1.0",
        settings="cutoffs: [5, 10]\n",
        graphs={"msd-musicnn": "f" * 64},
        data={"cf-16": "0" * 64},
        mlflow="make ui",
        synthetic=True,
    )
    out = root / "site"
    files = build_site(sections, prov, out, title="nnsim results (SYNTHETIC demo)")
    return out, files, result


def test_the_site_holds_every_figure_format_and_table_and_leaves_out_what_is_missing(site):
    out, files, result = site
    names = {f.relative_to(out).as_posix() for f in files}
    stems = (
        "figures/figure-2/cosine-heatmap",
        "figures/figure-1/cf_select-figure",
        "figures/figure-5/listening_stats-ratings",
    )
    for stem in stems:
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.svg"} <= names
    assert {f"tables/figure-2/cosine-table2.{ext}" for ext in ("csv", "md", "tex")} <= names
    index = (out / "index.html").read_text()
    assert "Nothing here" not in index and "SYNTHETIC demo" in index
    # the HTML table shows the numbers of the comparison's Table 2
    first = result.factors.iloc[0]
    assert f"<td>{first['similarity']:.3f}</td>" in index
    assert f"<td>{first['levels']}</td>" in index


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_loads_every_image_and_link_resolves_nothing_leaves_the_machine(site, width):
    from axe_playwright_python.sync_playwright import Axe

    out, _, _ = site
    for name in ("index.html", "provenance.html"):
        requested: list[str] = []
        with page(width=width, height=900) as pg:
            pg.on("request", lambda r, sink=requested: sink.append(r.url))
            pg.goto((out / name).as_uri())
            pg.wait_for_load_state("load")
            # lazy images: scroll every one into view, then check each decoded
            for img in pg.query_selector_all("img"):
                img.scroll_into_view_if_needed()
            wait_until(pg, "[...document.images].every(i => i.complete)", timeout=20000)
            broken = pg.evaluate(
                "[...document.images].filter(i => !i.naturalWidth).map(i => i.src)"
            )
            assert not broken, broken
            hrefs = pg.evaluate("[...document.querySelectorAll('a')].map(a => a.href)")
            assert hrefs
            for href in hrefs:
                url = urlparse(href)
                assert url.scheme == "file", href  # no link off the machine
                assert Path(unquote(url.path)).is_file(), href
                if url.fragment:
                    assert pg.query_selector(f"#{url.fragment}"), href
            overflow = pg.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways at {width} px"
            report = Axe().run(pg)
            serious = [
                v["id"]
                for v in report.response["violations"]
                if v.get("impact") in ("serious", "critical")
            ]
            assert not serious, serious
        assert requested and all(u.startswith("file://") for u in requested), requested
