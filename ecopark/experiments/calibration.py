"""Calibration by the method of simulated moments: fit a park's free parameters to observed figures.

For a candidate θ (values of the spec's ``[free]`` parameters), the model is run
``replications`` times; replication k uses the seed ``derive_seed(seed, k)`` for every
candidate (common random numbers), so two candidates differ by their parameters, not by
their dice, and the distance is a deterministic function of θ. Each target's simulated
moment m_i(θ) is the mean over the replications of its value in each run (a run metric,
or a step metric aggregated over a window), and the distance is

    D(θ) = sum_i w_i ((m_i(θ) - observed_i) / s_i)^2

with s_i the target's tolerance or standard error and w_i its weight. The search has two
stages: a space-filling global sample of the parameter box (Latin hypercube or scrambled
Sobol, ``scipy.stats.qmc``), then a refinement from its best points (``scipy.optimize``:
differential evolution seeded with the best points, each generation evaluated as one
parallel batch, or Nelder-Mead from the best few), then the region stage: the edges of the
interval region D <= D_min + chi2_level(1) walked outward until candidates beyond them are
rejected (``search_methods.RegionExpansion``; the global and region stages' methods are
chosen by name from ``search_methods.SEARCH_METHODS``). The uncalibrated park (the free
parameters at their base values) is evaluated first, as the "before".

Runs go through the sweep machinery (``batch.run_task``, part files written atomically) on
worker processes or a Dask cluster. Layout of the output folder::

    manifest.json       spec, ecopark version, times, runs, points, wall time, times resumed
    points.json         every candidate once: id, stage, parameter values (the registry)
    parts/run-NNNNNN.json   one finished run (run = point x replications + k) with its moments
    evaluations.log     one line per run actually executed (the audit trail of resumes)

A killed calibration resumes with the same command: the search is deterministic (fixed
seeds and a seeded optimiser fed deterministic distances), so it asks for the same
candidates in the same order; a candidate already in the registry keeps its id and its
finished runs are read from their parts, so no run is executed twice and the final result
is the one an uninterrupted calibration gives. Results (``calibration_report.write``) are
built from the registry and parts at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark import __version__
from ecopark.experiments.batch import PART, LocalWorkers, Progress, _save_part, _worker_died, _write_atomic, run_task
from ecopark.experiments.calibration_spec import CalibrationSpec, Target, load_calibration
from ecopark.experiments.search_methods import make, region_statistic
from ecopark.experiments.spec import SweepSpec, derive_seed
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError, to_dict

#: Distance given to a candidate whose runs failed: larger than any real distance, finite for the optimisers.
FAILED_DISTANCE = 1e12


def moment_task(sweep: SweepSpec, targets: tuple[Target, ...], task: dict[str, Any]) -> dict[str, Any]:
    """One run of a candidate (in a worker): the sweep row plus ``moment:<label>`` for every target."""
    row, series = run_task(sweep, task)
    if row["status"] == "ok":
        columns = {c: series[c].to_numpy() for c in series.columns} if series is not None else {}
        for target in targets:
            row[f"moment:{target.label}"] = target.moment(row, columns)
    return row


def sweep_of(spec: CalibrationSpec) -> SweepSpec:
    """The sweep spec each run of the calibration is executed with: what it records, and nothing more."""
    targets = [*spec.targets, *spec.holdout]
    run_metrics = [t.metric for t in targets if t.metric in RUN_METRICS]
    step_metrics = [t.metric for t in targets if t.metric not in RUN_METRICS]
    return SweepSpec(scenario=spec.scenario, steps=spec.steps, replications=spec.replications, seed=spec.seed,
                     outcomes=list(dict.fromkeys(run_metrics or ["firms_final"])),
                     timeseries=list(dict.fromkeys(step_metrics)), format="csv", source=spec.source)


class Executor:
    """Runs tasks on worker processes (local) or a Dask cluster, kept open for the whole calibration.

    Local workers are those of the sweeps (``batch.worker_pool``): they exit when this process
    dies, and one run is in flight per worker, so when a worker dies (killed, out of memory)
    the runs in flight are retried once each alone in a fresh worker, and a run whose worker
    dies again is recorded as failed ("worker died"; its candidate gets ``FAILED_DISTANCE``).
    """

    def __init__(self, workers: int, backend: str, scheduler: str | None) -> None:
        if backend not in ("local", "dask"):
            raise ConfigError("backend", f"{backend!r} is not a backend; allowed: 'local', 'dask'")
        self.workers, self.backend = max(int(workers), 1), "dask" if scheduler else backend
        self.scheduler = scheduler
        self.local = LocalWorkers(self.workers)
        self.client = self.cluster = None

    def __enter__(self) -> Executor:
        if self.backend == "dask":
            try:
                from distributed import Client, LocalCluster
            except ImportError:
                raise ConfigError("backend", "the dask backend needs the optional extra: "
                                             "pip install 'ecopark[distributed]'") from None
            if self.scheduler is None:
                self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address=None)
            self.client = Client(self.scheduler or self.cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        self.local.close(wait=False)
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map(self, sweep: SweepSpec, targets: tuple[Target, ...], tasks: list[dict]) -> Iterator[dict[str, Any]]:
        """Rows of ``tasks`` as they finish (order of completion)."""
        return self.apply(moment_task, (sweep, targets), tasks)

    def apply(self, func: Callable[..., dict[str, Any]], args: tuple[Any, ...],
              tasks: list[dict]) -> Iterator[dict[str, Any]]:
        """``func(*args, task)`` of every task (a module-level function, so that it pickles), as they finish."""
        if self.client is not None:
            from distributed import as_completed

            columns = [[a] * len(tasks) for a in args]
            futures = self.client.map(func, *columns, tasks, pure=False)
            for future in as_completed(futures):
                yield future.result()
                future.release()
        elif self.workers > 1:
            yield from self.local.map(func, args, tasks, dead=lambda task: _worker_died(task)[0])  # the row only
        else:
            for task in tasks:
                yield func(*args, task)


@dataclass
class Evaluation:
    """One candidate's runs summarised: moments per replication, their mean, the distance."""

    point: int
    stage: str
    params: dict[str, Any]
    moments: pd.DataFrame  # rows: replications; columns: target labels (fitted and holdout)
    failed: int
    distance: float


