import types

import numpy as np
import pytest

from ecopark.model import ParkModel
from ecopark.policies.base import Policy
from ecopark.scenario import load_scenario


def _books(model: ParkModel) -> tuple:
    ledger = model.ledger
    return (ledger._balance.tolist(), ledger._paid.tolist(), ledger._received.tolist(), ledger.moved,
            {s: f.tolist() for s, f in ledger._flows.items()})


@pytest.mark.parametrize("budget", [None, 1000.0, 250.005, 0.0])
def test_one_payment_pays_what_a_payment_of_one_element_arrays_pays(budget):
    # Policy.pay of one claim to one firm takes a path without arrays: the same amounts within the budget,
    # the same books and the same spending as the claim given as arrays of one element
    claims = [120.004, 0.0, 99.995, 400.0, 37.125, 600.0]
    results = []
    for as_arrays in (False, True):
        model = ParkModel(load_scenario("generic"), seed=0)
        policy = Policy(types.SimpleNamespace(budget=budget), model)
        firms = model.firms.account[model.firms.live]
        paid = []
        for i, claim in enumerate(claims):
            payee = int(firms[i % len(firms)])
            paid.append(policy.pay("capex_subsidy", np.array([payee]), np.array([claim])) if as_arrays
                        else policy.pay("capex_subsidy", payee, claim))
        results.append((paid, policy.spent, _books(model)))
    assert results[0] == results[1]


def test_one_payment_rejects_a_nan_claim():
    model = ParkModel(load_scenario("generic"), seed=0)
    policy = Policy(types.SimpleNamespace(budget=500.0), model)
    with pytest.raises(ValueError, match="capex_subsidy"):
        policy.pay("capex_subsidy", int(model.firms.account[0]), float("nan"))
    assert policy.spent == 0.0
