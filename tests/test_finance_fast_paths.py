"""Fast paths of the credit market and the firms' finances (issue 28): each gives what the formulas it
replaces give, bit for bit."""

import numpy as np
import pytest

from ecopark.agents.enterprise import prospective_margin
from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.credit import GREEN_PURPOSES, PURPOSES, Offer, _by_borrower, _payments_fen
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

#: Carbon-efficiency pricing, relending and subsidies on, a slump (negative margins), three banks of which
#: two small (their exposure and capital limits bind).
CREDIT = {"credit.carbon_efficiency_bp": 100.0, "credit.carbon_efficiency_cap_bp": 30.0,
          "policies.green_relending.enabled": True, "policies.interest_subsidy.enabled": True,
          "economy.shock_start": 3, "economy.shock_months": 12, "economy.shock_depth": 0.5,
          "banks": [{"name": "a", "capital": 3e7, "margin_bp": 150, "max_single_exposure": 10.0},
                    {"name": "b", "capital": 5e7, "margin_bp": 120, "max_single_exposure": 0.3},
                    {"name": "c", "capital": 1e9, "margin_bp": 200}]}


def reference_rates(credit, bank: int, rows: np.ndarray, purpose: str, amount=0.0, tenor: int | None = None,
                    margin: np.ndarray | None = None) -> np.ndarray:
    """``CreditMarket.rates`` as it was: one bank, every term computed for it."""
    model, spec, firms = credit.model, credit.spec, credit.model.firms
    bank_spec = model.banks[bank].spec
    green = purpose in GREEN_PURPOSES
    tenor = tenor or credit._tenor(purpose)
    base = spec.funding_rate + bank_spec.margin_bp / 1e4
    margin = credit.margin(rows) if margin is None else margin
    positive = np.maximum(margin, 1.0)
    leverage = (credit.debt(rows) + amount) / (12.0 * positive)
    service = credit.debt_service(rows) + amount * annuity_factor(base, tenor)
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = np.where(service > 0, np.maximum(margin, 0.0) / service, np.inf)
    premium = (spec.leverage_premium_bp * leverage
               + spec.cover_premium_bp * np.clip(1.0 - cover / spec.cover_target, 0.0, 1.0))
    rate = credit.funding_cost(green) + bank_spec.margin_bp / 1e4 + np.minimum(premium, spec.max_premium_bp) / 1e4
    if green:
        rate = rate - spec.green_discount_bp / 1e4
    if spec.carbon_efficiency_bp > 0:
        bau = firms.emissions_bau[rows]
        relative = np.where(bau > 0, firms.emissions[rows] / np.where(bau > 0, bau, 1.0), 1.0)
        cap = spec.carbon_efficiency_cap_bp
        rate = rate + np.clip(spec.carbon_efficiency_bp * (relative - 1.0), -cap, cap) / 1e4
    return np.maximum(rate, 0.0)


def reference_offer(credit, row: int, amount: float, purpose: str, cash_flow: float = 0.0,
                    min_dscr: float | None = None, premium_bp: float = 0.0,
                    margin: float | None = None) -> tuple[Offer | None, set[str]]:
    """The offer and refusal reasons as judged with the vectorised :meth:`CreditMarket.rates` (the code
    ``CreditMarket.offer`` had before its scalar path)."""
    min_dscr = credit.spec.min_dscr if min_dscr is None else min_dscr
    tenor = credit._tenor(purpose)
    rows = np.array([row])
    margins = np.array([credit._margin_of(row) if margin is None else margin])
    margin = float(margins[0])
    service = float(credit.debt_service(rows)[0])
    best, reasons = None, set()
    for bank in range(len(credit.model.banks)):
        rate = float(reference_rates(credit, bank, rows, purpose, amount, tenor, margins)[0]) + premium_bp / 1e4
        payment = amount * float(annuity_factor(rate, tenor))
        if margin <= 0:
            reasons.add("margin")
            continue
        cover = cash_flow / payment if purpose in GREEN_PURPOSES else margin / (service + payment)
        if cover < min_dscr:
            reasons.add("cover")
            continue
        limit = credit.bank_limit(bank, row, amount)
        if limit is not None:
            reasons.add(limit)
            continue
        if best is None or rate < best.rate:
            best = Offer(bank, amount, rate, tenor, payment)
    return best, reasons


