"""``make screenshots``: the README's pictures, made from the demo's own outputs.

Run after ``make demo``.  Copies the paper's figures that the pipeline wrote into
``docs/results/`` and photographs the results site (``results/site/index.html``) in headless
Debian Chromium at desktop and phone width.  Nothing here is drawn by hand.
"""

from __future__ import annotations

import shutil
import sys
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


def main() -> int:
    out = ROOT / "docs" / "results"
    out.mkdir(parents=True, exist_ok=True)
    missing = [src for src in FIGURES.values() if not (ROOT / src).is_file()]
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
    print(f"wrote {len(FIGURES) + 2} pictures to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