class Store:
    """The resumable registry of candidates and their runs in folder ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.parts = out / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)
        registry = out / "points.json"
        self.points: list[dict[str, Any]] = json.loads(registry.read_text()) if registry.exists() else []
        self.ids = {self.key(p["params"]): p["point"] for p in self.points}

    @staticmethod
    def key(params: Mapping[str, Any]) -> str:
        return json.dumps(params, sort_keys=True)

    def register(self, params: list[dict[str, Any]], stage: str) -> list[int]:
        """Ids of the candidates, new ones appended to the registry (written before any of their runs)."""
        ids, new = [], False
        for values in params:
            key = self.key(values)
            if key not in self.ids:
                self.ids[key] = len(self.points)
                self.points.append({"point": len(self.points), "stage": stage, "params": values})
                new = True
            ids.append(self.ids[key])
        if new:
            _write_atomic(self.out / "points.json", lambda p: p.write_text(json.dumps(self.points, indent=1)))
        return ids

    def row(self, run: int) -> dict[str, Any] | None:
        path = self.parts / f"{PART.format(run)}.json"
        return json.loads(path.read_text()) if path.exists() else None


class Calibration:
    """The search: evaluates candidates in parallel batches, each once, and keeps their results."""

    def __init__(self, spec: CalibrationSpec, out: Path, executor: Executor, progress: Progress) -> None:
        self.spec, self.executor, self.progress = spec, executor, progress
        self.store = Store(out)
        self.sweep = sweep_of(spec)
        self.targets = (*spec.targets, *spec.holdout)
        self.log = out / "evaluations.log"
        self.evaluations: dict[int, Evaluation] = {}
        self.executed = 0

    def evaluate(self, params: list[dict[str, Any]], stage: str) -> list[Evaluation]:
        """Evaluate candidates (each once over the whole calibration, across resumes) as one parallel batch."""
        ids = self.store.register(params, stage)
        reps = self.spec.replications
        rows: dict[int, dict[str, Any]] = {}
        todo = []
        for point in dict.fromkeys(ids):
            if point in self.evaluations:
                continue
            for k in range(reps):
                run = point * reps + k
                row = self.store.row(run)
                if row is None:
                    todo.append({"run": run, "point": point, "replication": k,
                                 "seed": derive_seed(self.spec.seed, k),
                                 "params": {**self.spec.fixed, **self.store.points[point]["params"]}})
                else:
                    rows[run] = row
        with self.log.open("a") as log:
            for row in self.executor.map(self.sweep, self.targets, todo):
                _save_part(self.store.parts, row, None)
                log.write(f"{row['run']}\n")
                log.flush()
                rows[row["run"]] = row
                self.executed += 1
                self.progress.update(row["status"] != "ok")
        for point in dict.fromkeys(ids):
            if point not in self.evaluations:
                self.evaluations[point] = self._summarise(point, [rows[point * reps + k] for k in range(reps)])
        return [self.evaluations[p] for p in ids]

    def _summarise(self, point: int, rows: list[dict[str, Any]]) -> Evaluation:
        ok = [r for r in rows if r["status"] == "ok"]
        labels = [t.label for t in self.targets]
        moments = pd.DataFrame([[r[f"moment:{label}"] for label in labels] for r in ok], columns=labels)
        failed = len(rows) - len(ok)
        distance = FAILED_DISTANCE if failed else distance_of(self.spec.targets, moments.mean())
        entry = self.store.points[point]
        return Evaluation(point, entry["stage"], entry["params"], moments, failed, distance)

    # -- the stages --------------------------------------------------------------------------------
    def run(self) -> None:
        spec = self.spec
        self.evaluate([spec.base_values()], "base")
        unit = spec.unit_sample()
        global_evals = self.evaluate([spec.values(u) for u in unit], "global")
        order = np.argsort([e.distance for e in global_evals], kind="stable")
        if spec.search.refine == "differential_evolution" and spec.search.iterations > 0:
            self._differential_evolution(unit[order[: spec.search.population]])
        elif spec.search.refine == "nelder-mead" and spec.search.iterations > 0:
            for start in unit[order[: spec.search.starts]]:
                self._nelder_mead(start)
        if spec.region.method != "none":
            self._region()

    def unit_points(self, corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every candidate evaluated so far inside the searched box: unit positions and region statistics."""
        evals = [self.evaluations[p] for p in sorted(self.evaluations)]
        u = np.array([[f.position(float(e.params[k])) for k, f in self.spec.free.items()] for e in evals])
        d = region_losses(self.spec, evals, corr)
        inside = np.all((u >= -1e-9) & (u <= 1 + 1e-9), axis=1)
        return u[inside], d[inside]

    def _region(self) -> None:
        """The region stage: rounds of the ``region.method`` search method until it has nothing to ask."""
        region = self.spec.region
        method = make(region.method, seed=self.spec.seed, level=region.level, step=region.step,
                      targets=len(self.spec.targets))
        space = self.spec.search_space()
        corr = target_correlation(self.spec)
        for _ in range(region.rounds):
            u, d = self.unit_points(corr)
            batch = method.sample_batch(region.batch, space, u, d)
            if not len(batch):
                break
            self.evaluate([self.spec.values(x) for x in batch], "region")

    def _distance_at(self, u: np.ndarray) -> float:
        return self.evaluate([self.spec.values(u)], "refine")[0].distance

    def _differential_evolution(self, init: np.ndarray) -> None:
        from scipy.optimize import differential_evolution

        def batch_map(func, population):
            population = [np.asarray(x) for x in population]
            self.evaluate([self.spec.values(x) for x in population], "refine")  # one parallel batch
            return [func(x) for x in population]  # now read from the evaluations

        differential_evolution(self._distance_at, [(0.0, 1.0)] * len(self.spec.free), init=init,
                               maxiter=self.spec.search.iterations, seed=self.spec.seed, polish=False,
                               updating="deferred", workers=batch_map, tol=0.0)

    def _nelder_mead(self, start: np.ndarray) -> None:
        from scipy.optimize import minimize

        minimize(self._distance_at, start, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(self.spec.free),
                 options={"maxfev": self.spec.search.iterations, "xatol": 1e-3, "fatol": 1e-6})


