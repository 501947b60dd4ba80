"""The fuzz's own checks (ecopark/fuzz.py, issue 29 item 5): each catches what it is for."""

from __future__ import annotations

import ecopark
from ecopark import fuzz
from ecopark.metrics import RUN_METRICS
from ecopark.model import ParkModel

SMALL = {"park.firms": {"refining": 2, "building_materials": 3, "fine_chemicals": 2, "aluminium": 2},
         "park.vacant_plots": 2, "policies.platform.enabled": True}


def _model(steps: int = 3) -> ParkModel:
    model = ParkModel(ecopark.load_scenario("generic", SMALL), seed=1)
    for _ in range(steps):
        model.step()
    return model


def test_share_metrics_are_named_by_their_unit():
    shares = fuzz.share_metrics()
    assert {"adoption_rate_final", "match_efficiency", "surplus_share_supplier",
            "gini_link_gains"} <= set(shares)
    assert "cluster_profit_margin" not in shares  # a ratio: negative when the park makes a loss
    assert all(RUN_METRICS[n].unit in ("share", "index 0-1") for n in shares)
    assert "fiscal_cost" not in shares and "firms_final" not in shares


def test_month_check_catches_utilisation_above_one_and_prices_not_above_zero():
    model = _model()
    assert fuzz.month_violations(model) == []
    row = model.firms.live[0]
    model.firms.utilisation[row] = 1.47
    assert any("utilisation" in v for v in fuzz.month_violations(model))
    model.firms.utilisation[row] = 0.5
    model.sector_price[model.firms.sector[row]] = -1e9
    assert any("output price" in v for v in fuzz.month_violations(model))


def test_output_check_compares_csv_totals_with_the_metrics_and_reports_shares_out_of_range(monkeypatch):
    model = _model()
    assert fuzz.output_violations(model, 1) == []
    # a metric that no longer matches its CSV total (as if a definition dropped a payment)
    real = RUN_METRICS["total_sales"]
    monkeypatch.setitem(RUN_METRICS, "total_sales", type(real)(real.name, real.unit, lambda m: 1.0))
    violations = fuzz.output_violations(model, 1)
    assert any(v.startswith("CSV total of total_sales") for v in violations)
    # a share outside [0, 1] is a violation
    monkeypatch.setitem(RUN_METRICS, "total_sales", real)
    share = RUN_METRICS["adoption_rate_final"]
    monkeypatch.setitem(RUN_METRICS, "adoption_rate_final", type(share)(share.name, share.unit, lambda m: 1.7))
    assert fuzz.output_violations(model, 1) == ["adoption_rate_final = 1.7 outside [0, 1]"]


def test_fuzz_run_flags_memory_beyond_the_allowance_per_firm(monkeypatch):
    assert fuzz.fuzz_run("generic", {}, seed=2, steps=2, firms=10)[0] == "ok"
    monkeypatch.setattr(fuzz, "MEMORY_FLOOR_MB", -1.0)  # any growth at all is now too much
    monkeypatch.setattr(fuzz, "MEMORY_PER_FIRM_MB", 0.0)
    outcome, message = fuzz.fuzz_run("generic", {}, seed=2, steps=2, firms=10)
    if fuzz._reset_rss_peak() is not None:  # Linux: the peak can be measured
        assert outcome == "violated" and message.startswith("memory:")


def test_fuzz_run_reports_the_over_allocation_case_as_ok_now():
    """The crash of issue 29 (a negative output price under over-allocation) as a fuzz case."""
    over = {"policies.cap_and_trade.cap_start": 2.0, "policies.cap_and_trade.initial_price": 1000.0,
            "policies.cap_and_trade.allocation": "output_based", "policies.cap_and_trade.free_share": 1.0}
    outcome, message = fuzz.fuzz_run("generic", over, seed=0, steps=3, firms=12)
    assert outcome == "ok", message


def test_fuzz_run_370_of_seed_6_holds_no_negative_allowances_now():
    """Run 370 of `python benchmarks/fuzz.py fuzz --runs 1000 --seed 6` (issue 23): an output-based true-up
    expected to add allowances let a firm holding none pledge 288,355 of them in month 41."""
    case = {"byproduct_market.trust_recovery": 0.02498, "byproduct_market.contract_share": 0.86266,
            "economy.dividend_cash_months": 3.3213, "credit.sll_step_up_bp": 0.0156,
            "economy.base_utilisation": 1.0, "credit.credit_line_months": 0.009489,
            "policies.cap_and_trade.enabled": True, "policies.cap_and_trade.cap_decline": 0.0,
            "policies.cap_and_trade.reserve_price": 173.409, "policies.cap_and_trade.penalty": 0.0,
            "policies.cap_and_trade.session_months": 1, "policies.cap_and_trade.expectation_years": 30,
            "policies.cap_and_trade.external_price": 222.536, "policies.cap_and_trade.carry_over_limit": 1.913e8,
            "policies.cap_and_trade.allocation": "output_based", "policies.cap_and_trade.provisional_share": 1.198e-06,
            "policies.cap_and_trade.true_up_session": True, "policies.cap_and_trade.surrender_month": 0,
            "policies.posted_price_rule.enabled": True, "policies.posted_price_rule.budget": 5.41e12,
            "policies.posted_price_rule.share": 2.12e-06, "policies.green_relending.enabled": True,
            "policies.green_relending.budget": 8.71e12, "policies.green_relending.rate": 0.01044}
    outcome, message = fuzz.fuzz_run("liaocheng", case, seed=1517321128, steps=47)
    assert outcome == "ok", message
