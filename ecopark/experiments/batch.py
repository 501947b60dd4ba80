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

Robustness (docs/experiments.md):

* a part that cannot be read back whole (truncated or corrupted JSON, a time-series part
  without the rows and columns the spec asks for) counts as missing: it is deleted and its
  run done again;
* a worker process that dies (killed by the OOM killer, a segfault) breaks the pool: the
  runs that were in flight (one per worker, so each was running) are retried once, each
  alone in a fresh worker; a run whose
  worker dies again is recorded as failed ("worker died") and the sweep carries on with a
  new pool, keeping every finished run and writing the tables at the end;
* the folder is locked (``out/.lock``, an advisory lock the system releases when the
  process ends): a second sweep into the same folder stops with a ConfigError;
* workers watch their parent and exit when it dies, so killing a sweep kills its workers.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from ecopark import __version__
from ecopark.experiments.spec import SweepSpec, load_spec
from ecopark.schema import ConfigError, to_dict

PART = "run-{:06d}"
#: A function of a finished model giving extra columns of its run's row (name -> number).
Measure = Callable[[Any], dict[str, float]]
#: Seconds between a worker's checks that its parent is still alive.
PARENT_POLL_SECONDS = 0.5


def run_task(spec: SweepSpec, task: dict[str, Any], measure: Measure | None = None,
             ) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Execute one run of a sweep (in a worker); never raises: a failure becomes a row.

    ``measure`` (a module-level function, so that it pickles) adds columns computed from the
    finished model to the row, such as the gains by party of ``experiments/incidence.py``."""
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
        if measure is not None:
            metrics.update(measure(model))
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


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread ends this process as soon as its parent is gone."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="ecopark-parent-watch").start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers exit when this process dies."""
    return ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent, initargs=(os.getpid(),))


def _worker_died(task: dict[str, Any]) -> tuple[dict[str, Any], None]:
    row = {"run": task["run"], "point": task["point"], "replication": task["replication"], "seed": task["seed"],
           **{f"param:{k}": v for k, v in task["params"].items()},
           "status": "failed", "error": "worker died: its process ended during the run twice "
                                        "(killed, out of memory or crashed)"}
    return row, None


