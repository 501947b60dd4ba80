"""The operator's services: firms buy carbon accounting and energy management only when they
save more than they cost, and the fees reach the operator through the ledger."""

import numpy as np
import pytest

from ecopark.metrics import compute_run_metrics
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario


def test_firms_subscribe_exactly_when_the_service_saves_them_money():
    model = ParkModel("qinzhou", seed=1)
    model.step()
    services, firms, spec = model.services, model.firms, model.scenario.operator.services
    decided = {"accounting": 0, "declined_accounting": 0, "energy": 0, "declined_energy": 0}
    for _ in range(14):
        rows = firms.live
        deciding_a = services.accounting_until[rows] < model.steps + 1
        deciding_e = services.energy_until[rows] < model.steps + 1
        covered = services.covered(rows)
        saves_a = services.accounting_fee(rows) < spec.mrv_cost
        saves_e = services.energy_saving(rows) > spec.energy_fee
        model.step()
        now = model.steps
        took_a = services.accounting_until[rows] == now + spec.term_months - 1
        took_e = services.energy_until[rows] == now + spec.term_months - 1
        assert (took_a[deciding_a] == (covered & saves_a)[deciding_a]).all()
        assert (took_e[deciding_e] == saves_e[deciding_e]).all()
        decided["accounting"] += int((deciding_a & took_a).sum())
        decided["declined_accounting"] += int((deciding_a & covered & ~took_a).sum())
        decided["energy"] += int((deciding_e & took_e).sum())
        decided["declined_energy"] += int((deciding_e & ~took_e).sum())
    # firm heterogeneity: some buy and some do not, for each service
    assert all(v > 0 for v in decided.values()), decided
    assert compute_run_metrics(model, ["services_net_saving"])["services_net_saving"] > 0


def test_services_lower_firms_costs_paired_with_services_off():
    on, off = (ParkModel(load_scenario("qinzhou", [f"operator.services.enabled={flag}"]), seed=3)
               for flag in ("true", "false"))
    for _ in range(12):
        on.step()
        off.step()
    cost = {}
    for name, model in (("on", on), ("off", off)):
        ledger = model.ledger
        cost[name] = sum(ledger.flow(k, "enterprise") for k in
                         ("monitoring_cost", "carbon_accounting_fee", "energy_management_fee", "purchase"))
    assert on.ledger.flow("carbon_accounting_fee", "enterprise", "operator") > 0
    assert on.ledger.flow("energy_management_fee", "enterprise", "operator") > 0
    assert off.ledger.flow("carbon_accounting_fee") == 0 and off.ledger.flow("monitoring_cost") > 0
    assert cost["on"] < cost["off"]
    assert on.ledger.total() == 0 and off.ledger.total() == 0


@pytest.mark.parametrize("fee", [1e3, 1e5, 1e6, 1e9])
def test_fewer_firms_buy_energy_management_as_its_fee_rises(fee):
    counts = []
    for f in (fee, fee * 10):
        model = ParkModel(load_scenario("qinzhou", [f"operator.services.energy_fee={f}"]), seed=1)
        for _ in range(3):
            model.step()
        counts.append(model.services.subscribers()[1])
    assert counts[0] >= counts[1]
    if fee >= 1e9:
        assert counts == [0, 0]


def test_energy_management_lowers_the_cost_factor_only_while_subscribed():
    model = ParkModel(load_scenario("qinzhou", ["operator.services.term_months=2"]), seed=1)
    model.step()
    before = model.firms.cost_factor.copy()
    model.step()
    on = model.services.energy_on[: model.firms.n].copy()  # a copy: the subscriptions change below
    s = model.scenario.operator.services.energy_saving
    assert on.any()
    assert np.allclose(model.firms.cost_factor[: model.firms.n][on], before[: model.firms.n][on] * (1 - s))
    # priced out (the highest fee allowed): subscriptions lapse at the end of their term and the
    # factor is restored
    model.services.spec = load_scenario("qinzhou", ["operator.services.energy_fee=1e10"]).operator.services
    for _ in range(3):
        model.step()
    live = model.firms.live  # a firm that left while subscribed keeps its last flag
    assert not model.services.energy_on[live].any()
    rows = np.flatnonzero(on)
    rows = rows[model.firms.alive[rows]]
    assert np.allclose(model.firms.cost_factor[rows], before[rows])
