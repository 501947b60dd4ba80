"""Green credit: loan schedules, pricing, bank limits, defaults and NPL, credit policies, invariants."""

import dataclasses
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pytest

import ecopark
from ecopark.markets.contracts import END_REASONS
from ecopark.markets.credit import STATUSES, Offer
from ecopark.model import ParkModel
from ecopark.policies.carbon_tax import CarbonTaxParams
from ecopark.schema import ConfigError

CALM = {"economy.common_shock_sd": 0.0, "economy.firm_shock_sd": 0.0, "economy.entry_rate": 0.0,
        "byproduct_market.encounters_per_month": 0.0, "policies.cap_and_trade.enabled": False}


def model_with(overrides: dict | None = None, seed: int = 0) -> ParkModel:
    model = ParkModel(ecopark.load_scenario("generic", {**CALM, **(overrides or {})}), seed=seed)
    model.step()  # firms have output, so banks can judge them
    return model


def richest_firm(model: ParkModel) -> int:
    rows = model.firms.live
    return int(rows[np.argmax(model.credit.margin(rows))])


def schedule(principal: float, rate: float, tenor: int) -> tuple[int, int, int]:
    """(instalment, total principal, total interest) in fen, computed with decimals:
    annuity P i / (1 - (1 + i)^-n), interest on the outstanding each month, rest principal."""
    i = Decimal(rate) / 12
    out = Decimal(round(principal * 100))
    payment = (out * i / (1 - (1 + i) ** -tenor)).quantize(Decimal(1), ROUND_HALF_EVEN)
    paid_principal = paid_interest = Decimal(0)
    for month in range(tenor):
        interest = (out * i).quantize(Decimal(1), ROUND_HALF_EVEN)
        principal_part = out if month == tenor - 1 else min(payment - interest, out)
        out -= principal_part
        paid_principal += principal_part
        paid_interest += interest
    return int(payment), int(paid_principal), int(paid_interest)


# -- a loan's schedule ------------------------------------------------------------------------------
@pytest.mark.parametrize(("principal", "rate", "tenor"), [(12_345_678.91, 0.0385, 60), (500_000.0, 0.06, 12),
                                                          (3e7, 0.0175, 120)])
def test_loan_payments_sum_to_principal_plus_interest_to_the_cent(principal, rate, tenor):
    model = model_with({"economy.initial_cash_months": 200.0, "economy.dividend_cash_months": 1e6})
    row = richest_firm(model)
    account = int(model.firms.account[row])
    paid_before = model.ledger.paid(account, "loan_repayment") + model.ledger.paid(account, "loan_interest")
    loan = model.credit.lend(row, Offer(bank=0, amount=principal, rate=rate, tenor=tenor, payment=0.0), "link")
    for _ in range(tenor):
        model.credit.service()
    payment, total_principal, total_interest = schedule(principal, rate, tenor)
    loans = model.credit.loans
    assert loans.payment_fen[loan] == payment
    assert STATUSES[loans.status[loan]] == "repaid" and loans.outstanding_fen[loan] == 0
    assert round(loans.principal_paid[loan] * 100) == total_principal == round(principal * 100)
    assert round(loans.interest_paid[loan] * 100) == total_interest
    paid = model.ledger.paid(account, "loan_repayment") + model.ledger.paid(account, "loan_interest") - paid_before
    assert round(paid * 100) == total_principal + total_interest
    assert model.ledger.total() == 0


def test_a_missed_instalment_is_capitalised_and_counts_towards_npl():
    model = model_with()
    row = richest_firm(model)
    loan = model.credit.lend(row, Offer(bank=0, amount=1e6, rate=0.06, tenor=24, payment=0.0), "working_capital")
    account = int(model.firms.account[row])
    model.ledger.transfer("dividend", account, model.outside, model.ledger.balance(account) + 1.0)  # cash -1 yuan
    out = int(model.credit.loans.outstanding_fen[loan])
    model.credit.service()
    interest = round(out * 0.06 / 12)
    assert model.credit.loans.outstanding_fen[loan] == out + interest
    assert model.credit.loans.missed[loan] == 1 and model.credit.loans.months_left[loan] == 24
    for _ in range(2):
        model.credit.service()
    assert loan in model.credit.non_performing()  # npl_after_months = 3


