"""``make screenshots``: the README's pictures, made from the demo's own outputs.

Run after ``make demo``.  Copies the paper's figures that the pipeline wrote into
``docs/results/`` and photographs, in headless Debian Chromium: the results site
(``results/site/index.html``) at desktop and phone width, the listening test on the demo's
study (served with a scratch database, so no answer is added to yours) page by page, and the
MLflow UI over the demo's runs (``make ui``).  Nothing here is drawn by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FIGURES = {
    "figure2-cosine.png": "results/compare/cosine/heatmap.png",
    "curves-cosine.png": "results/compare/cosine/curves.png",
    "figure1.png": "results/cf_select/figure.png",
    "figure3.png": "results/figure3/msd-musicnn.euclidean.png",
    "scatter-msd-musicnn-embeddings.png": (
        "results/projections/msd-musicnn-embeddings/msd-musicnn-embeddings.scatter.png"
    ),
    "figure5.png": "results/listening_stats/ratings.png",
}


def _serve(argv: list[str]) -> subprocess.Popen:
    """A server of this checkout (the project's environment first on PATH)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def listening(out: Path) -> None:
    """The demo's listening test, page by page: welcome, a reference, demographics, thanks."""
    from browser import page
    from servers import free_port, stop, wait_http

    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        db = Path(scratch) / "responses.sqlite"
        server = _serve(["nnsim", "listening", "serve", "--port", str(port), "--db", str(db)])
        try:
            base = f"http://127.0.0.1:{port}/"
            wait_http(base)
            with page(width=1000, height=900) as pg:
                pg.goto(base)
                pg.screenshot(path=str(out / "listening-welcome.png"), full_page=True)
                pg.check("input[name=consent]")
                pg.click("button[type=submit]")
                pg.wait_for_selector("form[action='/submit']")
                # every player shows its clip's length, as a participant sees it
                # (polled from here: the page's CSP, script-src 'self', refuses Playwright's
                # string functions)
                for _ in range(200):
                    if pg.evaluate(
                        "[...document.querySelectorAll('audio')].every(a => a.readyState >= 1)"
                    ):
                        break
                    pg.wait_for_timeout(100)
                pg.screenshot(path=str(out / "listening-reference.png"), full_page=True)
                while pg.locator("form[action='/submit']").count():
                    pg.click("button[value=skip]")  # skip every reference: nothing rated
                    pg.wait_for_load_state("load")
                pg.screenshot(path=str(out / "listening-demographics.png"), full_page=True)
                pg.click("button[type=submit]")
                pg.wait_for_load_state("load")
                pg.screenshot(path=str(out / "listening-thanks.png"), full_page=True)
        finally:
            stop(server)


def mlflow_runs(out: Path) -> None:
    """``make ui`` over the demo's runs: the runs table with the Table-2 columns."""
    from browser import page
    from servers import free_port, stop, wait_http

    port = free_port()
    server = _serve([sys.executable, "-m", "nnsim.stages.ui", "--port", str(port)])
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[2]
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120)
        with page(width=1900, height=1000) as pg:
            pg.goto(url)
            pg.get_by_text("compare@cosine").first.wait_for(timeout=60_000)
            # MLflow 3.17 opens its assistant panel over a third of the page: close it
            close = pg.get_by_role("button", name="Close", exact=True)
            if close.count():
                close.first.click()
            pg.locator("text=/^factor\\.data/").first.wait_for(timeout=30_000)
            pg.wait_for_timeout(1000)  # the table's columns settle
            pg.screenshot(path=str(ROOT / "docs" / "mlflow-runs.png"))
    finally:
        stop(server)


def explorer(out: Path) -> None:
    """The explorer on the demo: a pair coloured by agreement with a track open, and a phone."""
    from browser import page

    url = (ROOT / "results" / "site" / "explorer.html").as_uri()
    with page(width=1280, height=1000) as pg:
        pg.goto(url)
        spaces = pg.evaluate("window.nnsimExplorer.ready.then(() => window.NNSIM_DATA.meta.spaces)")
        last = len(spaces) - 1
        pg.click(f'#matrix button[data-a="0"][data-b="{last}"]')
        pg.wait_for_selector("#pair-section:not([hidden])")
        ids = pg.evaluate("window.NNSIM_DATA.meta.ids")
        pg.evaluate("i => window.nnsimExplorer.openTrack(i)", 7)
        pg.wait_for_selector("#track:not([hidden])")
        pg.locator("#pair-section").scroll_into_view_if_needed()
        pg.evaluate("document.querySelector('#pair-h').scrollIntoView()")
        pg.screenshot(path=str(out / "explorer.png"))
        pg.evaluate("document.querySelector('#track-h').scrollIntoView()")
        pg.screenshot(path=str(out / "explorer-track.png"))
        assert ids[7]
    with page(width=390, height=844) as pg:
        pg.goto(url + f"#a={spaces[0]}&b={spaces[last]}&n=10")
        pg.evaluate("window.nnsimExplorer.ready")
        pg.evaluate("document.querySelector('#pair-h').scrollIntoView()")
        pg.screenshot(path=str(out / "explorer-phone.png"))


def main() -> int:
    out = ROOT / "docs" / "results"
    out.mkdir(parents=True, exist_ok=True)
    needed = [*FIGURES.values(), "results/listening/study.json", "mlruns/mlflow.db"]
    missing = [src for src in needed if not (ROOT / src).is_file()]
    if missing:
        print(f"missing {', '.join(missing)}: run `make demo` first", file=sys.stderr)
        return 1
    for name, src in FIGURES.items():
        shutil.copyfile(ROOT / src, out / name)
    from browser import page

    site = ROOT / "results" / "site" / "index.html"
    for width, height, name in ((1280, 1000, "site.png"), (390, 844, "site-phone.png")):
        with page(width=width, height=height) as pg:
            pg.goto(site.as_uri())
            pg.wait_for_load_state("load")
            pg.screenshot(path=str(out / name))
    explorer(out)
    listening(ROOT / "docs")
    mlflow_runs(ROOT / "docs")
    print(
        f"wrote {len(FIGURES) + 5} pictures to {out}, 4 of the listening test and the MLflow runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
