"""Parameter recovery: does calibration find parameter values the model was run at?

The model is run at known values θ* (the *truth*) with seeds of their own (master seed
``observed_seed``, not the calibration's, so the synthetic observations carry their own
noise, as real figures do); each target's observed value is the mean over those runs and
its standard error is sqrt(s²/n_observed + s²/replications), the noise of the observed
mean plus that of the simulated one (s: the standard deviation over the truth's runs, at
least 1% of the mean, so that a target no run varies still has a scale); the targets'
correlation over those runs (independent seeds) becomes the spec's ``region.correlation``,
so that the interval region counts a seed's luck shared by several targets once. Then the
spec is calibrated to these synthetic targets, and each parameter is *recovered* when θ*
lies in its interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark.experiments.calibration import calibrate, moment_task, sweep_of
from ecopark.experiments.calibration_spec import load_calibration
from ecopark.experiments.search_methods import pooled_correlation
from ecopark.experiments.spec import derive_seed


def synthetic_observations(spec: Mapping[str, Any], truth: Mapping[str, float], observed_seed: int,
                           observed_runs: int) -> tuple[list[dict[str, Any]], list[list[float]]]:
    """The spec's targets with observed values and se from ``observed_runs`` runs at ``truth``, and
    the targets' correlation over those runs (independent seeds; ``search_methods.pooled_correlation``)."""
    placeholder = [{**t, "observed": 0.0, "se": 1.0, "tolerance": None} for t in spec["targets"]]
    draft = load_calibration({**spec, "targets": placeholder, "region": {**spec.get("region", {}),
                                                                         "correlation": None}})
    sweep = sweep_of(draft)
    rows = [moment_task(sweep, draft.targets, {"run": k, "point": 0, "replication": k,
                                                "seed": derive_seed(observed_seed, k),
                                                "params": {**draft.fixed, **truth}})
            for k in range(observed_runs)]
    failed = [r["error"] for r in rows if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"a run at the truth failed: {failed[0]}")
    out, columns = [], []
    for raw, target in zip(spec["targets"], draft.targets, strict=True):
        values = np.array([r[f"moment:{target.label}"] for r in rows])
        columns.append(values)
        mean = float(values.mean())
        sd = max(float(values.std(ddof=1)) if observed_runs > 1 else 0.0, 0.01 * abs(mean), 1e-9)
        se = sd * math.sqrt(1 / observed_runs + 1 / draft.replications)
        out.append({**{k: v for k, v in raw.items() if k not in ("tolerance", "se", "observed")},
                    "observed": mean, "se": se})
    corr = pooled_correlation([np.column_stack(columns)], len(columns))
    return out, [[float(x) for x in row] for row in corr]


def synthetic_targets(spec: Mapping[str, Any], truth: Mapping[str, float], observed_seed: int,
                      observed_runs: int) -> list[dict[str, Any]]:
    """The spec's targets with observed values and se from ``observed_runs`` runs at ``truth``."""
    return synthetic_observations(spec, truth, observed_seed, observed_runs)[0]


def parameter_recovery(spec: Mapping[str, Any], truth: Mapping[str, float], out: str | Path,
                       observed_seed: int = 99, observed_runs: int = 8, workers: int = 1,
                       progress: bool = False) -> pd.DataFrame:
    """Calibrate ``spec`` (a dict whose targets need no observed values) to synthetic targets made
    at ``truth``; one row per parameter: truth, calibrated, interval, ``recovered``."""
    targets, corr = synthetic_observations(spec, truth, observed_seed, observed_runs)
    fitted = load_calibration({**spec, "targets": targets, "region": {**spec.get("region", {}), "correlation": corr}})
    result = calibrate(fitted, out, workers=workers, progress=progress)
    table = result.parameters[["parameter", "low", "high", "calibrated", "interval_low", "interval_high",
                               "interval_share_of_range", "identified"]].copy()
    table.insert(1, "truth", [truth[k] for k in table["parameter"]])
    table["recovered"] = (table["interval_low"] <= table["truth"]) & (table["truth"] <= table["interval_high"])
    table["runs"] = len(result.points) * fitted.replications
    table["distance"] = result.distance
    return table


# -- the validation report's section (ecopark/validation.py) -------------------------------------------
ENCOUNTERS, TRUST, HURDLE = ("byproduct_market.encounters_per_month", "byproduct_market.initial_trust",
                             "economy.discount_rate[1]")
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
    "fixed": {"park.firms": {"grain_oil": 2, "food_feed": 3, "livestock": 3, "biogas": 2, "greenhouse": 3},
              "park.size_km": 3.0, "park.vacant_plots": 1},
    "free": {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}},
    "search": {"n": 8, "refine": "none"},
    "targets": [{"metric": "links_formed_total"}, {"metric": "adoption_rate", "window": 6}],
}
QUICK_TRUTHS: tuple[dict[str, float], ...] = ({ENCOUNTERS: 0.4},)


def recovery_section(quick: bool = False, workers: int = 2) -> list[str]:
    """Markdown lines of the validation report's parameter-recovery section (fresh calibrations)."""
    import tempfile

    spec, truths = (QUICK_SPEC, QUICK_TRUTHS) if quick else (RECOVERY_SPEC, RECOVERY_TRUTHS)
    tables = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, truth in enumerate(truths):
            tables.append(parameter_recovery(spec, truth, Path(tmp) / f"truth{i}", observed_seed=99 + i,
                                             observed_runs=8, workers=workers))
    targets = ", ".join(f"`{t['metric']}`" + (f" (mean of the last {t['window']} months)" if "window" in t else "")
                        for t in spec["targets"])
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