# -- pricing -----------------------------------------------------------------------------------------
def test_green_discount_relending_and_carbon_efficiency_apply_exactly():
    # in-plant recycling off: relending would change which firms adopt a unit in month 1, hence their debt
    model = model_with({"credit.green_discount_bp": 45.0, "recycling.enabled": False})
    rows = model.firms.live
    credit = model.credit
    green = credit.rates(0, rows, "link", 1e6, tenor=60)
    other = credit.rates(0, rows, "working_capital", 1e6, tenor=60)
    np.testing.assert_allclose(other - green, 45.0 / 1e4, atol=1e-12)

    relent = model_with({"credit.green_discount_bp": 45.0, "policies.green_relending.share": 0.6,
                         "policies.green_relending.rate": 0.0175, "recycling.enabled": False})
    saving = 0.6 * (relent.scenario.credit.funding_rate - 0.0175)
    np.testing.assert_allclose(relent.credit.rates(0, rows, "link", 1e6, 60), green - saving, atol=1e-12)
    np.testing.assert_allclose(relent.credit.rates(0, rows, "working_capital", 1e6, 60), other, atol=1e-12)

    ce = model_with({"credit.carbon_efficiency_bp": 100.0, "credit.carbon_efficiency_cap_bp": 30.0})
    firms = ce.firms
    row = rows[:2]
    base = ce.credit.rates(0, row, "link", 1e6, 60)
    firms.emissions[row] = firms.emissions_bau[row] * np.array([0.9, 0.5])  # 10% and 50% below BAU
    np.testing.assert_allclose(ce.credit.rates(0, row, "link", 1e6, 60) - base, [-10e-4, -30e-4], atol=1e-12)


def test_riskier_firms_pay_a_higher_premium():
    model = model_with()
    row = np.array([richest_firm(model)])
    small = model.credit.rates(0, row, "link", 1e5)[0]
    large = model.credit.rates(0, row, "link", 1e10)[0]
    spec = model.scenario.credit
    assert large > small
    assert large - small <= spec.max_premium_bp / 1e4 + 1e-12


def test_sustainability_linked_rate_steps_down_when_met_and_up_when_missed():
    model = model_with({"credit.sustainability_linked": True, "credit.sll_step_down_bp": 50.0,
                        "credit.sll_step_up_bp": 75.0, "credit.sll_target_reduction": 0.03})
    credit, firms, loans = model.credit, model.firms, model.credit.loans
    rows = firms.live[firms.emissions_bau[firms.live] > 0][:2]
    made = [credit.lend(int(r), Offer(0, 2e6, 0.04, 60, 0.0), "abatement") for r in rows]
    wc = credit.lend(int(rows[0]), Offer(0, 2e6, 0.05, 12, 0.0), "working_capital")
    assert loans.sll[made].all() and not loans.sll[wc]
    loans.sll_baseline[made] = 1.0
    loans.start[made] = model.steps - 12  # first anniversary now
    firms.emissions[rows] = firms.emissions_bau[rows] * np.array([0.96, 0.98])  # target 0.97 x BAU
    before = loans.payment_fen[made].copy()
    credit.review_sustainability_links()
    np.testing.assert_allclose(loans.rate[made], [0.04 - 0.0050, 0.04 + 0.0075])
    assert (credit.sll_reviews, credit.sll_met) == (2, 1)
    assert loans.payment_fen[made[0]] < before[0] and loans.payment_fen[made[1]] > before[1]
    assert loans.rate[wc] == 0.05


