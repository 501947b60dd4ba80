"""Design a policy mix: the cheapest setting of the levers that meets targets with a confidence.

``ecopark design SPEC`` searches the levers (instrument rates, budgets, a platform on or off)
for the mix of least *net public cost* (mean ``fiscal_cost`` over seeds and presets, yuan;
spending minus revenue raised) whose targets hold with the stated probability over seeds,
on every preset. A spec is a TOML file (or a dict) like::

    presets = ["generic"]                  # the mix must meet the targets on each
    steps = 60
    replications = 6                       # seeds per candidate (common random numbers)
    seed = 2026

    [fixed]                                # overrides of every run (optional)
    "policies.capex_subsidy.share" = 0.0

    [levers]                               # [low, high], a table, or on/off
    "policies.reuse_subsidy.rate" = [0.0, 100.0]
    "policies.landfill_tax.rate" = { low = 0.0, high = 200.0 }
    "policies.platform.enabled" = { choices = [false, true] }

    [[targets]]
    metric = "reuse_rate_mass_total"
    at_least = 0.45                        # or at_most
    probability = 0.9                      # share of seeds on which it must hold

    [search]
    sample = "lhs"                         # global stage: a sampler of SAMPLERS
    n = 16
    refine = "nelder-mead"                 # refinement: a refiner of REFINERS
    iterations = 24
    verify_replications = 12               # fresh seeds the chosen mix is checked on
    verify_candidates = 3                  # cheapest feasible candidates tried there until one holds

**Feasibility.** Candidate x meets target t on preset P when the share of its replications
with metric >= threshold (``at_least``; <= for ``at_most``) is at least ``probability``.

**Search.** Replication k of every candidate runs with seed ``derive_seed(seed, k)``
(common random numbers), so the objective is a deterministic function of x and two
candidates differ by their levers, not by their dice. The global stage evaluates a
space-filling sample of the lever box (unit cube, mapped to each lever's range; on/off
levers are on for u >= 0.5); the refinement stage minimises, from the best points of the
global stage, the penalised objective

    F(x) = cost(x) + M sum_{t, P} max(0, -margin_{t,P}(x)) + M/1000 [x infeasible]

where margin = (q - threshold) / scale is the distance from the threshold of q, the
(f+1)-th worst value of the metric over the n seeds with f = floor(n (1 - probability)) the
misses allowed (so margin >= 0 exactly when the target holds; sign reversed for
``at_most``), scale = |threshold| (1 if 0), and the penalty M is ten
times the largest |cost| of the global stage plus 1 M yuan, so that meeting the targets
always comes first. Samplers and refiners are chosen by name from :data:`SAMPLERS` and
:data:`REFINERS` (one small interface each; add one with :func:`sampler` or
:func:`refiner`).

**Verification.** The cheapest feasible candidate is run again on ``verify_replications``
fresh seeds (replications ``replications``, ``replications + 1``, ... never used in the
search) on every preset; the report gives each target's share of seeds met and the cost
with its 95% interval, and whether the mix still meets the targets there. The cheapest of
many noisy feasible candidates tends to be one whose search seeds ran high (the winner's
curse), so with ``verify_candidates`` = k > 1 the feasible candidates are verified cheapest
first, on the same fresh seeds, until one holds on every preset; the chosen mix is the first
that holds (the cheapest found if none of the k does), and every check is in the report.

**Marginal values.** Around the chosen mix each numeric lever is moved by ``step`` of its
range (down and up, within the range; an on/off lever is switched), on the search seeds:
the change of each target metric and of the net cost per unit of the lever, paired over
the seeds (mean and 95% half-width), and their ratio, the extra yuan per unit of outcome
bought through that lever, where both changes are clear of zero (NaN, "—" in the report,
otherwise).

Layout of the output folder (running the same command again resumes: the search is
deterministic and every candidate's runs are kept)::

    <preset>/points.json, <preset>/parts/    the registry of candidates and their runs
    <preset>-verify/...                      the fresh-seed runs of the chosen mix
    evaluations.csv   every candidate: levers, stage, cost, margins, feasible
    pareto.csv        candidates no other beats on both cost and the first target's metric
    marginal.csv      each lever's marginal value at the chosen mix
    robustness.csv    the candidates verified on fresh seeds (cheapest first), per preset
    report.md, pareto.png
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark.experiments.effectiveness import _half_width
from ecopark.experiments.spec import check_override, derive_seed, read_spec_table
from ecopark.metrics import RUN_METRICS
from ecopark.scenario import load_scenario
from ecopark.schema import ConfigError, build, param, to_dict

#: A sampler: (dimensions, points, seed) -> points in the unit cube, shape (n, d).
Sampler = Callable[[int, int, int], np.ndarray]
#: A refiner: (objective of a batch of unit-cube points, starting points best first, search spec, seed).
Refiner = Callable[[Callable[[list[np.ndarray]], list[float]], np.ndarray, "SearchSpec", int], None]
SAMPLERS: dict[str, Sampler] = {}
REFINERS: dict[str, Refiner] = {}


def sampler(name: str) -> Callable[[Sampler], Sampler]:
    """Register a global-stage sampler under ``name``."""
    def wrap(func: Sampler) -> Sampler:
        SAMPLERS[name] = func
        return func
    return wrap


def refiner(name: str) -> Callable[[Refiner], Refiner]:
    """Register a refinement method under ``name``."""
    def wrap(func: Refiner) -> Refiner:
        REFINERS[name] = func
        return func
    return wrap


@sampler("lhs")
def _lhs(d: int, n: int, seed: int) -> np.ndarray:
    """Latin hypercube (scipy.stats.qmc)."""
    from scipy.stats import qmc

    return qmc.LatinHypercube(d, seed=seed).random(n)


@sampler("sobol")
def _sobol(d: int, n: int, seed: int) -> np.ndarray:
    """Scrambled Sobol, n rounded up to a power of 2 (scipy.stats.qmc)."""
    from scipy.stats import qmc

    return qmc.Sobol(d, scramble=True, seed=seed).random_base2(math.ceil(math.log2(max(n, 2))))


@refiner("none")
def _no_refinement(objective, starts, search, seed) -> None:
    """Keep the global stage's best."""


