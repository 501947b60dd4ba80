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

    monkeypatch.setattr(validation.theory, "match_max_surplus", greedy)  # where the check reads it
    assert not validation.theory.check_matching_optimum(instances=50).passed


def test_conservation_check_fails_when_mass_goes_missing():
    result = validation.theory.run("generic", steps=6, seed=1)
    assert validation.theory.check_conservation(result, "generic").passed
    result.streams.loc[0, "disposed"] += 1.0
    assert not validation.theory.check_conservation(result, "generic").passed


def test_the_report_assembles_its_sections_in_order_from_one_module_each(monkeypatch):
    """The report's nine sections (and 2b) come in order, each from its module of ecopark/validation/,
    with the section code fed the data its runs give (here fakes: no model is run)."""
    import re
    from types import SimpleNamespace

    from ecopark.validation import report as report_module

    def heading(text):
        return lambda *a, **k: ["", text, ""]

    fakes = {
        "theory_checks": lambda steps: [SimpleNamespace(name="a check", passed=True, detail="figures")],
        "policy_runs": lambda seeds, steps, workers: [],
        "policy_directions": lambda seeds, steps, workers, runs: [
            {"change": "a change", "outcome": "total_sales", "expected": "up", "base": 1.0, "mean": 0.5,
             "half": 0.1, "verdict": "as expected"}],
        "preset_outcomes": lambda seeds, steps, workers: {
            "generic": {m: (0.1, 0.01, 0.05, 0.2) for _, m, *_ in (*validation.DOMAIN_FIGURES,
                                                                   *validation.RECYCLING_KINDS)}},
        "npl_by_loan_kind": lambda seeds, steps, workers: [],
        "least_cost_section": heading("### least cost"), "least_cost_years_section": heading("### years"),
        "national_ets_section": heading("### national ETS"), "national_market_section": heading("### market"),
        "recovery_section": heading("## 6. Calibration: parameter recovery"),
        "coverage_section": heading("### Coverage of the intervals"),
        "exchange_report_section": heading("## 7. Byproduct exchange"),
        "preset_fit_section": heading("## 8. Calibrated presets"),
    }
    for name, fake in fakes.items():
        assert hasattr(report_module, name), name
        monkeypatch.setattr(report_module, name, fake)
    monkeypatch.setattr(report_module, "cases_section", lambda seeds, title: ["", title, ""])
    text, ok = report_module.report(quick=True, workers=1)
    assert ok and "| a check | pass | figures |" in text and "| a change | `total_sales` | up |" in text
    assert re.findall(r"^## (\w+)\.", text, re.M) == ["1", "2", "2b", "3", "4", "5", "6", "7", "8", "9"]
    for module in ("theory", "lumpy", "national", "policy", "presets", "npl", "recycling", "recovery", "exchange",
                   "calibrated", "cases"):  # every section module named in the package's map
        assert f"``{module}.py``" in validation.__doc__
