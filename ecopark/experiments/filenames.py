"""Safe file names for outputs named after data (parameter and outcome names read from a folder)."""

from __future__ import annotations

import re

#: Longest generated file name, in characters (file systems allow 255 bytes).
MAX_NAME = 150


def safe_filename(name: str) -> str:
    """``name`` as one plain file name: every character outside letters, digits, ``.``, ``_``,
    ``-`` and ``=`` becomes ``_`` (so no ``/``, ``\\`` or drive letter), leading dots are
    dropped (no ``..`` or hidden file) and the result is at most :data:`MAX_NAME` long."""
    clean = re.sub(r"[^A-Za-z0-9._=-]", "_", name).lstrip(".")[:MAX_NAME]
    return clean or "_"