@refiner("nelder-mead")
def _nelder_mead(objective, starts, search, seed) -> None:
    """Nelder-Mead (scipy.optimize.minimize, bounded) from each of the ``search.starts`` best points."""
    from scipy.optimize import minimize

    d = starts.shape[1]
    for start in starts[: search.starts]:
        minimize(lambda u: objective([u])[0], start, method="Nelder-Mead", bounds=[(0.0, 1.0)] * d,
                 options={"maxfev": search.iterations, "xatol": 1e-3, "fatol": 1e-6,
                          "initial_simplex": _simplex(start, search.simplex)})


def _simplex(start: np.ndarray, size: float) -> np.ndarray:
    """A starting simplex of edge ``size`` around ``start``, kept inside the unit cube."""
    points = [start]
    for i in range(len(start)):
        p = start.copy()
        p[i] = p[i] + size if p[i] + size <= 1.0 else p[i] - size
        points.append(p)
    return np.array(points)


@refiner("differential_evolution")
def _differential_evolution(objective, starts, search, seed) -> None:
    """Differential evolution (scipy.optimize), started from the best points, each generation one parallel batch."""
    from scipy.optimize import differential_evolution

    def batch_map(func, population):
        population = [np.asarray(x) for x in population]
        objective(population)  # one batch: the values are then read from the evaluations
        return [func(x) for x in population]

    init = starts[: search.population]
    differential_evolution(lambda u: objective([u])[0], [(0.0, 1.0)] * starts.shape[1], init=init,
                           maxiter=search.iterations, seed=seed, polish=False, updating="deferred",
                           workers=batch_map, tol=0.0)


