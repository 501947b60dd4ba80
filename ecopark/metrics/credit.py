"""Credit: loans outstanding, rates, approvals and refusals, defaults, NPL ratios, the banks' equity
and profit, credit policies' cost, and secured lending (markets/credit.py,
markets/secured_lending.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.markets.credit import COLLATERAL_KINDS
from ecopark.metrics.registry import _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


def _outstanding(model: ParkModel, green: bool | None = None, npl: bool = False) -> float:
    """Outstanding principal (yuan) of live loans, green or other (None: all), optionally only NPLs."""
    credit = model.credit
    loans = credit.loans
    live = credit.non_performing() if npl else loans.live
    if green is not None:
        live = live[loans.green[live] == green]
    return float(loans.outstanding_fen[live].sum() / 100)


def _mean_rate(model: ParkModel, green: bool) -> float:
    """Mean rate in force of the live loans, green or other, weighted by their outstanding principal (0 if
    none): np.average's own operations (the products and the weights summed in float64) without its checks."""
    loans = model.credit.loans
    live = loans.live
    live = live[loans.green[live] == green]
    weight = loans.outstanding_fen[live]
    return float((loans.rate[live] * weight).sum() / weight.sum(dtype=np.float64)) if weight.sum() > 0 else 0.0


@step_metric("yuan")
def loans_outstanding(model: ParkModel) -> float:
    """Principal owed to banks at the end of the month, all live loans."""
    return _outstanding(model)


@step_metric("share")
def green_loan_share(model: ParkModel) -> float:
    """Green (link and abatement capex) loans outstanding / all loans outstanding (0 if none)."""
    total = _outstanding(model)
    return _outstanding(model, green=True) / total if total > 0 else 0.0


@step_metric("1/year")
def loan_rate_green(model: ParkModel) -> float:
    """Mean annual rate in force on green loans, weighted by outstanding principal (0 if none)."""
    return _mean_rate(model, True)


@step_metric("1/year")
def loan_rate_other(model: ParkModel) -> float:
    """Mean annual rate in force on working-capital loans, weighted by outstanding (0 if none)."""
    return _mean_rate(model, False)


@step_metric("loans/month")
def loans_approved(model: ParkModel) -> float:
    """Loans made this month (an application some bank approved and the firm took)."""
    return float(model.credit.approvals)


@step_metric("applications/month")
def loans_refused(model: ParkModel) -> float:
    """Loan applications this month that every bank refused."""
    return float(model.credit.refused)


@step_metric("applications/month")
def loans_rationed(model: ParkModel) -> float:
    """Refused applications in which a bank refused for lack of capital (credit rationing)."""
    return float(model.credit.refusals["capital"])


@step_metric("firms/month")
def defaults(model: ParkModel) -> float:
    """Firms that left the park this month owing a bank (their loans written off)."""
    return float(model.credit.defaults)


@step_metric("share")
def npl_ratio(model: ParkModel) -> float:
    """Outstanding of loans with >= npl_after_months consecutive missed instalments / outstanding
    of all loans (0 if none)."""
    total = _outstanding(model)
    return _outstanding(model, npl=True) / total if total > 0 else 0.0


@step_metric("share")
def npl_ratio_green(model: ParkModel) -> float:
    """Outstanding of green loans with >= npl_after_months consecutive missed instalments /
    outstanding of green loans (0 if none)."""
    total = _outstanding(model, green=True)
    return _outstanding(model, green=True, npl=True) / total if total > 0 else 0.0


@step_metric("share")
def npl_ratio_other(model: ParkModel) -> float:
    """The same as `npl_ratio_green` for working-capital loans."""
    total = _outstanding(model, green=False)
    return _outstanding(model, green=False, npl=True) / total if total > 0 else 0.0


@step_metric("yuan")
def bank_equity(model: ParkModel) -> float:
    """Sum of banks' ledger balances: capital plus retained interest margin less losses."""
    return float(sum(bank.cash for bank in model.banks))


@run_metric("yuan")
def loans_disbursed(model: ParkModel) -> float:
    """Principal lent over the run (ledger kind `loan_disbursement`)."""
    return model.ledger.flow("loan_disbursement")


@run_metric("share")
def green_share_disbursed(model: ParkModel) -> float:
    """Green principal lent / all principal lent over the run (0 if none)."""
    loans = model.credit.loans
    total = loans.principal[: loans.n].sum()
    return float(loans.principal[: loans.n][loans.green[: loans.n]].sum() / total) if total > 0 else 0.0


@run_metric("firms", steps=("defaults",))
def defaults_total(model: ParkModel) -> float:
    """Firms that defaulted over the run."""
    return float(sum(_over_steps(model, "defaults")))


def _default_rate(model: ParkModel, green: bool) -> float:
    loans = model.credit.loans
    mask = loans.green[: loans.n] == green
    lent = loans.principal[: loans.n][mask].sum()
    return float(loans.principal_written_off[: loans.n][mask].sum() / lent) if lent > 0 else 0.0


@run_metric("share")
def loss_rate_green(model: ParkModel) -> float:
    """Green principal written off / green principal lent over the run (0 if none lent): the principal
    still unpaid at default, capitalised interest excluded, so it lies in [0, 1]."""
    return _default_rate(model, True)


@run_metric("share")
def loss_rate_other(model: ParkModel) -> float:
    """Working-capital principal written off / working-capital principal lent (0 if none lent): the
    principal still unpaid at default, capitalised interest excluded, so it lies in [0, 1]."""
    return _default_rate(model, False)


