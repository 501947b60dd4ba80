"""Sweep throughput, parallel efficiency and parent memory, beside ``mesa.batch_run``.

Targets (issues 6 and 28): 200 runs of the default park at 120 steps on 2 workers; parallel
efficiency >= 0.85; the parent process's peak memory < 500 MB and flat in the number of runs
(40 vs 200 runs); ecopark's throughput at least 1.3x ``mesa.batch_run``'s on the same runs
(runs per second), and lighter.

Both engines run the same model, so the sweep can beat ``batch_run`` only by the per-step
work it skips: recording the step metrics no outcome needs. ``--ceiling-runs`` runs of the
default park are timed (CPU, one process, alternating) with every step metric recorded, as
``batch_run``'s model does, and with the sweep's set; their ratio is the most the sweep's
throughput can exceed ``batch_run``'s on the same runs.

Both engines run the same runs: the default park, ``steps`` months, the same seeds. ecopark
keeps every run metric (one row per run, written to disk as it finishes) and records only the
step metrics those need; batch_run records every step metric (the model's DataCollector)
and returns the last step's values in memory.

Each measurement runs in a fresh child process, so its peak resident memory
(``VmHWM`` of the child itself, not of its workers) is the parent's of that sweep alone.

    efficiency = serial_seconds_per_run * runs / (workers * wall_seconds)

where serial_seconds_per_run is measured on ``--serial-runs`` runs with one worker (in the
measuring process, after the model is imported, so that the workers' one-time start-up
counts against the pool). The machine's speed drifts a few percent between measurements,
so a figure near 1 means no measurable parallel overhead.

    python benchmarks/bench_sweep.py [--runs 200] [--workers 2] [--steps 120] [--serial-runs 40] [--ceiling-runs 6]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

THROUGHPUT_TARGET = 1.3  # ecopark's runs per second / mesa.batch_run's on the same runs


def _peak_mb() -> float:
    """Peak resident memory of this process in MB. On Linux ``VmHWM``: ``ru_maxrss`` would carry
    over the peak of the process that started this one (it survives fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(engine: str, runs: int, workers: int, steps: int) -> None:
    """Run one sweep in this process and print wall time and peak memory as JSON."""
    if engine == "ecopark":
        from ecopark.experiments import sweep

        if workers == 1:  # the serial baseline runs in this process: its one-time model import is
            import ecopark.experiments.runner  # noqa: F401  not a per-run cost (pool workers pay theirs)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            spec = {"scenario": "generic", "steps": steps, "replications": runs, "seed": 1}
            table = sweep(spec, out, workers=workers, progress=False)
            done = int((table["status"] == "ok").sum())
    else:
        from mesa.batchrunner import batch_run

        from ecopark.model import ParkModel

        start = time.perf_counter()
        # batch_run steps while model.steps <= max_steps: max_steps = steps - 1 runs exactly `steps` steps
        results = batch_run(ParkModel, {"scenario": "generic", "seed": range(runs)}, number_processes=workers,
                            iterations=1, max_steps=steps - 1, data_collection_period=-1, display_progress=False)
        done = len(results)
    wall = time.perf_counter() - start
    own, workers_usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"engine": engine, "runs": done, "workers": workers, "wall": wall, "peak_mb": _peak_mb(),
                      "parent_cpu": own.ru_utime + own.ru_stime,
                      "workers_cpu": workers_usage.ru_utime + workers_usage.ru_stime}))


def recording_ceiling(runs: int, steps: int) -> float:
    """CPU seconds per run recording every step metric / recording the sweep's set (default
    outcomes), on seeds 0 .. runs - 1, each seed timed both ways one after the other."""
    from ecopark.metrics import RUN_METRICS, steps_needed
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario

    scenario, needed = load_scenario("generic"), list(dict.fromkeys(steps_needed(list(RUN_METRICS))))
    seconds = {"all": 0.0, "needed": 0.0}
    for seed in range(runs):
        for label, recorded in (("all", None), ("needed", needed)):
            model = ParkModel(scenario, seed=seed, step_metrics=recorded)
            start = time.process_time()
            for _ in range(steps):
                model.step()
            seconds[label] += time.process_time() - start
    return seconds["all"] / seconds["needed"]