@dataclass(frozen=True)
class Lever:
    low: float | None = param(None, doc="lowest value searched (numeric lever)")
    high: float | None = param(None, doc="highest value searched (numeric lever)")
    integer: bool = param(False, doc="round to whole numbers")
    choices: list[Any] = param([], doc="the values of a discrete lever, e.g. [false, true]")

    def value(self, u: float) -> Any:
        """The lever's value at position ``u`` in [0, 1] (12 significant digits)."""
        u = min(max(float(u), 0.0), 1.0)
        if self.choices:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        x = self.low + u * (self.high - self.low)
        return round(x) if self.integer else float(f"{x:.12g}")

    def position(self, value: Any) -> float:
        """Inverse of :meth:`value`: the centre of a choice's cell, or where a number lies."""
        if self.choices:
            return (self.choices.index(value) + 0.5) / len(self.choices)
        return (float(value) - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class DesignTarget:
    metric: str = param("", doc="a run metric")
    at_least: float | None = param(None, doc="the metric must be at least this (or give at_most)")
    at_most: float | None = param(None, doc="the metric must be at most this (or give at_least)")
    probability: float = param(0.9, lo=0.0, hi=1.0, doc="share of seeds on which it must hold")

    def validate(self, path: str) -> None:
        if self.metric not in RUN_METRICS:
            raise ConfigError(f"{path}.metric", f"unknown run metric {self.metric!r}; allowed: "
                                                f"{', '.join(RUN_METRICS)}")
        if (self.at_least is None) == (self.at_most is None):
            raise ConfigError(f"{path}.at_least", "give exactly one of at_least and at_most")

    @property
    def threshold(self) -> float:
        return float(self.at_least if self.at_least is not None else self.at_most)

    @property
    def label(self) -> str:
        op = ">=" if self.at_least is not None else "<="
        return f"{self.metric} {op} {self.threshold:g} (p {self.probability:g})"

    def met(self, values: np.ndarray) -> np.ndarray:
        return values >= self.threshold if self.at_least is not None else values <= self.threshold

    def margin(self, values: np.ndarray) -> float:
        """(q - threshold) / scale (reversed for at_most), with q the (f+1)-th worst value and
        f = floor(n (1 - probability)) the misses allowed: >= 0 exactly when the share met is
        at least the probability (module docstring)."""
        scale = abs(self.threshold) or 1.0
        allowed = int(np.floor(len(values) * (1 - self.probability) + 1e-9))
        if self.at_least is not None:
            return float((np.sort(values)[allowed] - self.threshold) / scale)
        return float((self.threshold - np.sort(values)[::-1][allowed]) / scale)


@dataclass(frozen=True)
class SearchSpec:
    sample: str = param("lhs", doc="global stage: a sampler of SAMPLERS (lhs, sobol)")
    n: int = param(16, lo=1, hi=100_000, doc="global stage: points")
    refine: str = param("nelder-mead", doc="refinement: a refiner of REFINERS (nelder-mead, "
                                           "differential_evolution, none)")
    iterations: int = param(24, lo=0, hi=100_000, doc="Nelder-Mead: evaluations per start; "
                                                      "differential evolution: generations")
    starts: int = param(1, lo=1, hi=1000, doc="Nelder-Mead: starts from the best global points")
    population: int = param(8, lo=5, hi=10_000, doc="differential evolution: population")
    simplex: float = param(0.15, lo=0.001, hi=0.5, doc="Nelder-Mead: starting simplex edge (unit cube)")
    verify_replications: int = param(12, lo=2, hi=100_000, doc="fresh seeds the chosen mix is verified on")
    verify_candidates: int = param(1, lo=1, hi=1000, doc="feasible candidates, cheapest first, verified on "
                                                       "the fresh seeds until one holds there")
    step: float = param(0.1, lo=0.001, hi=0.5, doc="marginal values: move of a lever, share of its range")

    def validate(self, path: str) -> None:
        if self.sample not in SAMPLERS:
            raise ConfigError(f"{path}.sample", f"{self.sample!r}; allowed: {', '.join(SAMPLERS)}")
        if self.refine not in REFINERS:
            raise ConfigError(f"{path}.refine", f"{self.refine!r}; allowed: {', '.join(REFINERS)}")


@dataclass(frozen=True)
class DesignSpec:
    presets: list[str] = param(["generic"], doc="presets (or scenario files) on each of which the targets must hold")
    steps: int = param(60, lo=1, hi=2400, unit="months", doc="steps per run")
    replications: int = param(6, lo=1, hi=10_000, doc="seeds per candidate (common random numbers)")
    seed: int = param(0, lo=0, doc="master seed of runs, sampler and optimiser")
    cost: str = param("fiscal_cost", doc="the run metric (yuan) minimised: the net public cost")
    fixed: dict[str, Any] = param({}, doc="overrides of every run")
    levers: dict[str, Lever] = param({}, doc="dotted key -> range or choices searched")
    targets: list[DesignTarget] = param([], doc="what the mix must achieve, with a confidence")
    search: SearchSpec = param(SearchSpec(), doc="global sample, refinement, verification")
    source: str = field(default="<dict>", compare=False)

    def validate(self, path: str) -> None:
        if not self.presets:
            raise ConfigError("presets", "needs at least one preset")
        if not self.levers:
            raise ConfigError("levers", "needs at least one lever")
        if not self.targets:
            raise ConfigError("targets", "needs at least one [[targets]] entry")
        if self.cost not in RUN_METRICS:
            raise ConfigError("cost", f"unknown run metric {self.cost!r}")
        for key, lever in self.levers.items():
            if not lever.choices and (lever.low is None or lever.high is None or not lever.low < lever.high):
                raise ConfigError(f'levers."{key}"', "needs low < high, or choices")
        if self.search.refine == "differential_evolution" and self.search.population > self.search.n:
            raise ConfigError("search.population", f"{self.search.population} exceeds the {self.search.n} points "
                                                   "of the global stage it starts from; lower it or raise search.n")

    def check_scenarios(self) -> None:
        """ConfigError unless every preset, with [fixed], accepts every lever's extreme values
        (called before any run; a custom evaluator, such as a synthetic problem, skips it)."""
        for preset in self.presets:
            try:
                base = load_scenario(load_scenario(preset), self.fixed)
            except ConfigError as exc:
                raise ConfigError(f"fixed.{exc.key}", str(exc)) from None
            for key, lever in self.levers.items():
                where = f'levers."{key}"'
                values = lever.choices or [lever.value(0.0), lever.value(1.0)]
                for value in values:
                    check_override(base, key, value, where)

    def values(self, u: np.ndarray) -> dict[str, Any]:
        """Lever values at unit-cube position ``u``."""
        return {key: lever.value(x) for (key, lever), x in zip(self.levers.items(), u, strict=True)}

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys([self.cost, *(t.metric for t in self.targets)]))


