"""Settings: compose ``conf/`` with Hydra, read ``params.yaml``, validate before any work.

``conf/`` is the single source of every setting; ``params.yaml`` is generated from it
(:func:`write_params`, the same composition DVC's ``hydra.enabled`` performs on
``dvc exp run``).  Pipeline stages read ``params.yaml``; every check here names the key, the
value found and the valid values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from nnsim.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
#: Valid subsets of tracks.
VALID_SUBSETS = ("large", "small")
#: Valid track-id rules for audio files.
VALID_TRACK_ID = ("stem", "relpath")


def compose(overrides: Sequence[str] = (), conf_dir: str | Path | None = None) -> dict[str, Any]:
    """Compose ``conf/config.yaml`` with Hydra overrides into a plain, resolved dict.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, e.g. ``["data=jamendo", "cutoffs=[5,10]"]``.
    conf_dir : path, optional
        Config folder (default: the repository's ``conf/``).

    Returns
    -------
    dict
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cdir = Path(conf_dir or CONF_DIR).resolve()
    try:
        with initialize_config_dir(str(cdir), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(
            f"cannot compose {cdir} with overrides {list(overrides)}: {exc}"
        ) from None
    OmegaConf.resolve(cfg)
    out = OmegaConf.to_container(cfg)
    assert isinstance(out, dict)
    return out  # type: ignore[return-value]


def dump(cfg: Mapping[str, Any]) -> str:
    """YAML text of a composed config, as written to ``params.yaml``."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(dict(cfg)))


def write_params(path: str | Path = "params.yaml", overrides: Sequence[str] = ()) -> Path:
    """Compose ``conf/`` and write ``params.yaml`` (validated first)."""
    cfg = compose(overrides)
    validate(cfg)
    p = Path(path)
    p.write_text(dump(cfg))
    return p


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
    cfg = yaml.safe_load(p.read_text())
    if not isinstance(cfg, dict):
        raise ConfigError(f"{p}: expected a mapping of settings.")
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


def validate(cfg: Mapping[str, Any]) -> None:
    """Check every setting the stages use; raise :class:`ConfigError` on the first problem."""
    from nnsim.neighbors import VALID_DISTANCES
    from nnsim.similarity import VALID_MEASURES

    cutoffs = _positive_ints(cfg, "cutoffs")
    k = get(cfg, "neighbors.k")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"setting neighbors.k must be a positive integer, got {k!r}.")
    if max(cutoffs) > k:
        raise ConfigError(
            f"setting cutoffs={cutoffs} exceeds neighbors.k={k}; raise neighbors.k to at least "
            f"{max(cutoffs)} or lower the cutoffs."
        )
    for d in get(cfg, "neighbors.distances"):
        if d not in VALID_DISTANCES:
            raise ConfigError(
                f"setting neighbors.distances: unknown distance {d!r}; valid: "
                f"{', '.join(VALID_DISTANCES)}."
            )
    _choice(cfg, "distance", VALID_DISTANCES)
    _choice(cfg, "subset", VALID_SUBSETS)
    if get(cfg, "subset") == "small" and not get(cfg, "data.small_indices"):
        raise ConfigError(
            "setting subset=small needs data.small_indices (a file of row indices); "
            "set it in conf/data/ or use subset=large."
        )
    for m in get(cfg, "compare.measures"):
        if m not in VALID_MEASURES:
            raise ConfigError(
                f"setting compare.measures: unknown measure {m!r}; "
                f"valid: {', '.join(VALID_MEASURES)}."
            )
    n_boot = get(cfg, "compare.n_boot")
    if not isinstance(n_boot, int) or n_boot < 0:
        raise ConfigError(f"setting compare.n_boot must be an integer >= 0, got {n_boot!r}.")
    if "audio" in cfg:
        _choice(cfg, "audio.resample_quality", [0, 1, 2, 3, 4])
        _choice(cfg, "audio.track_id", VALID_TRACK_ID)
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
        _choice(cfg, "models.source", ["musicnn", "official"])
    if "cf" in cfg:
        _positive_ints(cfg, "cf.factors")
        _positive_ints(cfg, "cf.select.factors")
        _choice(cfg, "cf.aggregate", ["sum", "max", "mean"])
        ratio = get(cfg, "cf.select.test_ratio")
        if not 0.0 < float(ratio) < 1.0:
            raise ConfigError(f"setting cf.select.test_ratio must be in (0, 1), got {ratio!r}.")
        q = float(get(cfg, "cf.max_user_quantile"))
        if not 0.0 < q <= 1.0:
            raise ConfigError(f"setting cf.max_user_quantile must be in (0, 1], got {q!r}.")


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
