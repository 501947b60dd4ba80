"""Helpers the validation report's sections share: runs of a preset's metrics, mapped over worker
processes, and means with 95% intervals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from ecopark.experiments.runner import run
from ecopark.metrics import RUN_METRICS


def run_metrics(job: tuple[str, dict[str, Any], int, int]) -> dict[str, float]:
    scenario, overrides, seed, steps = job
    return run(scenario, steps=steps, seed=seed, overrides=overrides).metrics


def map_jobs(func: Callable, jobs: list, workers: int) -> list:
    if workers <= 1:
        return [func(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, jobs, chunksize=4))


def interval(values: Sequence[float], single: float = np.inf) -> tuple[float, float]:
    """Mean and 95% half-width (1.96 standard errors) over seeds; the half-width of one value is ``single``."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(1.96 * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else single


def fmt(value: float, metric: str) -> str:
    if RUN_METRICS[metric].unit == "share":
        return f"{100 * value:.2f}%"
    return f"{value:.1f}"
