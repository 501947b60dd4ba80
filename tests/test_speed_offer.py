"""Issue 28, loan applications during the byproduct matching: an investment takes the offer its
financing plan just got (no second application), a link's side invests on the plan it was judged on
until a side has invested, and the matching judges every firm on margins computed once at its start.
Each gives what the former code gives, bit for bit (the run-level check is test_regression.py)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import ecopark
from ecopark.agents.enterprise import Enterprise
from ecopark.markets.credit import CreditMarket
from ecopark.model import ParkModel
from ecopark.regression import fingerprint
from ecopark.scenario import load_scenario

CASES = [("generic", 3, {}),
         ("generic", 1, {"banks[0].capital": 2e7, "banks[0].max_single_exposure": 10.0}),  # capital binds
         ("generic", 7, {"policies.platform.enabled": True}),
         ("liaocheng", 4, {}),
         ("generic", 5, {"byproduct_market.sharing_rule": "capex_share"}),  # both sides of a link invest
         # both sides invest and the capital room binds: the receiver's plan, were it reused after the supplier's
         # loan, would lend beyond the room (this case's outputs then differ)
         ("generic", 5, {"byproduct_market.sharing_rule": "capex_share", "banks[0].capital": 1e7,
                         "banks[0].max_single_exposure": 10.0})]


def _invest_before(self, capex, purpose, cash_flow=0.0, record=True, plan=None):
    """Enterprise.invest as it was: plans again, and borrow() asks the banks a second time."""
    model = self.model
    subsidy, offer, equity = self.financing(capex, purpose, cash_flow, record)
    if self.cash < equity:
        return False
    account = int(model.firms.account[self.row])
    if subsidy > 0:
        model.policy("capex_subsidy").grant(account, capex, purpose)
    if offer is not None:
        model.credit.borrow(self.row, offer.amount, purpose, cash_flow)
    model.ledger.transfer("capex", account, model.outside, capex)
    return True


@contextlib.contextmanager
def _no_hold(self):
    yield


@pytest.mark.parametrize(("preset", "seed", "overrides"), CASES)
def test_the_kept_plans_and_margins_give_the_former_runs_bit_for_bit(monkeypatch, preset, seed, overrides):
    new = fingerprint(ecopark.run(preset, steps=48, seed=seed, overrides=overrides), 17)
    with monkeypatch.context() as m:
        m.setattr(Enterprise, "invest", _invest_before)
        m.setattr(CreditMarket, "margins_held", _no_hold)
        old = fingerprint(ecopark.run(preset, steps=48, seed=seed, overrides=overrides), 17)
    assert new == old
    assert new["links"] and new["loans"]


@pytest.mark.parametrize(("preset", "seed", "overrides"), CASES)
def test_a_kept_plan_and_a_held_margin_are_what_asking_again_gives_at_every_use(monkeypatch, preset, seed,
                                                                                overrides):
    """The conditions the caches rely on, checked where they are used on real runs: a plan handed to
    invest() equals financing() asked again at that moment, and a held margin equals margin() now."""
    used = {"plan": 0, "margin": 0}
    invest, margin_of = Enterprise.invest, CreditMarket._margin_of

    def checked_invest(self, capex, purpose, cash_flow=0.0, record=True, plan=None):
        if plan is not None:
            again = self.financing(capex, purpose, cash_flow, record=False)
            assert again == plan
            used["plan"] += 1
        return invest(self, capex, purpose, cash_flow, record, plan)

    def checked_margin_of(self, row):
        value = margin_of(self, row)
        if self._held_margins is not None:
            fresh = float(self.margin(np.array([row]))[0])
            assert np.float64(value).view(np.int64) == np.float64(fresh).view(np.int64)
            used["margin"] += 1
        return value

    monkeypatch.setattr(Enterprise, "invest", checked_invest)
    monkeypatch.setattr(CreditMarket, "_margin_of", checked_margin_of)
    ecopark.run(preset, steps=48, seed=seed, overrides=overrides)
    assert used["plan"] > 0 and used["margin"] > 0


def test_a_link_side_asks_again_once_the_other_side_has_invested(monkeypatch):
    """The receiver's plan is not reused after the supplier invested (its loan and subsidy moved): with a
    capital room that binds, reusing it would lend beyond it or hand out an exhausted subsidy."""
    plans = []
    invest = Enterprise.invest

    def spy(self, capex, purpose, cash_flow=0.0, record=True, plan=None):
        plans.append(plan is not None)
        return invest(self, capex, purpose, cash_flow, record, plan)

    monkeypatch.setattr(Enterprise, "invest", spy)
    model = ParkModel(load_scenario("generic", {"byproduct_market.sharing_rule": "capex_share"}), seed=3)
    formed_both = 0
    form = model.byproduct_market.form

    def form_spy(k, s, r, q, v, fee):
        start = len(plans)
        formed = form(k, s, r, q, v, fee)
        calls = plans[start:]
        if formed and len(calls) == 2:
            nonlocal formed_both
            formed_both += 1
            assert calls == [True, False]
        elif calls:
            assert calls[0] is True
        return formed

    model.byproduct_market.form = form_spy
    for _ in range(36):
        model.step()
    assert formed_both > 0


def test_margins_held_keeps_the_margins_of_its_start_and_drops_them_after():
    model = ParkModel(load_scenario("generic"), seed=0)
    for _ in range(3):
        model.step()
    credit, firms = model.credit, model.firms
    row = int(firms.live[0])
    before = credit._margin_of(row)
    assert credit._held_margins is None
    with credit.margins_held():
        held = credit._held_margins
        assert credit._margin_of(row) == before
        firms.output[row] += 1000.0  # not within a matching: shows that the block holds the start's value
        assert credit._margin_of(row) == before
        with credit.margins_held():
            assert credit._held_margins is held  # nested: the outer block's margins
        assert credit._held_margins is held
    assert credit._held_margins is None
    assert credit._margin_of(row) != before  # outside the block: margin() now
    dead = np.flatnonzero(~firms.alive[: firms.n])
    if len(dead):
        with credit.margins_held():
            assert np.isnan(credit._held_margins[dead]).all()
