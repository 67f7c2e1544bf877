"""Settings: compose ``conf/`` with Hydra, read ``params.yaml``, validate before any work.

``conf/`` is the single source of every setting; ``params.yaml`` is generated from it
(:func:`write_params`, the same composition DVC's ``hydra.enabled`` performs on
``dvc exp run``).  Pipeline stages read ``params.yaml``; every check here names the key, the
value found and the valid values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nnsim.errors import ConfigError
from nnsim.io import atomic_write_text

#: The conf/ of the checkout nnsim is installed from (fallback when the working directory has none).
PACKAGE_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
CONF_DIR = PACKAGE_CONF_DIR  # kept for the sweep app's decorator; see find_conf_dir


def find_conf_dir(start: str | Path | None = None) -> Path:
    """The ``conf/`` folder to compose: the working directory's, else the installed checkout's.

    A second clone that reuses a first clone's ``.venv`` composes its own settings, because
    the working directory wins.  ``NNSIM_CONF`` names a folder explicitly.
    """
    env = os.environ.get("NNSIM_CONF")
    if env:
        p = Path(env)
        if not (p / "config.yaml").is_file():
            raise ConfigError(
                f"NNSIM_CONF={env}: no config.yaml there; point it at a conf/ folder."
            )
        return p.resolve()
    here = Path(start or Path.cwd()) / "conf"
    if (here / "config.yaml").is_file():
        return here.resolve()
    return PACKAGE_CONF_DIR


def _override_message(exc: Exception, overrides: Sequence[str], cdir: Path) -> str:
    """A Hydra composition error in nnsim's words (unknown keys never suggest ``+key``)."""
    text = str(exc)
    m = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Key '([^']+)' (?:is )?not in", text
    )
    if m:
        key = m.group(1)
        return (
            f"unknown setting {key!r} (overrides {list(overrides)}); it is not defined in "
            f"{cdir}. Check the spelling against conf/ (the README lists every setting); "
            "nnsim does not accept new settings on the command line."
        )
    return f"cannot compose {cdir} with overrides {list(overrides)}: {text}"


def compose(overrides: Sequence[str] = (), conf_dir: str | Path | None = None) -> dict[str, Any]:
    """Compose ``conf/config.yaml`` with Hydra overrides into a plain, checked dict.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, e.g. ``["data=jamendo", "cutoffs=[5,10]"]``.  Adding keys
        (``+foo=1``) is refused: every setting must exist in ``conf/``.
    conf_dir : path, optional
        Config folder (default: :func:`find_conf_dir`).

    Returns
    -------
    dict
        Checked against the :class:`nnsim.settings.Settings` schema and :func:`validate`.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cdir = Path(conf_dir).resolve() if conf_dir else find_conf_dir()
    added = [o for o in overrides if o.startswith("+")]
    if added:
        raise ConfigError(
            f"override(s) {added} add settings that conf/ does not define; nnsim accepts only "
            "existing settings. Drop the '+' and check the key against conf/."
        )
    try:
        with initialize_config_dir(str(cdir), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_override_message(exc, overrides, cdir)) from None
    OmegaConf.resolve(cfg)
    out: dict[str, Any] = OmegaConf.to_container(cfg)  # type: ignore[assignment]
    check_schema(out, f"{cdir} with overrides {list(overrides)}" if overrides else str(cdir))
    validate(out)
    return out


def check_schema(cfg: Mapping[str, Any], source: str) -> None:
    """Check keys and types against :class:`nnsim.settings.Settings`.

    Raises
    ------
    ConfigError
        Naming the key: unknown, missing, or of the wrong type.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from nnsim.settings import typed

    try:
        t = typed(dict(cfg))
        missing = sorted(OmegaConf.missing_keys(t))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).splitlines()[0]
        raise ConfigError(
            f"{source}: setting {key!r} does not fit the settings schema ({msg}). "
            "Fix it in conf/ (see src/nnsim/settings.py for every key and its type)."
        ) from None
    if missing:
        raise ConfigError(
            f"{source}: required setting(s) {', '.join(missing)} have no value; add them to conf/."
        )


