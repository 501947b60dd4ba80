"""Fast paths of the model's queries (issue 28): each gives what the computation it replaces gives."""

from typing import ClassVar

import numpy as np
import pytest

from ecopark.markets import emissions
from ecopark.model import RANDOM_PROCESSES, ParkModel
from ecopark.scenario import load_scenario


def test_policy_found_once_a_month_is_the_instrument_active_that_month():
    # instruments starting and ending inside the run: model.policy (kept for the month) must be the instrument
    # whose own Policy.active says it applies, month by month, before and after the model steps
    model = ParkModel(load_scenario("generic", {"policies.capex_subsidy.start": 3, "policies.capex_subsidy.end": 6,
                                                "policies.landfill_tax.start": 5}), seed=1)
    names = [*model.government.policies, "no_such_instrument"]
    seen = set()
    for _ in range(9):
        for name in names:
            p = model.government.policies.get(name)
            expected = p if p is not None and p.active(model.steps) else None
            assert model.policy(name) is expected
            seen.add((name, expected is None))
        model.step()
    assert ("capex_subsidy", True) in seen and ("capex_subsidy", False) in seen
    assert ("landfill_tax", True) in seen and ("landfill_tax", False) in seen


def test_draws_are_the_generator_default_rng_seeds():
    model = ParkModel(load_scenario("generic"), seed=4)
    for step in (0, 1, 37):
        model.steps = step
        for i, process in enumerate(RANDOM_PROCESSES):
            plain = np.random.default_rng([model._draws_entropy, i, step])
            assert (model.draws(process).random(5) == plain.random(5)).all()


def test_net_share_is_one_less_the_clipped_link_share():
    # 1 - clip(L, 0, b) / b where b > 0 (else 1), for every kind of value: zeros of both signs, L beyond b or
    # negative, b zero, negative or NaN, L NaN or infinite (BAU emissions are finite), without a warning
    model = ParkModel(load_scenario("generic"), seed=2)
    firms = model.firms
    values = [0.0, -0.0, 1e-300, 0.5, 1.0, 3.0, -2.0, np.nan]
    link, bau = (a.ravel() for a in np.meshgrid([*values, np.inf, -np.inf], values))
    rows = np.resize(firms.live, len(link))
    for lo in range(0, len(link), len(firms.live)):
        part = slice(lo, lo + len(firms.live))
        r = rows[part]
        firms.link_avoided[r], firms.emissions_bau[r] = link[part], bau[part]
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = np.where(bau[part] > 0, 1.0 - np.clip(link[part], 0.0, bau[part]) / bau[part], 1.0)
        got = emissions.net_share(model, r)
        assert np.array_equal(got, expected, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_mean_loan_rate_is_numpys_weighted_average():
    from ecopark.metrics.credit import _mean_rate

    model = ParkModel(load_scenario("generic", {"economy.shock_start": 2, "economy.shock_months": 12,
                                                "economy.shock_depth": 0.5}), seed=5)
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(30):
        model.step()
        loans = model.credit.loans
        with loans.editing():  # rates of many magnitudes, so that the order of the sums matters
            loans.rate[: loans.n] = rng.uniform(0, 0.2, loans.n) * 10.0 ** rng.integers(-8, 3, loans.n)
        for green in (True, False):
            live = loans.live[loans.green[loans.live] == green]
            weight = loans.outstanding_fen[live]
            expected = float(np.average(loans.rate[live], weights=weight)) if weight.sum() > 0 else 0.0
            assert _mean_rate(model, green) == expected
            seen += len(live) > 1
    assert seen > 10


def test_a_record_table_appends_and_grows_like_field_by_field_writes():
    from ecopark.records import RecordTable

    class Table(RecordTable):
        FIELDS: ClassVar[dict[str, tuple[type, str]]] = {"a": (np.int64, "an integer"), "b": (float, "a number"),
                                                       "c": (bool, "a flag")}

    table, rows = Table(capacity=2), []
    for i in range(11):  # past the capacity three times
        rows.append(table.add(a=i, **({"b": i / 3} if i % 2 else {}), **({"c": True} if i % 3 == 0 else {})))
    assert rows == list(range(11)) and table.n == 11 and len(table.a) == 16
    assert table.a[:11].tolist() == list(range(11)) and not table.a[11:].any()
    assert table.b[:11].tolist() == [i / 3 if i % 2 else 0.0 for i in range(11)]
    assert table.c[:11].tolist() == [i % 3 == 0 for i in range(11)]
    assert table.frame().shape == (11, 3)


def _capex_factor_plain(model: ParkModel, rows: np.ndarray, purpose: str) -> tuple[np.ndarray, int]:
    """``CreditMarket.capex_factor`` as the formula gives it (np.min over every bank with capital room), and how
    many banks lend."""
    from ecopark.markets.credit import GREEN_PURPOSES, loan_cost_factor

    credit, spec = model.credit, model.credit.spec
    banks = [b for b in range(len(model.banks)) if credit.capital_room(b) > 0]
    margin = credit.margin(rows)
    rate = np.min(credit.rates_of_banks(banks, rows, purpose, margin=margin), axis=0)
    rate -= credit.subsidy_rate(purpose in GREEN_PURPOSES)
    ratio = loan_cost_factor(rate, model.firms.discount_rate[rows], spec.project_tenor_months)
    return np.where(margin > 0, 1.0 - spec.loan_to_value + spec.loan_to_value * np.minimum(ratio, 1.0), 1.0), len(banks)


THREE_BANKS = [{"name": "a", "capital": 3e7, "margin_bp": 150}, {"name": "b", "capital": 5e7, "margin_bp": 120},
               {"name": "c", "capital": 1e9, "margin_bp": 200}]


@pytest.mark.parametrize("banks, seed, months, purposes", [
    (THREE_BANKS, 6, 24, ("abatement", "link", "working_capital")),  # the cheapest bank, as np.min takes it
    (None, 2, 18, ("abatement", "recycling", "working_capital")),  # one bank: its rates as np.min over one row gives
])
def test_capex_factor_is_the_formula_over_the_lending_banks(banks, seed, months, purposes):
    overrides = {"policies.interest_subsidy.enabled": True} | ({"banks": banks} if banks else {})
    model = ParkModel(load_scenario("generic", overrides), seed=seed)
    checked = 0
    for _ in range(months):
        model.step()
        rows = model.firms.live
        for purpose in purposes:
            expected, lending = _capex_factor_plain(model, rows, purpose)
            assert model.credit.capex_factor(rows, purpose).tobytes() == expected.tobytes()
            if banks is None:
                assert lending == 1
            checked += (lending > 1 or banks is None) and bool((expected < 1.0).any())
    assert checked > 10
