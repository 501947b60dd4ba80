"""The Python API a user meets first: ``dir(ecopark)``, ``help(ecopark.run)``, ``RunResult.load``."""

from __future__ import annotations

import pandas as pd
import pytest

import ecopark
from ecopark.experiments.runner import TABLES


def test_dir_shows_the_public_api():
    assert set(ecopark.__all__) <= set(dir(ecopark))
    assert {"run", "RunResult", "load_scenario", "presets", "ConfigError"} <= set(dir(ecopark))


def test_help_of_run_documents_overrides_return_units_and_errors():
    doc = ecopark.run.__doc__
    for words in ("overrides", "policies.landfill_tax.rate", "Returns", "yuan", "tCO2e", "Raises", "ConfigError",
                  "RunResult.load"):
        assert words in doc, words


def test_run_result_load_reads_what_save_wrote(tmp_path):
    result = ecopark.run("generic", steps=3, seed=1)
    result.save(tmp_path)
    loaded = ecopark.RunResult.load(tmp_path)
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(result, name), check_dtype=False)
    assert loaded.timeseries.index.name == "step" and list(loaded.timeseries.index) == [1, 2, 3]
    assert loaded.metrics == result.metrics and loaded.config == result.config


def test_run_result_load_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"timeseries\.csv"):
        ecopark.RunResult.load(tmp_path)
