"""Global sensitivity analysis of one outcome: Sobol and Morris indices with SALib.

The parameters and their ranges are the spec's ``[sample.ranges]``. The design is SALib's
(Saltelli/Sobol sequence for ``sobol``: N (D + 2) runs, first and total order; Morris
trajectories for ``morris``: N (D + 1) runs), each point run ``replications`` times and
averaged. Replication r of every point uses the same seed (common random numbers), so
the differences between points are the parameters' effects, not different random draws
(an elementary effect of Morris would otherwise be dominated by seed noise). Runs go
through the sweep machinery, so they are parallel, resumable and recorded.
Needs the optional extra: ``pip install 'ecopark[analysis]'``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark.experiments.batch import execute
from ecopark.experiments.spec import SweepSpec, derive_seed, load_spec, sample_bounds, sampled_values
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError, RunsFailed

#: Smallest base sample N that gives indices worth reading (a warning below it): SALib's
#: guidance for Sobol (a few dozen points per parameter), and 10 trajectories for Morris.
MIN_MEANINGFUL_N = {"sobol": 64, "morris": 10}


def sensitivity(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    outcome: str,
    out: str | Path,
    method: str = "sobol",
    n: int = 64,
    workers: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """Sobol (S1, ST) or Morris (mu*, sigma) indices of ``outcome``, with 95% confidence intervals.

    Returns one row per parameter; also written to ``out/indices.csv``.
    """
    try:
        from SALib.analyze import morris as morris_analyze
        from SALib.analyze import sobol as sobol_analyze
        from SALib.sample import morris as morris_sample
        from SALib.sample import sobol as sobol_sample
    except ImportError:
        raise ConfigError("method", "sensitivity analysis needs the optional extra: pip install 'ecopark[analysis]'") \
            from None
    spec = load_spec(spec)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError("n", f"got {n!r}; allowed: a whole number >= 1")
    if n < MIN_MEANINGFUL_N[method if method in MIN_MEANINGFUL_N else "sobol"]:
        warnings.warn(f"n = {n} is small for {method} indices: expect wide confidence intervals "
                      f"(n >= {MIN_MEANINGFUL_N.get(method, 64)} recommended)", stacklevel=2)
    if outcome not in RUN_METRICS:
        raise ConfigError("outcome", f"unknown run metric {outcome!r}; allowed: {', '.join(RUN_METRICS)}")
    if method not in ("sobol", "morris"):
        raise ConfigError("method", f"{method!r}; allowed: 'sobol', 'morris'")
    if spec.sample is None or not spec.sample.ranges:
        raise ConfigError("sample.ranges", "sensitivity needs the parameters and their ranges in [sample.ranges]")
    names = list(spec.sample.ranges)
    lows, highs = sample_bounds(spec.sample.ranges)  # whole-number parameters: rounded (spec module)
    problem = {"num_vars": len(names), "names": names, "bounds": [list(b) for b in zip(lows, highs, strict=True)]}
    if method == "sobol":
        design = sobol_sample.sample(problem, n, calc_second_order=False, seed=spec.seed)
    else:
        design = morris_sample.sample(problem, n, num_levels=4, seed=spec.seed)
    spec = SweepSpec(**{**spec.__dict__, "outcomes": [outcome], "timeseries": [], "grid": {}})
    tasks = [{"run": p * spec.replications + r, "point": p, "replication": r,
              "seed": derive_seed(spec.seed, r),
              "params": sampled_values(spec.sample.ranges, row)}
             for p, row in enumerate(design) for r in range(spec.replications)]
    runs = execute(spec, tasks, out, workers=workers, progress=progress,
                   extra={"sensitivity": {"outcome": outcome, "method": method, "n": n}})
    failed = runs["status"] != "ok"
    if failed.any():
        first = runs.loc[failed, "error"].iloc[0]
        raise RunsFailed(f"{int(failed.sum())} of {len(runs)} runs failed (first: {first}); no indices without "
                         f"every point; the finished runs are kept, see {Path(out) / 'manifest.json'}")
    y = runs.groupby("point")[outcome].mean().reindex(range(len(design))).to_numpy()
    if method == "sobol":
        res = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=spec.seed)
        table = pd.DataFrame({"parameter": names, "S1": res["S1"], "S1_conf": res["S1_conf"],
                              "ST": res["ST"], "ST_conf": res["ST_conf"]})
    else:
        res = morris_analyze.analyze(problem, design, y, num_levels=4, seed=spec.seed)
        table = pd.DataFrame({"parameter": names, "mu_star": res["mu_star"], "mu_star_conf": res["mu_star_conf"],
                              "sigma": np.asarray(res["sigma"])})
    table.insert(1, "outcome", outcome)
    table["method"], table["sample_size"], table["runs"] = method, len(design), len(runs)
    table.to_csv(Path(out) / "indices.csv", index=False)
    return table
