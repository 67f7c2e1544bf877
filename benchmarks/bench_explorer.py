"""Benchmark: the explorer at the paper's size (29,275 tracks, 12 spaces) and at 100,000.

Builds an explorer from a generated collection (clustered 2-D maps, neighbour tables that
share part of their lists across spaces, k = 10, two cutoffs) with the project's own
:func:`nnsim.site.explorer.write_explorer`, opens it from disk (``file://``) in headless
Debian Chromium, and measures, for each drawing layer (``pixels``: points written into one
``ImageData``; ``rects``: one ``fillRect`` per point on a 2-D canvas):

- **first render**: from the start of navigation to both maps drawn (median of 3 loads);
- **pan/zoom frame time**: both maps panned and zoomed every animation frame for 120 frames,
  the median and 95th percentile of the ``requestAnimationFrame`` intervals, and the time
  the two redraws take inside a frame;
- **first track**: opening one track's lists in every space (loads every space's file).

Targets (issue: the explorer): first render < 2 s, median frame <= 33 ms at 29,275 tracks.
Writes ``benchmarks/results/explorer.json``.  Run: ``make bench`` or
``python benchmarks/bench_explorer.py [--sizes 29275 100000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import ARGS, CHROMIUM, wait_until

from nnsim.site.explorer import ExplorerData, ExplorerMap, write_explorer

N_SPACES, K = 12, 10


def collection(n: int, seed: int = 0) -> ExplorerData:
    """A generated collection: each space's lists mix a shared ranking with its own."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, 2)) * 10
    label = rng.integers(0, 40, n)
    shared = rng.integers(0, n, size=(n, K)).astype(np.int32)
    names = [f"space-{i:02d}" for i in range(N_SPACES)]
    indices, distances, maps = {}, {}, []
    for s, name in enumerate(names):
        own = rng.integers(0, n, size=(n, K)).astype(np.int32)
        keep = rng.random((n, K)) < 0.3 + 0.4 * (s % 3) / 2
        indices[name] = np.where(keep, shared, own)
        distances[name] = np.sort(rng.random((n, K)).astype(np.float32), axis=1)
        xy = centres[(label + s) % 40] + rng.normal(size=(n, 2))
        maps.append(ExplorerMap(name, "tsne-s0", "t-SNE, seed 0", xy.astype(np.float32)))
    return ExplorerData(
        ids=np.array([f"t{i:06d}" for i in range(n)]),
        spaces=names,
        labels=names,
        indices=indices,
        distances=distances,
        k=K,
        cutoffs=[5, 10],
        distance="cosine",
        maps=maps,
        metadata={"group": [f"g{v % 8}" for v in label]},
        colour_columns=["group"],
    )


FRAMES = """async (frames) => {
  const e = window.nnsimExplorer, stamps = [], draws = [];
  await new Promise((done) => {
    let i = 0;
    const step = (t) => {
      stamps.push(t);
      const t0 = performance.now();
      e.panBy(0, 3, 2); e.panBy(1, -3, 1);
      if (i % 10 === 5) { e.zoomBy(0, 1.05); e.zoomBy(1, 1 / 1.05); }
      draws.push(performance.now() - t0);
      if (++i < frames) requestAnimationFrame(step); else done();
    };
    requestAnimationFrame(step);
  });
  const dt = stamps.slice(1).map((t, i) => t - stamps[i]);
  return {dt, draws};
}"""


def measure(site: Path, renderer: str, loads: int = 3) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    url = (site / "explorer.html").as_uri() + f"?renderer={renderer}#a=space-00&b=space-01&n=10"
    firsts, frame = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            for _ in range(loads):
                pg = browser.new_page(viewport={"width": 1400, "height": 900})
                pg.goto(url, wait_until="commit")
                wait_until(pg, "window.nnsimExplorer !== undefined", timeout=60_000)
                first = pg.evaluate("window.nnsimExplorer.ready")  # performance.now() when drawn
                assert pg.evaluate("window.nnsimExplorer.renderer") == renderer
                firsts.append(first / 1000)
                if not frame:
                    pg.locator("#map-a canvas").scroll_into_view_if_needed()
                    frame = pg.evaluate(FRAMES, 120)
                    # one track in every space: loads the other spaces' files the first time
                    frame["track"] = pg.evaluate(
                        "(async () => { const t0 = performance.now(); "
                        "await window.nnsimExplorer.openTrack(7); "
                        "return (performance.now() - t0) / 1000; })()"
                    )
                pg.close()
        finally:
            browser.close()
    dt = sorted(frame["dt"])
    return {
        "first_render_s": statistics.median(firsts),
        "frame_median_ms": statistics.median(dt),
        "frame_p95_ms": dt[int(0.95 * (len(dt) - 1))],
        "redraw_median_ms": statistics.median(frame["draws"]),
        "open_track_s": frame["track"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[29275, 100000])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "explorer.json"))
    args = ap.parse_args()
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_explorer(collection(n), tmp, title="bench")
            build = time.perf_counter() - t0
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
            first_view = sum(
                (Path(tmp) / "explorer-data" / f).stat().st_size
                for f in ("meta.js", "space-0.js", "map-0.js", "map-1.js")
            )
            print(
                f"{n} tracks x {N_SPACES} spaces: site {size:.1f} MiB (first view "
                f"{first_view / 2**20:.1f} MiB), built in {build:.1f} s",
                flush=True,
            )
            for renderer in ("pixels", "rects"):
                r = measure(Path(tmp), renderer)
                r.update(tracks=n, spaces=N_SPACES, renderer=renderer, site_mib=size)
                print(
                    f"  {renderer:<6} first render {r['first_render_s']:.2f} s, frame median "
                    f"{r['frame_median_ms']:.1f} ms (p95 {r['frame_p95_ms']:.1f}), two redraws "
                    f"{r['redraw_median_ms']:.1f} ms, first track opened in "
                    f"{r['open_track_s']:.2f} s",
                    flush=True,
                )
                results.append(r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": results}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