def target_correlation(spec: CalibrationSpec) -> np.ndarray:
    """The fitted targets' error correlation R of the region statistic: ``region.correlation``, or the
    identity (independent targets)."""
    corr = spec.region.correlation
    return np.asarray(corr, dtype=float) if corr is not None else np.eye(len(spec.targets))


def region_losses(spec: CalibrationSpec, evaluations: list[Evaluation], corr: np.ndarray) -> np.ndarray:
    """The region statistic D_R = z' R^-1 z of every evaluation (weights as in D; failed: FAILED_DISTANCE)."""
    out = np.full(len(evaluations), FAILED_DISTANCE)
    root_w = np.sqrt([t.weight for t in spec.targets])
    for i, e in enumerate(evaluations):
        if not e.failed and len(e.moments):
            means = e.moments.mean()
            z = np.array([(means[t.label] - t.observed) / t.scale for t in spec.targets]) * root_w
            out[i] = float(region_statistic(z[None, :], corr)[0])
    return out


def distance_of(targets: tuple[Target, ...] | list[Target], means: Mapping[str, float]) -> float:
    """D = sum_i w_i ((m_i - observed_i) / s_i)^2 over the fitted targets."""
    return float(sum(t.weight * ((means[t.label] - t.observed) / t.scale) ** 2 for t in targets))