def load_design(spec: str | Path | Mapping[str, Any] | DesignSpec) -> DesignSpec:
    """A validated DesignSpec from a TOML file, a mapping or a DesignSpec."""
    if isinstance(spec, DesignSpec):
        return spec
    data, source = read_spec_table(spec)
    levers = data.get("levers")
    if isinstance(levers, Mapping):  # short form: "key" = [low, high]
        data["levers"] = {k: ({"low": v[0], "high": v[1]} if isinstance(v, list) and len(v) == 2 else v)
                          for k, v in levers.items()}
    if source != "<dict>" and isinstance(data.get("presets"), list):
        folder = Path(source).parent
        data["presets"] = [str(folder / p) if isinstance(p, str) and p.endswith(".toml")
                           and not Path(p).is_absolute() else p for p in data["presets"]]
    built = build(DesignSpec, data)
    return DesignSpec(**{**built.__dict__, "source": source})


# -- evaluation ---------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One mix evaluated: its levers, and per preset one row per replication of the metrics."""

    point: int
    stage: str
    levers: dict[str, Any]
    runs: dict[str, pd.DataFrame]  # preset -> rows (replications) x metrics
    failed: int = 0

    def cost(self, spec: DesignSpec) -> float:
        """Mean net public cost over presets and replications (yuan)."""
        return float(np.mean([df[spec.cost].mean() for df in self.runs.values()]))

    def margins(self, spec: DesignSpec) -> dict[str, float]:
        return {f"{t.label} @ {p}": t.margin(df[t.metric].to_numpy(float)) for t in spec.targets
                for p, df in self.runs.items()}

    def shares_met(self, spec: DesignSpec) -> dict[str, float]:
        return {f"{t.label} @ {p}": float(t.met(df[t.metric].to_numpy(float)).mean()) for t in spec.targets
                for p, df in self.runs.items()}

    def feasible(self, spec: DesignSpec) -> bool:
        return not self.failed and all(
            share >= t.probability - 1e-12 for t in spec.targets for p, df in self.runs.items()
            for share in [float(t.met(df[t.metric].to_numpy(float)).mean())])


#: Evaluates candidates: (lever values of each, stage, fresh seeds?) -> Candidates, in order.
Evaluator = Callable[[list[dict[str, Any]], str, bool], list[Candidate]]


