"""Experiments: single runs, sweeps, sensitivity analysis, plots, the EMA adapter."""

from ecopark.experiments.runner import RunResult, run
from ecopark.experiments.spec import SweepSpec, load_spec
from ecopark.experiments.sweep import load_results, sweep

__all__ = ["RunResult", "SweepSpec", "load_results", "load_spec", "run", "sweep"]
