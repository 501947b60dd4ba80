"""Sweep specifications: which scenario, which parameters to vary, how often, what to keep.

A spec is a TOML file (or a dict) like::

    scenario = "generic"          # preset name or scenario file
    steps = 120                   # months per run
    replications = 5              # runs per parameter point, with derived seeds
    seed = 2026                   # master seed
    outcomes = ["adoption_rate_final", "fiscal_cost"]    # run metrics to keep (all if omitted)
    timeseries = ["adoption_rate"]                      # step metrics to keep per step (none if omitted)
    format = "parquet"            # or "csv"

    [grid]                        # full factorial over value lists
    "policies.capex_subsidy.share" = [0.0, 0.15, 0.3]
    "policies.platform.enabled" = [false, true]

    [sample]                      # ranges sampled by Latin hypercube or Sobol (optional)
    method = "lhs"                # or "sobol"
    n = 16
    [sample.ranges]
    "policies.landfill_tax.rate" = [0.0, 200.0]

A sampled parameter declared as a whole number (``credit.project_tenor_months``,
``park.firms.refining``, ...) is sampled over [low - 0.5, high + 0.5] and rounded to the
nearest whole number, so that every whole number of its range is equally likely; its bounds
must be whole numbers. Sensitivity analysis rounds its design the same way.

Points are the grid's product, crossed with the sample's rows when both are given. Run r
(point r // replications, replication k = r % replications) gets the seed
``SeedSequence(seed, spawn_key=(k,)).generate_state(1)[0]``: the same whatever the number of
workers or the order runs finish in, and the same for replication k of every point (common
random numbers: the model draws its shocks by firm and month, so two points differ by their
parameters, not by their dice, and point-to-point differences are paired).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecopark.metrics import RUN_METRICS, STEP_METRICS
from ecopark.scenario import load_scenario, read_text
from ecopark.schema import ConfigError, build, param


@dataclass(frozen=True)
class SampleSpec:
    method: str = param("lhs", choices=("lhs", "sobol"), doc="Latin hypercube or scrambled Sobol")
    n: int = param(16, lo=1, hi=1_000_000, doc="number of sampled points (Sobol: rounded up to a power of 2)")
    ranges: dict[str, list[float]] = param({}, doc="dotted parameter path -> [low, high]")


@dataclass(frozen=True)
class SweepSpec:
    scenario: str = param("generic", doc="preset name or scenario TOML file")
    steps: int = param(120, lo=1, hi=2400, unit="months", doc="steps per run")
    replications: int = param(1, lo=1, hi=100000, doc="runs per parameter point")
    seed: int = param(0, lo=0, doc="master seed from which each run's seed is derived")
    outcomes: list[str] = param([], doc="run metrics to keep (empty: all)")
    timeseries: list[str] = param([], doc="step metrics to keep per step (empty: none)")
    format: str = param("parquet", choices=("parquet", "csv"), doc="table format of the results")
    grid: dict[str, list[Any]] = param({}, doc="dotted parameter path -> list of values (full factorial)")
    sample: SampleSpec | None = param(None, doc="ranges sampled by Latin hypercube or Sobol")
    source: str = field(default="<dict>", compare=False)

    def validate(self, path: str) -> None:
        for i, name in enumerate(self.outcomes):
            if name not in RUN_METRICS:
                raise ConfigError(f"outcomes[{i}]", f"unknown run metric {name!r}; allowed: {', '.join(RUN_METRICS)}")
        for i, name in enumerate(self.timeseries):
            if name not in STEP_METRICS:
                raise ConfigError(f"timeseries[{i}]", f"unknown step metric {name!r}; allowed: "
                                                      f"{', '.join(STEP_METRICS)}")
        base = load_scenario(self.scenario)
        for key, values in self.grid.items():
            if not values:
                raise ConfigError(f'grid."{key}"', "needs at least one value")
            for value in values:
                check_override(base, key, value, f'grid."{key}"')
        if self.sample is not None:
            if not self.sample.ranges:
                raise ConfigError("sample.ranges", "needs at least one parameter range")
            for key, bounds in self.sample.ranges.items():
                where = f'sample.ranges."{key}"'
                if len(bounds) != 2 or not bounds[0] < bounds[1]:
                    raise ConfigError(where, f"expected [low, high] with low < high, got {bounds!r}")
                for value in bounds:
                    check_override(base, key, value, where)
            overlap = set(self.grid) & set(self.sample.ranges)
            if overlap:
                raise ConfigError(f'sample.ranges."{sorted(overlap)[0]}"', "is also in [grid]; vary it in one place")

    @property
    def parameters(self) -> list[str]:
        """The dotted paths the sweep varies, grid first."""
        return [*self.grid, *(self.sample.ranges if self.sample else {})]

    def points(self) -> list[dict[str, Any]]:
        """Every parameter point (dotted path -> value), in a fixed order."""
        grid = [dict(zip(self.grid, combo, strict=True)) for combo in itertools.product(*self.grid.values())]
        if self.sample is None:
            return grid
        from scipy.stats import qmc

        keys = list(self.sample.ranges)
        d = len(keys)
        if self.sample.method == "sobol":
            unit = qmc.Sobol(d, scramble=True, seed=self.seed).random_base2(int(np.ceil(np.log2(self.sample.n))))
        else:
            unit = qmc.LatinHypercube(d, seed=self.seed).random(self.sample.n)
        lows, highs = sample_bounds(self.sample.ranges)
        rows = qmc.scale(unit, lows, highs) if d else unit
        sampled = [sampled_values(self.sample.ranges, row) for row in rows]
        return [{**g, **s} for g in grid for s in sampled]

    def runs(self) -> list[dict[str, Any]]:
        """Every run: id, point, replication, seed and the parameter values."""
        out = []
        for p, point in enumerate(self.points()):
            for rep in range(self.replications):
                run_id = p * self.replications + rep
                out.append({"run": run_id, "point": p, "replication": rep, "seed": derive_seed(self.seed, rep),
                            "params": point})
        return out


def is_whole_number(key: str) -> bool:
    """Whether scenario key ``key`` (a dotted path, as in overrides) is declared as a whole number."""
    from ecopark.policies import REGISTRY
    from ecopark.scenario import Scenario

    parts = key.split(".")
    if parts[0] == "policies":
        if len(parts) != 3 or parts[1] not in REGISTRY:
            return False
        parts, tp = parts[2:], REGISTRY[parts[1]].Params
    else:
        tp = Scenario
    for part in parts:
        name = re.sub(r"\[\d+\]$", "", part)
        if dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp).get(name)
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return False
        if name != part and typing.get_origin(tp) in (tuple, list):
            tp = typing.get_args(tp)[0]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp is int


def sample_bounds(ranges: Mapping[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds to sample ``ranges`` over: whole-number keys widened by 0.5 each side."""
    widen = np.array([0.5 if is_whole_number(k) else 0.0 for k in ranges])
    lows = np.array([b[0] for b in ranges.values()], dtype=float) - widen
    highs = np.array([b[1] for b in ranges.values()], dtype=float) + widen
    return lows, highs


