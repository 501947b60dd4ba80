"""Section 6 of the validation report: parameter recovery on synthetic targets
(``experiments/recovery.py``) and the coverage test of the calibration intervals
(``experiments/coverage.py``; ``python -m ecopark.experiments.coverage`` prints this subsection)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ecopark.experiments.calibration_spec import load_calibration
from ecopark.experiments.coverage import coverage_test, markdown_table
from ecopark.experiments.recovery import parameter_recovery

ENCOUNTERS, TRUST, HURDLE = ("byproduct_market.encounters_per_month", "byproduct_market.initial_trust",
                             "economy.discount_rate[1]")
#: A 13-firm farm-and-food park (a 24-month run takes about a tenth of a second).
SMALL_PARK = {"park.firms": {"grain_oil": 2, "food_feed": 3, "livestock": 3, "biogas": 2, "greenhouse": 3},
              "park.size_km": 3.0, "park.vacant_plots": 1}
#: The full form: the generic park, three behavioural parameters, four targets, two truths.
RECOVERY_SPEC: dict[str, Any] = {
    "scenario": "generic", "steps": 60, "replications": 4, "seed": 2026,
    "free": {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}, TRUST: [0.3, 1.0], HURDLE: [0.08, 0.40]},
    "search": {"sample": "lhs", "n": 32, "refine": "differential_evolution", "population": 8, "iterations": 3},
    "targets": [{"metric": "links_formed_total"}, {"metric": "adoption_rate", "window": 12},
                {"metric": "reuse_rate_mass_total"}, {"metric": "exchange_chains_final"}],
}
RECOVERY_TRUTHS: tuple[dict[str, float], ...] = ({ENCOUNTERS: 0.15, TRUST: 0.5, HURDLE: 0.3},
                                                 {ENCOUNTERS: 0.8, TRUST: 0.9, HURDLE: 0.12})
#: The quick form (what the test suite runs): a 13-firm park, 12 months, one parameter.
QUICK_SPEC: dict[str, Any] = {
    "scenario": "generic", "steps": 12, "replications": 2, "seed": 5,
    "fixed": SMALL_PARK,
    "free": {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}},
    "search": {"n": 8, "refine": "none"},
    "targets": [{"metric": "links_formed_total"}, {"metric": "adoption_rate", "window": 6}],
}
QUICK_TRUTHS: tuple[dict[str, float], ...] = ({ENCOUNTERS: 0.4},)



def _targets_text(spec: dict) -> str:
    """The spec's targets as the report names them: `metric` (mean of the last w months)."""
    return ", ".join(f"`{t['metric']}`" + (f" (mean of the last {t['window']} months)" if "window" in t else "")
                     for t in spec["targets"])

def recovery_section(quick: bool = False, workers: int = 2) -> list[str]:
    """Markdown lines of the validation report's parameter-recovery section (fresh calibrations)."""

    spec, truths = (QUICK_SPEC, QUICK_TRUTHS) if quick else (RECOVERY_SPEC, RECOVERY_TRUTHS)
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, truth in enumerate(truths):
            tables.append(parameter_recovery(spec, truth, Path(tmp) / f"truth{i}", observed_seed=99 + i,
                                             observed_runs=8, workers=workers))
    targets = _targets_text(spec)
    lines = ["", "## 6. Calibration: parameter recovery", "",
             f"Synthetic targets made by the model itself at known parameter values (the truth; 8 runs with seeds "
             f"of their own), then `ecopark calibrate` on them: `{spec['scenario']}`"
             f"{' (a 13-firm park)' if 'fixed' in spec else ''}, {spec['steps']} months, {spec['replications']} "
             f"replications per candidate, targets {targets}, each with se = s sqrt(1/8 + 1/replications) "
             "(`ecopark/experiments/recovery.py`). A parameter is recovered when the truth lies in its "
             "interval (the interval region, `docs/calibration.md`); *share* is the part of the "
             "searched range the interval covers (1: the targets say nothing about it).", "",
             "| truth | parameter | true value | calibrated | interval | share | identified | recovered |"
             " runs |", "|---|---|---|---|---|---|---|---|---|"]
    for i, table in enumerate(tables, start=1):
        for r in table.itertuples():
            lines.append(f"| {i} | `{r.parameter}` | {r.truth:.4g} | {r.calibrated:.4g} | "
                         f"[{r.interval_low:.4g}, {r.interval_high:.4g}] | {r.interval_share_of_range:.2f} | "
                         f"{'yes' if r.identified else 'no'} | {'yes' if r.recovered else '**no**'} | {r.runs} |")
    recovered = sum(int(t["recovered"].sum()) for t in tables)
    total = sum(len(t) for t in tables)
    lines += ["", f"{recovered} of {total} parameter values recovered within their intervals.", ""]
    return lines