def dump(cfg: Mapping[str, Any]) -> str:
    """YAML text of a composed config, as written to ``params.yaml``."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(dict(cfg)))


def write_params(path: str | Path = "params.yaml", overrides: Sequence[str] = ()) -> Path:
    """Compose ``conf/`` and write ``params.yaml`` (validated first)."""
    cfg = compose(overrides)
    return atomic_write_text(path, dump(cfg))


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read and validate ``params.yaml``.

    Raises
    ------
    ConfigError
        Missing file (with the command that makes it) or invalid values.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p} not found. Generate it from conf/ with `make params`.")
    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{p}: not valid YAML ({exc}). Regenerate it with `make params`."
        ) from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{p}: expected a mapping of settings.")
    check_schema(cfg, str(p))
    validate(cfg)
    return cfg


def get(cfg: Mapping[str, Any], key: str) -> Any:
    """Value at a dotted key, with an error naming the key when it is missing."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"setting {key!r} is missing; add it to conf/ and run `make params`.")
        node = node[part]
    return node


def _positive_ints(cfg: Mapping[str, Any], key: str) -> list[int]:
    vals = get(cfg, key)
    if not isinstance(vals, list) or not vals:
        raise ConfigError(
            f"setting {key} must be a non-empty list of positive integers, got {vals!r}."
        )
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"setting {key}: {v!r} is not a positive integer (got {vals!r}).")
    return vals


def _choice(cfg: Mapping[str, Any], key: str, valid: Sequence[Any]) -> Any:
    val = get(cfg, key)
    if val not in valid:
        raise ConfigError(
            f"setting {key}={val!r} is not valid; valid values: {', '.join(map(str, valid))}."
        )
    return val


def _choices(cfg: Mapping[str, Any], key: str, valid: Sequence[Any], what: str) -> list[Any]:
    """A list setting whose every item is one of ``valid``; the error names key and item."""
    vals = list(get(cfg, key))
    for v in vals:
        if v not in valid:
            raise ConfigError(
                f"setting {key}: unknown {what} {v!r}; valid: {', '.join(map(str, valid))}."
            )
    return vals


