"""A release bundle of spaces: LatentJam layout + manifest, README, licence, citation metadata.

Deterministic: the same spaces and settings give byte-identical files and a byte-identical
archive (sorted members, fixed timestamps, owners and modes, gzip without a time stamp), so
the release's checksum can be published and reproduced.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnsim.errors import InputError
from nnsim.files import atomic_write_bytes
from nnsim.release.latentjam import (
    IDS_FILE,
    SMALL_IDS_FILE,
    SMALL_INDICES_FILE,
    check_same_tracks,
    latentjam_name,
)
from nnsim.spaces import Space

#: Licence texts by identifier (the musicnn wheel's licence is read from its metadata).
CC_BY_NC_SA = (
    "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International (CC BY-NC-SA 4.0)\n"
    "https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode\n"
)
#: Epoch of every archive member (1980-01-01, the earliest a zip could hold too).
FIXED_MTIME = 315532800


@dataclass
class ReleaseInfo:
    """What the release's README and metadata say (from ``conf/release/``)."""

    title: str
    version: str
    creators: list[dict[str, str]]
    description: str
    keywords: list[str]
    code_url: str
    related: list[dict[str, str]]
    synthetic: bool
    git_revision: str
    settings: dict[str, Any]


def npy_bytes(X: np.ndarray) -> bytes:
    """The ``.npy`` encoding of a float32 matrix (deterministic)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(X, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def license_from_sources(sources: Sequence[str]) -> tuple[str, str]:
    """(SPDX-like id, text) of the licence that follows from where the models came from.

    ``musicnn``: the graphs are frozen from the ``musicnn`` wheel's checkpoints, so its
    licence (read from the installed package's metadata) applies; ``official``: Essentia's
    graphs are CC BY-NC-SA 4.0, which then governs the derived spaces.
    """
    if "official" in sources:
        return "CC-BY-NC-SA-4.0", CC_BY_NC_SA
    import importlib.metadata as md

    try:
        meta = md.metadata("musicnn")
        ident = str(meta["License"] or "see LICENSE")
        files = [f for f in (md.files("musicnn") or []) if "LICEN" in str(f).upper()]
        text = files[0].read_text() if files else ident
    except md.PackageNotFoundError:
        raise InputError(
            "the musicnn package is not installed, so its licence cannot be read; install it "
            "(make setup) or set release.license explicitly."
        ) from None
    return ident, f"The spaces derive from the musicnn models (licence: {ident}):\n\n{text}"


def build_files(
    spaces: Sequence[Space],
    info: ReleaseInfo,
    *,
    small_indices: np.ndarray | None = None,
    license_id: str,
    license_text: str,
) -> dict[str, bytes]:
    """Every file of the release, name -> bytes (nothing written yet).

    Raises
    ------
    InputError
        No spaces, ids that differ between spaces, two spaces with the same file name.
    """
    ids = check_same_tracks(spaces)
    files: dict[str, bytes] = {}
    rows = []
    for s in spaces:
        stem = latentjam_name(s)
        fname = f"{stem}.npy"
        if fname in files:
            raise InputError(f"{s.name}: two spaces would both be written as {fname}.")
        data = npy_bytes(s.X)
        files[fname] = data
        m = s.meta
        rows.append(
            {
                "file": fname,
                "name": s.name,
                "kind": m.get("kind", "unknown"),
                "model": m.get("model", m.get("architecture", "")),
                "dataset": m.get("dataset", ""),
                "layer": m.get("layer", ""),
                "dim": s.dim,
                "n_tracks": s.n_tracks,
                "distance_notes": "compared with cosine and euclidean distance in nnsim; "
                + ("CF factors: cosine recommended" if m.get("kind") == "cf" else "any"),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    files[IDS_FILE] = ("\n".join(map(str, ids)) + "\n").encode()
    if small_indices is not None:
        idx = np.asarray(small_indices, dtype=np.int64)
        files[SMALL_INDICES_FILE] = ("\n".join(map(str, idx)) + "\n").encode()
        files[SMALL_IDS_FILE] = ("\n".join(map(str, ids[idx])) + "\n").encode()
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(_csv(r[c]) for c in cols) for r in rows]
    files["manifest.csv"] = ("\n".join(lines) + "\n").encode()
    files["LICENSE.txt"] = license_text.encode()
    files["README.md"] = readme(info, rows, ids.size, small_indices, license_id).encode()
    files["CITATION.cff"] = citation(info).encode()
    files[".zenodo.json"] = (
        json.dumps(zenodo_metadata(info, license_id), indent=2) + "\n"
    ).encode()
    return dict(sorted(files.items()))


def _csv(v: Any) -> str:
    text = str(v)
    return f'"{text}"' if any(c in text for c in ',"\n') else text


def readme(
    info: ReleaseInfo,
    rows: list[dict[str, Any]],
    n_tracks: int,
    small: np.ndarray | None,
    license_id: str,
) -> str:
    """The release's README: every file, how the spaces were made, the licence."""
    label = "\n**SYNTHETIC DEMO DATA — not music research results.**\n" if info.synthetic else ""
    out = [f"# {info.title} (version {info.version})", label, info.description, ""]
    out += [
        f"{n_tracks} tracks; every `.npy` is a float32 matrix `(n_tracks, dim)` whose rows "
        f"follow `{IDS_FILE}`.",
        "",
        "| file | kind | model | dataset | layer | dim | sha256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| `{r['file']}` | {r['kind']} | {r['model']} | {r['dataset']} | "
            f"{r['layer']} | {r['dim']} | `{r['sha256'][:16]}…` |"
        )
    out += ["", f"- `{IDS_FILE}`: the track id of each row."]
    if small is not None:
        out += [
            f"- `{SMALL_INDICES_FILE}` / `{SMALL_IDS_FILE}`: the {len(small)} rows of the "
            "small subset (0-based) and their ids."
        ]
    out += [
        "- `manifest.csv`: one line per space with its sha256.",
        "- `CITATION.cff`, `.zenodo.json`: citation and deposit metadata.",
        f"- `LICENSE.txt`: {license_id} (follows from the models used; see below).",
        "",
        "## How the spaces were made",
        "",
        f"nnsim {info.code_url} at git revision `{info.git_revision}`, settings:",
        "",
        "```json",
        json.dumps(info.settings, indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Licence",
        "",
        f"{license_id}: the spaces are outputs of the models named above, so the models' "
        "licence governs them (musicnn wheel: its own licence; Essentia's official graphs: "
        "CC BY-NC-SA 4.0).",
        "",
    ]
    return "\n".join(out)


def citation(info: ReleaseInfo) -> str:
    """``CITATION.cff`` of the release."""
    lines = [
        "cff-version: 1.2.0",
        "message: If you use these spaces, please cite them.",
        f'title: "{info.title}"',
        f'version: "{info.version}"',
        "type: dataset",
        "authors:",
    ]
    for c in info.creators:
        lines.append(f'  - name: "{c["name"]}"')
    lines += [
        f"repository-code: {info.code_url}",
        "references:",
        "  - type: conference-paper",
        '    title: "Similarity of Nearest-Neighbor Query Results in Deep Latent Spaces"',
        "    authors:",
        '      - name: "Tovstogan, Philip"',
        '      - name: "Serra, Xavier"',
        '      - name: "Bogdanov, Dmitry"',
        '    conference: {name: "SMC 2022"}',
        "",
    ]
    return "\n".join(lines)


def zenodo_metadata(info: ReleaseInfo, license_id: str) -> dict[str, Any]:
    """``.zenodo.json``: the deposit metadata Zenodo reads."""
    return {
        "upload_type": "dataset",
        "title": info.title + (" (SYNTHETIC demo)" if info.synthetic else ""),
        "creators": info.creators,
        "description": info.description,
        "license": license_id.lower(),
        "keywords": info.keywords,
        "version": info.version,
        "related_identifiers": [
            *info.related,
            {"relation": "isDerivedFrom", "identifier": info.code_url, "scheme": "url"},
        ],
    }


def write_bundle(files: Mapping[str, bytes], out_dir: str | Path, archive_name: str) -> Path:
    """Write the files and a deterministic ``.tar.gz`` of them; returns the archive's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    atomic_write_bytes(out / archive_name, archive_bytes(files, archive_name.split(".tar")[0]))
    return out / archive_name


def archive_bytes(files: Mapping[str, bytes], prefix: str) -> bytes:
    """A reproducible gzip-compressed tar: sorted names, fixed mtime/owner/mode, no gzip time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = files[name]
            ti = tarfile.TarInfo(f"{prefix}/{name}")
            ti.size = len(data)
            ti.mtime = FIXED_MTIME
            ti.mode = 0o644
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            tar.addfile(ti, io.BytesIO(data))
    gz = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=gz, mtime=0, compresslevel=9) as g:
        g.write(raw.getvalue())
    return gz.getvalue()