def sampled_values(ranges: Mapping[str, list[float]], row: np.ndarray) -> dict[str, float | int]:
    """One sampled row as parameter values: whole-number keys rounded and kept within their range."""
    out: dict[str, float | int] = {}
    for (key, (lo, hi)), v in zip(ranges.items(), row, strict=True):
        out[key] = int(min(max(round(float(v)), lo), hi)) if is_whole_number(key) else float(v)
    return out


def check_override(base: Any, key: str, value: Any, where: str) -> None:
    """Raise ConfigError ``where`` (with the scenario's own message) unless ``base`` accepts
    ``key = value``: how sweep and calibration specs check the parameters they vary."""
    try:
        load_scenario(base, {key: value})
    except ConfigError as exc:
        raise ConfigError(where, f"{exc}") from None


def derive_seed(master: int, replication: int) -> int:
    """The seed of a replication: SeedSequence(master, spawn_key=(replication,)), first 32-bit word."""
    return int(np.random.SeedSequence(master, spawn_key=(replication,)).generate_state(1)[0])


def read_spec_table(spec: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """(the raw table, its source) of a spec given as a TOML file or a mapping: a sweep's or a
    calibration's. A relative ``scenario = "x.toml"`` is taken relative to the spec's folder;
    a missing, unreadable, non-UTF-8 or invalid file raises ConfigError ``spec``."""
    if isinstance(spec, Mapping):
        return dict(spec), "<dict>"
    path = Path(spec)
    if not path.is_file():
        raise ConfigError("spec", f"{str(spec)!r} is not a file")
    try:
        data = tomllib.loads(read_text(path, "spec"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("spec", f"{path} is not valid TOML: {exc}") from None
    scenario = data.get("scenario")
    if isinstance(scenario, str) and scenario.endswith(".toml") and not Path(scenario).is_absolute():
        data = {**data, "scenario": str(path.parent / scenario)}
    return data, str(path)


def load_spec(spec: str | Path | Mapping[str, Any] | SweepSpec) -> SweepSpec:
    """A validated SweepSpec from a TOML file, a mapping, or a SweepSpec."""
    if isinstance(spec, SweepSpec):
        return spec
    data, source = read_spec_table(spec)
    built = build(SweepSpec, data)
    return SweepSpec(**{**built.__dict__, "source": source})
