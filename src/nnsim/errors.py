"""The one exception family of nnsim.

Every problem with what a user gave (a file, a row, a setting) raises a subclass of
:class:`NnsimError` whose message names the culprit and says how to fix it.  Entry points
catch :class:`NnsimError` and print the message without a traceback.
"""

from __future__ import annotations


class NnsimError(Exception):
    """Base class of every error nnsim raises on purpose."""


class InputError(NnsimError, ValueError):
    """A file, row or array given by the user is unusable (names it and the fix)."""


class ConfigError(NnsimError, ValueError):
    """A setting is unknown or has an invalid value (names the key and the valid values)."""


class OutputError(NnsimError):
    """Writing would overwrite something the user has not agreed to lose."""


class Interrupted(NnsimError):
    """The user stopped a long stage (Ctrl-C); the message says what is kept and how to resume."""


def preview(items: object, limit: int = 10) -> str:
    """Render the first ``limit`` items of a sequence for an error message.

    Parameters
    ----------
    items : sequence
        Values to show (rows, ids, ...).
    limit : int
        How many to show before eliding.

    Returns
    -------
    str
        ``"1, 2, 3 (and 7 more)"`` style text.
    """
    seq = list(items)  # type: ignore[call-overload]
    shown = ", ".join(str(x) for x in seq[:limit])
    if len(seq) > limit:
        shown += f" (and {len(seq) - limit} more)"
    return shown


class ClusterError(NnsimError):
    """A Dask scheduler cannot be reached or a distributed run failed (names the address)."""
