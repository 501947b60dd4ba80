"""Shared fixtures: short real runs of the default park, computed once per session."""

import pytest

import ecopark


@pytest.fixture(scope="session")
def default_run() -> ecopark.RunResult:
    """The generic scenario, 36 months, seed 3."""
    return ecopark.run("generic", steps=36, seed=3)
