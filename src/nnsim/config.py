"""Settings: compose ``conf/`` with Hydra, read ``params.yaml``, return the typed settings.

``conf/`` is the single source of every setting; ``params.yaml`` is generated from it
(``make params``, the same composition DVC's ``hydra.enabled`` performs on ``dvc exp run``).
Both paths end in :func:`to_settings`: the YAML is merged into the
:class:`nnsim.settings.Settings` schema (types), turned into the dataclass objects that the
stages pass to the library, and every range is checked (:meth:`Settings.check`).  Every error
names the key, the value found and the valid values.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nnsim.errors import ConfigError
from nnsim.settings import Settings

#: The conf/ of the checkout nnsim is installed from (fallback when the working directory has none).
PACKAGE_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


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


def compose(overrides: Sequence[str] = (), conf_dir: str | Path | None = None) -> Settings:
    """Compose ``conf/config.yaml`` with Hydra overrides into checked, typed settings.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, e.g. ``["data=jamendo", "cutoffs=[5,10]"]``.  Adding keys
        (``+foo=1``) is refused: every setting must exist in ``conf/``.
    conf_dir : path, optional
        Config folder (default: :func:`find_conf_dir`).

    Returns
    -------
    Settings
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
    return to_settings(
        OmegaConf.to_container(cfg),  # type: ignore[arg-type]
        f"{cdir} with overrides {list(overrides)}" if overrides else str(cdir),
    )


def to_settings(cfg: Mapping[str, Any], source: str) -> Settings:
    """Composed YAML (a mapping) -> :class:`Settings`: schema, types, ranges.

    Keys Hydra adds for the sweep app (``hydra``) are ignored.

    Raises
    ------
    ConfigError
        Naming the key: unknown, missing, of the wrong type or out of range.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    plain = {k: v for k, v in dict(cfg).items() if k != "hydra"}
    try:
        merged = OmegaConf.merge(OmegaConf.structured(Settings), plain)
        missing = sorted(OmegaConf.missing_keys(merged))
        if not missing:
            settings = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or "?"
        msg = str(exc).splitlines()[0]
        raise ConfigError(
            f"{source}: setting {key!r} does not fit the settings schema ({msg}). "
            "Fix it in conf/ (see src/nnsim/settings.py for every key, its type and range)."
        ) from None
    if missing:
        raise ConfigError(
            f"{source}: required setting(s) {', '.join(missing)} have no value; add them to conf/."
        )
    assert isinstance(settings, Settings)
    if settings.data.interactions_dep is None:  # derived (DVC cannot track a null path)
        settings.data.interactions_dep = settings.data.log_dep(settings.paths.demo_dir)
    try:
        settings.check()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return settings


def as_dict(settings: Any) -> dict[str, Any]:
    """Plain nested dict of a settings object (for YAML, JSON and MLflow params)."""
    return dataclasses.asdict(settings)


def dump(settings: Settings) -> str:
    """YAML text of settings, as written to ``params.yaml``."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(as_dict(settings)))


def load_params(path: str | Path = "params.yaml") -> Settings:
    """Read ``params.yaml`` into checked, typed settings.

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
    return to_settings(cfg, str(p))


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings (mappings or settings objects) to ``a.b.c`` keys (MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            v = dataclasses.asdict(v)
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
