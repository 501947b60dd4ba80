"""Secured lending: warehouse receipts, pledged allowances and margin calls, risk-priced
loans to weak firms, ordinary vs green NPL, invariants (markets/secured_lending.py)."""

import numpy as np
import pytest

from ecopark.markets.credit import COLLATERAL_KINDS, LoanBook, Offer
from ecopark.markets.secured_lending import ALLOWANCE, RECEIPT
from ecopark.metrics import compute_run_metrics
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, presets
from ecopark.schema import ConfigError

# deep enough to break firms on its own (as in tests/test_credit.py): since issue 15 carbon penalties
# no longer strand firms, and a 30% slump for 12 months leaves every firm with a positive margin at
# normal output in cash (in the generic park at seed 1 the only firm short of cash was a refinery
# losing money even at normal output, which no bank lends to)
#: The secured products' mechanics are tested without the operating cycle (issue 23: with receivables every
#: firm keeps its credit line drawn against them and the banks' single-borrower room is mostly taken by it).
NO_CYCLE = {"economy.collection_days": 0}
SLUMP = {**NO_CYCLE, "economy.shock_start": 12, "economy.shock_months": 24, "economy.shock_depth": 0.5}


def _short_of_cash(model: ParkModel, row: int, deficit: float = 1e6) -> None:
    """Drain the firm's cash to -deficit (an unexpected cost paid outside)."""
    cash = float(model.firm_cash(np.array([row]))[0])
    model.ledger.transfer("operating_cost", model.firms.account[row], model.outside, cash + deficit)


def _grant_surplus(model: ParkModel, row: int, tonnes: float = 500_000.0) -> None:
    """Give the firm allowances beyond its need for the year (as abatement would)."""
    market = model.carbon_market
    model.allowances.transfer("free_allocation", market.registry, int(market.account[row]), tonnes)


def _sector_row(model: ParkModel, sector: str) -> int:
    rows = model.firms.live
    return int(rows[model.firms.sector[rows] == model.catalogue.sector_keys.index(sector)][0])


def test_pledged_allowances_are_escrowed_and_the_loan_is_called_when_the_price_falls_below_the_haircut():
    model = ParkModel(load_scenario("generic", {**NO_CYCLE, "credit.secured.carbon_pledge": True,
                                                "credit.secured.risk_priced_lending": False}), seed=3)
    model.step()  # month 1: free allocation
    secured, market, al = model.secured_lending, model.carbon_market, model.allowances
    row = _sector_row(model, "aluminium")
    # it produces below normal, so the output-based true-up will take allowances back: they count in
    # its need (CarbonMarket.year_need, as in its carbon orders) and its holding has nothing to spare
    ets = model.policy("cap_and_trade")
    assert market.year_need(ets, np.array([row]), 12)[0] > market.year_emissions[row] + model.firms.emissions[row] * 12
    assert secured.free_units(ALLOWANCE, row) == 0
    _grant_surplus(model, row)
    free = secured.free_units(ALLOWANCE, row)
    held = al.balance(int(market.account[row]))
    assert 0 < free <= 500_000 < held  # only the allowances beyond the year's expected need can be pledged
    _short_of_cash(model, row)
    price, spec = secured.carbon_price(), model.scenario.credit.secured
    lent = secured.apply(row, 1e12)
    expected = free * price * (1 - spec.allowance_haircut) / spec.initial_cover
    assert lent == pytest.approx(expected, abs=0.01)
    loans = model.credit.loans
    loan = int(np.flatnonzero(loans.collateral[: loans.n] == ALLOWANCE)[0])
    assert not loans.green[loan] and loans.collateral_units[loan] == pytest.approx(free, abs=1e-3)
    # the pledge sits in the escrow: the firm can neither sell nor surrender it, nor pledge it twice
    assert al.balance(secured.escrow) == pytest.approx(free, abs=1e-3)
    assert al.balance(int(market.account[row])) == pytest.approx(held - free, abs=1e-3)
    assert secured.free_units(ALLOWANCE, row) == pytest.approx(0, abs=1e-3)
    assert secured.apply(row, 1e6) == 0.0
    assert model.credit.loans.frame()["collateral"].iloc[loan] == "carbon_allowance"  # loans.csv

    # a fall the initial cover absorbs: no call; below the haircut cover: called, pledge sold
    market.last_price = price / spec.initial_cover * 1.01
    secured.margin_calls()
    assert secured.calls == 0
    out_before = loans.outstanding_fen[loan] / 100
    _short_of_cash(model, row)  # the loan's cash is spent
    market.last_price = price / spec.initial_cover * 0.9
    secured.margin_calls()
    assert secured.calls == 1 and secured.collateral_sales == 1  # no cash, no free allowances: sold
    # the bank sells what covers the outstanding (here less than the whole pledge) and releases the rest
    proceeds = model.ledger.flow("collateral_sale")
    sold = al.flow("collateral_sale")
    assert proceeds == pytest.approx(out_before, abs=0.02) and loans.outstanding_fen[loan] == 0
    assert loans.status[loan] == 1 and loans.recovered[loan] == pytest.approx(proceeds)
    assert loans.collateral_units[loan] == 0 and al.balance(secured.escrow) == pytest.approx(0, abs=1e-6)
    returned = al.balance(int(market.account[row])) - (held - free)
    assert returned == pytest.approx(free - out_before / market.last_price, abs=2e-3)
    assert sold == pytest.approx(free - returned, abs=1e-3)
    assert model.ledger.total() == 0 and al.total() == pytest.approx(0, abs=1e-6)


