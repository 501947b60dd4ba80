"""Investment and risk obstacles of a link (issue 24 item 1): off-spec deliveries, the receiver's
qualification of a new source, the partner's exit risk, and the risk fund counted at formation."""

import numpy as np
import pytest

import ecopark
from ecopark.invariants import InvariantMonitor
from ecopark.model import ParkModel
from ecopark.policies.risk_compensation_fund import RiskCompensationFund


def _run(overrides: dict, months: int, seed: int = 1, setup=None) -> ParkModel:
    model = ParkModel(ecopark.load_scenario("generic", overrides), seed=seed)
    if setup:
        setup(model)
    for _ in range(months):
        model.step()
    return model


def test_offspec_deliveries_cost_the_receiver_and_cut_trust():
    def always_offspec(model: ParkModel) -> None:
        model.byproduct_market.stream["offspec_rate"][:] = 1.0

    model = _run({}, 18, setup=always_offspec)
    market, links = model.byproduct_market, model.byproduct_market.links
    delivered = links.delivered_total[: links.n]
    assert delivered.sum() > 0
    # every unit delivered was off-spec: the receivers paid offspec_cost on all of it
    expected = float((delivered * market.stream["offspec_cost"][links.stream[: links.n]]).sum())
    # the ledger books whole fen: at most half a fen of rounding per link and month
    assert model.ledger.flow("offspec_treatment") == pytest.approx(expected, abs=0.005 * links.n * 18)
    # every delivering month was a failure: suppliers' trust only fell
    suppliers = np.unique(links.supplier[: links.n][delivered > 0])
    assert (market.trust[suppliers] < model.scenario.byproduct_market.initial_trust).all()
    assert InvariantMonitor(model).violations() == []  # money sums to zero, mass balance holds


def test_offspec_draws_follow_the_streams_rate_and_switch_off():
    model = _run({}, 36)
    links = model.byproduct_market.links
    assert model.ledger.flow("offspec_treatment") > 0
    # with the switch off no off-spec costs and no qualification
    off = _run({"byproduct_market.quality_risk": False}, 36)
    assert off.ledger.flow("offspec_treatment") == 0 and off.ledger.flow("qualification") == 0
    assert links.n > 0


def test_a_receiver_pays_qualification_once_per_new_supplier():
    model = _run({}, 36)
    links, cost = model.byproduct_market.links, model.byproduct_market.stream["qualification_cost"]
    seen, due = set(), 0.0
    for i in range(links.n):  # links are added in formation order
        pair = (min(links.supplier[i], links.receiver[i]), max(links.supplier[i], links.receiver[i]))
        if pair not in seen:
            due += cost[links.stream[i]]
            seen.add(pair)
    assert due > 0
    assert model.ledger.flow("qualification") == pytest.approx(due, rel=1e-9)


def test_partner_exit_risk_and_qualification_deter_marginal_links():
    base = {"byproduct_market.quality_risk": False, "byproduct_market.partner_exit_rate": 0.0}
    formed = [_run(base, 24, seed).byproduct_market.links.n for seed in (0, 1)]
    risky = [_run({"byproduct_market.partner_exit_rate": 0.5}, 24, seed).byproduct_market.links.n for seed in (0, 1)]
    assert sum(risky) < sum(formed)


def test_the_risk_fund_counts_at_formation_only_below_its_threshold():
    model = ParkModel(ecopark.load_scenario("generic", {
        "policies.risk_compensation_fund.cover_share": 0.5, "policies.risk_compensation_fund.threshold": 0.8}),
        seed=0)
    fund = model.government.policies["risk_compensation_fund"]
    assert isinstance(fund, RiskCompensationFund)
    assert fund.reliability(0.6) == pytest.approx(0.6 + 0.5 * 0.4)
    assert fund.reliability(0.9) == 0.9
    fund.spent = np.inf  # with a budget spent nobody counts on it
    object.__setattr__(fund.params, "budget", 1.0)
    assert fund.reliability(0.6) == 0.6


def test_the_risk_fund_adds_first_links_with_untried_suppliers():
    """With untried suppliers trusted below the fund's threshold, a generous cover tips marginal
    first links (more links form on the same seeds); without the fund it cannot."""
    low = {"byproduct_market.initial_trust": 0.3}
    without = sum(_run({**low, "policies.risk_compensation_fund.enabled": False}, 24, s).byproduct_market.links.n
                  for s in (0, 1))
    cover = {**low, "policies.risk_compensation_fund.enabled": True,
             "policies.risk_compensation_fund.cover_share": 0.9, "policies.risk_compensation_fund.threshold": 0.9}
    with_fund = sum(_run(cover, 24, s).byproduct_market.links.n for s in (0, 1))
    assert with_fund > without
