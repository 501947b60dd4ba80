"""ecopark: agent-based simulation of eco-industrial park economies.

    import ecopark
    result = ecopark.run("generic", steps=120, seed=1)
    result.timeseries      # one row per month
    result.metrics         # scalar outcomes
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ecopark")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from ecopark.experiments.runner import RunResult, run
from ecopark.model import ParkModel
from ecopark.scenario import Scenario, load_scenario, presets
from ecopark.schema import ConfigError

__all__ = ["ConfigError", "ParkModel", "RunResult", "Scenario", "__version__", "load_scenario", "presets", "run"]
