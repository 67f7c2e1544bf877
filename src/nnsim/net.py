"""The local web servers' one rule: loopback unless the user says otherwise."""

from __future__ import annotations

import ipaddress

from nnsim.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool, *, setting: str = "listening.app.host") -> None:
    """Refuse a non-loopback address unless the user said so (``--allow-remote``).

    Parameters
    ----------
    host : str
    allow_remote : bool
    setting : str
        The setting the address came from (named in the error).
    """
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"{setting}={host!r} is not a loopback address; the server would be reachable "
            "from other machines. Pass --allow-remote (and put it behind HTTPS) if that is "
            "what you want."
        )
