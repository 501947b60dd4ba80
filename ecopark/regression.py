"""Regression reference: every preset's outputs on fixed seeds, stored compactly, checked by a test.

Speed work and refactoring must not change a single result. :func:`fingerprint` reduces a
run's outputs (the time series, the firms, streams, links and loans tables, the ledger's
totals by kind and party, and every run metric) to a compact record: per table column a
hash of its values and its sum, per ledger row (to the fen) and per metric the value itself,
rounded to :data:`DIGITS` significant digits (so that a last-bit difference between
platforms does not count, while any change of the economics does). :func:`cases` x
:data:`SEEDS` runs of :data:`STEPS` months are compared with the stored reference
(``tests/regression_reference.json.gz``) by ``tests/test_regression.py``.

When the economics change on purpose, refresh the reference with one command from the
repository root and commit the file with the change:

    python -m ecopark.regression refresh      # or: make regression

``python -m ecopark.regression check`` lists every output that differs from the reference.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def cases() -> dict[str, tuple[str, dict[str, Any]]]:
    """The runs checked: case name -> (preset, overrides). Every shipped preset (``generic`` is
    also the default park; a preset added later joins, and the test asks for a refresh), and the
    generic park with the byproduct platform on, which takes the matching code's other path."""
    from ecopark.scenario import presets

    return {**{name: (name, {}) for name in presets()},
            "generic_platform": ("generic", {"policies.platform.enabled": True})}


#: Seeds of every case.
SEEDS = (1, 2)
#: Months of every run: three compliance years of the carbon market.
STEPS = 36
#: Significant digits values are rounded to before they are hashed or stored.
DIGITS = 10
#: Where the reference is stored (the repository's tests folder).
REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "regression_reference.json.gz"
#: The one-line command that rewrites the reference.
REFRESH_COMMAND = "python -m ecopark.regression refresh"


def rounded(value: Any, digits: int = DIGITS) -> Any:
    """``value`` rounded to ``digits`` significant digits (floats), as is otherwise (int, str, bool)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value) or value == 0.0:
            return str(value) if not math.isfinite(value) else 0.0
        return float(f"{value:.{digits}g}")
    return str(value)


def column_record(values: pd.Series, digits: int = DIGITS) -> dict[str, Any]:
    """{"hash": first 16 hex digits of the SHA-1 of the rounded values, "sum": their rounded sum (numbers)}."""
    text = "\n".join(repr(rounded(v, digits)) for v in values.tolist())
    record: dict[str, Any] = {"hash": hashlib.sha1(text.encode()).hexdigest()[:16]}
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        record["sum"] = rounded(float(np.nansum(values.to_numpy(dtype=float))), digits)
    return record


def table_record(table: pd.DataFrame, digits: int = DIGITS) -> dict[str, Any]:
    """A table's row count and, per column, :func:`column_record`."""
    return {"rows": len(table), "columns": {str(c): column_record(table[c], digits) for c in table.columns}}


def fingerprint(result, digits: int = DIGITS) -> dict[str, Any]:
    """The compact record of a :class:`~ecopark.experiments.runner.RunResult` that the reference stores
    (floats rounded to ``digits`` significant digits)."""
    ledger = {f"{r.kind}|{r.payer}|{r.payee}": round(float(r.amount_yuan), 2)  # exact: the ledger books fen
              for r in result.ledger.itertuples()}
    return {
        "timeseries": table_record(result.timeseries, digits),
        "firms": table_record(result.firms, digits),
        "streams": table_record(result.streams, digits),
        "links": table_record(result.links, digits),
        "loans": table_record(result.loans, digits),
        "ledger": ledger,
        "metrics": {name: rounded(value, digits) for name, value in result.metrics.items()},
    }


def compute(runs: Mapping[str, tuple[str, dict[str, Any]]] | None = None, seeds: tuple[int, ...] = SEEDS,
            steps: int = STEPS, digits: int = DIGITS) -> dict[str, Any]:
    """Run every case (default :func:`cases`) on every seed; returns {"steps", "seeds", "digits",
    "runs": {"case/seed": fingerprint}}."""
    from ecopark.experiments.runner import run

    runs = {f"{name}/{seed}": fingerprint(run(preset, steps=steps, seed=seed, overrides=overrides), digits)
            for name, (preset, overrides) in (cases() if runs is None else runs).items() for seed in seeds}
    return {"steps": steps, "seeds": list(seeds), "digits": digits, "runs": runs}


def differences(reference: Any, current: Any, path: str = "") -> list[str]:
    """Every place where ``current`` differs from ``reference``, as "path: reference -> current" lines."""
    if isinstance(reference, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(reference) | set(current)):
            if key == "hash" and "sum" in reference and reference.get("sum") != current.get("sum"):
                continue  # the sum's line says it already
            where = f"{path}/{key}" if path else str(key)
            if key not in reference:
                out.append(f"{where}: not in the reference (new)")
            elif key not in current:
                out.append(f"{where}: in the reference, missing now")
            else:
                out += differences(reference[key], current[key], where)
        return out
    return [] if reference == current else [f"{path}: {reference!r} -> {current!r}"]


def load(path: Path = REFERENCE) -> dict[str, Any]:
    """The stored reference."""
    with gzip.open(path, "rt") as handle:
        return json.load(handle)


def save(data: dict[str, Any], path: Path = REFERENCE) -> None:
    """Write ``data`` as gzipped JSON (compact, keys sorted, no timestamp: the same data gives the same bytes)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as handle:
        handle.write(text.encode())


def main(argv: list[str] | None = None) -> int:
    """``refresh`` rewrites the reference; ``check`` prints the differences (exit status 1 if any)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("refresh", "check"))
    parser.add_argument("--path", type=Path, default=REFERENCE, help="the reference file (default: %(default)s)")
    parser.add_argument("--digits", type=int, default=DIGITS,
                        help="significant digits of a refresh (17: bit for bit; default %(default)s); "
                             "check uses the file's")
    args = parser.parse_args(argv)
    if args.action == "refresh":
        current = compute(digits=args.digits)
        save(current, args.path)
        print(f"wrote {args.path} ({args.path.stat().st_size:,} bytes, {len(current['runs'])} runs)")
        return 0
    reference = load(args.path)
    current = compute(digits=reference["digits"])
    found = differences(reference, current)
    print("\n".join(found) if found else f"identical to {args.path} ({len(current['runs'])} runs)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
