"""Regenerate the reference documents in docs/ from the code: ``python -m ecopark.reference``."""

from __future__ import annotations

import sys
from pathlib import Path

from ecopark import metrics, scenario

#: file name in docs/ -> function producing its text
REFERENCE_DOCS = {"metrics.md": metrics.markdown, "scenario.md": scenario.markdown}


def write(folder: Path) -> None:
    for name, make in REFERENCE_DOCS.items():
        (folder / name).write_text(make())


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs"))