def design_task(sweep: Any, task: dict[str, Any]) -> dict[str, Any]:
    """One run of a candidate (in a worker): the sweep row with public spending and revenue."""
    from ecopark.experiments.batch import run_task
    from ecopark.experiments.incidence import public_flows

    return run_task(sweep, task, public_flows)[0]


class ModelEvaluator:
    """Runs candidates through the calibration's registry (``Store``) and ``Executor`` per preset:
    each candidate once across resumes, every run a part file written atomically."""

    def __init__(self, spec: DesignSpec, out: Path, executor: Any, progress: Any) -> None:
        from ecopark.experiments.calibration import Store
        from ecopark.experiments.compare import preset_label
        from ecopark.experiments.spec import SweepSpec

        self.spec, self.executor, self.progress, self.executed = spec, executor, progress, 0
        self.stores = {p: Store(out / preset_label(p)) for p in spec.presets}
        self.verify = {p: Store(out / f"{preset_label(p)}-verify") for p in spec.presets}
        self.sweeps = {p: SweepSpec(scenario=p, steps=spec.steps, replications=spec.replications, seed=spec.seed,
                                    outcomes=spec.metrics, format="csv", source=spec.source) for p in spec.presets}
        self.done: dict[tuple[bool, int], Candidate] = {}

    def __call__(self, levers: list[dict[str, Any]], stage: str, fresh: bool = False) -> list[Candidate]:
        from ecopark.experiments.batch import _save_part

        spec = self.spec
        reps = spec.search.verify_replications if fresh else spec.replications
        offset = spec.replications if fresh else 0
        stores = self.verify if fresh else self.stores
        ids = {p: store.register(levers, stage) for p, store in stores.items()}
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        todo: dict[str, list[dict[str, Any]]] = {p: [] for p in spec.presets}
        for p, store in stores.items():
            for point in dict.fromkeys(ids[p]):
                for k in range(reps):
                    run = point * reps + k
                    row = store.row(run)
                    if row is None:
                        todo[p].append({"run": run, "point": point, "replication": offset + k,
                                        "seed": derive_seed(spec.seed, offset + k),
                                        "params": {**spec.fixed, **store.points[point]["params"]}})
                    else:
                        rows[p, run] = row
        for p, tasks in todo.items():
            for row in self.executor.apply(design_task, (self.sweeps[p],), tasks):
                _save_part(stores[p].parts, row, None)
                rows[p, row["run"]] = row
                self.executed += 1
                self.progress.update(row["status"] != "ok")
        first = spec.presets[0]
        out = []
        for i, values in enumerate(levers):
            frames, failed = {}, 0
            for p in spec.presets:
                point = ids[p][i]
                got = [rows[p, point * reps + k] for k in range(reps)]
                ok = [r for r in got if r["status"] == "ok"]
                failed += len(got) - len(ok)
                frames[p] = pd.DataFrame([{m: r[m] for m in [*spec.metrics, "public:spending", "public:revenue"]}
                                          for r in ok], columns=[*spec.metrics, "public:spending", "public:revenue"])
            out.append(Candidate(ids[first][i], stores[first].points[ids[first][i]]["stage"], values, frames, failed))
        return out


# -- the search ---------------------------------------------------------------------------------
@dataclass
class DesignResult:
    """What :func:`design` returns (``docs/experiments.md``, "Designing a mix")."""

    best: dict[str, Any] | None           # the cheapest feasible mix found (None: none met the targets)
    evaluations: pd.DataFrame             # every candidate of the search
    pareto: pd.DataFrame                  # the non-dominated candidates (cost vs first target's metric)
    marginal: pd.DataFrame                # each lever's marginal value at the best mix
    robustness: pd.DataFrame              # the mixes verified on fresh seeds (cheapest first), per preset
    runs: int                             # runs the design took (search, marginal values, verification)
    figures: list[Path] = field(default_factory=list)