#: The small spec whose intervals the validation report tests: two behavioural parameters, three targets.
COVERAGE_SPEC: dict[str, Any] = {
    "scenario": "generic", "steps": 24, "replications": 2, "seed": 2026, "fixed": SMALL_PARK,
    "free": {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}, TRUST: [0.3, 1.0]},
    "search": {"sample": "lhs", "n": 12, "refine": "differential_evolution", "population": 6, "iterations": 2},
    "region": {"method": "expand", "batch": 8, "rounds": 6},
    "targets": [{"metric": "links_formed_total"}, {"metric": "adoption_rate", "window": 6},
                {"metric": "reuse_rate_mass_total"}],
}
#: Truths of the full form, and of the quick form (with 12-month runs).
COVERAGE_TRUTHS, COVERAGE_QUICK_TRUTHS = 20, 2


def coverage_section(quick: bool = False, workers: int = 1, out: str | Path | None = None) -> list[str]:
    """Markdown lines of the validation report's coverage test (fresh calibrations, in ``out`` or a
    temporary folder)."""

    spec = {**COVERAGE_SPEC, "steps": 12} if quick else COVERAGE_SPEC
    k = COVERAGE_QUICK_TRUTHS if quick else COVERAGE_TRUTHS
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        detail, summary = coverage_test(spec, k, Path(out) if out else Path(tmp), workers=workers)
    wall = time.monotonic() - start
    runs = int(detail.drop_duplicates("truth_id")["runs"].sum())
    loaded = load_calibration({**spec, "targets": [{**t, "observed": 0.0, "se": 1.0} for t in spec["targets"]]})
    targets = _targets_text(spec)
    lines = ["", "### Coverage of the intervals (simulation-based calibration)", "",
             f"`python -m ecopark.experiments.coverage{' --quick' if quick else ''} --workers {workers}` "
             f"(`ecopark/experiments/coverage.py`; any spec: `ecopark calibrate SPEC --coverage K --out DIR`): "
             f"{k} truths drawn from the free ranges (Latin hypercube, seed 1), each calibrated to synthetic targets "
             f"made at it on seeds the calibration does not use (8 runs, master seeds 10000 + i): `generic` as a "
             f"13-firm park, {spec['steps']} months, {spec['replications']} replications per candidate, targets "
             f"{targets}, search {spec['search']['n']} global points + differential evolution "
             f"({spec['search']['population']} x {spec['search']['iterations']}), then the region stage "
             f"(`expand`, {spec['region']['rounds']} rounds of {spec['region']['batch']}). Nominal level "
             f"{loaded.interval_level:.0%} per parameter; coverage with its 95% Wilson interval; recovery error "
             f"|calibrated - truth| as a share of the range (search scale); {runs} calibration runs "
             f"(+ 8 per truth for its targets), {wall:.0f} s on {workers} worker(s).", "",
             *markdown_table(summary), "",
             "How to read it, and the same truths before issue 27's intervals: `docs/calibration.md`, "
             "*Coverage test*.", ""]
    return lines