# -- bank limits --------------------------------------------------------------------------------------
def test_a_bank_at_its_capital_ratio_limit_refuses_new_loans():
    model = model_with({"banks[0].capital": 1e8, "banks[0].min_capital_ratio": 0.1,  # room: about 1e9 of loans
                        "banks[0].max_single_exposure": 10.0})
    row = richest_firm(model)
    credit = model.credit
    project = 1e12  # yuan/month of project cash flow: debt-service cover never binds here
    assert credit.offer(row, 5e8, "link", project) is not None
    other = int(model.firms.live[0])
    credit.lend(other, Offer(0, credit.capital_room(0) - 5e7, 0.05, 60, 0.0), "link")  # room left: 5e7
    assert credit.offer(row, 1e8, "link", project, record=True) is None
    assert credit.refusals["capital"] == 1
    assert credit.offer(row, 4e7, "link", project) is not None


def test_a_bank_refuses_to_lend_one_borrower_more_than_its_exposure_limit():
    model = model_with({"banks[0].max_single_exposure": 0.1})
    row = richest_firm(model)
    credit, equity = model.credit, model.banks[0].cash
    project = 1e12
    assert credit.offer(row, 0.09 * equity, "link", project) is not None
    credit.lend(row, Offer(0, 0.09 * equity, 0.05, 60, 0.0), "link")
    assert credit.exposure(0, row) == pytest.approx(0.09 * equity)
    assert credit.offer(row, 0.02 * equity, "link", project, record=True) is None
    assert credit.refusals["exposure"] == 1
    other = int(model.firms.live[model.firms.live != row][0])
    assert credit.offer(other, 0.02 * equity, "link", project) is not None


def test_with_little_bank_capital_credit_is_rationed_and_the_book_stays_within_the_limit():
    r = ecopark.run("generic", steps=36, seed=2, overrides={"banks[0].capital": 2e6,
                                                            "banks[0].max_single_exposure": 10.0,
                                                            "economy.collection_days": 0})
    # (without the operating cycle: with it, credit-line draws in phase 6 fill the capital room on the
    # bank's equity of that moment, after the month's interest, so the book ends the month at the limit
    # on this month's equity, up to 1% above the previous month's limit this test compares with)
    ts = r.timeseries
    assert ts["loans_rationed"].sum() > 0
    # The capital rule limits new lending: a bank lends (byproduct and abatement phases) against the
    # equity it has before the month's defaults are written off (credit.step, later in the month),
    # so the book after a month with new loans is within the limit on the previous month's equity.
    # A default after lending can leave the book above the new, lower limit (since the calibrated
    # demand volatility, seed 2 has such a month); the bank then lends nothing until it is back within.
    # A credit-line draw (phase 6, for a firm short of its buffer even without the operating cycle) is
    # made against the equity of that moment, after the month's interest: the book then ends the month
    # within the limit on this month's equity (seed 2, month 1, on the refitted generic of 2026-12-05).
    limit_before = (ts["bank_equity"] / (1.0 * 0.105)).shift(1, fill_value=2e6 / 0.105)
    limit_now = ts["bank_equity"] / (1.0 * 0.105)
    lent = ts["loans_approved"] > 0
    assert (ts["loans_outstanding"][lent] <= np.maximum(limit_before, limit_now)[lent] + 1.0).all()
    over = ts["loans_outstanding"].shift(1, fill_value=0.0) > limit_before + 1.0
    assert (ts["loans_approved"][over] == 0).all()


# -- effects in the default scenario (paired seeds) ------------------------------------------------------
#: Green credit's effects are measured under a carbon tax (a fixed price) with the same firms in both arms.
GREEN_TAX = {"recycling.enabled": False, "policies.cap_and_trade.enabled": False, "policies.carbon_tax.enabled": True,
             "economy.entry_rate": 0.0}


