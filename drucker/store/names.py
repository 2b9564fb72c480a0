"""Validation of names that become file names inside a store."""

from __future__ import annotations

import re

from drucker.errors import InvalidNameError

MAX_NAME_LENGTH = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def validate_name(name: str, what: str = "name", max_length: int = MAX_NAME_LENGTH) -> str:
    """Return ``name`` if it is a safe plain file name, else raise :class:`InvalidNameError`.

    Allowed: 1 to ``max_length`` (128) characters of letters, digits, ``.``, ``_``, ``+`` and
    ``-``, starting with a letter or digit, so no path separators, no ``..``, no absolute
    paths and no hidden files (the store keeps its own bookkeeping in dot-files).
    """
    if not name:
        raise InvalidNameError(f"{what} is empty")
    if len(name) > max_length:
        raise InvalidNameError(f"{what} is {len(name)} characters long; at most {max_length}")
    if "/" in name or "\\" in name:
        raise InvalidNameError(f"{what} {name!r} contains a path separator")
    if name in (".", "..") or not _NAME.fullmatch(name):
        raise InvalidNameError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_', '+' and '-', "
            "starting with a letter or digit"
        )
    return name
