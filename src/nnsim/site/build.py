"""Build the results site: a self-contained static folder that opens from disk.

:func:`build_site` copies the figures (PNG shown, PDF and SVG linked) and the tables (HTML from
the CSVs, with the Markdown and LaTeX files linked) of the pipeline's results into one folder
with an ``index.html`` and a ``provenance.html``.  Pages have no scripts, no web fonts and no
external addresses: they render the same from a file system, a static host or a laptop
without network.  Whatever the pipeline did not produce (e.g. no listening test) is left out,
never shown as an empty section.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nnsim.plots import VECTOR_FORMATS

CSS = """
:root { color-scheme: light; --fg: #1b1b1b; --muted: #555; --line: #ccc; --accent: #005a9c; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; font: 16px/1.5 system-ui, sans-serif;
       color: var(--fg); background: #fff; }
header { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; padding: 0; list-style: none; }
a { color: var(--accent); }
a:focus { outline: 3px solid #ffbf47; }
figure { margin: 1.5rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .95rem; }
.formats { font-size: .9rem; }
.banner { background: #fff4ce; border: 1px solid #c9a400; padding: .5rem .75rem; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .6rem; text-align: left;
         white-space: nowrap; }
thead th { border-bottom: 2px solid var(--fg); }
code, pre { font-size: .85rem; }
pre { overflow-x: auto; background: #f6f6f6; padding: .75rem; }
"""


@dataclass
class Provenance:
    """Where the results come from (shown on ``provenance.html``).

    Attributes
    ----------
    revision : str
        Git revision of the code (``+dirty`` when modified).
    version : str
        nnsim's version.
    settings : str
        The settings the pipeline ran with (``params.yaml``).
    graphs : mapping of str to str
        sha256 of each content-based model graph.
    data : mapping of str to str
        sha256 fingerprint of each compared space's vectors.
    mlflow : str
        How to open the MLflow runs (text: the UI runs on demand, not part of the site).
    synthetic : bool
        Whether the data are the embedded synthetic demo.
    """

    revision: str
    version: str
    settings: str
    graphs: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)
    mlflow: str = ""
    synthetic: bool = False


@dataclass
class Figure:
    """One figure of the site: its PNG (PDF and SVG beside it when present)."""

    png: Path
    title: str
    caption: str


@dataclass
class Table:
    """One table of the site: its CSV (Markdown and LaTeX beside it when present)."""

    csv: Path
    title: str
    caption: str
    columns: Sequence[str] | None = None


@dataclass
class Section:
    """A section of the index page: figures and tables under one heading."""

    anchor: str
    title: str
    intro: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _page(title: str, body: str, *, synthetic: bool) -> str:
    banner = (
        '<p class="banner" role="note"><strong>SYNTHETIC demo.</strong> These results come '
        "from the embedded synthetic demo (generated audio, a simulated listening log and "
        "simulated answers); they show what the pipeline produces, not findings.</p>"
        if synthetic
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_e(title)}</h1>{banner}</header>\n<main>\n{body}\n</main>\n"
        '<footer><p><a href="index.html">Results</a> · '
        '<a href="provenance.html">Provenance</a></p></footer>\n</body>\n</html>\n'
    )


def _copy(src: Path, out: Path, sub: str) -> str | None:
    """Copy ``src`` into the site as ``<sub>/<parent folder>-<name>`` (the same file name
    from two folders, e.g. ``compare/cosine/heatmap.png`` and ``compare/euclidean/...``,
    stays two files); returns its address relative to the site, or None when missing."""
    if not src.is_file():
        return None
    dst = out / sub / f"{src.parent.name}-{src.name}"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst.relative_to(out).as_posix()


def _figure_html(fig: Figure, out: Path, sub: str) -> str:
    png = _copy(fig.png, out, sub)
    if png is None:
        return ""
    links = [f'<a href="{_e(png)}">PNG</a>']
    for ext in VECTOR_FORMATS:
        rel = _copy(fig.png.with_suffix(f".{ext}"), out, sub)
        if rel:
            links.append(f'<a href="{_e(rel)}">{ext.upper()}</a>')
    return (
        f'<figure>\n<img src="{_e(png)}" alt="{_e(fig.title)}" loading="lazy">\n'
        f"<figcaption><strong>{_e(fig.title)}.</strong> {_e(fig.caption)} "
        f'<span class="formats">({" · ".join(links)})</span></figcaption>\n</figure>'
    )


def _table_html(tab: Table, out: Path, sub: str) -> str:
    csv = _copy(tab.csv, out, sub)
    if csv is None:
        return ""
    frame = pd.read_csv(tab.csv)
    if tab.columns is not None:
        frame = frame[[c for c in tab.columns if c in frame.columns]]
    links = [f'<a href="{_e(csv)}">CSV</a>']
    for ext, label in (("md", "Markdown"), ("tex", "LaTeX")):
        rel = _copy(tab.csv.with_suffix(f".{ext}"), out, sub)
        if rel:
            links.append(f'<a href="{_e(rel)}">{label}</a>')
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td>{_e(f'{v:.3f}' if isinstance(v, float) else v)}</td>" for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return (
        f"<h3>{_e(tab.title)}</h3>\n<p>{_e(tab.caption)} "
        f'<span class="formats">({" · ".join(links)})</span></p>\n'
        f'<div class="table-wrap" role="region" aria-label="{_e(tab.title)}" tabindex="0">'
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>"
        "</table></div>"
    )


def build_site(
    sections: Sequence[Section],
    provenance: Provenance,
    out: str | Path,
    *,
    title: str,
    explorer: bool = False,
) -> list[Path]:
    """Write the site into ``out`` (an empty or new folder).

    Parameters
    ----------
    sections : sequence of Section
        What the index page shows, in order; figures and tables whose files are missing
        are left out, and so is a section left empty.
    provenance : Provenance
    out : path
        Site folder.
    title : str
        Title of the pages.
    explorer : bool
        Link the explorer (``explorer.html``, which
        :func:`nnsim.site.explorer.write_explorer` writes).

    Returns
    -------
    list of Path
        Every file written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts, toc = [], []
    for sec in sections:
        items = [_figure_html(f, out, f"figures/{sec.anchor}") for f in sec.figures]
        items += [_table_html(t, out, f"tables/{sec.anchor}") for t in sec.tables]
        items = [i for i in items if i]
        if not items:
            continue
        toc.append(f'<li><a href="#{_e(sec.anchor)}">{_e(sec.title)}</a></li>')
        parts.append(
            f'<section id="{_e(sec.anchor)}" aria-labelledby="{_e(sec.anchor)}-h">\n'
            f'<h2 id="{_e(sec.anchor)}-h">{_e(sec.title)}</h2>\n<p>{_e(sec.intro)}</p>\n'
            + "\n".join(items)
            + "\n</section>"
        )
    if explorer:
        toc.insert(0, '<li><a href="explorer.html">Explorer</a></li>')
        parts.insert(
            0,
            '<p><a href="explorer.html"><strong>Open the explorer</strong></a>: press a cell '
            "of the S_n matrix to see two spaces' maps side by side, coloured by how far they "
            "agree on each track, every space's neighbours of a track, and listen to them.</p>",
        )
    toc.append('<li><a href="provenance.html">Provenance</a></li>')
    nav = f'<nav aria-label="Contents"><ul>{"".join(toc)}</ul></nav>'
    (out / "index.html").write_text(
        _page(title, nav + "\n" + "\n".join(parts), synthetic=provenance.synthetic),
        encoding="utf-8",
    )
    p = provenance

    def rows(d: Mapping[str, str]) -> str:
        return "".join(
            f'<tr><th scope="row">{_e(k)}</th><td><code>{_e(v)}</code></td></tr>'
            for k, v in sorted(d.items())
        )

    body = (
        "<h2>Code</h2>\n"
        f"<p>nnsim {_e(p.version)}, git revision <code>{_e(p.revision)}</code>.</p>\n"
        "<h2>Model graphs (sha256)</h2>\n"
        + (
            f'<div class="table-wrap" role="region" aria-label="model graphs" tabindex="0">'
            f"<table><tbody>{rows(p.graphs)}</tbody></table></div>"
            if p.graphs
            else "<p>No content-based model graphs (the spaces were imported).</p>"
        )
        + "\n<h2>Data (sha256 of each space's vectors)</h2>\n"
        + (
            f'<div class="table-wrap" role="region" aria-label="data fingerprints" tabindex="0">'
            f"<table><tbody>{rows(p.data)}</tbody></table></div>"
            if p.data
            else "<p>No spaces.</p>"
        )
        + f"\n<h2>MLflow runs</h2>\n<p>{_e(p.mlflow)}</p>\n"
        + f"<h2>Settings (params.yaml)</h2>\n<pre><code>{_e(p.settings)}</code></pre>"
    )
    (out / "provenance.html").write_text(
        _page(f"{title}: provenance", body, synthetic=p.synthetic), encoding="utf-8"
    )
    return sorted(f for f in out.rglob("*") if f.is_file())
