"""Parameter recovery: does calibration find parameter values the model was run at?

The model is run at known values θ* (the *truth*) with seeds of their own (master seed
``observed_seed``, not the calibration's, so the synthetic observations carry their own
noise, as real figures do); each target's observed value is the mean over those runs and
its standard error is sqrt(s²/n_observed + s²/replications), the noise of the observed
mean plus that of the simulated one (s: the standard deviation over the truth's runs, at
least 1% of the mean, so that a target no run varies still has a scale). Then the spec is
calibrated to these synthetic targets, and each parameter is *recovered* when θ* lies in
its accepted interval.
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
from ecopark.experiments.spec import derive_seed


def synthetic_targets(spec: Mapping[str, Any], truth: Mapping[str, float], observed_seed: int,
                      observed_runs: int) -> list[dict[str, Any]]:
    """The spec's targets with observed values and se from ``observed_runs`` runs at ``truth``."""
    placeholder = [{**t, "observed": 0.0, "se": 1.0, "tolerance": None} for t in spec["targets"]]
    draft = load_calibration({**spec, "targets": placeholder})
    sweep = sweep_of(draft)
    rows = [moment_task(sweep, draft.targets, {"run": k, "point": 0, "replication": k,
                                                "seed": derive_seed(observed_seed, k),
                                                "params": {**draft.fixed, **truth}})
            for k in range(observed_runs)]
    failed = [r["error"] for r in rows if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"a run at the truth failed: {failed[0]}")
    out = []
    for raw, target in zip(spec["targets"], draft.targets, strict=True):
        values = np.array([r[f"moment:{target.label}"] for r in rows])
        mean = float(values.mean())
        sd = max(float(values.std(ddof=1)) if observed_runs > 1 else 0.0, 0.01 * abs(mean), 1e-9)
        se = sd * math.sqrt(1 / observed_runs + 1 / draft.replications)
        out.append({**{k: v for k, v in raw.items() if k not in ("tolerance", "se", "observed")},
                    "observed": mean, "se": se})
    return out


def parameter_recovery(spec: Mapping[str, Any], truth: Mapping[str, float], out: str | Path,
                       observed_seed: int = 99, observed_runs: int = 8, workers: int = 1,
                       progress: bool = False) -> pd.DataFrame:
    """Calibrate ``spec`` (a dict whose targets need no observed values) to synthetic targets made
    at ``truth``; one row per parameter: truth, calibrated, accepted interval, ``recovered``."""
    fitted = load_calibration({**spec, "targets": synthetic_targets(spec, truth, observed_seed, observed_runs)})
    result = calibrate(fitted, out, workers=workers, progress=progress)
    table = result.parameters[["parameter", "low", "high", "calibrated", "interval_low", "interval_high",
                               "interval_share_of_range", "identified"]].copy()
    table.insert(1, "truth", [truth[k] for k in table["parameter"]])
    table["recovered"] = (table["interval_low"] <= table["truth"]) & (table["truth"] <= table["interval_high"])
    table["runs"] = len(result.points) * fitted.replications
    table["distance"] = result.distance
    return table