class Search:
    """The noisy constrained search of the module docstring, over any :data:`Evaluator`."""

    def __init__(self, spec: DesignSpec, evaluate: Evaluator) -> None:
        self.spec, self.evaluate = spec, evaluate
        self.candidates: dict[str, Candidate] = {}
        self.penalty = 1e6

    def _key(self, levers: Mapping[str, Any]) -> str:
        return json.dumps(levers, sort_keys=True)

    def batch(self, levers: list[dict[str, Any]], stage: str) -> list[Candidate]:
        new = [v for v in dict.fromkeys(map(self._key, levers)) if v not in self.candidates]
        if new:
            for cand in self.evaluate([json.loads(k) for k in new], stage, False):
                self.candidates[self._key(cand.levers)] = cand
        return [self.candidates[self._key(v)] for v in levers]

    def objective(self, cand: Candidate) -> float:
        """F(x) of the module docstring (yuan)."""
        if cand.failed:
            return 1e18
        short = sum(max(0.0, -m) for m in cand.margins(self.spec).values())
        return cand.cost(self.spec) + self.penalty * short + (0.0 if cand.feasible(self.spec) else self.penalty / 1e3)

    def run(self) -> None:
        spec = self.spec
        d = len(spec.levers)
        unit = SAMPLERS[spec.search.sample](d, spec.search.n, spec.seed)
        found = self.batch([spec.values(u) for u in unit], "global")
        costs = [abs(c.cost(spec)) for c in found if not c.failed]
        self.penalty = 10 * max(costs, default=0.0) + 1e6
        order = np.argsort([self.objective(c) for c in found], kind="stable")
        starts = np.array([[lever.position(c.levers[k]) for k, lever in spec.levers.items()]
                           for c in (found[i] for i in order)])

        def objective(points: list[np.ndarray]) -> list[float]:
            return [self.objective(c) for c in self.batch([spec.values(u) for u in points], "refine")]

        REFINERS[spec.search.refine](objective, starts, spec.search, spec.seed)

    def ranked(self) -> list[Candidate]:
        """The feasible candidates, cheapest first (ties by the order they were found)."""
        feasible = [c for c in self.candidates.values() if c.feasible(self.spec)]
        return sorted(feasible, key=lambda c: (c.cost(self.spec), c.point))

    def table(self) -> pd.DataFrame:
        spec = self.spec
        rows = []
        for c in sorted(self.candidates.values(), key=lambda c: c.point):
            means = {f"mean:{t.metric}": float(np.mean([df[t.metric].mean() for df in c.runs.values()]))
                     for t in spec.targets}
            rows.append({"point": c.point, "stage": c.stage, **c.levers, "net_cost": c.cost(spec), **means,
                         **{f"margin:{k}": v for k, v in c.margins(spec).items()},
                         "feasible": c.feasible(spec), "objective": self.objective(c)})
        return pd.DataFrame(rows)

    def marginal(self, best: Candidate) -> pd.DataFrame:
        """Each lever's marginal value around ``best`` on the search seeds (module docstring)."""
        spec = self.spec
        rows = []
        for key, lever in spec.levers.items():
            if lever.choices:
                others = [v for v in lever.choices if v != best.levers[key]]
                moves = [{**best.levers, key: others[0]}] if others else []
                lo_c, hi_c = best, (self.batch(moves, "marginal")[0] if moves else None)
                if hi_c is None:
                    continue
                delta = 1.0
                unit = f"switch to {others[0]}"
            else:
                h = spec.search.step * (lever.high - lever.low)
                x = float(best.levers[key])
                lo_v, hi_v = max(lever.low, x - h), min(lever.high, x + h)
                lo_c, hi_c = self.batch([{**best.levers, key: lever.value(lever.position(v))}
                                         for v in (lo_v, hi_v)], "marginal")
                delta = float(hi_c.levers[key]) - float(lo_c.levers[key])
                if delta == 0:
                    continue
                unit = "per unit of the lever"
            for t in spec.targets:
                d_out = self._paired(hi_c, lo_c, t.metric) / delta
                d_cost = self._paired(hi_c, lo_c, spec.cost) / delta
                out_half, cost_half = _half_width(d_out), _half_width(d_cost)
                out_mean, cost_mean = float(d_out.mean()), float(d_cost.mean())
                clear = abs(out_mean) > out_half and abs(cost_mean) > cost_half
                rows.append({"lever": key, "metric": t.metric, "move": unit,
                             "d_outcome": out_mean, "d_outcome_half": out_half,
                             "d_cost": cost_mean, "d_cost_half": cost_half,
                             "cost_per_unit_outcome": cost_mean / out_mean if clear else float("nan")})
        return pd.DataFrame(rows)

    def _paired(self, hi: Candidate, lo: Candidate, metric: str) -> np.ndarray:
        """Per-seed differences hi - lo of ``metric`` (seed k of every preset: the same seeds), pooled over presets."""
        return np.concatenate([hi.runs[p][metric].to_numpy(float) - lo.runs[p][metric].to_numpy(float)
                               for p in self.spec.presets])