def max_runs(spec: CalibrationSpec) -> int:
    """Upper bound of the runs a calibration makes: base, global sample, refinement, region (repeats are free)."""
    search = spec.search
    refine = {"differential_evolution": search.population * search.iterations,
              "nelder-mead": search.starts * search.iterations, "none": 0}[search.refine]
    region = 0 if spec.region.method == "none" else spec.region.batch * spec.region.rounds
    return (1 + spec.n_global + refine + region) * spec.replications


def calibrate(
    spec: str | Path | Mapping[str, Any] | CalibrationSpec,
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
):
    """Calibrate (or resume calibrating) into folder ``out``; returns a ``CalibrationResult``.

    Writes the calibrated scenario (``calibrated.toml``), the report (``report.md`` and
    PNGs), the tables of every candidate and the manifest (``docs/calibration.md``).
    ``backend`` is "local" (``workers`` processes) or "dask" (a local cluster, or the
    cluster at ``scheduler`` = "tcp://HOST:PORT").
    """
    from ecopark.experiments.calibration_report import write

    spec = load_calibration(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    spec_data = json.loads(json.dumps({**to_dict(spec), "source": spec.source}))
    if manifest and manifest.get("spec") != spec_data:
        raise ConfigError("out", f"{out} holds a calibration of another spec; use a new folder")
    manifest.update(spec=spec_data, ecopark_version=__version__, backend=backend, workers=workers,
                    max_runs=max_runs(spec))
    manifest.setdefault("started", datetime.now(UTC).isoformat())
    manifest["resumed"] = manifest.get("resumed", -1) + 1
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))

    start = time.monotonic()
    done = len(list((out / "parts").glob("run-*.json"))) if (out / "parts").exists() else 0
    bar = Progress(max(max_runs(spec), done), done, progress)
    try:
        with Executor(workers, backend, scheduler) as executor:
            search = Calibration(spec, out, executor, bar)
            search.run()
    finally:
        bar.close()
    wall = time.monotonic() - start
    evaluations = [search.evaluations[p] for p in sorted(search.evaluations)]
    manifest.update(finished=datetime.now(UTC).isoformat(), points=len(evaluations),
                    runs=len(evaluations) * spec.replications, runs_this_session=search.executed,
                    wall_seconds_this_session=round(wall, 2),
                    wall_seconds_total=round(manifest.get("wall_seconds_total", 0.0) + wall, 2),
                    failed_runs=int(sum(e.failed for e in evaluations)))
    result = write(spec, evaluations, out, manifest)
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    return result
