"""The shipped presets' documented fits: records that reproduce, docs tables regenerated from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecopark.experiments import fit_records
from ecopark.experiments.preset_fit import CALIBRATED_PRESETS

DOCS = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


@pytest.mark.parametrize("preset", CALIBRATED_PRESETS)
def test_a_shipped_preset_reproduces_its_recorded_fit(preset):
    """Replication 0 of the preset as shipped, re-run now, is within the recorded replications' noise
    of its record, and the preset still has the recorded values. When this fails after a change to
    the model, refresh the records and the docs: `make fits docs` (docs/calibration.md)."""
    assert fit_records.drift(preset) == []


def test_drift_is_caught(monkeypatch):
    """A record whose figure is off by more than the replications' noise, or whose free values are
    not the preset's, is reported."""
    rec = fit_records.load_record("qinzhou")
    target = rec["targets"][0]
    target["values"][0] += 10 * target["sd"] + 0.1
    rec["free_values"][next(iter(rec["free_values"]))] = -1.0
    monkeypatch.setattr(fit_records, "load_record", lambda preset: rec)
    problems = fit_records.drift("qinzhou")
    assert any(target["target"] in p for p in problems) and any("in its record" in p for p in problems)


def test_the_docs_tables_are_the_records():
    text = DOCS.read_text()
    block = text[text.index(fit_records.BEGIN): text.index(fit_records.END) + len(fit_records.END)]
    assert block == fit_records.docs_block(), "docs/calibration.md is stale: run `make docs`"


def test_records_name_the_command_that_made_them():
    for preset in CALIBRATED_PRESETS:
        rec = json.loads(fit_records.record_path(preset).read_text())
        assert rec["command"].endswith(f"record {preset}") and len(rec["targets"][0]["values"]) == rec["replications"]
