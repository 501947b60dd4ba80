"""The metric registries: ``STEP_METRICS`` and ``RUN_METRICS``, the decorators that fill them, and
the functions that read them (:func:`steps_needed`, :func:`compute_run_metrics`, :func:`markdown`).

``STEP_METRICS`` are recorded every month by the model's DataCollector (one column each in
``RunResult.timeseries``); ``RUN_METRICS`` are scalars computed from a finished model
(``RunResult.metrics``); a run metric that reads step metrics declares them
(``run_metric(unit, steps=...)``), so that a sweep records only what its outcomes need
(:func:`steps_needed`). A registry's order, the order of the DataCollector's columns and of
``RunResult.metrics``, is :data:`AREAS`' order of the area modules, and within a module the order
its metrics are defined in (:func:`order_by_area`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@dataclass(frozen=True)
class Metric:
    """A named outcome: its unit, the function computing it from a model, and (for a run
    metric) the step metrics it is computed from, which a run must record to compute it."""

    name: str
    unit: str
    func: Callable[[ParkModel], float]
    steps: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        """The file of ``ecopark/metrics/`` that defines the metric (e.g. ``exchange.py``)."""
        return f"{self.func.__module__.rsplit('.', 1)[-1]}.py"

    @property
    def formula(self) -> str:
        return " ".join((self.func.__doc__ or "").split())


STEP_METRICS: dict[str, Metric] = {}
RUN_METRICS: dict[str, Metric] = {}
#: The area modules of ``ecopark/metrics/``, in the order their metrics are recorded.
AREAS = ("park", "exchange", "carbon", "credit", "operator", "heat", "recycling", "intensity", "consumption",
         "targets", "energy", "decomposition", "finance")


def order_by_area() -> None:
    """Put both registries in :data:`AREAS` order of their metrics' modules, each module's metrics in
    the order it defines them (whatever order the modules were imported in)."""
    for registry in (STEP_METRICS, RUN_METRICS):
        ordered = sorted(registry.values(), key=lambda m: AREAS.index(m.module.removesuffix(".py")))
        registry.clear()
        registry.update((m.name, m) for m in ordered)


def step_metric(unit: str):
    """Register a per-step metric (recorded each month)."""
    def wrap(func):
        STEP_METRICS[func.__name__] = Metric(func.__name__, unit, func)
        return func
    return wrap


def run_metric(unit: str, steps: tuple[str, ...] = ()):
    """Register a per-run scalar metric computed from the model and the step metrics ``steps``."""
    def wrap(func):
        RUN_METRICS[func.__name__] = Metric(func.__name__, unit, func, steps)
        return func
    return wrap


def steps_needed(run_metrics: Iterable[str]) -> list[str]:
    """The step metrics a run must record to compute ``run_metrics``, in STEP_METRICS order."""
    needed = {step for name in run_metrics for step in RUN_METRICS[name].steps}
    return [name for name in STEP_METRICS if name in needed]


def _over_steps(model: ParkModel, step_metric: str) -> list[float]:
    """The values of ``step_metric`` recorded at each step so far."""
    return model.datacollector.model_vars[step_metric]


def _live(model: ParkModel) -> np.ndarray:
    return model.firms.live


def compute_run_metrics(model: ParkModel, names: Iterable[str] | None = None) -> dict[str, float]:
    """The RUN_METRICS ``names`` (default: all) of a finished model."""
    return {name: float(RUN_METRICS[name].func(model)) for name in (RUN_METRICS if names is None else names)}


def markdown() -> str:
    """The metrics reference (docs/metrics.md), generated from the registries: each metric's unit,
    its formula (its docstring) and the module of ``ecopark/metrics/`` that defines it."""
    lines = ["# Metrics", "", "Generated from `ecopark/metrics/` by `ecopark.metrics.markdown()`; "
             "do not edit by hand. Each metric is defined once, in the module named in its row.", ""]
    for title, registry in (("Per step (columns of `timeseries`)", STEP_METRICS),
                            ("Per run (`metrics`)", RUN_METRICS)):
        lines += [f"## {title}", "", "| metric | unit | definition | module |", "|---|---|---|---|"]
        lines += [f"| `{m.name}` | {m.unit} | {m.formula} | `{m.module}` |" for m in registry.values()]
        lines.append("")
    return "\n".join(lines)
