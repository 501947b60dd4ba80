"""Calibration specifications: which park, which parameters are free, which figures to fit.

A spec is a TOML file (or a dict) like::

    scenario = "generic"          # preset name or scenario file (relative to the spec file)
    steps = 120                   # months per run
    replications = 4              # runs per candidate, replication k with the same seed for every candidate
    seed = 2026                   # master seed (runs, sample and optimiser)
    acceptance = 9.49             # distance below which a candidate is accepted (omit: chi-square 95%)

    [fixed]                       # overrides applied to every candidate (optional)
    "policies.platform.enabled" = true

    [free]                        # the parameters fitted: [low, high] or a table
    "byproduct_market.encounters_per_month" = { low = 0.05, high = 2.0, log = true }
    "byproduct_market.initial_trust" = [0.3, 1.0]

    [search]                      # global sample, then refinement from its best points
    sample = "lhs"                # or "sobol"
    n = 32
    refine = "differential_evolution"   # or "nelder-mead" or "none"
    population = 8
    iterations = 4

    [region]                      # after the search: the interval region's edges, walked until rejected
    method = "expand"             # or "none" (intervals then bounded by the candidates the search tried)
    level = 0.95                  # nominal coverage of each parameter's interval
    batch = 8                     # candidates per round
    rounds = 6                    # rounds at most (the budget)
    resolution = 0.02             # an edge is found when a rejected candidate lies this close beyond it
    correlation = [[1.0, 0.3], [0.3, 1.0]]   # the targets' errors' correlation (omit: independent)

    [[targets]]                   # fitted: the distance is built from these
    metric = "reuse_rate_mass_total"    # a run metric ...
    observed = 0.784
    tolerance = 0.05              # or se = 0.01 (exactly one of the two)

    [[targets]]
    metric = "adoption_rate"      # ... or a step metric, aggregated over a window
    window = 12                   # the last 12 months (omit: the whole run)
    aggregate = "mean"            # mean, last, sum, min or max
    observed = 0.6
    se = 0.05

    [[holdout]]                   # reported beside the fit, never fitted
    metric = "npl_ratio_green_mean"
    observed = 0.0076
    tolerance = 0.0011

Every key is validated before any run, as a sweep spec is: a wrong path, a range outside
what the scenario allows, an unknown metric or a target with neither tolerance nor se
stops with a ConfigError naming the key (exit status 2 on the command line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecopark.experiments.search_methods import SearchSpace, make
from ecopark.experiments.spec import check_override, read_spec_table
from ecopark.metrics import RUN_METRICS, STEP_METRICS
from ecopark.scenario import _split_index, load_scenario
from ecopark.schema import ConfigError, build, param

AGGREGATES = ("mean", "last", "sum", "min", "max")


@dataclass(frozen=True)
class FreeParameter:
    low: float = param(0.0, doc="lowest value searched")
    high: float = param(1.0, doc="highest value searched")
    log: bool = param(False, doc="search on a log scale (low must be > 0)")
    integer: bool = param(False, doc="round candidates to whole numbers (for whole-number scenario keys)")

    def value(self, u: float) -> float | int:
        """The parameter value at position ``u`` in [0, 1] of its search scale (linear or log), to 12
        significant digits (so that an optimiser's rounding noise does not make a new candidate)."""
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        x = min(max(x, self.low), self.high)
        return round(x) if self.integer else float(f"{x:.12g}")

    def position(self, x: float) -> float:
        """Inverse of :meth:`value`: where ``x`` lies in [0, 1] of the search scale (may fall outside)."""
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low)) if x > 0 else -1.0
        return (x - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Target:
    metric: str = param("", doc="a run metric, or a step metric aggregated over a window")
    observed: float = param(0.0, doc="the observed figure, in the metric's unit")
    tolerance: float | None = param(None, lo=0, doc="the distance from observed judged a fit (or give se)")
    se: float | None = param(None, lo=0, doc="standard error of the observed figure (or give tolerance)")
    window: int | None = param(None, lo=1, unit="months", doc="step metric: the last this many months (omit: all)")
    aggregate: str | None = param(None, choices=AGGREGATES, doc="step metric: how the window is summarised "
                                                               "(default mean)")
    weight: float = param(1.0, lo=0, doc="weight of the squared standardised difference in the distance")
    name: str = param("", doc="label in the report (default: built from metric, window and aggregate)")
    note: str = param("", doc="where the figure comes from, and caveats (printed in the report)")

    def validate(self, path: str) -> None:
        if self.metric in RUN_METRICS:
            for key in ("window", "aggregate"):
                if getattr(self, key) is not None:
                    raise ConfigError(f"{path}.{key}", f"{self.metric!r} is a run metric (one number per run); "
                                                       "window and aggregate apply to step metrics only")
        elif self.metric not in STEP_METRICS:
            raise ConfigError(f"{path}.metric", f"unknown metric {self.metric!r}; allowed: a run metric "
                                                f"({', '.join(RUN_METRICS)}) or a step metric "
                                                f"({', '.join(STEP_METRICS)})")
        if (self.tolerance is None) == (self.se is None):
            raise ConfigError(f"{path}.tolerance", "give exactly one of tolerance and se (a positive number)")
        if self.scale <= 0:
            key = "tolerance" if self.tolerance is not None else "se"
            raise ConfigError(f"{path}.{key}", "must be > 0 (it divides the difference from the observed value)")

    @property
    def scale(self) -> float:
        """The unit of a standardised difference: tolerance or se."""
        return float(self.tolerance if self.tolerance is not None else self.se)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.metric in RUN_METRICS:
            return self.metric
        window = f"last {self.window} months" if self.window else "all months"
        return f"{self.metric} ({self.aggregate or 'mean'}, {window})"

    def moment(self, metrics: Mapping[str, float], series: Mapping[str, np.ndarray]) -> float:
        """This target's simulated value in one run: the run metric, or the step metric's window aggregate."""
        if self.metric in RUN_METRICS:
            return float(metrics[self.metric])
        values = np.asarray(series[self.metric], dtype=float)
        if self.window:
            values = values[-self.window:]
        how = self.aggregate or "mean"
        return float(values[-1] if how == "last" else getattr(np, how)(values))


@dataclass(frozen=True)
class SearchSpec:
    sample: str = param("lhs", choices=("lhs", "sobol"), doc="global stage: Latin hypercube or scrambled Sobol")
    n: int = param(32, lo=2, hi=100_000, doc="global stage: points (Sobol: rounded up to a power of 2)")
    refine: str = param("differential_evolution", choices=("differential_evolution", "nelder-mead", "none"),
                        doc="refinement stage from the global stage's best points")
    population: int = param(8, lo=5, hi=10_000, doc="differential evolution: population, started from the best "
                                                      "global points")
    iterations: int = param(4, lo=0, hi=10_000, doc="differential evolution: generations (population new "
                                                     "points each); Nelder-Mead: evaluations per start")
    starts: int = param(2, lo=1, hi=1000, doc="Nelder-Mead: starts from the best global points")


@dataclass(frozen=True)
class RegionSpec:
    method: str = param("expand", choices=("expand", "none"),
                        doc="region stage (search_methods.SEARCH_METHODS): walk the interval region's edges "
                            "outward until rejected, or none")
    level: float = param(0.95, lo=0.5, hi=0.999, doc="nominal coverage of each parameter's interval: the region is "
                                                     "D <= D_min + chi-square quantile(level, df 1)")
    batch: int = param(8, lo=1, hi=10_000, doc="region stage: candidates per round")
    rounds: int = param(6, lo=0, hi=1000, doc="region stage: rounds at most (budget batch x rounds candidates)")
    resolution: float = param(0.02, lo=1e-4, hi=0.5, doc="region stage: share of a range within which a rejected "
                                                         "candidate beyond an edge bounds the interval")
    step: float = param(0.1, lo=1e-4, hi=1.0, doc="region stage: first step beyond an edge, as a share of the "
                                                 "range")
    correlation: list[list[float]] | None = param(None, doc="correlation of the fitted targets' errors (a matrix, "
                                                           "targets in order; omit: independent): the region "
                                                           "statistic is z' R^-1 z")


@dataclass(frozen=True)
class CalibrationSpec:
    scenario: str = param("generic", doc="preset name or scenario TOML file")
    steps: int = param(120, lo=1, hi=2400, unit="months", doc="steps per run")
    replications: int = param(4, lo=1, hi=10_000, doc="runs per candidate (replication k: the same seed for all)")
    seed: int = param(0, lo=0, doc="master seed of the runs, the global sample and the optimiser")
    acceptance: float | None = param(None, lo=0, doc="distance at or below which a candidate is accepted "
                                                     "(omit: the 95% chi-square quantile, df = fitted targets)")
    fixed: dict[str, Any] = param({}, doc="dotted parameter path -> value, applied to every candidate")
    free: dict[str, FreeParameter] = param({}, doc="dotted parameter path -> range searched")
    search: SearchSpec = param(SearchSpec(), doc="global sample and refinement")
    region: RegionSpec = param(RegionSpec(), doc="after the search: the interval region's edges")
    targets: list[Target] = param([], doc="figures fitted")
    holdout: list[Target] = param([], doc="figures reported beside the fit, never fitted")
    source: str = field(default="<dict>", compare=False)

    def validate(self, path: str) -> None:
        if not self.free:
            raise ConfigError("free", "needs at least one parameter to fit")
        if not self.targets:
            raise ConfigError("targets", "needs at least one [[targets]] entry")
        base = load_scenario(self.scenario)
        try:
            base = load_scenario(base, self.fixed)
        except ConfigError as exc:
            raise ConfigError(f"fixed.{exc.key}", str(exc)) from None
        for key, free in self.free.items():
            where = f'free."{key}"'
            if key in self.fixed:
                raise ConfigError(where, "is also in [fixed]; a parameter is either fixed or free")
            if not free.low < free.high:
                raise ConfigError(f"{where}.low", f"expected low < high, got [{free.low}, {free.high}]")
            if free.log and free.low <= 0:
                raise ConfigError(f"{where}.low", f"a log-scale range needs low > 0, got {free.low}")
            for bound in (free.value(0.0), free.value(1.0)):
                check_override(base, key, bound, where)
            if not free.integer:
                try:
                    load_scenario(base, {key: free.value(0.5) + 1e-6})
                except ConfigError as exc:
                    if "whole number" in str(exc):
                        raise ConfigError(f"{where}.integer", "this key takes whole numbers; set integer = true") \
                            from None
                    raise
            base_value = base_value_of(base.to_dict(), key)
            if isinstance(base_value, bool) or not isinstance(base_value, (int, float)):
                raise ConfigError(where, f"only numeric keys can be free; the base value is {base_value!r}")
        names = [t.label for t in [*self.targets, *self.holdout]]
        for group, items in (("targets", self.targets), ("holdout", self.holdout)):
            for i, target in enumerate(items):
                if names.count(target.label) > 1:
                    raise ConfigError(f"{group}[{i}].name", f"{target.label!r} names two targets; give each a name")
                if target.window is not None and target.window > self.steps:
                    raise ConfigError(f"{group}[{i}].window", f"{target.window} months is longer than the "
                                                              f"{self.steps} steps of a run")
        if self.search.refine == "differential_evolution" and self.search.iterations > 0 \
                and self.search.population > self.n_global:
            raise ConfigError("search.population", f"{self.search.population} exceeds the {self.n_global} points "
                                                   "of the global stage it starts from; lower it or raise search.n")
        if self.region.correlation is not None:
            check_correlation(self.region.correlation, len(self.targets))
        if self.search.refine == "nelder-mead" and self.search.starts > self.n_global:
            raise ConfigError("search.starts", f"{self.search.starts} exceeds the {self.n_global} global points")

    @property
    def parameters(self) -> list[str]:
        return list(self.free)

    @property
    def n_global(self) -> int:
        """Points of the global stage (Sobol rounds up to a power of 2)."""
        return 2 ** math.ceil(math.log2(self.search.n)) if self.search.sample == "sobol" else self.search.n

    @property
    def threshold(self) -> float:
        """The acceptance distance: given, or the 95% quantile of chi-square with df = number of targets."""
        if self.acceptance is not None:
            return float(self.acceptance)
        from scipy.stats import chi2

        return float(chi2.ppf(0.95, len(self.targets)))

    @property
    def interval_level(self) -> float:
        """Nominal coverage of each parameter's interval (``region.level``)."""
        return self.region.level

    def search_space(self) -> SearchSpace:
        """The unit box with each parameter's resolution (at least one whole number for an integer key)."""
        res = [max(self.region.resolution, 1.0 / (f.high - f.low) if f.integer else 0.0) for f in self.free.values()]
        return SearchSpace(np.array(res))

    def unit_sample(self) -> np.ndarray:
        """The global stage's points in the unit cube [0, 1]^d, fixed by the seed (``search.sample``'s method)."""
        return make(self.search.sample, seed=self.seed).sample_batch(self.search.n, self.search_space(),
                                                                     np.empty((0, len(self.free))), np.empty(0))

    def values(self, u: np.ndarray) -> dict[str, float | int]:
        """Parameter values (dotted path -> value) at unit-cube position ``u``."""
        return {key: free.value(float(x)) for (key, free), x in zip(self.free.items(), u, strict=True)}

    def base_values(self) -> dict[str, Any]:
        """The free parameters' values in the base scenario (with [fixed] applied): the uncalibrated park."""
        data = load_scenario(load_scenario(self.scenario), self.fixed).to_dict()
        return {key: base_value_of(data, key) for key in self.free}


def check_correlation(matrix: list[list[float]], m: int) -> None:
    """A correlation matrix of the m fitted targets: square, symmetric, unit diagonal, positive definite."""
    corr = np.asarray(matrix, dtype=float)
    if corr.shape != (m, m):
        raise ConfigError("region.correlation", f"expected a {m} x {m} matrix (one row per fitted target), "
                                                f"got shape {corr.shape}")
    if not np.allclose(corr, corr.T) or not np.allclose(np.diag(corr), 1.0) or np.abs(corr).max() > 1 + 1e-9:
        raise ConfigError("region.correlation", "must be symmetric with 1 on the diagonal and entries in [-1, 1]")
    if np.linalg.eigvalsh(corr).min() <= 1e-9:
        raise ConfigError("region.correlation", "must be positive definite (no target a combination of others)")


def base_value_of(data: Mapping[str, Any], key: str) -> Any:
    """The value at dotted path ``key`` (``banks[0].capital`` style indices allowed) of scenario data."""
    node: Any = data
    for part in key.split("."):
        name, index = _split_index(part, key)
        node = node.get(name) if isinstance(node, Mapping) else None
        if index is not None:
            node = node[index] if isinstance(node, list) and index < len(node) else None
    return node


def load_calibration(spec: str | Path | Mapping[str, Any] | CalibrationSpec) -> CalibrationSpec:
    """A validated CalibrationSpec from a TOML file, a mapping, or a CalibrationSpec."""
    if isinstance(spec, CalibrationSpec):
        return spec
    data, source = read_spec_table(spec)
    free = data.get("free")
    if isinstance(free, Mapping):  # short form: "key" = [low, high]
        data["free"] = {k: _range_table(k, v) for k, v in free.items()}
    built = build(CalibrationSpec, data)
    return CalibrationSpec(**{**built.__dict__, "source": source})


def _range_table(key: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f'free."{key}"', f"expected [low, high] or a table, got {value!r}")
        return {"low": value[0], "high": value[1]}
    return value
