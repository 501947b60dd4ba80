"""Records of the shipped presets' fits, and the docs tables regenerated from them.

A *fit record* (``ecopark/calibrations/<preset>.fit.json``) holds what a preset's spec gives
for the preset as shipped: each target's value in every replication (the spec's steps,
replications, seeds and ``[fixed]`` overrides: the calibration's own "after"), their mean,
95% interval and spread, the distance D, and the preset's values of the free parameters;
and, when made from a calibration's folder, that calibration's result (distance before ->
best, calibrated values, intervals and what bounds them, the targets before, runs, wall
time). Commands:

    python -m ecopark.experiments.fit_records record [PRESET ...] [--calibration DIR]
        re-run the presets as shipped and rewrite their records (a minute for all four)
    python -m ecopark.experiments.fit_records docs
        rewrite the tables of docs/calibration.md between their markers from the records (instant)

``make fits`` records every preset, ``make docs`` rewrites the tables; ``make refit
PRESET=generic`` calibrates a preset and records the calibration (docs/calibration.md, "The
presets' calibrations"). ``tests/test_fit_records.py`` re-runs replication 0 of every preset
and fails when a target drifts from its record by more than the replications' noise, or when
the docs tables differ from the records.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark import __version__
from ecopark.experiments.calibration import distance_of
from ecopark.experiments.preset_fit import CALIBRATED_PRESETS, _run, shipped_spec, within

BEGIN = "<!-- fit records: begin (python -m ecopark.experiments.fit_records docs; do not edit by hand) -->"
END = "<!-- fit records: end -->"
#: A re-run target may differ from its record by this many standard deviations of the recorded
#: replications (plus a hair for rounding) before the check calls it drift.
DRIFT_SD = 3.0


def record_path(preset: str) -> Path:
    """Where a preset's fit record lives (beside its spec)."""
    return Path(str(resources.files("ecopark.calibrations").joinpath(f"{preset}.fit.json")))


def load_record(preset: str) -> dict[str, Any]:
    return json.loads(record_path(preset).read_text())


def shipped_values(preset: str) -> dict[str, Any]:
    """The preset's values (as shipped) of its spec's free parameters."""
    return shipped_spec(preset).base_values()