def measure(engine: str, runs: int, workers: int, steps: int) -> dict:
    """Figures of one sweep run in a child process."""
    cmd = [sys.executable, __file__, "--child", engine, "--runs", str(runs), "--workers", str(workers),
           "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--serial-runs", type=int, default=40)
    parser.add_argument("--ceiling-runs", type=int, default=6)
    parser.add_argument("--child", choices=("ecopark", "batch_run"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.runs, args.workers, args.steps)
        return []

    serial = measure("ecopark", args.serial_runs, 1, args.steps)
    per_run = serial["wall"] / serial["runs"]
    small = measure("ecopark", max(args.runs // 5, 2 * args.workers), args.workers, args.steps)
    full = measure("ecopark", args.runs, args.workers, args.steps)
    mesa = measure("batch_run", args.runs, args.workers, args.steps)
    ceiling = recording_ceiling(args.ceiling_runs, args.steps)
    figures = []
    print(f"{'sweep':<34}{'runs':>6}{'wall s':>9}{'runs/s':>8}{'efficiency':>12}{'parent MB':>11}"
          f"{'parent CPU s':>14}{'workers CPU s':>15}")
    for label, r in ((f"ecopark, 1 worker ({args.steps} steps)", serial),
                     (f"ecopark, {args.workers} workers", small), (f"ecopark, {args.workers} workers", full),
                     (f"mesa.batch_run, {args.workers} workers", mesa)):
        efficiency = per_run * r["runs"] / (r["workers"] * r["wall"])
        print(f"{label:<34}{r['runs']:>6}{r['wall']:>9.1f}{r['runs'] / r['wall']:>8.2f}{efficiency:>12.2f}"
              f"{r['peak_mb']:>11.0f}{r['parent_cpu']:>14.1f}{r['workers_cpu']:>15.1f}")
        figures.append({**r, "label": label, "runs_per_s": r["runs"] / r["wall"], "efficiency": efficiency})
    print(f"targets: efficiency >= 0.85 ({figures[2]['efficiency']:.2f}); parent < 500 MB ({full['peak_mb']:.0f} MB) "
          f"and flat in runs ({small['peak_mb']:.0f} MB at {small['runs']} runs); ecopark vs batch_run: "
          f"{mesa['wall'] / full['wall']:.2f}x the throughput (target >= {THROUGHPUT_TARGET}), "
          f"{full['peak_mb'] / mesa['peak_mb']:.2f}x the memory; the most skipping unneeded step metrics "
          f"can give: {ceiling:.2f}x")
    return _rows(serial, small, full, mesa, figures[2]["efficiency"], args.steps, ceiling)


def _rows(serial: dict, small: dict, full: dict, mesa: dict, efficiency: float, steps: int,
          ceiling: float) -> list[dict]:
    """Table rows (benchmark, measured, target, met) from the four sweeps' figures."""
    n, w = f"{full['runs']:,} runs", full["workers"]

    def row(benchmark: str, measured: str, target: str = "", met: bool | None = None) -> dict:
        return {"benchmark": benchmark, "measured": measured, "target": target, "met": met}

    def speed(r: dict) -> str:
        return f"{r['runs'] / r['wall']:.2f} runs/s ({r['wall']:.0f} s)"

    throughput, memory_ratio = mesa["wall"] / full["wall"], full["peak_mb"] / mesa["peak_mb"]
    return [
        row(f"sweep, ecopark, 1 worker, {serial['runs']:,} runs of {steps} steps", speed(serial)),
        row(f"sweep, ecopark, {w} workers, {n} of {steps} steps", speed(full)),
        row(f"sweep, mesa.batch_run, {w} workers, {n} of {steps} steps", speed(mesa)),
        row(f"sweep parallel efficiency, {w} workers, {n}", f"{efficiency:.2f}", ">= 0.85", efficiency >= 0.85),
        row(f"sweep parent peak memory, {n}", f"{full['peak_mb']:.0f} MB", "< 500 MB", full["peak_mb"] < 500),
        row(f"sweep parent memory flat in runs, {small['runs']:,} vs {n}",
            f"{small['peak_mb']:.0f} MB vs {full['peak_mb']:.0f} MB", "flat (within 10%)",
            full["peak_mb"] <= 1.1 * small["peak_mb"]),
        row(f"sweep throughput, ecopark / mesa.batch_run, {n}", f"{throughput:.2f}x", f">= {THROUGHPUT_TARGET}x",
            throughput >= THROUGHPUT_TARGET),
        row("sweep throughput ceiling: CPU per run recording every step metric / the sweep's set",
            f"{ceiling:.2f}x"),
        row(f"sweep parent memory, ecopark / mesa.batch_run, {n}", f"{memory_ratio:.2f}x", "< 1x (lighter)",
            memory_ratio < 1),
    ]


if __name__ == "__main__":
    main()