@pytest.mark.parametrize("preset", ["generic", "yueyang"])
def test_an_offer_equals_the_one_priced_with_the_vectorised_rates(preset):
    model = ParkModel(load_scenario(preset, CREDIT), seed=5)
    credit, rng = model.credit, np.random.default_rng(0)
    seen = {"offer": 0, "margin": 0, "cover": 0, "exposure": 0, "capital": 0}
    for month in range(30):
        model.step()
        if month % 3:
            continue
        for row in model.firms.live.tolist():
            purpose = str(rng.choice(PURPOSES))
            amount = float(10 ** rng.uniform(4, 9.5))
            kwargs = {"cash_flow": amount * float(rng.uniform(-0.001, 0.05))}
            if rng.random() < 0.3:  # as risk-priced lending asks
                kwargs.update(min_dscr=0.8, premium_bp=float(rng.uniform(0, 500)),
                              margin=float(rng.uniform(-1e5, 1e6)))
            expected, reasons = reference_offer(credit, row, amount, purpose, **kwargs)
            refused, refusals = credit.refused, dict(credit.refusals)
            got = credit.offer(row, amount, purpose, record=True, **kwargs)
            assert got == expected  # every field, floats compared exactly
            assert credit.refused == refused + (got is None)
            assert {k for k in refusals if credit.refusals[k] > refusals[k]} == (reasons if got is None else set())
            for reason in reasons if got is None else ["offer"]:
                seen[reason] += 1
    assert min(seen.values()) > 0, seen  # every outcome met


def test_loan_payments_equal_the_annuity_factor_of_each_loans_rate():
    rng = np.random.default_rng(1)
    rates = [*rng.uniform(-0.01, 0.3, 500).tolist(), 0.0, -0.0, float("nan"), 1e-9]
    principal = rng.integers(1, 10**12, len(rates)).tolist()
    for months in (1, 12, 60, 360):
        expected = [round(p * float(annuity_factor(r, months))) for p, r in zip(principal, rates, strict=True)]
        assert _payments_fen(principal, rates, months) == expected


