"""Cost-effectiveness of a sweep's points against its baseline point, with paired 95% intervals.

The analyst's first question of a policy sweep: how much more of an outcome does a point
buy than the baseline point (say, no subsidy), what does it cost the state more, and what
is that per yuan. Replication k of every point of a sweep runs with the same seed (common
random numbers, ``docs/experiments.md``), so each comparison is paired: for replication k,

    d_k = y(point, k) - y(baseline, k)        (change of the outcome)
    c_k = C(point, k) - C(baseline, k)        (change of the cost, yuan; default ``fiscal_cost``)

over the n replications both points completed. The effect is mean(d) with the 95% interval
mean(d) +- t(0.975, n - 1) s_d / sqrt(n), likewise the extra cost. The ratio
R = mean(d) / mean(c) is reported per ``per`` yuan (default 100 million) with a delta-method
interval, R +- t(0.975, n - 1) sqrt(var(d - R c) / n) / |mean(c)|, which accounts for the
covariance of effect and cost within a replication. A ratio is meaningful only when the
effect and the extra cost are both clear of zero (``clear_of_zero``): a noisy effect over a
small cost gives a huge ratio of either sign; the ratio of a point whose extra cost interval
includes zero is reported as NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError

#: Yuan per unit of the reported ratio: outcome change per 100 million yuan of extra cost.
PER_YUAN = 1e8


def _runs(runs: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The completed runs and their parameter columns, from a table or a sweep folder."""
    if not isinstance(runs, pd.DataFrame):
        from ecopark.experiments.batch import load_results

        runs = load_results(runs)[0]
    if "status" in runs:
        runs = runs[runs["status"] == "ok"]
    return runs, [c for c in runs.columns if c.startswith("param:")]


def baseline_point(runs: pd.DataFrame | str | Path, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameter values of the baseline point: ``baseline`` (dotted key -> value) for the
    keys it names, each other varied parameter at its lowest value (off, zero, false).

    Raises ConfigError when the sweep has no such point (a sampled sweep has no shared values).
    """
    runs, params = _runs(runs)
    chosen = {p[6:]: runs[p].min() for p in params}
    for key, value in (baseline or {}).items():
        if f"param:{key}" not in runs:
            raise ConfigError(f"baseline.{key}", f"is not varied in this sweep; varied: {', '.join(chosen)}")
        chosen[key] = value
    mask = np.ones(len(runs), dtype=bool)
    for key, value in chosen.items():
        mask &= (runs[f"param:{key}"] == value).to_numpy()
    if not mask.any():
        raise ConfigError("baseline", f"no run of this sweep has {chosen}; name a point of the sweep "
                          "(a sampled sweep has none in common: add the baseline to [grid])")
    return {k: v.item() if hasattr(v, "item") else v for k, v in chosen.items()}


def _half_width(values: np.ndarray) -> float:
    """Half-width of the 95% t interval of the mean of ``values`` (NaN for fewer than 2)."""
    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def cost_effectiveness(
    runs: pd.DataFrame | str | Path,
    outcome: str,
    cost: str = "fiscal_cost",
    baseline: Mapping[str, Any] | None = None,
    per: float = PER_YUAN,
) -> pd.DataFrame:
    """Each point's change of ``outcome`` and of ``cost`` against the baseline point, and their ratio.

    ``runs`` is a sweep's runs table (``load_results(folder)[0]``) or its folder. Returns one
    row per point other than the baseline: its ``param:`` values, ``pairs`` (replications
    both ran), ``effect`` and ``effect_half`` (outcome units), ``extra_cost`` and
    ``extra_cost_half`` (yuan), ``per_yuan`` (outcome change per ``per`` yuan of extra
    cost), ``per_yuan_low``/``per_yuan_high`` (its 95% interval) and ``clear_of_zero``
    (effect and extra cost intervals both exclude zero). Formulas in the module docstring.
    """
    table, params = _runs(runs)
    for name, what in ((outcome, "outcome"), (cost, "cost")):
        if name not in RUN_METRICS:
            raise ConfigError(what, f"unknown run metric {name!r}; allowed: {', '.join(RUN_METRICS)}")
        if name not in table:
            raise ConfigError(what, f"{name!r} was not recorded by this sweep (add it to the spec's outcomes)")
    if not params:
        raise ConfigError("runs", "the sweep varies no parameter: there is nothing to compare")
    seeds = table.groupby("replication")["seed"].nunique()
    if (seeds > 1).any():
        raise ConfigError("runs", "replications do not share seeds across points: paired intervals need "
                          "common random numbers (sweeps made by ecopark have them)")
    base = baseline_point(table, baseline)
    key = ["replication"]
    base_mask = np.logical_and.reduce([(table[f"param:{k}"] == v).to_numpy() for k, v in base.items()])
    base_runs = table[base_mask].set_index(key)[[outcome, cost]].add_suffix("_base")
    rows = []
    for values, group in table[~base_mask].groupby(params, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        paired = group.set_index(key)[[outcome, cost]].join(base_runs, how="inner").dropna()
        d = (paired[outcome] - paired[f"{outcome}_base"]).to_numpy(float)
        c = (paired[cost] - paired[f"{cost}_base"]).to_numpy(float)
        n = len(d)
        effect, extra = (float(d.mean()), float(c.mean())) if n else (float("nan"), float("nan"))
        effect_half, extra_half = _half_width(d), _half_width(c)
        cost_clear = n > 1 and abs(extra) > extra_half
        ratio = effect / extra if cost_clear else float("nan")
        ratio_half = (_half_width(d - ratio * c) / abs(extra)) if cost_clear else float("nan")
        rows.append({**dict(zip(params, values, strict=True)), "pairs": n,
                     "effect": effect, "effect_half": effect_half,
                     "extra_cost": extra, "extra_cost_half": extra_half,
                     "per_yuan": ratio * per, "per_yuan_low": (ratio - ratio_half) * per,
                     "per_yuan_high": (ratio + ratio_half) * per,
                     "clear_of_zero": bool(cost_clear and abs(effect) > effect_half)})
    out = pd.DataFrame(rows)
    out.attrs.update(outcome=outcome, cost=cost, per=per, baseline=base)
    return out