def paired_difference(metric, base: dict, treated: dict, seeds=range(10), steps=60):
    diffs = []
    for seed in seeds:
        a = ecopark.run("generic", steps=steps, seed=seed, overrides=base)
        b = ecopark.run("generic", steps=steps, seed=seed, overrides=treated)
        diffs.append(metric(b) - metric(a))
    diffs = np.array(diffs)
    return diffs.mean(axis=0), 1.96 * diffs.std(axis=0, ddof=1) / np.sqrt(len(diffs))


def adoption(r) -> np.ndarray:
    """(links formed, tCO2e abated by technologies over the run)."""
    return np.array([r.metrics["links_formed_total"], r.metrics["total_abated"]])


def test_a_bigger_green_discount_lowers_what_green_investments_cost_firms():
    model = model_with()
    rows = model.firms.live
    cheap = model_with({"credit.green_discount_bp": 200.0})
    phi, phi_cheap = model.credit.capex_factor(rows, "abatement"), cheap.credit.capex_factor(rows, "abatement")
    lendable = model.credit.margin(rows) > 0
    assert (phi_cheap[lendable] < phi[lendable]).all() and (phi_cheap <= 1).all()
    mac, _ = model.abatement.menu(rows)
    mac_cheap, _ = cheap.abatement.menu(rows)
    ok = np.isfinite(mac) & lendable[:, None]
    assert (mac_cheap[ok] < mac[ok]).all()


def test_green_credit_raises_link_adoption_and_does_not_lower_abatement():
    """Green project loans at the default terms vs none (loan_to_value 0), 12 paired seeds x 60
    months, under a carbon tax (the default 80 yuan/t) instead of the cap.

    Under the binding cap the cap fixes the park's emissions, so green credit changes who abates
    and the price rather than how much: measured on the calibrated preset with the cap, 12 seeds,
    links +3.6 +- 3.4, tCO2e abated by technologies -0.37 +- 0.49 Mt, mean carbon price
    -12 +- 15 yuan/t (24 seeds: links +4.5 +- 2.3, abated -0.32 +- 0.43 Mt, price -16.5 +- 10.6).
    A tax fixes the price, so cheaper, available finance shows in the quantity: links +8.3 +- 2.2,
    abated +0.048 +- 0.038 Mt (seeds 12-23: +4.2 +- 1.7, +0.081 +- 0.043 Mt; before the presets'
    calibration +3.4 +- 1.6 and +0.14 +- 0.08 Mt: hurdle rates up to 27% leave fewer abatement steps
    near 80 yuan/t, docs/credit.md). Bargaining friction stays on at its defaults (negotiation off:
    +5.2 +- 3.5 links of about 91 under the cap); without it credit adds +8.5 +- 2.7 links under the
    tax. In-plant recycling is off in both arms: green loans also finance recycling units, which
    makes the abatement difference noisier.

    No entry in either arm: under the exit rule 8-18 of the ~58 firms leave in 60 months, the two
    arms' exits differ, and entrants' sectors are drawn at random on the plots that free up, so with
    entry a cement entrant that installs clinker substitution in one arm is another sector in the
    other (seed 6: -0.32 Mt from two such entrants) and the abatement difference measured entrant
    luck, +0.032 +- 0.056 Mt. The same firms in both arms, seeds 0-11: links +5.3 +- 1.4, abated
    +0.047 +- 0.038 Mt (this test's paired_difference with economy.entry_rate 0)."""
    mean, half = paired_difference(adoption, {**GREEN_TAX, "credit.loan_to_value": 0.0}, GREEN_TAX, seeds=range(12))
    # On the merged, refitted model (2026-12-05) the links effect holds, +5.7 +- 2.9 (24 seeds: +5.3 +- 2.2);
    # the abatement effect is a null, +0.011 +- 0.047 Mt (24 seeds: +0.036 +- 0.037 Mt): what binds is
    # measured in test_green_credit_tips_few_abatement_steps_at_80_yuan_and_raises_abatement_at_120.
    assert mean[0] - half[0] > 0, f"links: difference {mean[0]} +- {half[0]}"
    assert mean[1] + half[1] > 0, f"abatement lowered: {mean[1]} +- {half[1]}"