def validate(cfg: Mapping[str, Any]) -> None:
    """Check every setting the stages use; raise :class:`ConfigError` on the first problem."""
    from nnsim.settings import (
        AGGREGATES,
        DISTANCES,
        MEASURES,
        MODEL_SOURCES,
        RESAMPLE_QUALITIES,
        SUBSETS,
        TRACK_ID_RULES,
    )

    VALID_DISTANCES, VALID_MEASURES = DISTANCES, MEASURES
    cutoffs = _positive_ints(cfg, "cutoffs")
    if cutoffs != sorted(set(cutoffs)):
        raise ConfigError(
            f"setting cutoffs={cutoffs} must be increasing without repeats; "
            f"write cutoffs={sorted(set(cutoffs))}."
        )
    k = get(cfg, "neighbors.k")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"setting neighbors.k must be a positive integer, got {k!r}.")
    if max(cutoffs) > k:
        raise ConfigError(
            f"setting cutoffs={cutoffs} exceeds neighbors.k={k}; raise neighbors.k to at least "
            f"{max(cutoffs)} or lower the cutoffs."
        )
    _choices(cfg, "neighbors.distances", VALID_DISTANCES, "distance")
    from nnsim.settings import BACKENDS

    _choice(cfg, "neighbors.backend", BACKENDS)
    if int(get(cfg, "neighbors.recall_sample")) < 2:
        raise ConfigError("setting neighbors.recall_sample must be at least 2.")
    _choice(cfg, "distance", VALID_DISTANCES)
    _choice(cfg, "subset", SUBSETS)
    for sub in _choices(cfg, "compare.subsets", SUBSETS, "subset"):
        if sub == "small" and not get(cfg, "data.small_indices"):
            raise ConfigError(
                "setting compare.subsets includes small, which needs data.small_indices (a file "
                "of row indices); set it in conf/data/ or compute only the large subset."
            )
    if get(cfg, "subset") == "small" and not get(cfg, "data.small_indices"):
        raise ConfigError(
            "setting subset=small needs data.small_indices (a file of row indices); "
            "set it in conf/data/ or use subset=large."
        )
    _choices(cfg, "compare.measures", VALID_MEASURES, "measure")
    rbo_p = float(get(cfg, "compare.rbo_p"))
    if not 0.0 < rbo_p < 1.0:
        raise ConfigError(f"setting compare.rbo_p must be in (0, 1), got {rbo_p!r}.")
    level = float(get(cfg, "compare.ci_level"))
    if not 0.0 < level < 1.0:
        raise ConfigError(f"setting compare.ci_level must be in (0, 1), got {level!r}.")
    rtol = get(cfg, "compare.ambiguity_rtol")
    if not 0.0 <= float(rtol) < 1.0:
        raise ConfigError(f"setting compare.ambiguity_rtol must be in [0, 1), got {rtol!r}.")
    mb = get(cfg, "neighbors.max_block_mb")
    if isinstance(mb, bool) or not float(mb) > 0:
        raise ConfigError(f"setting neighbors.max_block_mb must be positive, got {mb!r}.")
    n_boot = get(cfg, "compare.n_boot")
    if not isinstance(n_boot, int) or n_boot < 0:
        raise ConfigError(f"setting compare.n_boot must be an integer >= 0, got {n_boot!r}.")
    if "projection" in cfg:
        from nnsim.settings import PROJECTION_METHODS

        _choices(cfg, "projection.methods", PROJECTION_METHODS, "method")
        _choices(cfg, "projection.distances", VALID_DISTANCES, "distance")
        if not get(cfg, "projection.seeds"):
            raise ConfigError("setting projection.seeds needs at least one seed.")
        check_projection(get(cfg, "projection"))
    if "audio" in cfg:
        _choice(cfg, "audio.resample_quality", RESAMPLE_QUALITIES)
        _choice(cfg, "audio.track_id", TRACK_ID_RULES)
        hop = get(cfg, "audio.patch_hop")
        if not isinstance(hop, int) or hop < 1:
            raise ConfigError(f"setting audio.patch_hop must be a positive integer, got {hop!r}.")
    if "models" in cfg:
        specs = get(cfg, "models.specs")
        for name in get(cfg, "models.list"):
            if name not in specs:
                raise ConfigError(
                    f"setting models.list names unknown model {name!r}; valid models: "
                    f"{', '.join(specs)}."
                )
        _choice(cfg, "models.source", MODEL_SOURCES)
    if "cf" in cfg:
        extra = get(cfg, "cf.extra_factors")
        if extra:
            _positive_ints(cfg, "cf.extra_factors")
        _positive_ints(cfg, "cf.select.factors")
        _choice(cfg, "cf.aggregate", AGGREGATES)
        ratio = get(cfg, "cf.select.test_ratio")
        if not 0.0 < float(ratio) < 1.0:
            raise ConfigError(f"setting cf.select.test_ratio must be in (0, 1), got {ratio!r}.")
        q = float(get(cfg, "cf.max_user_quantile"))
        if not 0.0 < q <= 1.0:
            raise ConfigError(f"setting cf.max_user_quantile must be in (0, 1], got {q!r}.")


def check_projection(pcfg: Mapping[str, Any]) -> None:
    """Values of the ``projection`` settings that a type cannot check."""
    from nnsim.settings import PROJECTION_INITS, TSNE_IMPLEMENTATIONS

    init = pcfg["init"]
    if init not in PROJECTION_INITS:
        raise ConfigError(
            f"setting projection.init={init!r} is not valid; valid: {', '.join(PROJECTION_INITS)}."
        )
    impl = pcfg["tsne"]["implementation"]
    if impl not in TSNE_IMPLEMENTATIONS:
        raise ConfigError(
            f"setting projection.tsne.implementation={impl!r} is not valid; valid: "
            f"{', '.join(TSNE_IMPLEMENTATIONS)}."
        )
    if not float(pcfg["tsne"]["perplexity"]) > 0:
        raise ConfigError("setting projection.tsne.perplexity must be positive.")
    if int(pcfg["umap"]["n_neighbors"]) < 2:
        raise ConfigError("setting projection.umap.n_neighbors must be at least 2.")
    if int(pcfg["n_jobs"]) < 1:
        raise ConfigError("setting projection.n_jobs must be at least 1.")


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings to ``a.b.c`` keys (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