def test_a_margin_call_is_met_by_a_top_up_or_a_forced_repayment_when_the_firm_can():
    model = ParkModel(load_scenario("generic", {**NO_CYCLE, "credit.secured.carbon_pledge": True}), seed=3)
    model.step()
    secured, market, loans = model.secured_lending, model.carbon_market, model.credit.loans
    row = _sector_row(model, "aluminium")
    _grant_surplus(model, row)
    free = secured.free_units(ALLOWANCE, row)
    _short_of_cash(model, row)
    price = secured.carbon_price()
    secured.apply(row, secured.lending_value(ALLOWANCE, row) / 2)  # pledges about half its free allowances
    loan = int(np.flatnonzero(loans.collateral[: loans.n] == ALLOWANCE)[0])
    units = loans.collateral_units[loan]
    assert units == pytest.approx(free / 2, rel=1e-3)
    market.last_price = price * 0.6
    secured.margin_calls()
    assert secured.top_ups == 1 and loans.collateral_units[loan] > units  # more allowances pledged
    assert secured.cover(np.array([loan]))[0] >= loans.outstanding_fen[loan] / 100 - 0.01
    # with no free allowances left but cash at hand the firm repays the shortfall
    model.ledger.transfer("equity", model.outside, model.firms.account[row], 5e8)
    market.last_price = price * 0.2
    out = loans.outstanding_fen[loan]
    secured.margin_calls()
    assert secured.forced_repayments == 1 and loans.outstanding_fen[loan] < out
    assert secured.cover(np.array([loan]))[0] >= loans.outstanding_fen[loan] / 100 - 0.01


def test_a_warehouse_receipt_loan_is_limited_by_stock_times_price_times_one_minus_the_haircut():
    overrides = {**NO_CYCLE, "credit.secured.warehouse_receipts": True,
                 "credit.secured.stock_months": {"grain_oil": 2.0},
                 "credit.secured.receipt_haircut": 0.3, "credit.secured.risk_priced_lending": False}
    model = ParkModel(load_scenario("generic", overrides), seed=1)
    secured = model.secured_lending
    model.step()
    row = _sector_row(model, "grain_oil")
    for _ in range(6):  # it buys stock out of its profits (cash above what the owners leave in it)
        model.step()
    s = model.firms.sector[row]
    stock = secured.stock[row]  # what it bought (restock), at most two months of output
    assert 0 < stock <= 2.0 * model.firms.output[row] + 1e-6
    assert secured.stock_cost[row] == pytest.approx(model.ledger.paid(model.firms.account[row], "stock_purchase"))
    _short_of_cash(model, row)
    lent = secured.apply(row, 1e12)
    price = model.sector_price[s] * secured.price_index[s]
    assert lent == pytest.approx(stock * price * (1 - 0.3) / 1.25, abs=0.01)
    assert secured.free_units(RECEIPT, row) == pytest.approx(0, abs=1e-3) and secured.apply(row, 1e6) == 0.0
    # other sectors hold no stock to pledge
    assert secured.apply(_sector_row(model, "aluminium"), 1e6) == 0.0
    # the stock's price falls in the slump: the receipt loan is called and the goods are sold
    loans = model.credit.loans
    loan = int(np.flatnonzero(loans.collateral[: loans.n] == RECEIPT)[0])
    _short_of_cash(model, row)
    secured.price_index[s] *= 0.7
    secured.margin_calls()
    assert secured.calls == 1 and secured.stock[row] < stock and loans.recovered[loan] > 0
    assert model.ledger.total() == 0