def _tipped_abatement(seed: int, months: int, taxes: tuple[float, ...]) -> tuple[dict[float, float], float]:
    """In the arm without green loans (loan_to_value 0) under the 80 yuan/t tax, month by month: the
    abatement (tCO2e/month, summed over months) of the covered firms' available steps that green loans
    (loan_to_value 0.7) would bring below each tax t, MAC_with < t <= MAC_without, and the abatement
    the park's technologies delivered over the run."""
    model = ParkModel(ecopark.load_scenario("generic", {**GREEN_TAX, "credit.loan_to_value": 0.0}), seed=seed)
    keys = model.catalogue.sector_keys
    covered = [keys.index(k) for k in CarbonTaxParams().covered_sectors]
    tipped, abated = dict.fromkeys(taxes, 0.0), 0.0
    for _ in range(months):
        model.step()
        rows = model.firms.live[np.isin(model.firms.sector[model.firms.live], covered)]
        without, a = model.abatement.menu(rows)
        spec = model.credit.spec
        model.credit.spec = dataclasses.replace(spec, loan_to_value=0.7)
        try:
            with_loans, _ = model.abatement.menu(rows)
        finally:
            model.credit.spec = spec
        for t in taxes:
            tipped[t] += float(a[np.isfinite(without) & (with_loans < t) & (without >= t)].sum())
        abated += float(model.firms.abated[model.firms.live].sum())
    return tipped, abated


def test_green_credit_tips_few_abatement_steps_at_80_yuan_and_raises_abatement_at_120():
    """What binds for green credit's null on abatement under the 80 yuan/t tax: green loans cut the MAC
    of a firm a bank lends to by 5-30% (capex x phi_f, phi_f about 0.7-0.95), but the covered firms'
    remaining steps sit far from 80 yuan/t (their cheapest mostly 75-900 yuan/t), so the steps green
    loans bring below the tax carry under 2% of what the park's technologies abate (seeds 0-2, 60
    months: 0.96%, 0, 0.58%). Near 120 yuan/t many more steps sit in the band credit bridges, and there
    green credit raises abatement: +0.117 [+0.066, +0.168] Mt over 12 paired seeds (0-11, 60 months)."""
    shares = []
    for seed in range(3):
        tipped, abated = _tipped_abatement(seed, 60, (80.0, 120.0))
        shares.append(tipped[80.0] / abated)
        assert tipped[120.0] > 5 * tipped[80.0] + 10_000  # the band credit bridges is full near 120, empty at 80
    print(f"abatement tipped by green loans at 80 yuan/t / abatement delivered, seeds 0-2: {np.round(shares, 4)}")
    assert max(shares) < 0.02, shares
    at_120 = {**GREEN_TAX, "policies.carbon_tax.rate": 120.0}
    mean, half = paired_difference(adoption, {**at_120, "credit.loan_to_value": 0.0}, at_120, seeds=range(12))
    assert mean[1] - half[1] > 0, f"abatement at 120 yuan/t: {mean[1]} +- {half[1]}"


def test_a_severe_demand_slump_raises_defaults():
    # deep enough to break firms on its own: carbon penalties no longer strand firms (issue 15). Under
    # the exit rule (docs/credit.md) an insolvent firm not worth recapitalising leaves in the month its
    # credit line runs out, so the slump's bad loans are mostly written off at once (defaults) rather
    # than carried for months as non-performing: the NPL ratio's rise is not significant over 8 seeds.
    slump = {"economy.shock_start": 13, "economy.shock_months": 24, "economy.shock_depth": 0.5}
    mean, half = paired_difference(lambda r: np.array([r.metrics["defaults_total"]]), {}, slump,
                                   seeds=range(8), steps=48)
    assert (mean - half > 0).all(), f"difference {mean} +- {half}"


