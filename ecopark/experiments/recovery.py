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


