"""Carbon-cost pass-through and demand response (ecopark/agents/pricing.py, issue 15 item 8)."""

import numpy as np

import ecopark
from ecopark.agents.pricing import carbon_cost_per_unit, output_prices
from ecopark.catalogue import load_catalogue
from ecopark.model import ParkModel


def _first_month(rate: float, overrides: dict | None = None) -> ParkModel:
    model = ParkModel(ecopark.load_scenario("generic", {
        "policies.cap_and_trade.enabled": False, "policies.carbon_tax.rate": rate, **(overrides or {})}), seed=3)
    model.step()
    return model


def test_a_tax_raises_covered_prices_by_pass_through_and_lowers_output_by_the_elasticity():
    base, taxed = _first_month(0.0), _first_month(200.0)
    rows = taxed.firms.live
    np.testing.assert_array_equal(rows, base.firms.live)
    covered = taxed.carbon_market.covered(rows, "carbon_tax")
    assert covered.any() and (~covered).any()
    s = taxed.firms.sector[rows]
    cat = taxed.catalogue
    p0 = cat.sector_array("output_price")[s]
    pt, eps = cat.sector_array("pass_through")[s], cat.sector_array("demand_elasticity")[s]
    intensity = cat.sector_array("emission_intensity")[s]
    want_price = p0 + np.where(covered, pt * 200.0 * intensity, 0.0)
    # the price each firm sold at this month: sales / output
    sales = taxed.ledger.received(taxed.firms.account[rows], "sale")
    q, q0 = taxed.firms.output[rows], base.firms.output[rows]
    on = q > 0
    np.testing.assert_allclose(sales[on] / q[on], want_price[on], rtol=1e-6)
    # output falls by the elasticity: q / q0 = (p / p0)^-eps, and uncovered firms are untouched
    np.testing.assert_allclose(q[on], q0[on] * (want_price[on] / p0[on]) ** -eps[on], rtol=1e-9)
    assert (q[covered & on] < q0[covered & on]).all()
    np.testing.assert_allclose(q[~covered], q0[~covered])
    # emissions follow output before any plant closes
    assert taxed.firms.emissions[rows].sum() < base.firms.emissions[rows].sum()


def test_trade_exposed_sectors_pass_through_less_than_sheltered_ones():
    cat = load_catalogue()
    pt = dict(zip(cat.sector_keys, cat.sector_array("pass_through"), strict=True))
    assert max(pt["aluminium"], pt["copper"]) < 0.2 < 0.8 < pt["building_materials"]
    assert all(0 <= v <= 1 for v in pt.values())


def _cap_prices(allocation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(price sold at, base price, pass_through x initial price x intensity, beta) of month 1's producers."""
    model = ParkModel(ecopark.load_scenario("generic", {"policies.cap_and_trade.allocation": allocation}), seed=3)
    model.step()
    rows = model.firms.live
    covered = model.carbon_market.covered(rows, "cap_and_trade")
    assert covered.any() and (~covered).any()
    p = model.scenario.policies["cap_and_trade"]
    s = model.firms.sector[rows]
    cat = model.catalogue
    full = np.where(covered, cat.sector_array("pass_through")[s] * p.initial_price
                    * cat.sector_array("emission_intensity")[s], 0.0)
    on = model.firms.output[rows] > 0
    sold = model.ledger.received(model.firms.account[rows], "sale")[on] / model.firms.output[rows][on]
    beta = p.free_share * (1 - p.new_entrant_reserve) * p.cap_start  # allowances per t of BAU, first year
    return sold, cat.sector_array("output_price")[s][on], full[on], beta


def test_under_the_cap_the_expected_allowance_price_is_passed_through():
    """Allocation fixed before output (benchmark): the allowance price is passed through in full."""
    sold, base, full, _ = _cap_prices("benchmark")
    np.testing.assert_allclose(sold, base + full, rtol=1e-6)


def test_output_based_allocation_passes_through_only_the_cost_net_of_allowances_earned():
    """Output-based allocation (generic): each unit of output earns beta x intensity allowances, so only
    the share 1 - beta of the allowance price is a marginal cost to pass on (Fischer and Fox 2007)."""
    sold, base, full, beta = _cap_prices("output_based")
    assert 0 < beta < 1
    np.testing.assert_allclose(sold, base + (1 - beta) * full, rtol=1e-6)


def test_over_allocation_keeps_prices_above_base_and_utilisation_within_capacity():
    """Issue 29: under output-based allocation with cap_start up to 2 the allowances a unit earns
    exceed its emissions (c_f < 0); the price once fell below zero (a crash in the ledger) and
    utilisation reached 1.47. Over caps and prices, every price is >= the sector's and > 0,
    utilisation is within [0, 1], and the run completes."""
    for cap_start in (1.0, 1.5, 2.0):
        for price in (50.0, 1000.0):
            model = ParkModel(ecopark.load_scenario("generic", {
                "policies.cap_and_trade.cap_start": cap_start, "policies.cap_and_trade.initial_price": price,
                "policies.cap_and_trade.free_share": 1.0}), seed=5)
            for _ in range(3):
                model.step()
                rows = model.firms.live
                base = model.sector_price[model.firms.sector[rows]]
                assert (model.firms.utilisation[rows] <= 1 + 1e-12).all()
                assert (model.firms.utilisation[rows] >= 0).all()
                p, d = output_prices(model, rows)
                assert (p >= base - 1e-9).all() and (p > 0).all() and (d <= 1 + 1e-12).all()
            if cap_start == 2.0:
                assert (carbon_cost_per_unit(model, model.firms.live) < 0).any()
