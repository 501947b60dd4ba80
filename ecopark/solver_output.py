"""Solver output: HiGHS, inside scipy's ``milp``, writes some debug lines straight to the
process's standard output (some builds print one per improving MIP solution), past Python's
``sys.stdout``. Runs and reports wrap their MILP solves in :func:`muted` to keep their
output clean."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Send what is written to file descriptor 1 to the null device while the block runs."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (captured, notebook): nothing to mute
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