def pareto(table: pd.DataFrame, metric: str, better: str) -> pd.DataFrame:
    """The candidates no other beats on both net cost (lower) and the mean of ``metric``."""
    from ecopark.experiments.compare import frontier

    gain = table[f"mean:{metric}"].to_numpy(float) * (1 if better == "higher" else -1)
    keep = frontier(table["net_cost"].to_numpy(float), gain, anchor=False)
    return table[keep].sort_values("net_cost").reset_index(drop=True)


def design(
    spec: str | Path | Mapping[str, Any] | DesignSpec,
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
    evaluator: Evaluator | None = None,
) -> DesignResult:
    """Search (or resume searching) the cheapest mix into folder ``out``; writes the tables,
    ``report.md`` and ``pareto.png``. ``evaluator`` replaces the model (tests' synthetic problems)."""
    from ecopark.experiments.batch import Progress, _write_atomic
    from ecopark.experiments.calibration import Executor

    spec = load_design(spec)
    if evaluator is None:
        spec.check_scenarios()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    spec_data = json.loads(json.dumps({**to_dict(spec), "source": spec.source}))
    if manifest and manifest.get("spec") != spec_data:
        raise ConfigError("out", f"{out} holds a design of another spec; use a new folder")
    manifest.update(spec=spec_data, backend=backend, workers=workers)
    manifest["resumed"] = manifest.get("resumed", -1) + 1
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    if evaluator is None:
        search = spec.search
        refine = {"none": 0, "nelder-mead": search.iterations * search.starts,
                  "differential_evolution": search.iterations * search.population}.get(search.refine, 0)
        planned = (search.n + refine + 2 * len(spec.levers)) * spec.replications * len(spec.presets)
        bar = Progress(planned + search.verify_replications * search.verify_candidates * len(spec.presets), 0,
                       progress)
        try:
            with Executor(workers, backend, scheduler) as executor:
                model = ModelEvaluator(spec, out, executor, bar)
                result = _search(spec, model)
        finally:
            bar.close()
        executed = model.executed
    else:
        result = _search(spec, evaluator)
        executed = None
    manifest.update(runs=result.runs, runs_this_session=executed)
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    result.evaluations.to_csv(out / "evaluations.csv", index=False)
    result.pareto.to_csv(out / "pareto.csv", index=False)
    result.marginal.to_csv(out / "marginal.csv", index=False)
    result.robustness.to_csv(out / "robustness.csv", index=False)
    from ecopark.experiments.plots import pareto_figure

    result.figures = [pareto_figure(result, spec, out)]
    write_report(spec, result, out)
    return result


def _verify(spec: DesignSpec, evaluate: Evaluator, cand: Candidate, rank: int) -> list[dict[str, Any]]:
    """Candidate ``cand`` (the ``rank``-th cheapest feasible) on the fresh seeds: one row per preset."""
    checked = evaluate([cand.levers], "verify", True)[0]
    rows = []
    for p, df in checked.runs.items():
        cost = df[spec.cost].to_numpy(float)
        row = {"preset": p, "candidate": rank, "point": cand.point, "seeds": len(df), "net_cost": float(cost.mean()),
               "net_cost_half": _half_width(cost)}
        for t in spec.targets:
            values = df[t.metric].to_numpy(float)
            row[f"mean:{t.metric}"] = float(values.mean())
            row[f"half:{t.metric}"] = _half_width(values)
            row[f"share_met:{t.label}"] = float(t.met(values).mean())
            row[f"holds:{t.label}"] = bool(t.met(values).mean() >= t.probability - 1e-12)
        rows.append(row)
    return rows


