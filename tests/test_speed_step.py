"""Issue 28, the model's step outside the credit market: each cache and batched path gives what the
plain code gives, bit for bit (the run-level check is test_regression.py)."""

from __future__ import annotations

import numpy as np
import pytest

import ecopark
from ecopark.markets import byproduct, expectations
from ecopark.markets.byproduct import _annuity_array, annuity_factor
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario


def test_a_scalar_annuity_factor_is_the_array_formulas_value_at_the_edges():
    rng = np.random.default_rng(8)
    rates = np.concatenate([rng.uniform(-0.05, 0.6, 2000), rng.uniform(0, 1e-13, 200),
                            [5e-324, 1e-300, 0.0, -0.0, np.inf, np.nan, -np.inf]])
    byproduct._ANNUITY_CACHE.clear()
    for rate in rates.tolist():
        for months in (1, 7, 12, 61, 120, 360):
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = _annuity_array(rate, months)[()]
            value = annuity_factor(rate, months)
            assert isinstance(value, np.float64)
            assert value == expected or (np.isnan(value) and np.isnan(expected)), (rate, months)


def _problems(rng: np.random.Generator, n: int) -> list[tuple]:
    """Random (shortfalls (P, H), horizons, mac (K,), a (P, K), rate, floor, penalty) problems, with steps above
    the penalty, NaN steps, zero abatement, surpluses and shortfalls beyond what any price calls forth."""
    out = []
    for _ in range(n):
        k, h, p = int(rng.integers(1, 300)), int(rng.integers(1, 5)), int(rng.integers(1, 25))
        mac = rng.lognormal(4.5, 1.0, k)
        mac[rng.random(k) < 0.1] = np.nan
        mac[rng.random(k) < 0.05] = 900.0
        a = rng.exponential(10.0, (p, k)) * (rng.random((p, k)) > 0.2)
        horizons = np.sort(rng.uniform(0.05, 4.0, h))
        scale = 12.0 * a.sum(axis=1, keepdims=True) * horizons.max()
        out.append((rng.uniform(-0.3, 1.3, (p, h)) * scale, horizons, mac, a, float(rng.choice([0.0, 0.035, 0.1])),
                    float(rng.choice([0.0, 40.0])), 600.0))
    return out


def test_the_batched_bisection_gives_each_problems_scalar_price_bit_for_bit():
    rng = np.random.default_rng(28)
    checked = 0
    for shortfalls, horizons, mac, a, rate, floor, penalty in _problems(rng, 120):
        batch = expectations.no_borrowing_prices(shortfalls, horizons, mac, a, rate, floor, penalty)
        for j in range(len(shortfalls)):
            assert batch[j] == expectations.no_borrowing_price(shortfalls[j], horizons, mac, a[j], rate, floor,
                                                               penalty)
            checked += 1
    assert checked > 1000


