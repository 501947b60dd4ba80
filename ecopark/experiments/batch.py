"""Run a sweep: many runs in parallel, streamed to disk, resumable, failures recorded.

Layout of an output folder::

    manifest.json        spec, ecopark version, start and end times, counts, failures
    parts/run-000042.json         one finished run: id, point, seed, parameters, outcomes,
                                  status ("ok" or "failed") and error
    parts/run-000042.ts.csv       its kept step metrics (if the spec keeps any)
    runs.parquet | runs.csv       every run once, one row each (written at the end)
    timeseries.parquet | .csv     kept step metrics, one row per run and step

Each part is written to a temporary name and renamed, so a sweep killed at any moment
(Ctrl-C, SIGKILL) leaves only whole parts. Running the same command again skips the runs
whose part exists and runs only what is missing; the final tables are rebuilt from the
parts, so each run appears exactly once. A run that raises is recorded with its error and
the sweep carries on. Runs are submitted a few at a time, so the parent's memory does not
grow with the number of runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ecopark import __version__
from ecopark.experiments.spec import SweepSpec, load_spec
from ecopark.schema import ConfigError, to_dict

PART = "run-{:06d}"


def run_task(spec: SweepSpec, task: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Execute one run of a sweep (in a worker); never raises: a failure becomes a row."""
    from ecopark.experiments.runner import simulate, timeseries  # the model is loaded in workers only
    from ecopark.metrics import RUN_METRICS, compute_run_metrics, steps_needed
    row = {"run": task["run"], "point": task["point"], "replication": task["replication"], "seed": task["seed"],
           **{f"param:{k}": v for k, v in task["params"].items()}}
    outcomes = spec.outcomes or list(RUN_METRICS)
    recorded = list(dict.fromkeys([*steps_needed(outcomes), *spec.timeseries]))
    try:
        model = simulate(spec.scenario, steps=spec.steps, seed=task["seed"], overrides=task["params"],
                         step_metrics=recorded)
        metrics = compute_run_metrics(model, outcomes)
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        row.update(status="failed", error=f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})")
        return row, None
    row.update(metrics, status="ok", error="")
    series = None
    if spec.timeseries:
        series = timeseries(model)[spec.timeseries].reset_index()
        series.insert(0, "run", task["run"])
    return row, series


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _save_part(parts: Path, row: dict[str, Any], series: pd.DataFrame | None) -> None:
    name = PART.format(row["run"])
    if series is not None:
        _write_atomic(parts / f"{name}.ts.csv", lambda p: series.to_csv(p, index=False))
    # the row last: its presence means the run is complete
    _write_atomic(parts / f"{name}.json", lambda p: p.write_text(json.dumps(row, default=float)))


class Progress:
    """A one-line progress bar on stderr: runs done, failures, time left."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.total, self.done, self.failed = total, done, 0
        self.start, self.started_with = time.monotonic(), done
        self.enabled = enabled and total > 0

    def update(self, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if not self.enabled:
            return
        rate = (self.done - self.started_with) / max(time.monotonic() - self.start, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else 0
        bar = "#" * int(30 * self.done / self.total)
        print(f"\r[{bar:<30}] {self.done}/{self.total} runs, {self.failed} failed, "
              f"{int(left) // 60}:{int(left) % 60:02d} left", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _local_backend(spec: SweepSpec, tasks: list[dict], workers: int) -> Iterable[tuple[dict, pd.DataFrame | None]]:
    if workers <= 1:
        for task in tasks:
            yield run_task(spec, task)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: set[Future] = set()
        queue = iter(tasks)
        for task in queue:
            pending.add(pool.submit(run_task, spec, task))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                task = next(queue, None)
                if task is not None:
                    pending.add(pool.submit(run_task, spec, task))


def _dask_backend(spec: SweepSpec, tasks: list[dict], workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("backend", "the dask backend needs the optional extra: pip install 'ecopark[distributed]'") \
            from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = client.map(run_task, [spec] * len(tasks), tasks, pure=False)
        for future in as_completed(futures):
            yield future.result()
            future.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def sweep(
    spec: str | Path | Mapping[str, Any] | SweepSpec,
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run (or resume) a sweep into folder ``out``; returns the runs table.

    ``backend`` is "local" (processes on this machine) or "dask" (an existing cluster at
    ``scheduler`` = "tcp://HOST:PORT", or a local one when omitted).
    """
    spec = load_spec(spec)
    return execute(spec, spec.runs(), out, workers, backend, scheduler, progress)