def _search(spec: DesignSpec, evaluate: Evaluator) -> DesignResult:
    search = Search(spec, evaluate)
    search.run()
    ranked = search.ranked()
    best = ranked[0] if ranked else None
    rows: list[dict[str, Any]] = []
    verified = 0
    for rank, cand in enumerate(ranked[: spec.search.verify_candidates], start=1):
        checks = _verify(spec, evaluate, cand, rank)
        rows += checks
        verified += 1
        if all(r[f"holds:{t.label}"] for r in checks for t in spec.targets):
            best = cand
            break
    marginal = search.marginal(best) if best is not None else pd.DataFrame()
    robustness = pd.DataFrame(rows)
    verify_runs = verified * spec.search.verify_replications * len(spec.presets)
    table = search.table()
    runs = len(search.candidates) * spec.replications * len(spec.presets) + verify_runs
    front = pareto(table, spec.targets[0].metric, "higher" if spec.targets[0].at_least is not None else "lower")
    return DesignResult(best.levers if best is not None else None, table, front, marginal, robustness, runs)


def write_report(spec: DesignSpec, result: DesignResult, out: Path) -> Path:
    """``out/report.md``: the chosen mix, its verification, marginal values, Pareto front, runs."""
    from ecopark.experiments.compare import markdown_table

    lines = ["# Cheapest mix found", "",
             "Targets: " + "; ".join(t.label for t in spec.targets) + f", on {', '.join(spec.presets)}; "
             f"objective: least mean `{spec.cost}` (net public cost: spending - revenue raised, yuan). "
             f"Search: {spec.search.sample} ({spec.search.n} points), then {spec.search.refine}; "
             f"{spec.replications} paired seeds per candidate; {result.runs} runs in all.", ""]
    if result.best is None:
        table = result.evaluations
        margins = [c for c in table.columns if c.startswith("margin:")]
        closest = table.loc[table[margins].min(axis=1).idxmax()] if margins and len(table) else None
        lines += ["**No candidate met the targets** within the levers' ranges.", ""]
        if closest is not None:
            lines += ["The closest (largest worst margin; margin = (value on the worst seed allowed - threshold) / "
                      "|threshold|):", "",
                      markdown_table(["lever or measure", "value"],
                                     [[k, _fmt(closest[k])] for k in spec.levers]
                                     + [["net public cost (yuan)", _fmt(closest["net_cost"])]]
                                     + [[f"mean {t.metric}", _fmt(closest[f"mean:{t.metric}"])] for t in spec.targets]
                                     + [[m[7:], _fmt(closest[m])] for m in margins]), ""]
    else:
        checked = result.robustness["candidate"].nunique()
        holds = result.robustness[[c for c in result.robustness.columns if c.startswith("holds:")]].all(axis=1)
        held = sorted(set(result.robustness.loc[holds, "candidate"]) - set(
            result.robustness.loc[~holds, "candidate"]))
        verdict = (f"the {_ordinal(held[0])} cheapest feasible candidate holds there and is chosen" if held else
                   f"none of the {checked} cheapest feasible candidate(s) checked holds there: the cheapest is shown, "
                   "and the targets are not met with confidence (ask for a margin or more replications)")
        lines += [markdown_table(["lever", "value"], [[k, _fmt(v)] for k, v in result.best.items()]), "",
                  f"Verified on {spec.search.verify_replications} fresh seeds (never used in the search), cheapest "
                  f"feasible candidate first: {verdict}.", ""]
        cols = [c for c in result.robustness.columns if c not in ("preset",)]
        lines += [markdown_table(["preset", *cols], [[r["preset"], *(_fmt(r[c]) for c in cols)]
                                                     for _, r in result.robustness.iterrows()]), ""]
        if not result.marginal.empty:
            lines += ["Marginal value of each lever at this mix (search seeds):", "",
                      markdown_table(list(result.marginal.columns),
                                     [[_fmt(v) for v in r] for r in result.marginal.itertuples(index=False)]), ""]
    lines += [f"Pareto front (cost against `{spec.targets[0].metric}`): {len(result.pareto)} candidates, pareto.csv.",
              "", *(f"![{p.stem}]({p.name})" for p in result.figures)]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _ordinal(k: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(k, f"{k}th")


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.number)):
        v = float(value)
        if not np.isfinite(v):
            return "—"
        return f"{v / 1e6:,.1f} M" if abs(v) >= 1e6 else f"{v:,.4g}"
    return str(value)