def going_concern_value_of_old(model, rows: np.ndarray) -> np.ndarray:
    """``ParkModel.going_concern_value`` as it was: the discount weights computed for ``rows`` on every call."""
    horizon = model.scenario.economy.exit_horizon_months
    years = -(-horizon // 12)
    margins = prospective_margin(model, rows, years)
    month = np.arange(1, horizon + 1)
    discount = (1.0 + model.firms.discount_rate[rows][:, None] / 12.0) ** -month[None, :]
    weights = np.stack([discount[:, (month - 1) // 12 == k].sum(axis=1) for k in range(years)], axis=1)
    return (margins * weights).sum(axis=1)


@pytest.mark.parametrize("horizon", [120, 31])
def test_going_concern_value_with_kept_discount_weights_equals_the_weights_computed_each_call(horizon):
    model = ParkModel(load_scenario("generic", {**CREDIT, "economy.exit_horizon_months": horizon,
                                                "economy.entry_rate": 0.5}), seed=2)
    rng = np.random.default_rng(3)
    for _ in range(14):  # firms leave and enter (new rows, new hurdle rates)
        model.step()
        live = model.firms.live
        for size in (1, 3, len(live)):  # any subset, in any order, computed before or not
            rows = rng.permutation(live)[:size]
            assert model.going_concern_value(rows).tobytes() == going_concern_value_of_old(model, rows).tobytes()
    assert model.firms.n > len(model.firms.live)  # some left, so others entered on their plots
    model.firms.discount_rate[live[0]] += 0.01  # a changed hurdle rate: its weights computed again
    assert model.going_concern_value(live).tobytes() == going_concern_value_of_old(model, live).tobytes()


@pytest.mark.parametrize("preset", ["generic", "liaocheng", "qinzhou"])
def test_one_firms_margin_in_floats_equals_the_vectorised_margin_of_that_firm(preset):
    model = ParkModel(load_scenario(preset, CREDIT), seed=6)
    credit, checked = model.credit, 0
    for month in range(26):  # the carbon market's years, abatement installed, the slump
        model.step()
        if month % 5 == 0:
            for row in model.firms.live.tolist():
                assert credit._margin_one(row) == float(credit.margin(np.array([row]))[0])
                checked += 1
    assert checked > 50
    model.stream_virgin_price = model.stream_virgin_price * 2.0  # a new price vector: the sector terms again
    row = int(model.firms.live[0])
    assert credit._margin_one(row) == float(credit.margin(np.array([row]))[0])


def test_the_rates_of_all_banks_at_once_equal_each_banks_rates():
    model = ParkModel(load_scenario("yueyang", CREDIT), seed=7)
    credit, rng = model.credit, np.random.default_rng(2)
    banks = list(range(len(model.banks)))
    for month in range(20):
        model.step()
        rows = model.firms.live
        for purpose in PURPOSES:
            for amount in (0.0, 0, float(rng.uniform(1e4, 1e7)), rng.uniform(0, 1e7, len(rows))):
                got = credit.rates_of_banks(banks, rows, purpose, amount)
                for b in banks:
                    expected = reference_rates(credit, b, rows, purpose, amount)
                    assert got[b].tobytes() == expected.tobytes()
                    assert credit.rates(b, rows, purpose, amount).tobytes() == expected.tobytes()
        if month % 4 == 0:  # and a single bank, any order
            expected = reference_rates(credit, 2, rows, "link")
            assert credit.rates_of_banks([2, 0], rows, "link")[0].tobytes() == expected.tobytes()


def test_lending_one_offer_books_what_lending_it_as_a_batch_of_one_books():
    one, batch = (ParkModel(load_scenario("yueyang", {**CREDIT, "credit.sustainability_linked": True}), seed=8)
                  for _ in range(2))
    for _ in range(6):
        one.step()
        batch.step()
    rng = np.random.default_rng(4)
    for _ in range(40):
        row = int(rng.choice(one.firms.live))
        offer = Offer(int(rng.integers(len(one.banks))), float(rng.uniform(1e3, 1e7)), float(rng.uniform(0.0, 0.12)),
                      int(rng.integers(1, 121)), 0.0)
        purpose = str(rng.choice(PURPOSES))
        one.credit.sums()  # fresh sums, added to in place (and, every other loan, stale ones rebuilt)
        if rng.random() < 0.5:
            batch.credit.sums()
        assert one.credit.lend(row, offer, purpose) == int(batch.credit._lend_many(
            np.array([row]), np.array([offer.bank]), np.array([offer.amount]), np.array([offer.rate]), offer.tenor,
            purpose)[0])
    a, b = one.credit.loans.frame(), batch.credit.loans.frame()
    assert a.equals(b) and (a.dtypes == b.dtypes).all()
    assert np.array_equal(one.ledger._balance, batch.ledger._balance)
    assert np.array_equal(one.ledger._received, batch.ledger._received)
    assert one.ledger.moved == batch.ledger.moved and one.credit.approvals == batch.credit.approvals
    for name in ("debt", "service", "line", "exposure_fen", "book_fen"):
        assert getattr(one.credit.sums(), name).tobytes() == getattr(batch.credit.sums(), name).tobytes()


@pytest.mark.parametrize("n_firms", [1, 7, 1000, 1 << 16, (1 << 16) + 1, 10**6])
def test_loans_ordered_by_borrower_as_lexsort_orders_them(n_firms):
    rng = np.random.default_rng(n_firms)
    for size in (0, 1, 5, 3000):
        rows = np.sort(rng.choice(10 * size + 1, size, replace=False))
        borrower = rng.integers(0, n_firms, size)
        assert np.array_equal(_by_borrower(rows, borrower, n_firms), np.lexsort((rows, borrower)))
