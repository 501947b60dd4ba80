"""Experiments: single runs now; sweeps and sensitivity analysis build on them."""

from ecopark.experiments.runner import RunResult, run

__all__ = ["RunResult", "run"]