class LocalWorkers:
    """Worker processes on this machine (:func:`worker_pool`), kept open across :meth:`map` calls, the
    local backend of sweeps and calibrations.

    One run is in flight per worker, so when a worker dies (killed, out of memory) and breaks the
    pool, every run in flight was running: each is retried once alone in a fresh worker, a run whose
    worker dies again gives ``dead(task)``, and the remaining tasks go to a new pool.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(int(workers), 1)
        self.pool: ProcessPoolExecutor | None = None

    def close(self, wait: bool = True) -> None:
        """Shut the pool down, cancelling runs not yet started (``wait``: until those running end)."""
        if self.pool is not None:
            self.pool.shutdown(wait=wait, cancel_futures=True)
            self.pool = None

    def map(self, func: Callable[..., Any], args: tuple[Any, ...], tasks: list[dict[str, Any]],
            dead: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        """``func(*args, task)`` of every task (a module-level function or a partial of one, so that it
        pickles), yielded as they finish."""
        queue = list(reversed(tasks))  # a stack: pop() gives the next task
        pending: dict[Future, dict[str, Any]] = {}

        def submit(task: dict[str, Any]) -> bool:
            try:
                pending[self.pool.submit(func, *args, task)] = task
                return True
            except BrokenProcessPool:  # the pool broke since the last look: the task never started
                queue.append(task)
                return False

        while queue:
            self.pool = self.pool or worker_pool(self.workers)
            pending.clear()
            suspects: list[dict[str, Any]] = []
            while queue and len(pending) < self.workers and submit(queue.pop()):
                pass
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:  # this run's worker, or another's, died
                        suspects.append(task)
                        continue
                    yield result
                    if queue and not suspects:
                        submit(queue.pop())
            if suspects:
                self.close()
                yield from self._retry_alone(func, args, sorted(suspects, key=lambda t: t["run"]), dead)

    @staticmethod
    def _retry_alone(func: Callable[..., Any], args: tuple[Any, ...], tasks: list[dict[str, Any]],
                     dead: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        """Run each of ``tasks`` again, one at a time in a worker of its own (a fresh one after a death)."""
        pool = None
        try:
            for task in tasks:
                pool = pool or worker_pool(1)
                try:
                    result = pool.submit(func, *args, task).result()
                except BrokenProcessPool:
                    pool.shutdown(wait=True)
                    pool, result = None, dead(task)
                yield result
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def _local_backend(spec: SweepSpec, tasks: list[dict], workers: int, measure: Measure | None = None,
                   ) -> Iterable[tuple[dict, pd.DataFrame | None]]:
    func = partial(run_task, measure=measure)
    if workers <= 1:
        for task in tasks:
            yield func(spec, task)
        return
    local = LocalWorkers(workers)
    try:
        yield from local.map(func, (spec,), tasks, dead=_worker_died)
    finally:
        local.close()


def _dask_backend(spec: SweepSpec, tasks: list[dict], workers: int, scheduler: str | None,
                  measure: Measure | None = None):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ConfigError("backend", "the dask backend needs the optional extra: pip install 'ecopark[distributed]'") \
            from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    try:
        client = Client(scheduler or cluster)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigError("scheduler", f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        futures = client.map(run_task, [spec] * len(tasks), tasks, [measure] * len(tasks), pure=False)
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
    measure: Measure | None = None,
) -> pd.DataFrame:
    """Run the ``tasks`` of ``spec`` not yet in ``out`` and rebuild the tables (see module doc);
    ``measure`` as in :func:`run_task`."""
    if backend not in ("local", "dask"):
        raise ConfigError("backend", f"{backend!r} is not a backend; allowed: 'local', 'dask'")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError("workers", f"got {workers!r}; allowed: a whole number >= 1")
    if scheduler is not None:
        if not re.fullmatch(r"(tcp|tls)://[^:/\s]+:\d+", scheduler):
            raise ConfigError("scheduler", f"{scheduler!r} is not tcp://HOST:PORT")
        backend = "dask"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError("out", f"{out} is a file; give a folder")
    parts = out / "parts"
    try:
        parts.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError("out", f"cannot create folder {parts}: {exc.strerror or exc}") from None
    with _locked(out):
        return _execute_locked(spec, tasks, out, workers, backend, scheduler, progress, extra, measure)


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold the advisory lock ``out/.lock`` while a sweep writes into ``out`` (ConfigError if held)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        yield
        return
    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError("out", f"{out} is in use by another sweep ({holder}); wait for it to finish "
                                     "or use another folder") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _part_is_whole(parts: Path, path: Path, spec: SweepSpec) -> bool:
    """Whether the part ``path`` (run-N.json) reads back whole, with its time series if the spec keeps one."""
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(row, dict) or row.get("run") != int(path.name[4:10]) or "status" not in row:
            return False
        if row["status"] != "ok" or not spec.timeseries:
            return True
        series = pd.read_csv(parts / f"{path.name[:10]}.ts.csv")
    except (OSError, ValueError, pd.errors.ParserError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False
    return (list(series.columns) == ["run", "step", *spec.timeseries] and not series.isna().to_numpy().any()
            and (series["run"] == row["run"]).all() and list(series["step"]) == list(range(1, len(series) + 1))
            and len(series) == spec.steps)


def _finished_runs(parts: Path, spec: SweepSpec) -> set[int]:
    """Ids of the runs whose parts are whole; the other parts are deleted (those runs are done again)."""
    done = set()
    for path in parts.glob("run-*.json"):
        if _part_is_whole(parts, path, spec):
            done.add(int(path.name[4:10]))
        else:
            path.unlink(missing_ok=True)
            (parts / f"{path.name[:10]}.ts.csv").unlink(missing_ok=True)
    return done


def _execute_locked(spec: SweepSpec, tasks: list[dict[str, Any]], out: Path, workers: int, backend: str,
                    scheduler: str | None, progress: bool, extra: Mapping[str, Any] | None,
                    measure: Measure | None = None) -> pd.DataFrame:
    parts = out / "parts"
    manifest_path = out / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    except ValueError:  # a damaged manifest: the parts say what is done
        manifest = {}
    spec_data = json.loads(json.dumps({**to_dict(spec), "source": spec.source, **(extra or {})}))
    if manifest and manifest.get("spec") != spec_data:
        raise ConfigError("out", f"{out} holds a sweep of another spec; use a new folder")
    done_ids = _finished_runs(parts, spec)
    todo = [t for t in tasks if t["run"] not in done_ids]
    manifest.update(spec=spec_data, ecopark_version=__version__, runs=len(tasks),
                    parameters=sorted({k for t in tasks for k in t["params"]}), format=spec.format,
                    backend=backend, workers=workers)
    manifest.setdefault("started", datetime.now(UTC).isoformat())
    manifest["resumed"] = manifest.get("resumed", -1) + 1
    _write_atomic(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=2)))

    bar = Progress(len(tasks), len(tasks) - len(todo), progress)
    results = (_dask_backend(spec, todo, workers, scheduler, measure) if backend == "dask"
               else _local_backend(spec, todo, workers, measure))
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
    """(runs, timeseries or None, manifest) of a sweep folder, in one call.

    Raises ConfigError ("folder") naming the file when the folder is not one a sweep wrote: no
    manifest, a manifest that is not a JSON table with the sweep's spec and parameters, a
    runs table that is missing, unreadable or has no status column."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError("folder", f"{folder} has no manifest.json: not a sweep results folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        why = f"{manifest_path} is not readable JSON ({exc}): not a sweep results folder"
        raise ConfigError("folder", why) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("spec"), dict) \
            or not isinstance(manifest.get("parameters"), list):
        raise ConfigError("folder", f"{manifest_path} has no spec and parameters: not written by a sweep")
    fmt = "parquet" if manifest.get("format") == "parquet" else "csv"
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv

    def table(stem: str) -> pd.DataFrame:
        path = folder / f"{stem}.{fmt}"
        try:
            return read(path)
        except FileNotFoundError:
            raise ConfigError("folder", f"{path} is missing: the sweep has not finished (run it again to "
                                        "resume)") from None
        except Exception as exc:  # pyarrow and pandas raise many kinds on a damaged file
            raise ConfigError("folder", f"{path} is not a readable {fmt} table ({type(exc).__name__})") from None

    runs = table("runs")
    if "status" not in runs.columns:
        raise ConfigError("folder", f"{folder / f'runs.{fmt}'} has no status column: not written by a sweep")
    has_ts = (folder / f"timeseries.{fmt}").exists()
    return runs, (table("timeseries") if has_ts else None), manifest
