"""Run every benchmarks/bench_*.py and print one Markdown table of their figures and targets.

Each bench module's ``main(argv)`` prints its own figures and returns rows
``{"benchmark", "measured", "target", "met"}`` (``met`` is None where there is no target).

    python benchmarks/run_all.py [--quick] [--readme README.md]

``--quick`` passes smaller sizes to the slow benches (a few minutes in all; the table names
the sizes used). ``--readme PATH`` also writes the machine line and the table between the
lines ``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` of PATH.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import sys
import traceback
from pathlib import Path

START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
QUICK_ARGS = {
    "bench_model": ["--repeat", "1"],
    "bench_byproduct": ["--months", "12"],
    "bench_sweep": ["--runs", "40", "--serial-runs", "6", "--ceiling-runs", "2"],
    "bench_calibrate": ["--steps", "24"],
}


def run_benches(quick: bool) -> list[dict]:
    """Import and run every bench module; return all their rows (a failing bench gives one row)."""
    rows = []
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"\n== {path.stem} ==", flush=True)
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            rows += module.main(QUICK_ARGS.get(path.stem, []) if quick else [])
        except Exception as error:  # keep the other benches' figures
            traceback.print_exc()
            rows.append({"benchmark": path.stem, "measured": f"failed: {type(error).__name__}", "target": "",
                         "met": False})
        sys.stdout.flush()
    return rows


def machine_line(quick: bool) -> str:
    command = "python benchmarks/run_all.py" + (" --quick" if quick else "")
    return (f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{datetime.date.today().isoformat()} (`{command}`)")


def markdown_table(rows: list[dict]) -> str:
    met = {True: "yes", False: "**no**", None: "-"}
    lines = ["| benchmark | measured | target | met |", "|---|---|---|---|"]
    lines += [f"| {r['benchmark']} | {r['measured']} | {r['target'] or '-'} | {met[r['met']]} |" for r in rows]
    return "\n".join(lines)


def check_markers(text: str, path: Path) -> tuple[int, int]:
    """Line indices of the start and end markers in ``text``; exit with a message if missing."""
    lines = [line.strip() for line in text.splitlines()]
    if START not in lines or END not in lines or lines.index(END) < lines.index(START):
        sys.exit(f"run_all.py: {path} needs the line {START} followed later by the line {END}")
    return lines.index(START), lines.index(END)


def write_readme(path: Path, block: str) -> None:
    """Replace what lies between the marker lines of ``path`` with ``block``."""
    text = path.read_text()
    start, end = check_markers(text, path)
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[: start + 1]) + block + "\n" + "".join(lines[end:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for the slow benches (a few minutes)")
    parser.add_argument("--readme", type=Path, metavar="PATH",
                        help=f"write the table between the lines {START} and {END} of PATH")
    args = parser.parse_args(argv)
    if args.readme:  # fail before the benches run, not after
        if not args.readme.is_file():
            sys.exit(f"run_all.py: {args.readme} does not exist")
        check_markers(args.readme.read_text(), args.readme)
    rows = run_benches(args.quick)
    block = machine_line(args.quick) + "\n\n" + markdown_table(rows)
    print("\n" + block)
    if args.readme:
        write_readme(args.readme, block)
        print(f"\nwrote the table to {args.readme}")
    return 1 if any(r["measured"].startswith("failed") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
