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

#: Public names and the module each comes from. They are imported on first use (PEP 562),
#: so that a sweep's parent process, which only schedules runs, does not load the model.
_EXPORTS = {
    "ConfigError": "ecopark.schema",
    "ParkModel": "ecopark.model",
    "RunResult": "ecopark.experiments.runner",
    "Scenario": "ecopark.scenario",
    "load_scenario": "ecopark.scenario",
    "presets": "ecopark.scenario",
    "run": "ecopark.experiments.runner",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ecopark' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    """The public API (``__all__``), which the lazy imports above would otherwise hide from ``dir()``."""
    return sorted(__all__)