@run_metric("share", steps=("npl_ratio",))
def npl_ratio_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio`."""
    return float(np.mean(_over_steps(model, "npl_ratio")))


@run_metric("share", steps=("npl_ratio_green",))
def npl_ratio_green_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio_green`."""
    return float(np.mean(_over_steps(model, "npl_ratio_green")))


@run_metric("share", steps=("npl_ratio_other",))
def npl_ratio_other_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio_other`."""
    return float(np.mean(_over_steps(model, "npl_ratio_other")))


@run_metric("yuan")
def bank_profit(model: ParkModel) -> float:
    """Banks' equity at the end minus their starting capital: interest and subsidies received
    + recoveries and loss cover - funding interest - principal written off."""
    return float(sum(bank.cash - bank.spec.capital for bank in model.banks))


@run_metric("yuan")
def credit_policy_cost(model: ParkModel) -> float:
    """Government's payments for credit policies: `interest_subsidy` + `loan_loss_cover`."""
    return model.ledger.flow("interest_subsidy") + model.ledger.flow("loan_loss_cover")


@run_metric("share")
def sll_target_met_share(model: ParkModel) -> float:
    """Sustainability-linked anniversaries at which the borrower met its intensity target /
    all such anniversaries over the run (0 if none)."""
    credit = model.credit
    return credit.sll_met / credit.sll_reviews if credit.sll_reviews else 0.0


@run_metric("yuan")
def relending_funding_saving(model: ParkModel) -> float:
    """Interest banks saved by central-bank relending: sum over months of relent principal x
    (funding_rate - relending rate) / 12 (the implicit cost of green_relending; not a ledger flow)."""
    return model.credit.funding_saving


# -- secured lending (markets/secured_lending.py) and NPL by loan kind --
@step_metric("yuan")
def secured_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans with collateral pledged (warehouse receipts or allowances)."""
    return model.secured_lending.outstanding()


@step_metric("yuan")
def receipt_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans secured by digital warehouse receipts."""
    return model.secured_lending.outstanding(COLLATERAL_KINDS.index("warehouse_receipt"))


@step_metric("yuan")
def carbon_pledge_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans secured by pledged allowances."""
    return model.secured_lending.outstanding(COLLATERAL_KINDS.index("carbon_allowance"))


@step_metric("tCO2e")
def allowances_pledged(model: ParkModel) -> float:
    """Allowances in the pledge escrow: = sum of the units pledged to live carbon-pledge loans."""
    return model.secured_lending.allowances_pledged()


@step_metric("loans/month")
def margin_calls(model: ParkModel) -> float:
    """Secured loans called this month: outstanding > units x price x (1 - haircut)."""
    return float(model.secured_lending.calls)


@step_metric("yuan")
def loans_outstanding_green(model: ParkModel) -> float:
    """Outstanding of live green (link and abatement capex) loans."""
    return _outstanding(model, green=True)


@step_metric("yuan")
def loans_outstanding_other(model: ParkModel) -> float:
    """Outstanding of live ordinary (working-capital: standard, secured, risk-priced) loans."""
    return _outstanding(model, green=False)


@step_metric("yuan")
def npl_outstanding_green(model: ParkModel) -> float:
    """Outstanding of green loans with >= npl_after_months consecutive missed instalments."""
    return _outstanding(model, green=True, npl=True)


@step_metric("yuan")
def npl_outstanding_other(model: ParkModel) -> float:
    """Outstanding of ordinary loans with >= npl_after_months consecutive missed instalments."""
    return _outstanding(model, green=False, npl=True)


@run_metric("loans", steps=("margin_calls",))
def margin_calls_total(model: ParkModel) -> float:
    """Sum over steps of `margin_calls`."""
    return float(sum(_over_steps(model, "margin_calls")))


@run_metric("yuan")
def collateral_sold_total(model: ParkModel) -> float:
    """Proceeds of pledged collateral banks sold over the run (ledger kind `collateral_sale`)."""
    return model.ledger.flow("collateral_sale")


@run_metric("yuan")
def risk_priced_disbursed(model: ParkModel) -> float:
    """Principal lent unsecured to weak firms at a risk premium over the run."""
    loans = model.credit.loans
    return float(loans.principal[: loans.n][loans.risk_priced[: loans.n]].sum())


@run_metric("share", steps=("npl_outstanding_green", "loans_outstanding_green"))
def npl_ratio_green_pooled(model: ParkModel) -> float:
    """Balance-weighted green NPL ratio over the run, as a bank reports it: sum over steps of
    `npl_outstanding_green` / sum over steps of `loans_outstanding_green` (0 if none)."""
    total = sum(_over_steps(model, "loans_outstanding_green"))
    return float(sum(_over_steps(model, "npl_outstanding_green")) / total) if total > 0 else 0.0


@run_metric("share", steps=("npl_outstanding_other", "loans_outstanding_other"))
def npl_ratio_other_pooled(model: ParkModel) -> float:
    """The same as `npl_ratio_green_pooled` for ordinary loans: sum over steps of
    `npl_outstanding_other` / sum over steps of `loans_outstanding_other` (0 if none)."""
    total = sum(_over_steps(model, "loans_outstanding_other"))
    return float(sum(_over_steps(model, "npl_outstanding_other")) / total) if total > 0 else 0.0
