"""The validation command: its theory checks pass on the real model and fail on a broken one."""

import numpy as np

from ecopark import validation


def test_quick_validation_report_passes_and_has_every_part(tmp_path):
    out = tmp_path / "validation.md"
    assert validation.main(["--quick", "--workers", "2", "--out", str(out)]) == 0
    text = out.read_text()
    for heading in ("## 1. Theory checks", "## 2. Direction of every policy effect", "## 3. Presets beside",
                    "## 6. Calibration: parameter recovery", "### Coverage of the intervals"):
        assert heading in text
    assert "FAIL" not in text
    for effect in validation.POLICY_EFFECTS:
        assert effect.label in text
    for _, metric, _, _ in validation.DOMAIN_FIGURES:
        assert f"`{metric}`" in text
    assert "## 5. Resource recycling rate by kind" in text and "78.4%" in text
    for _, metric in validation.RECYCLING_KINDS:
        assert f"`{metric}`" in text


def test_matching_check_fails_on_a_greedy_matcher(monkeypatch):
    def greedy(surplus, supply, demand):
        """Each supplier ships everything it can to its single best receiver: feasible, not optimal."""
        flows = np.zeros(surplus.shape)
        left = np.asarray(demand, dtype=float).copy()
        for i in range(surplus.shape[0]):
            row = np.where(np.isfinite(surplus[i]) & (surplus[i] > 0), surplus[i], -np.inf)
            j = int(np.argmax(row))
            if np.isfinite(row[j]):
                flows[i, j] = min(supply[i], left[j])
                left[j] -= flows[i, j]
        return flows

    monkeypatch.setattr(validation, "match_max_surplus", greedy)
    assert not validation.check_matching_optimum(instances=50).passed


def test_conservation_check_fails_when_mass_goes_missing():
    result = validation.run("generic", steps=6, seed=1)
    assert validation.check_conservation(result, "generic").passed
    result.streams.loc[0, "disposed"] += 1.0
    assert not validation.check_conservation(result, "generic").passed