def make_record(preset: str, calibration: str | Path | None = None) -> dict[str, Any]:
    """Run ``preset`` as shipped with its spec's replications and seeds; the record (see module doc).

    ``calibration``: a folder written by ``ecopark calibrate <preset>``, whose result is kept in
    the record; omitted, the previous record's calibration (if any) is kept.
    """
    spec = shipped_spec(preset)
    runs = [_run((preset, k, None)) for k in range(spec.replications)]
    targets = []
    for target in (*spec.targets, *spec.holdout):
        values = np.array([r[target.label] for r in runs], dtype=float)
        mean = float(values.mean())
        half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0
        targets.append({"target": target.label, "metric": target.metric,
                        "role": "fitted" if target in spec.targets else "holdout",
                        "observed": target.observed, "scale": target.scale, "values": values.tolist(),
                        "mean": mean, "low": mean - half, "high": mean + half,
                        "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "within": within(target, mean)})
    means = {t["target"]: t["mean"] for t in targets}
    out = {"preset": preset, "ecopark_version": __version__, "recorded": datetime.now(UTC).date().isoformat(),
           "command": f"python -m ecopark.experiments.fit_records record {preset}",
           "steps": spec.steps, "replications": spec.replications, "seed": spec.seed,
           "free_values": shipped_values(preset), "distance": distance_of(spec.targets, means), "targets": targets}
    if calibration is not None:
        out["calibration"] = calibration_summary(calibration)
    elif record_path(preset).exists():
        previous = load_record(preset).get("calibration")
        if previous:
            out["calibration"] = previous
    return out


def calibration_summary(folder: str | Path) -> dict[str, Any]:
    """What the docs quote of a calibration: distances, values, intervals and bounds, targets before."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    params = pd.read_csv(folder / "parameters.csv")
    targets = pd.read_csv(folder / "targets.csv")
    points = pd.read_csv(folder / "points.csv")
    return {"finished": manifest.get("finished", "")[:10], "ecopark_version": manifest.get("ecopark_version"),
            "runs": int(manifest.get("runs", 0)), "workers": manifest.get("workers"),
            "wall_seconds": manifest.get("wall_seconds_total"),
            "distance_base": float(points.loc[points["stage"] == "base", "distance"].iloc[0]),
            "distance_best": float(manifest["distance"]), "interval_basis": manifest.get("interval_basis", ""),
            "parameters": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                           for r in params[["parameter", "base", "calibrated", "interval_low", "interval_high",
                                            "bound_low", "bound_high", "identified"]].to_dict("records")],
            "before": {r.target: [r.before, r.before_low, r.before_high] for r in targets.itertuples()}}


def write_record(preset: str, calibration: str | Path | None = None) -> Path:
    path = record_path(preset)
    path.write_text(json.dumps(make_record(preset, calibration), indent=1) + "\n")
    return path


def drift(preset: str, replication: int = 0) -> list[str]:
    """Targets of ``preset`` whose value in ``replication`` (re-run now) is off its record by more than
    ``DRIFT_SD`` standard deviations of the recorded replications; and free values that changed."""
    rec = load_record(preset)
    problems = []
    now = shipped_values(preset)
    for key, value in rec["free_values"].items():
        if not math.isclose(float(now[key]), float(value), rel_tol=1e-9, abs_tol=1e-12):
            problems.append(f"{preset}: {key} is {now[key]} in the preset, {value} in its record")
    run = _run((preset, replication, None))
    for t in rec["targets"]:
        recorded = t["values"][replication]
        allowed = DRIFT_SD * t["sd"] + 1e-9 * max(1.0, abs(recorded))
        if abs(run[t["target"]] - recorded) > allowed:
            problems.append(f"{preset}: {t['target']} is {run[t['target']]:.6g} in replication {replication}, "
                            f"{recorded:.6g} in its record (allowed ±{allowed:.3g}, {DRIFT_SD:g} sd of the "
                            "recorded replications)")
    return problems


# -- the docs tables -------------------------------------------------------------------------------------
def _pct(x: float, metric: str) -> str:
    from ecopark.experiments.preset_fit import _fmt

    return _fmt(x, metric)


def docs_block(presets: tuple[str, ...] = CALIBRATED_PRESETS) -> str:
    """The tables of docs/calibration.md regenerated from the records, between the markers."""
    lines = [BEGIN, "",
             "Each preset as shipped, run with its spec's replications and seeds (`python -m "
             "ecopark.experiments.fit_records record <preset>`; `make fits` for all): every target observed ± "
             "tolerance, *before* (the preset before its last calibration, from that calibration's folder) and "
             "*as shipped* (mean over the replications, 95% interval), whether it fits.", "",
             "| preset | target | observed ± tol. | before | as shipped | fits |", "|---|---|---|---|---|---|"]
    summary = ["", "| preset | distance as shipped | last calibration: distance base -> best, runs, wall time | "
                   "calibrated values (interval; what bounds it) | recorded |", "|---|---|---|---|---|"]
    for preset in presets:
        rec = load_record(preset)
        cal = rec.get("calibration") or {}
        for t in rec["targets"]:
            before = cal.get("before", {}).get(t["target"])
            b = f"{_pct(before[0], t['metric'])} [{_pct(before[1], t['metric'])}, {_pct(before[2], t['metric'])}]" \
                if before else "-"
            name = t["target"] if t["role"] == "fitted" else f"holdout: {t['target']}"
            lines.append(f"| {preset} | {name} | {_pct(t['observed'], t['metric'])} ± {_pct(t['scale'], t['metric'])}"
                         f" | {b} | {_pct(t['mean'], t['metric'])} [{_pct(t['low'], t['metric'])}, "
                         f"{_pct(t['high'], t['metric'])}] | {'yes' if t['within'] else 'no'} |")
        if cal:
            values = "; ".join(f"`{p['parameter'].split('.')[-1]}` {p['calibrated']:.3g} ({p['interval_low']:.3g}-"
                               f"{p['interval_high']:.3g}; {p['bound_low']}, {p['bound_high']}"
                               f"{'' if p['identified'] else ', not identified'})" for p in cal["parameters"])
            how = (f"{cal['distance_base']:.1f} -> {cal['distance_best']:.1f}, {cal['runs']} runs, "
                   f"{cal['wall_seconds']:.0f} s on {cal['workers']} worker(s) ({cal['finished']})")
        else:
            values = ", ".join(f"`{k.split('.')[-1]}` {v:.3g}" for k, v in rec["free_values"].items())
            how = "no calibration recorded"
        summary.append(f"| {preset} | {rec['distance']:.1f} | {how} | {values} | {rec['recorded']}, ecopark "
                       f"{rec['ecopark_version']} |")
    return "\n".join([*lines, *summary, "", END])


def rewrite_docs(path: str | Path = "docs/calibration.md") -> bool:
    """Replace the block between the markers of ``path``; True when the text changed."""
    path = Path(path)
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + docs_block() + text[end:]
    path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecopark.experiments.fit_records",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="re-run presets as shipped and rewrite their fit records")
    rec.add_argument("presets", nargs="*", default=list(CALIBRATED_PRESETS))
    rec.add_argument("--calibration", default=None, metavar="DIR",
                     help="folder of an `ecopark calibrate <preset>` run to keep in the record (one preset)")
    docs = sub.add_parser("docs", help="rewrite docs/calibration.md's tables from the records")
    docs.add_argument("--path", default="docs/calibration.md")
    args = parser.parse_args(argv)
    if args.command == "record":
        if args.calibration and len(args.presets) != 1:
            parser.error("--calibration needs exactly one preset")
        for preset in args.presets:
            print(f"wrote {write_record(preset, args.calibration)}")
    else:
        print(f"{args.path}: {'rewritten' if rewrite_docs(args.path) else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
