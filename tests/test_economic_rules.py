"""One test per economic rule that a planted bug once slipped past (issue 29, item 4).

Each asserts its rule directly on the amounts the ledger moves, so that the plausible bug named
in its docstring makes it fail (each was checked by planting the bug)."""

from __future__ import annotations

import numpy as np
import pytest

import ecopark
from ecopark.agents.enterprise import pay_dividends
from ecopark.markets.bargaining import Negotiation
from ecopark.metrics import RUN_METRICS
from ecopark.model import ParkModel

MC = "policies.mandatory_consumption"


def _model(overrides: dict, seed: int = 2, steps: int = 2) -> ParkModel:
    model = ParkModel(ecopark.load_scenario("generic", overrides), seed=seed)
    for _ in range(steps):
        model.step()
    return model


# -- risk compensation fund -------------------------------------------------------------------------
def test_risk_fund_pays_nothing_above_its_threshold_and_exactly_the_cover_share_below():
    """Bug caught: the fund paying any shortfall (its threshold ignored), or another share of it."""
    model = _model({"policies.platform.enabled": True, "policies.risk_compensation_fund.budget": 1e9,
                    "policies.risk_compensation_fund.cover_share": 0.4,
                    "policies.risk_compensation_fund.threshold": 0.8,
                    "policies.risk_compensation_fund.evaluation_months": 240})
    market, links = model.byproduct_market, model.byproduct_market.links
    due = links.live[:4]
    assert len(due) == 4, "the park formed too few links"
    links.months[due] = 6
    links.expected_supplier[due] = 100.0  # expected gain over 6 months: 600 yuan
    links.expected_receiver[due] = 50.0  # 300 yuan
    # realised as a share of expected: above the threshold, just above it, below, a loss
    links.gross_gain_supplier[due] = np.array([590.0, 481.0, 300.0, -100.0])  # the fund reads gross gains
    links.gross_gain_receiver[due] = np.array([240.5, 300.0, 0.0, 150.0])
    before_s, before_r = links.gross_gain_supplier[due].copy(), links.gross_gain_receiver[due].copy()
    paid_before = model.ledger.flow("risk_compensation")
    market.compensate(due)
    np.testing.assert_allclose(links.gross_gain_supplier[due] - before_s, [0.0, 0.0, 0.4 * 300, 0.4 * 700], atol=1e-9)
    np.testing.assert_allclose(links.gross_gain_receiver[due] - before_r, [0.0, 0.0, 0.4 * 300, 0.4 * 150],
                               atol=1e-9)
    assert model.ledger.flow("risk_compensation") - paid_before == pytest.approx(120 + 280 + 120 + 60, abs=0.02)
    assert model.ledger.total() == 0


# -- dividends ---------------------------------------------------------------------------------------
def test_cash_after_dividends_equals_the_target_for_firms_of_every_size():
    """Bug caught: dividends that ignore firm size (the target m x fixed cost x size)."""
    model = _model({"economy.capacity_dispersion": 0.8, "economy.dividend_cash_months": 4.0}, steps=1)
    rows = model.firms.live
    sizes = model.firms.size[rows]
    assert len(np.unique(np.round(sizes, 3))) >= 10 and sizes.max() > 3 * sizes.min()
    target = 4.0 * model.sector_fixed_cost[model.firms.sector[rows]] * sizes
    # give half the firms cash well above their target, leave the others below it
    rich = rows[::2]
    extra = 2.0 * target[::2] + 1e6
    model.ledger.transfer("equity", model.outside, model.firms.account[rich], extra)
    cash_before = model.firm_cash(rows)
    paid_before = model.ledger.paid(model.firms.account[rows], "dividend")
    pay_dividends(model)
    cash = model.firm_cash(rows)
    above = cash_before > target
    assert above[::2].all() and (~above).any()
    np.testing.assert_allclose(cash[above], target[above], atol=0.02)  # kept exactly the target
    np.testing.assert_allclose(cash[~above], cash_before[~above], atol=0.0)  # below it: nothing taken
    paid = model.ledger.paid(model.firms.account[rows], "dividend") - paid_before
    np.testing.assert_allclose(paid[above], (cash_before - target)[above], atol=0.02)


# -- capex subsidy -----------------------------------------------------------------------------------
def test_the_capex_subsidy_quotes_no_more_than_its_remaining_budget():
    """Bug caught: quote() (or amounts(), what valuations count on) ignoring the remaining budget."""
    model = _model({"policies.capex_subsidy.share": 0.5, "policies.capex_subsidy.budget": 1e8,
                    "policies.capex_subsidy.cap_per_project": 3e7}, steps=1)
    policy = model.policy("capex_subsidy")
    capex = np.array([1e6, 2e7, 5e7, 2e8])
    for spent in (0.0, 5e7, 9.9e7, 1e8):
        policy.spent = spent
        left = 1e8 - spent
        want = np.minimum(np.minimum(0.5 * capex, 3e7), left)
        np.testing.assert_allclose([policy.quote(c, "link") for c in capex], want)
        np.testing.assert_allclose(policy.amounts(capex, "abatement"), want)
    assert policy.quote(1e6, "link") == 0.0