def execute(
    spec: SweepSpec,
    tasks: list[dict[str, Any]],
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run the ``tasks`` of ``spec`` not yet in ``out`` and rebuild the tables (see module doc)."""
    if backend not in ("local", "dask"):
        raise ConfigError("backend", f"{backend!r} is not a backend; allowed: 'local', 'dask'")
    if scheduler is not None:
        backend = "dask"
    out = Path(out)
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    spec_data = json.loads(json.dumps({**to_dict(spec), "source": spec.source, **(extra or {})}))
    if manifest and manifest.get("spec") != spec_data:
        raise ConfigError("out", f"{out} holds a sweep of another spec; use a new folder")
    done_ids = {int(p.name[4:10]) for p in parts.glob("run-*.json")}
    todo = [t for t in tasks if t["run"] not in done_ids]
    manifest.update(spec=spec_data, ecopark_version=__version__, runs=len(tasks),
                    parameters=sorted({k for t in tasks for k in t["params"]}), format=spec.format,
                    backend=backend, workers=workers)
    manifest.setdefault("started", datetime.now(UTC).isoformat())
    manifest["resumed"] = manifest.get("resumed", -1) + 1
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))

    bar = Progress(len(tasks), len(tasks) - len(todo), progress)
    results = _dask_backend(spec, todo, workers, scheduler) if backend == "dask" else _local_backend(spec, todo,
                                                                                                   workers)
    try:
        for row, series in results:
            _save_part(parts, row, series)
            bar.update(row["status"] != "ok")
    finally:
        bar.close()
    table = consolidate(out, spec)
    failures = table.loc[table["status"] != "ok", ["run", "error"]].to_dict("records")
    manifest.update(finished=datetime.now(UTC).isoformat(), completed=int((table["status"] == "ok").sum()),
                    failed=len(failures), failures=failures)
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))
    return table


def consolidate(out: Path, spec: SweepSpec) -> pd.DataFrame:
    """Rebuild runs and timeseries tables from the parts (each run once, sorted by run id)."""
    parts = Path(out) / "parts"
    rows = [json.loads(p.read_text()) for p in sorted(parts.glob("run-*.json"))]
    table = pd.DataFrame(rows).drop_duplicates("run").sort_values("run").reset_index(drop=True)
    series_files = sorted(parts.glob("run-*.ts.csv"))
    ok = set(table.loc[table["status"] == "ok", "run"]) if len(table) else set()
    series = [pd.read_csv(p) for p in series_files if int(p.name[4:10]) in ok]
    ts = pd.concat(series, ignore_index=True) if series else None
    _write_table(table, Path(out) / "runs", spec.format)
    if ts is not None:
        _write_table(ts.sort_values(["run", "step"]).reset_index(drop=True), Path(out) / "timeseries", spec.format)
    return table


def _write_table(table: pd.DataFrame, stem: Path, fmt: str) -> None:
    if fmt == "parquet":
        _write_atomic(stem.with_suffix(".parquet"), lambda p: table.to_parquet(p, index=False))
    else:
        _write_atomic(stem.with_suffix(".csv"), lambda p: table.to_csv(p, index=False))


def load_results(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """(runs, timeseries or None, manifest) of a sweep folder, in one call."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise ConfigError("folder", f"{folder} has no manifest.json: not a sweep results folder")
    manifest = json.loads(manifest_path.read_text())
    read = pd.read_parquet if manifest.get("format") == "parquet" else pd.read_csv
    suffix = ".parquet" if manifest.get("format") == "parquet" else ".csv"
    runs = read(folder / f"runs{suffix}")
    ts_path = folder / f"timeseries{suffix}"
    return runs, (read(ts_path) if ts_path.exists() else None), manifest