def test_the_batched_bisection_splits_problems_with_different_steps_and_small_batches(monkeypatch):
    rng = np.random.default_rng(3)
    shortfalls, horizons, mac, a, rate, floor, penalty = _problems(rng, 1)[0]
    a[0] = 0.0  # no step at all: the buy-out price where short
    a[1, : len(mac) // 2] = 0.0  # fewer steps than the others
    single = [expectations.no_borrowing_price(shortfalls[j], horizons, mac, a[j], rate, floor, penalty)
              for j in range(len(a))]
    monkeypatch.setattr(expectations, "BATCH_CELLS", 1)  # one problem per round
    assert (expectations.no_borrowing_prices(shortfalls, horizons, mac, a, rate, floor, penalty) == single).all()


def _price_after_installing_before(market, ets, firm: int, tech: int) -> float:
    """``CarbonMarket.price_after_installing`` as it was before issue 28 (one problem at a time)."""
    p = ets.params
    shortfall, horizons, mac, techs, a = market._outlook
    left = np.where((np.arange(len(a))[:, None] == firm) & (techs == tech), 0.0, a)
    step = a[firm].sum() - left[firm].sum()
    return expectations.no_borrowing_price(shortfall - 12.0 * step * horizons, horizons, mac.ravel(),
                                           left.ravel(), p.carry_rate, p.reserve_price, p.penalty)


def test_prices_after_installing_on_the_steps_on_offer_are_the_prices_from_every_step():
    # a penalty of 500 leaves some steps above it (not on offer): taking one of those off changes no problem's
    # steps, only its shortfall, and must not take a step on offer off in its place (the steps are passed on
    # without those never on offer); steps with no abatement (a = 0) are asked about too
    model = ParkModel(load_scenario("generic", {"policies.cap_and_trade.penalty": 500.0}), seed=6)
    for _ in range(13):
        model.step()
    cm, ets = model.carbon_market, model.government.policies["cap_and_trade"]
    covered = model.firms.live[cm.covered(model.firms.live, "cap_and_trade")]
    cm.no_arbitrage_expectation(ets, covered, months_ahead=9)
    _, _, mac, order, a = cm._outlook
    firm, col = np.nonzero(a >= 0)
    pick = np.random.default_rng(3).permutation(len(firm))[:150]
    firm, techs = firm[pick], order[firm[pick], col[pick]]
    offered = np.isfinite(mac[firm, col[pick]]) & (a[firm, col[pick]] > 0) & (mac[firm, col[pick]] < 500.0)
    assert offered.any() and (~offered & (a[firm, col[pick]] > 0)).any() and (a[firm, col[pick]] == 0).any()
    got = cm.prices_after_installing(ets, firm, techs)
    plain = [_price_after_installing_before(cm, ets, i, k) for i, k in zip(firm, techs, strict=True)]
    np.testing.assert_array_equal(got, plain)
    assert len(set(got.tolist())) > 1


def test_prices_after_installing_each_step_are_the_one_at_a_time_prices():
    model = ParkModel("generic", seed=5)
    for _ in range(14):
        model.step()
    cm = model.carbon_market
    ets = model.government.policies["cap_and_trade"]
    covered = model.firms.live[cm.covered(model.firms.live, "cap_and_trade")]
    cm.no_arbitrage_expectation(ets, covered, months_ahead=8)
    _, _, _, order, a = cm._outlook
    firm, col = np.nonzero(a > 0)
    assert len(firm) > 20
    techs = order[firm, col]
    batch = cm.prices_after_installing(ets, firm, techs)
    before = [_price_after_installing_before(cm, ets, i, k) for i, k in zip(firm, techs, strict=True)]
    assert (batch == np.array(before)).all()
    assert len(set(batch.tolist())) > 1  # the steps move the price differently: a test that can fail


def test_the_live_rows_kept_between_entries_and_exits_are_a_fresh_scan():
    model = ParkModel("generic", seed=2)
    firms = model.firms
    for month in range(30):
        model.step()
        live = firms.live
        assert (live == np.flatnonzero(firms.alive[: firms.n])).all()
        assert firms.live is live  # kept while no firm enters or leaves
        if month == 3:
            model.remove_firms(live[[1, 4]])
            assert (firms.live == np.delete(live, [1, 4])).all()
        if month == 5:
            rows = model.add_firms(np.array([0, 1]), model.vacant_plots()[:2])
            assert (firms.live[-2:] == rows).all() and len(firms.live) == len(live) + 2
    assert firms.n > len(firms.live)  # some firms left
    with pytest.raises(ValueError):
        firms.alive[firms.live[0]] = False  # only add and remove change who is in the park
    with pytest.raises(ValueError):
        firms.live[0] = 0  # the kept rows are not for writing


def _prospective_margin_before(model: ParkModel, rows: np.ndarray, years: int) -> np.ndarray:
    """``enterprise.prospective_margin`` as it was before issue 28 (year by year)."""
    from ecopark.agents.enterprise import carbon_price_path
    from ecopark.markets.emissions import net_share

    firms = model.firms
    s = firms.sector[rows]
    econ = model.scenario.economy
    normal = model.sector_capacity[s] * firms.size[rows] * econ.base_utilisation
    per_unit = (model.sector_price[s] - model.sector_variable_cost[s] * firms.cost_factor[rows]
                - model.need_matrix[s] @ model.stream_virgin_price - model.yield_matrix[s] @ model.stream_disposal_cost)
    fixed = (model.sector_fixed_cost[s] * firms.size[rows] + model.scenario.operator.rent
             + model.abatement.monthly_opex(rows))
    price, free, output_based, instrument = carbon_price_path(model, years)
    covered = (model.carbon_market.covered(rows, instrument) if instrument is not None
               else np.zeros(len(rows), dtype=bool))
    mac, _, a = model.abatement.steps(rows)
    mac = np.where(np.isnan(mac), np.inf, mac)
    bau = model.abatement.normal_bau(rows)
    emitted = (1.0 - model.abatement.installed_share(rows)) * net_share(model, rows) * bau
    margins = np.zeros((len(rows), years))
    base_price = model.sector_price[s]
    target = model.government.policies.get("intensity_target")
    credit_price, allowed = (target.credit_terms(rows, normal, years) if target is not None
                             else (np.zeros(len(rows)), np.zeros((len(rows), years))))
    intensity = model.sector_intensity[s]
    for k in range(years):
        value = np.where(covered, price[k], 0.0) + credit_price
        taken = mac < value[:, None]
        abatement = (np.where(taken, mac, 0.0) * a).sum(axis=1)
        left = emitted - np.where(taken, a, 0.0).sum(axis=1)
        unit_cost = price[k] * intensity * (1.0 - (free[k] if output_based else 0.0))
        uplift = np.where(covered & econ.carbon_pass_through,
                          model.sector_pass_through[s] * np.maximum(unit_cost, 0.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            demand = np.where(base_price > 0, ((base_price + uplift) / np.where(base_price > 0, base_price, 1.0))
                              ** -model.sector_demand_elasticity[s], 1.0)
        q = normal * demand
        allowances = free[k] * (intensity * q if output_based else bau)
        carbon = np.where(covered, demand * price[k] * left - price[k] * allowances, 0.0)
        credits = credit_price * demand * (allowed[:, k] - left)
        margins[:, k] = q * (per_unit + uplift) - fixed - demand * abatement - carbon + credits
    return margins


@pytest.mark.parametrize(("preset", "overrides"), [
    ("generic", {}), ("liaocheng", {}), ("qinzhou", {"policies.cap_and_trade.allocation": "output_based"}),
    ("yueyang", {"economy.carbon_pass_through": False}),
])
def test_the_prospective_margins_of_all_years_at_once_are_the_year_by_year_ones(preset, overrides):
    from ecopark.agents.enterprise import prospective_margin

    model = ParkModel(load_scenario(preset, overrides), seed=4)
    seen = set()
    for month in range(26):
        model.step()
        if month % 5 == 1:
            rows = model.firms.live
            for years in (1, 3, 10):
                new = prospective_margin(model, rows, years)
                assert new.shape == (len(rows), years)
                assert (new == _prospective_margin_before(model, rows, years)).all(), (preset, month, years)
                seen.update(np.unique(np.round(new[:, -1] / np.maximum(np.abs(new[:, 0]), 1.0), 6)).tolist())
    assert len(seen) > 10  # margins that differ by firm and year


def _ledger_state(ledger) -> tuple:
    flows = {s: f.copy() for s, f in ledger._flows.items()}
    return ledger._balance.copy(), ledger._paid.copy(), ledger._received.copy(), flows, ledger.moved


def _same_books(a: tuple, b: tuple) -> bool:
    return (all((x == y).all() for x, y in zip(a[:3], b[:3], strict=True)) and a[3].keys() == b[3].keys()
            and all((a[3][s] == b[3][s]).all() for s in a[3]) and a[4] == b[4])


def test_a_scalar_transfer_books_what_a_one_element_array_transfer_books():
    from ecopark.ledger import Ledger

    rng = np.random.default_rng(9)
    scalar, array = Ledger(), Ledger()
    for ledger in (scalar, array):
        ledger.open_accounts([f"f{i}" for i in range(6)], "enterprise")
        ledger.open_account("bank", "bank")
        ledger.open_account("outside", "outside")
    kinds = ["sale", "capex", "loan_interest", "dividend"]
    for step in range(3):
        scalar.step = array.step = step
        for _ in range(300):
            kind, payer, payee = kinds[rng.integers(4)], int(rng.integers(8)), int(rng.integers(8))
            amount = float(rng.choice([0.0, 0.005, 0.015, 0.025, 1e-9])) + float(rng.exponential(1e4)) * rng.integers(2)
            assert scalar.transfer(kind, payer, payee, amount) == array.transfer(
                kind, np.array([payer]), np.array([payee]), np.array([amount]))
    assert _same_books(_ledger_state(scalar), _ledger_state(array)) and scalar.total() == 0
    with pytest.raises(ValueError, match="finite and >= 0"):
        scalar.transfer("sale", 0, 1, -0.01)
    with pytest.raises(ValueError, match="finite and >= 0"):
        scalar.transfer("sale", 0, 1, float("nan"))


def _infrastructure_payments_before(model: ParkModel) -> None:
    """``Infrastructure.step``'s payments as they were before issue 28 (project by project, one transfer each)."""
    infra = model.infrastructure
    ledger, op, outside = model.ledger, model.operator.account, model.outside
    fees, funding = infra.month_fees, model.scenario.credit.funding_rate
    for i, p in enumerate(infra.projects):
        ledger.transfer("infrastructure_opex", op, outside, p.kind.opex)
        p.opex_paid += p.kind.opex
        p.fees += fees[i]
        if p.loan_months_left > 0:
            bank = model.banks[0].account
            interest = p.loan_outstanding * p.loan_rate / 12.0
            principal = p.loan_outstanding if p.loan_months_left == 1 else min(
                p.loan_payment - interest, p.loan_outstanding)
            ledger.transfer("infrastructure_loan_interest", op, bank, interest)
            ledger.transfer("infrastructure_loan_repayment", op, bank, principal)
            ledger.transfer("funding_interest", bank, outside, p.loan_outstanding * funding / 12.0)
            ledger.transfer("bank_funding_repayment", bank, outside, principal)
            p.loan_outstanding -= principal
            p.loan_months_left -= 1
        share = p.ppp / p.capex if p.capex > 0 else 0.0
        ledger.transfer("ppp_distribution", op, outside, share * max(fees[i] - p.kind.opex, 0.0))
    infra.month_fees[:] = 0.0


@pytest.mark.parametrize("preset", ["generic", "liaocheng"])
def test_infrastructure_payments_booked_kind_by_kind_are_those_booked_project_by_project(preset, monkeypatch):
    import copy


    model = ParkModel(load_scenario(preset, {"operator.infrastructure.kinds": ["heat_network", "hydrogen_pipeline",
                                                                              "central_treatment"]}), seed=1)
    for _ in range(16):
        model.step()
    infra = model.infrastructure
    assert len(infra.projects) >= 2 and any(p.loan_months_left > 0 for p in infra.projects)
    infra.month_fees[:] = np.arange(1, len(infra.projects) + 1) * 7.0e5  # fees above opex: PPP payouts
    projects, fees, books = copy.deepcopy(infra.projects), infra.month_fees.copy(), copy.deepcopy(model.ledger)
    monkeypatch.setattr(infra, "review", lambda: None)  # the payments only
    infra.step()
    after = _ledger_state(model.ledger), [(p.loan_outstanding, p.loan_months_left, p.fees) for p in infra.projects]
    model.ledger, infra.projects, infra.month_fees = books, projects, fees
    _infrastructure_payments_before(model)
    before = _ledger_state(model.ledger), [(p.loan_outstanding, p.loan_months_left, p.fees) for p in infra.projects]
    assert _same_books(after[0], before[0]) and after[1] == before[1]


def test_spread_gives_the_broadcast_values_copied_small_and_viewed_large():
    from ecopark.markets.byproduct import SPREAD_COPY_CELLS, _spread

    column = np.random.default_rng(2).normal(size=(7, 1))
    small = _spread(column, (7, 5))
    assert small.flags.writeable and (small == np.broadcast_to(column, (7, 5))).all()
    big = _spread(column[:1], (1, SPREAD_COPY_CELLS + 1))
    assert not big.flags.writeable and (big == column[0, 0]).all()
    assert (_spread(np.float64(-0.0), (2, 3)) == 0.0).all() and np.signbit(_spread(-0.0, (2, 3))).all()


def _no_borrowing_price_before(shortfalls, horizons, mac, a, rate, floor, penalty) -> float:
    """``expectations.no_borrowing_price`` as it was before issue 28 (one price per halving)."""
    shortfalls, horizons = np.asarray(shortfalls, float), np.asarray(horizons, float)
    ok = np.isfinite(mac) & (a > 0) & (mac < penalty)
    mac, a = mac[ok], a[ok]
    if (shortfalls <= 0).all():
        return floor
    buyout = np.maximum(floor, penalty * (1.0 + rate) ** -horizons)

    def covered(price: float) -> bool:
        abated = expectations.abatement_to_deadlines(price, mac, a, horizons, rate)
        return bool(((abated >= shortfalls) | (price >= buyout)).all())

    lo, hi = floor, float(buyout[shortfalls > 0].max())
    if covered(lo):
        return floor
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if covered(mid):
            hi = mid
        else:
            lo = mid
    return hi


@pytest.mark.parametrize(("levels", "cells"), [(3, 2000), (2, 10**9), (4, 10**9), (5, 10**9), (3, 1)])
def test_the_bisection_taken_levels_at_a_time_gives_the_halving_price_bit_for_bit(levels, cells, monkeypatch):
    monkeypatch.setattr(expectations, "TREE_LEVELS", levels)
    monkeypatch.setattr(expectations, "TREE_CELLS", cells)
    rng = np.random.default_rng(levels * 7 + 1)
    priced = set()
    for shortfalls, horizons, mac, a, rate, floor, penalty in _problems(rng, 40):
        for j in range(len(shortfalls)):
            price = expectations.no_borrowing_price(shortfalls[j], horizons, mac, a[j], rate, floor, penalty)
            assert price == _no_borrowing_price_before(shortfalls[j], horizons, mac, a[j], rate, floor, penalty)
            priced.add(price)
    assert len(priced) > 100


def test_one_accounts_balance_is_the_array_formulas_value():
    from ecopark.ledger import Ledger

    ledger = Ledger()
    ledger.open_accounts([f"a{i}" for i in range(5)], "enterprise")
    ledger.open_account("outside", "outside")
    rng = np.random.default_rng(4)
    for amount in np.concatenate([rng.exponential(1e5, 200), [0.01, 0.05, 1e13 + 0.37, 3.3e13, 6.1e13 + 0.03]]):
        ledger.transfer("sale", 5, int(rng.integers(5)), float(amount))
        for account in (*range(6), np.int64(3), np.array(2)):
            value = ledger.balance(account)
            assert isinstance(value, float)
            assert value == float(ledger._balance[account] / ledger.scale)
    assert abs(ledger._balance[5]) > 2**53  # past the integers a float holds exactly
    assert (ledger.balance(np.arange(6)) == ledger._balance / ledger.scale).all()


def test_the_annuity_cache_finds_numpy_and_python_numbers_alike():
    byproduct._ANNUITY_CACHE.clear()
    first = annuity_factor(np.float64(0.0725), np.int64(84))
    assert list(byproduct._ANNUITY_CACHE) == [(0.0725, 84)]  # stored under Python numbers
    assert annuity_factor(0.0725, 84) is first and annuity_factor(np.float32(0.5), 12) == _annuity_array(
        float(np.float32(0.5)), 12)[()]
    rates = np.array([0.0725, 0.1])
    assert (annuity_factor(rates, 84) == _annuity_array(rates, 84)).all()  # arrays: the formula
    assert annuity_factor(rates, 84).shape == (2,) and len(byproduct._ANNUITY_CACHE) == 2


def _candidates_before(self, visible_all: bool):
    """``ByproductMarket.candidates`` as it was before issue 28 (every stream's values computed first)."""
    rows, supply_all, demand_all = self.open_quantities()
    floor, unit = self.spec.min_quantity, self.unit_values()
    quota_share = self.quota_shares(rows, supply_all)
    firms, links = self.model.firms, self.links
    fee = self.model.policy("platform").params.fee if visible_all else 0.0
    live, n = links.live, firms.n
    supply_open, demand_open = supply_all >= floor, demand_all >= floor
    either = supply_open.any(axis=0) & demand_open.any(axis=0)
    for k in np.flatnonzero(either).tolist():
        s_open, r_open = supply_open[:, k], demand_open[:, k]
        sup, supply, rec, demand = rows[s_open], supply_all[s_open, k], rows[r_open], demand_all[r_open, k]
        if not visible_all:
            known = self.known[sup][:, rec]
            if not known.any():
                continue
        values = self.pair_values(k, sup, rec, unit, quota_share[s_open, k])
        annuity = self.pair_annuity(sup, rec)
        capex_month = (values["capex"] - self._capex_subsidy_share(values["capex"])) * annuity
        q = np.minimum(supply[:, None], demand[None, :])
        surplus = values["a_s"] + values["a_r"] + values["subsidy"] + values["topup"] - (capex_month + fee) / q
        feasible = (values["dist"] <= self.stream["max_distance"][k]) & (sup[:, None] != rec[None, :])
        # a linked pair extends its contract only at renewal
        same = live[links.stream[live] == k]
        at_s, at_r = np.full(n, -1), np.full(n, -1)
        at_s[sup], at_r[rec] = np.arange(len(sup)), np.arange(len(rec))
        i, j = at_s[links.supplier[same]], at_r[links.receiver[same]]
        both_open = (i >= 0) & (j >= 0)
        feasible[i[both_open], j[both_open]] = False
        barred_s, barred_r, _ = (np.array(rows, np.int64) for rows in self.bargaining.barred.get(k, ([], [], [])))
        i, j = at_s[barred_s], at_r[barred_r]
        feasible[i[(i >= 0) & (j >= 0)], j[(i >= 0) & (j >= 0)]] = False
        if not visible_all:
            feasible &= known
        # a receiver qualifies a source it has not traded with (trials, tests, certification)
        qualification = self.stream["qualification_cost"][k] * ~self.familiar[sup][:, rec]
        surplus = surplus - qualification * annuity / q
        if not (feasible & (surplus > 0)).any():
            continue
        values["capex_month"] = capex_month
        values["qualification"] = qualification
        yield k, sup, rec, supply, demand, np.where(feasible, surplus, np.nan), values


@pytest.mark.parametrize(("preset", "overrides"), [("generic", {}), ("generic", {"policies.platform.enabled": True}),
                                                   ("liaocheng", {})])
def test_candidates_skip_streams_without_a_possible_pair_and_yield_the_same_rest(preset, overrides):

    model = ParkModel(load_scenario(preset, overrides), seed=3)
    market = model.byproduct_market
    visible_all = bool(overrides)
    compared = 0
    for month in range(30):
        model.step()
        if month % 3:
            continue
        market._grow()
        new = list(market.candidates(visible_all))
        old = list(_candidates_before(market, visible_all))
        assert [c[0] for c in new] == [c[0] for c in old]
        for a, b in zip(new, old, strict=True):
            for x, y in zip(a[1:6], b[1:6], strict=True):
                assert np.array_equal(x, y, equal_nan=True)
            # the pairs that can form, and each of their components the number the (S, R) arrays hold
            cells, values = a[6], a[7]
            assert np.array_equal(cells, np.flatnonzero(~np.isnan(b[5])))
            assert values.keys() == b[6].keys() and all(
                np.array_equal(values[n], np.broadcast_to(b[6][n], b[5].shape).reshape(-1)[cells]) for n in values)
            compared += 1
    assert compared > 5


@pytest.mark.parametrize("preset", ["generic", "liaocheng", "qinzhou"])
def test_the_months_carbon_values_kept_for_matching_give_each_streams_pair_values(preset):
    model = ParkModel(preset, seed=2)
    market, cm = model.byproduct_market, model.carbon_market
    rng = np.random.default_rng(1)
    compared, seen = 0, set()
    for _ in range(24):
        model.step()
        assert market._carbon_values is None  # only while match() runs
        every = cm.value_per_tonne(np.arange(model.firms.n))
        rows = rng.choice(model.firms.n, size=model.firms.n // 2, replace=False)
        assert (every[rows] == cm.value_per_tonne(rows)).all()  # each firm's own value, whoever else is asked
        seen.update(every.tolist())
        live, unit = model.firms.live, market.unit_values()
        for k in range(len(market.piped)):
            sup, rec = live[::2], live[1::2]
            plain = market.pair_values(k, sup, rec, unit)
            market._carbon_values = every
            try:
                kept = market.pair_values(k, sup, rec, unit)
            finally:
                market._carbon_values = None
            assert all(np.array_equal(plain[n], kept[n]) for n in plain)
            compared += 1
    assert compared > 24 and len(seen) > 1  # carbon values that differ by firm


def test_a_park_with_no_covered_firm_runs_its_carbon_sessions():
    """No covered firm: no outlook is formed and no step is priced (the batched prices_after_installing
    once unpacked the missing outlook and crashed every run of such a park)."""
    farm = {"park.firms": {"grain_oil": 2, "food_feed": 3, "livestock": 3, "biogas": 2, "greenhouse": 3},
            "park.size_km": 3.0, "park.vacant_plots": 1, "policies.cap_and_trade.enabled": True}
    result = ecopark.run("generic", steps=12, seed=1, overrides=farm)
    assert result.metrics["firms_final"] > 0
    model = ParkModel(ecopark.load_scenario("generic", farm), seed=1)
    model.step()
    assert len(model.carbon_market.prices_after_installing(model.policy("cap_and_trade"), [], [])) == 0