def test_an_investment_that_needs_the_spent_part_of_the_subsidy_is_refused():
    """Bug caught: investing on a subsidy the budget no longer holds (the firm cannot pay its share)."""
    model = _model({"policies.capex_subsidy.share": 0.5, "policies.capex_subsidy.budget": 1e9,
                    "policies.capex_subsidy.cap_per_project": 1e9, "credit.loan_to_value": 0.0}, steps=1)
    policy = model.policy("capex_subsidy")
    firm = model.firm_agents[int(model.firms.live[0])]
    cash = firm.cash
    capex = 1.8 * cash  # with the full subsidy the firm pays 0.9 x its cash; without it, 1.8 x
    policy.spent = 1e9 - 0.1 * cash  # only 0.1 x its cash left in the budget
    assert firm.invest(capex, "abatement") is False
    assert firm.cash == pytest.approx(cash) and policy.spent == pytest.approx(1e9 - 0.1 * cash)
    policy.spent = 0.0  # the budget refilled: now the same investment is made, with the full subsidy
    assert firm.invest(capex, "abatement") is True
    assert policy.spent == pytest.approx(0.9 * cash, rel=1e-9)
    assert firm.cash == pytest.approx(cash - 0.9 * cash, abs=0.02)


# -- mandatory consumption -------------------------------------------------------------------------
def test_the_consumption_fine_on_partial_use_is_share_times_need_less_used():
    """Bug caught: fining share x (need - used) instead of share x need - used (the other test has used = 0)."""
    alone = {"park.firms": {"aluminium": 1, "building_materials": 2}, "park.vacant_plots": 0,
             "economy.entry_rate": 0.0, "byproduct_market.encounters_per_month": 0.0,
             "policies.cap_and_trade.enabled": False, f"{MC}.share": 0.3, f"{MC}.fine": 50.0, f"{MC}.premium": 0.0}
    model = _model(alone, seed=3, steps=11)
    policy = model.policy("mandatory_consumption")
    rows = model.firms.live[model.firms.sector[model.firms.live] == model.catalogue.sector_keys.index(
        "building_materials")]
    assert len(rows) == 2
    share_used = np.array([0.1, 0.5])  # below the ratio, and above it
    need_so_far = policy.year_need[rows].copy()
    policy.year_used[rows] = share_used * need_so_far  # as if links had delivered this much
    model.step()  # month 12: the compliance year ends
    streams = np.isin(model.catalogue.stream_keys, ["fly_ash", "slag", "red_mud"])
    need = need_so_far + model.firms.needs[rows][:, streams].sum(axis=1)
    used = share_used * need_so_far
    paid = model.ledger.paid(model.firms.account[rows], "consumption_ratio_fine")
    np.testing.assert_allclose(paid, 50.0 * np.maximum(0.3 * need - used, 0.0), atol=0.02)
    assert paid[0] > 0 and paid[1] == 0


# -- the cost per tonne reused ---------------------------------------------------------------------
def test_fiscal_cost_per_tonne_reused_counts_all_four_payments():
    """Bug caught: the metric dropping one of its four payments (capex subsidies were dropped)."""
    model = _model({"policies.platform.enabled": True}, steps=4)
    metric = RUN_METRICS["fiscal_cost_per_tonne_reused"].func
    tonnes = model.stream_totals["delivered"][model.stream_is_mass].sum()
    assert tonnes > 0
    base = metric(model) * tonnes
    firm = int(model.firms.account[model.firms.live[0]])
    amounts = {"capex_subsidy": 1e5, "reuse_subsidy": 2e5, "posted_price_topup": 4e5, "risk_compensation": 8e5}
    for kind, amount in amounts.items():
        model.ledger.transfer(kind, model.government.account, firm, amount)
        assert model.ledger.flow(kind, "government") > 0
    assert metric(model) * tonnes - base == pytest.approx(sum(amounts.values()), rel=1e-9)


# -- link payments and negotiation -----------------------------------------------------------------
def test_the_transfer_price_flows_from_receiver_to_supplier_and_a_gate_fee_the_other_way():
    """Bug caught: the byproduct payment booked in the wrong direction."""
    model = _model({"policies.platform.enabled": True, "byproduct_market.negotiation": False})
    market, links, ledger = model.byproduct_market, model.byproduct_market.links, model.ledger
    i = int(links.live[0])
    acc_s, acc_r = model.firms.account[links.supplier[i]], model.firms.account[links.receiver[i]]
    for price, kind in ((30.0, "byproduct_payment"), (-20.0, "gate_fee")):
        links.price[i] = price
        got_s, got_r = ledger.received(acc_s, kind), ledger.received(acc_r, kind)
        paid_s, paid_r = ledger.paid(acc_s, kind), ledger.paid(acc_r, kind)
        market._settle(np.array([i]), np.array([10.0]), np.array([False]))  # 10 units on link i alone, on spec
        payer, payee = (acc_r, acc_s) if price > 0 else (acc_s, acc_r)
        assert ledger.paid(payer, kind) - (paid_r if payer == acc_r else paid_s) == pytest.approx(10 * abs(price))
        assert ledger.received(payee, kind) - (got_s if payee == acc_s else got_r) == pytest.approx(10 * abs(price))
        assert ledger.received(payer, kind) == (got_r if payer == acc_r else got_s)  # nothing the other way
    assert ledger.total() == 0


def test_each_side_pays_half_the_negotiation_cost():
    """Bug caught: the negotiation cost charged in full to each side."""
    model = _model({}, steps=1)
    s, r = (int(x) for x in model.firms.live[:2])
    acc = model.firms.account[[s, r]]
    before = model.ledger.paid(acc, "negotiation")
    outside = model.ledger.flow("negotiation")
    model.byproduct_market.bargaining.negotiate(0, s, r, Negotiation(cost=3000.0, months=1, spread=0.0),
                                                surplus=1.0, supplier_value=1.0, receiver_value=1.0)
    np.testing.assert_allclose(model.ledger.paid(acc, "negotiation") - before, [1500.0, 1500.0])
    assert model.ledger.flow("negotiation") - outside == pytest.approx(3000.0)