@pytest.mark.parametrize("haircut, cover", [(0.0, 1.0), (0.3, 1.25), (0.6, 2.0)])
def test_the_receipt_limit_holds_over_haircuts_and_covers_and_stock_prices_fall_in_the_slump(haircut, cover):
    overrides = {**NO_CYCLE, "credit.secured.warehouse_receipts": True,
                 "credit.secured.stock_months": {"food_feed": 1.5},
                 "credit.secured.receipt_haircut": haircut, "credit.secured.initial_cover": cover,
                 "credit.secured.slump_price_fall": 0.25, "economy.shock_start": 2}
    model = ParkModel(load_scenario("yueyang", overrides), seed=4)
    model.step()
    secured = model.secured_lending
    row = _sector_row(model, "food_feed")
    s = model.firms.sector[row]
    value = secured.stock[row] * model.sector_price[s] * secured.price_index[s]
    assert secured.lending_value(RECEIPT, row) == pytest.approx(value * (1 - haircut) / cover)
    model.step()  # month 2: the slump starts
    assert secured.price_index[s] == pytest.approx(0.75 * np.exp(secured._log_index[s]))


def test_without_secured_lending_a_refused_firm_gets_nothing():
    model = ParkModel(load_scenario("generic", {**NO_CYCLE, "credit.secured.carbon_pledge": False,
                                                "credit.secured.risk_priced_lending": False}), seed=3)
    model.step()
    row = _sector_row(model, "aluminium")
    _short_of_cash(model, row)
    assert model.secured_lending.kinds(row) == [] and model.secured_lending.apply(row, 1e6) == 0.0


def _npl(name: str, seed: int, on: bool) -> dict[str, float]:
    overrides = {**SLUMP, "credit.secured.risk_priced_lending": on, "credit.secured.carbon_pledge": False}
    model = ParkModel(load_scenario(name, overrides), seed=seed)
    for _ in range(42):
        model.step()
    out = compute_run_metrics(model, ["npl_ratio_green_pooled", "npl_ratio_other_pooled", "risk_priced_disbursed"])
    loans = model.credit.loans.frame()
    out["risk_priced_defaults"] = float((loans.risk_priced & (loans.status == "defaulted")).sum())
    return out


def _gap_interval(runs: list[dict[str, float]]) -> tuple[float, float]:
    """Mean over seeds of ordinary minus green pooled NPL (paired within each run) and its 95% half-width."""
    gap = np.array([r["npl_ratio_other_pooled"] - r["npl_ratio_green_pooled"] for r in runs])
    return float(gap.mean()), float(1.96 * gap.std(ddof=1) / np.sqrt(len(gap)))


def test_weak_firms_get_risk_priced_loans_some_default_and_ordinary_npl_exceeds_green_npl_in_a_slump():
    seeds = range(5)
    on = [_npl("generic", seed, True) for seed in seeds]
    off = [_npl("generic", seed, False) for seed in seeds]
    assert sum(r["risk_priced_disbursed"] for r in on) > 0 and sum(r["risk_priced_defaults"] for r in on) > 0
    mean, half = _gap_interval(on)
    # ordinary above green on average; under the exit rule (docs/credit.md) a loss-making borrower leaves
    # once it has exit_after_months of accounts, so its loans are written off (defaults) before many
    # months of arrears pile up as NPL, and over 5 seeds the gap is no longer significant
    assert mean > 0, (mean, half)
    # without it the ordinary book is the credit lines: owners judge firms on their prospects (normal
    # output), so firms stay through the slump while their lines' covenants break and their working-capital
    # instalments go unpaid: ordinary NPL is above green NPL here too (before issue 23's exit on prospects,
    # c48dec2: not above; measured 0.21 +- 0.10 over seeds 0-4)
    mean, half = _gap_interval(off)
    assert mean - half > 0, (mean, half)


def test_risk_priced_loans_carry_the_weak_premium():
    model = ParkModel(load_scenario("generic", {**SLUMP, "credit.secured.risk_priced_lending": True}), seed=1)
    for _ in range(30):
        model.step()
    loans = model.credit.loans.frame()
    weak = loans[loans.risk_priced]
    assert len(weak)
    base = model.scenario.credit.funding_rate + model.scenario.banks[0].margin_bp / 1e4
    assert (weak.contract_rate >= base + model.scenario.credit.secured.weak_premium_bp / 1e4 - 1e-12).all()


def test_a_risk_priced_loan_is_flagged_even_when_it_grows_the_loan_book(monkeypatch):
    model = ParkModel(load_scenario("generic", {**NO_CYCLE, "credit.secured.risk_priced_lending": True}), seed=1)
    credit = model.credit
    credit.loans = LoanBook(capacity=1)
    credit.lend(0, Offer(0, 1e5, 0.05, 12, 0.0), "working_capital")  # the book is full
    monkeypatch.setattr(credit, "offer", lambda row, amount, purpose, **kw: Offer(0, amount, 0.08, 12, 0.0))
    assert model.secured_lending.apply(1, 1e5) == 1e5
    assert credit.loans.n == 2 and credit.loans.risk_priced[1] and not credit.loans.risk_priced[0]


