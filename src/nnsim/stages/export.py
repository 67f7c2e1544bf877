"""Stage ``export``: the pipeline's spaces as a LatentJam-style release bundle for Zenodo.

Writes ``release/``: one ``.npy`` per space (LatentJam names), ``large-jamendo-ids.txt``
(+ the small subset when ``data.small_indices`` is set), ``manifest.csv`` (file, name, kind,
model, dataset, layer, dim, sha256), ``README.md`` (every file; models, their graph hashes,
settings, git revision), ``LICENSE.txt`` (from the models used), ``CITATION.cff``,
``.zenodo.json`` and a deterministic archive of all of them (``release.archive``), whose
sha256 goes to ``metrics/export.json`` and MLflow.  ``nnsim release upload`` sends it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from nnsim.config import as_dict
from nnsim.errors import ConfigError
from nnsim.files import atomic_dir, write_json
from nnsim.release.bundle import (
    CC_BY_NC_SA,
    ReleaseInfo,
    build_files,
    license_from_sources,
    write_bundle,
)
from nnsim.settings import Settings
from nnsim.spaces import align_logged, read_indices
from nnsim.stages.common import log, run_stage
from nnsim.stages.space_lists import pipeline_spaces
from nnsim.tracking import git_revision, stage_run


def release_info(cfg: Settings, models: dict[str, str]) -> ReleaseInfo:
    """What the bundle says about itself, from ``conf/release/`` and the run."""
    r = cfg.release
    synthetic = bool(cfg.data.synthetic)
    desc = str(r.description)
    if synthetic:
        desc = "SYNTHETIC DEMO: made from synthetic audio and a simulated log. " + desc
    return ReleaseInfo(
        title=str(r.title),
        version=str(r.version),
        creators=[dict(c) for c in r.creators],
        description=desc,
        keywords=list(r.keywords),
        code_url=str(r.code_url),
        related=[dict(x) for x in r.related],
        synthetic=synthetic,
        git_revision=git_revision(),
        settings={
            "data": cfg.data.name,
            "models": {"source": cfg.models.source, "graph_sha256": models},
            "audio": as_dict(cfg.audio),
            "cf": {
                k: getattr(cfg.cf, k) for k in ("regularization", "alpha", "iterations", "seed")
            },
        },
    )


def release_license(cfg: Settings) -> tuple[str, str]:
    lic = str(cfg.release.license)
    if lic == "auto":
        return license_from_sources([cfg.models.source])
    if lic.upper() == "CC-BY-NC-SA-4.0":
        return "CC-BY-NC-SA-4.0", CC_BY_NC_SA
    if not lic.strip():
        raise ConfigError("setting release.license is empty; use auto or a licence identifier.")
    return lic, f"Licence: {lic}\n"


def run(cfg: Settings, args: argparse.Namespace) -> None:
    r = cfg.release
    spaces = pipeline_spaces(cfg)
    if r.align and spaces:
        spaces, _ = align_logged(spaces, "release.align: exporting the")
    small = None
    if cfg.data.small_indices and spaces:
        small = read_indices(cfg.data.small_indices, spaces[0].n_tracks)
    models = {
        str(s.meta["model"]): str(s.meta.get("graph_sha256", ""))
        for s in spaces
        if s.meta.get("model")
    }
    lic_id, lic_text = release_license(cfg)
    files = build_files(
        spaces,
        release_info(cfg, models),
        small_indices=small,
        license_id=lic_id,
        license_text=lic_text,
    )
    out = Path(cfg.paths.release_dir)
    with stage_run(
        cfg, "export", {"release": {k: v for k, v in as_dict(r).items() if k != "zenodo"}}
    ) as tr:
        with atomic_dir(out) as tmp:
            archive = write_bundle(files, tmp, str(r.archive))
            sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        metrics = {"spaces": sum(f.endswith(".npy") for f in files), "tracks": spaces[0].n_tracks}
        write_json(
            Path(cfg.paths.metrics_dir) / "export.json",
            {**metrics, "archive": str(r.archive), "archive_sha256": sha, "license": lic_id},
        )
        tr.log_metrics(metrics)
        tr.set_tags({"release.archive_sha256": sha, "release.license": lic_id})
        tr.log_artifacts(out / "manifest.csv", out / "README.md", out / ".zenodo.json")
    log.info("release bundle in %s (%s, sha256 %s, licence %s)", out, r.archive, sha, lic_id)


def main(argv: list[str] | None = None) -> int:
    return run_stage(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