# -- defaults ----------------------------------------------------------------------------------------------
def test_a_defaulting_firms_links_end_and_its_partner_buys_virgin_input():
    model = ParkModel(ecopark.load_scenario("generic", {
        "economy.common_shock_sd": 0.0, "economy.firm_shock_sd": 0.0, "economy.entry_rate": 0.0,
        "policies.platform.enabled": True, "economy.collection_days": 0}), seed=4)  # receivables would repay it
    links = model.byproduct_market.links
    for _ in range(24):
        model.step()
    live = links.live
    link = live[np.argmax(links.delivered[live])]
    supplier, receiver, k = int(links.supplier[link]), int(links.receiver[link]), int(links.stream[link])
    credit = model.credit
    loan = credit.lend(supplier, Offer(0, 1e7, 0.05, 60, 0.0), "link")
    account = int(model.firms.account[supplier])
    model.ledger.transfer("capex", account, model.outside, model.ledger.balance(account))  # cash spent
    # what the firm still owns: the allowances it banked, sold back at exit (exit settlement), which repay
    # the loan before the rest is written off
    *_, sold, price = model.allowance_settlement(np.array([supplier]))
    unpaid = 1e7 - float(sold[0] * price)
    with credit.loans.editing():
        credit.loans.missed[loan] = model.scenario.credit.default_after_months
    bank_before, defaults_before = model.banks[0].cash, credit.defaults
    credit.declare_defaults()
    assert not model.firms.alive[supplier] and credit.defaults == defaults_before + 1
    assert not links.active[link] and END_REASONS[links.end_reason[link]] == "exit"
    owed = credit.loans.borrower[: credit.loans.n] == supplier
    assert (credit.loans.status[: credit.loans.n][owed] == STATUSES.index("defaulted")).all()
    assert credit.loans.written_off[loan] == pytest.approx(unpaid)
    assert credit.loans.recovered[loan] == pytest.approx(model.scenario.credit.recovery_rate * unpaid)
    loss = (credit.loans.written_off[: credit.loans.n] - credit.loans.recovered[: credit.loans.n])[owed].sum()
    assert model.banks[0].cash - bank_before == pytest.approx(-loss, abs=0.01 * owed.sum())
    gain = links.gain_receiver[link]
    others = links.live[(links.receiver[links.live] == receiver) & (links.stream[links.live] == k)]
    paid_before = model.ledger.paid(int(model.firms.account[receiver]), "virgin_input")
    model.step()  # next month: the receiver gets nothing from the defaulted supplier
    assert links.gain_receiver[link] == gain
    firms = model.firms
    assert firms.delivered_in[receiver, k] <= links.quantity[others].sum() + 1e-6
    unmet = firms.needs[receiver, k] - firms.delivered_in[receiver, k]
    assert unmet >= firms.needs[receiver, k] - links.quantity[others].sum() - 1e-6 > 0
    paid = model.ledger.paid(int(model.firms.account[receiver]), "virgin_input") - paid_before
    assert paid >= unmet * model.stream_virgin_price[k] - 0.01  # it buys the input it no longer receives
    assert model.ledger.total() == 0


# -- credit policies and invariants on real runs --------------------------------------------------------
@pytest.fixture(scope="module")
def policy_run():
    """A run with every credit policy, sustainability-linked loans and a slump that causes defaults."""
    return ecopark.run("generic", steps=60, seed=7, overrides={
        "policies.interest_subsidy.rate_bp": 50.0, "policies.green_relending.share": 0.6,
        "policies.green_loan_loss_cover.share": 0.5, "credit.sustainability_linked": True,
        "credit.carbon_efficiency_bp": 100.0, "economy.shock_start": 13, "economy.shock_months": 30,
        "economy.shock_depth": 0.5})


def flow(r, kind: str, payer: str | None = None, payee: str | None = None) -> float:
    ledger = r.ledger
    rows = ledger[ledger["kind"] == kind]
    if payer:
        rows = rows[rows["payer"] == payer]
    if payee:
        rows = rows[rows["payee"] == payee]
    return float(rows["amount_yuan"].sum())