@pytest.mark.parametrize("name", presets())
def test_invariants_hold_in_every_preset_with_secured_lending_on(name):
    overrides = {**SLUMP, "credit.secured.warehouse_receipts": True, "credit.secured.carbon_pledge": True,
                 "credit.secured.risk_priced_lending": True,
                 "credit.secured.stock_months": {"grain_oil": 2.0, "food_feed": 1.0, "refining": 1.0, "aluminium": 1.0}}
    model = ParkModel(load_scenario(name, overrides), seed=2)
    secured, loans = model.secured_lending, model.credit.loans
    for _ in range(36):
        model.step()
        assert model.ledger.total() == 0
        assert model.allowances.total() == pytest.approx(0, abs=1e-6)
        live = loans.live
        pledged = live[loans.collateral[live] == ALLOWANCE]
        assert secured.allowances_pledged() == pytest.approx(loans.collateral_units[pledged].sum(), abs=1e-6)
        assert (secured.stock >= -1e-9).all()
        receipts = live[loans.collateral[live] == RECEIPT]
        by_firm = np.bincount(loans.borrower[receipts], loans.collateral_units[receipts], minlength=len(secured.stock))
        assert (by_firm <= secured.stock + 1e-6).all()
        ended = np.flatnonzero(loans.status[: loans.n] != 0)
        assert (loans.collateral_units[ended] == 0).all()  # repaid or written off: nothing stays pledged
    assert set(loans.frame()["collateral"]) <= set(COLLATERAL_KINDS)


def test_secured_settings_are_validated():
    with pytest.raises(ConfigError, match=r"credit\.secured\.stock_months\.shipbuilding"):
        load_scenario("generic", {"credit.secured.stock_months": {"shipbuilding": 1.0}})
    with pytest.raises(ConfigError, match=r"credit\.secured\.receipt_haircut"):
        load_scenario("generic", {"credit.secured.receipt_haircut": 1.5})
    with pytest.raises(ConfigError, match=r"credit\.secured\.initial_cover"):
        load_scenario("generic", {"credit.secured.initial_cover": 0.5})


#: Output-based allocation with almost nothing allocated provisionally: the year-end true-up a firm
#: expects adds more than its year's emissions, so its expected need (CarbonMarket.year_need) is negative.
TRUE_UP_ADDS = {**NO_CYCLE, "credit.secured.carbon_pledge": True, "credit.secured.risk_priced_lending": False,
                "policies.cap_and_trade.enabled": True, "policies.cap_and_trade.allocation": "output_based",
                "policies.cap_and_trade.provisional_share": 1e-6, "policies.cap_and_trade.cap_decline": 0.0}


def test_a_firm_expecting_its_true_up_to_add_allowances_pledges_no_more_than_it_holds():
    """Allowances still to come from the true-up cannot be pledged (found by the 1,000-run fuzz: a firm
    holding none pledged 288,355 it expected to receive and was left holding -288,355)."""
    model = ParkModel(load_scenario("generic", TRUE_UP_ADDS), seed=3)
    model.step()
    secured, market, al = model.secured_lending, model.carbon_market, model.allowances
    ets = model.policy("cap_and_trade")
    covered = model.firms.live[market.account[model.firms.live] >= 0]
    need = market.year_need(ets, covered, 12)
    assert (need < 0).any()  # the case the rule is about
    for row in covered[need < 0]:
        held = float(al.balance(int(market.account[row])))
        assert secured.free_units(ALLOWANCE, int(row)) == pytest.approx(max(held, 0.0), abs=1e-3)
    row = int(covered[np.argmin(need)])
    market_account = int(market.account[row])
    assert al.balance(market_account) < 1.0  # next to nothing allocated provisionally
    assert secured.free_units(ALLOWANCE, row) == pytest.approx(max(al.balance(market_account), 0.0), abs=1e-3)
    _short_of_cash(model, row)
    assert secured.apply(row, 1e9) < 1.0 * secured.carbon_price()  # at most its crumbs pledged
    _grant_surplus(model, row, 1_000.0)
    held = al.balance(market_account)
    assert secured.free_units(ALLOWANCE, row) == pytest.approx(held, abs=1e-3)
    secured.apply(row, 1e12)
    assert al.balance(market_account) >= 0 and al.balance(secured.escrow) <= held + 1e-3
