"""Experiments: single runs, sweeps, sensitivity analysis, cost-effectiveness, instrument comparisons
and policy-mix design, plots, the EMA adapter, calibration.

Names are imported on first use (PEP 562): a sweep's parent process stays light.
"""

_EXPORTS = {
    "RunResult": "ecopark.experiments.runner",
    "run": "ecopark.experiments.runner",
    "SweepSpec": "ecopark.experiments.spec",
    "load_spec": "ecopark.experiments.spec",
    "sweep": "ecopark.experiments.batch",
    "load_results": "ecopark.experiments.batch",
    "plot_results": "ecopark.experiments.plots",
    "cost_effectiveness": "ecopark.experiments.effectiveness",
    "sensitivity": "ecopark.experiments.sensitivity",
    "ema_model": "ecopark.experiments.ema",
    "calibrate": "ecopark.experiments.calibration",
    "load_calibration": "ecopark.experiments.calibration_spec",
    "compare": "ecopark.experiments.compare",
    "load_compare": "ecopark.experiments.compare",
    "design": "ecopark.experiments.design",
    "load_design": "ecopark.experiments.design",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ecopark.experiments' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_EXPORTS[name]), name)