def test_credit_money_flows_balance_on_a_run_with_every_policy(policy_run):
    r = policy_run
    assert (r.timeseries["money_total"] == 0).all()
    loans = r.loans
    assert flow(r, "loan_disbursement") == pytest.approx(loans["principal"].sum(), abs=0.01 * len(loans))
    assert flow(r, "loan_repayment") == pytest.approx(loans["principal_paid"].sum(), abs=0.01 * len(loans))
    # interest received by banks = what firms paid + what government paid
    assert flow(r, "loan_interest") + flow(r, "interest_subsidy") == pytest.approx(
        loans["interest_paid"].sum(), abs=0.01 * len(loans))
    assert flow(r, "interest_subsidy", "government", "bank") > 0
    # every yuan of principal is repaid, written off or still owed
    owed = loans["principal_paid"] + loans["written_off"] + loans["outstanding"]
    assert (owed >= loans["principal"] - 0.01).all()  # capitalised interest adds to what is owed
    # banks owe their funders exactly the funded principal of live loans: the firms' loans and the operator's
    # infrastructure loans (wholly funded; generic's operator builds PV and reclaimed water, issue 26)
    infrastructure = flow(r, "infrastructure_loan") - flow(r, "infrastructure_loan_repayment")
    assert flow(r, "bank_funding") - flow(r, "bank_funding_repayment") == pytest.approx(
        loans["funded"].sum() + infrastructure, abs=0.01 * len(loans))
    # loss cover: share of green losses
    green_loss = (loans["written_off"] - loans["recovered"])[loans["green"]].sum()
    assert flow(r, "loan_loss_cover") == pytest.approx(0.5 * green_loss, abs=0.01 * len(loans))
    assert r.metrics["defaults_total"] > 0
    assert r.metrics["relending_funding_saving"] > 0
    # bank equity: capital + interest (firms' and the operator's), subsidy, recoveries and cover - funding interest
    # + principal repaid - principal repaid to funders (= lent - still funded)
    equity = (2e9 + flow(r, "loan_interest") + flow(r, "interest_subsidy") + flow(r, "loan_recovery")
              + flow(r, "infrastructure_loan_interest")
              + flow(r, "loan_loss_cover") - flow(r, "funding_interest")
              + flow(r, "loan_repayment") - (loans["principal"].sum() - loans["funded"].sum()))
    assert r.metrics["bank_profit"] + 2e9 == pytest.approx(equity, abs=0.01 * len(loans))
    assert (loans["funded"] <= loans["principal"] + 0.005).all()


def test_credit_metrics_agree_with_the_loan_table(policy_run):
    r = policy_run
    live = r.loans[r.loans["status"] == "performing"]
    assert r.timeseries["loans_outstanding"].iloc[-1] == pytest.approx(live["outstanding"].sum())
    assert r.firms["debt"].sum() == pytest.approx(live["outstanding"].sum())
    assert r.timeseries["loans_approved"].sum() == len(r.loans)
    green = live[live["green"]]
    if len(green):
        assert r.timeseries["loan_rate_green"].iloc[-1] == pytest.approx(
            np.average(green["rate"], weights=green["outstanding"]))


@pytest.mark.parametrize(("key", "value"), [
    ("credit.green_discount_bp", -5), ("credit.default_after_months", 2), ("credit.loan_to_value", 1.5),
    ("banks[0].min_capital_ratio", 2), ("policies.green_relending.share", 1.2), ("credit.rate", 0.05),
])
def test_bad_credit_settings_name_the_key(key, value):
    with pytest.raises(ConfigError) as err:
        ecopark.load_scenario("generic", {key: value})
    assert err.value.key.startswith(key.split("[")[0].rsplit(".", 1)[0])
    assert key.rsplit(".", 1)[-1] in str(err.value)
