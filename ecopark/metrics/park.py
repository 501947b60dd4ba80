"""Park-wide outcomes: firms, output, emissions, byproduct mass, the government's fiscal flows, the
ledger's money invariant, and the operator's income by line of business (read by the operator's
share metrics in ``exchange``, ``operator`` and ``energy``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@step_metric("firms")
def firms_active(model: ParkModel) -> float:
    """Number of firms in the park at the end of the month."""
    return float(len(_live(model)))


@step_metric("share")
def mean_utilisation(model: ParkModel) -> float:
    """Mean over live firms of output / capacity this month."""
    rows = _live(model)
    return float(model.firms.utilisation[rows].mean()) if len(rows) else 0.0


@step_metric("yuan/month")
def sales(model: ParkModel) -> float:
    """Sum of firms' sales revenue this month (ledger kind `sale`)."""
    return model.ledger.flow("sale", step=model.steps)


@step_metric("tCO2e/month")
def emissions(model: ParkModel) -> float:
    """Sum over live firms of emissions this month."""
    return float(model.firms.emissions[_live(model)].sum())


@step_metric("tCO2e/month")
def emissions_bau(model: ParkModel) -> float:
    """Sum over live firms of business-as-usual emissions this month: output x sector intensity,
    as if there were no links and no abatement (less the green power's grid emissions in sectors
    whose intensity counts their power, agents/electricity.py)."""
    return float(model.firms.emissions_bau[_live(model)].sum())


@step_metric("t/month")
def byproduct_generated_t(model: ParkModel) -> float:
    """Sum of byproducts generated this month over streams measured in tonnes."""
    return float(model.firms.generated[_live(model)][:, model.stream_is_mass].sum())


@step_metric("t/month")
def byproduct_disposed_t(model: ParkModel) -> float:
    """Sum of byproducts disposed of outside the park this month over streams in tonnes."""
    return float(model.firms.disposed[_live(model)][:, model.stream_is_mass].sum())


@step_metric("share")
def reuse_rate_mass(model: ParkModel) -> float:
    """Delivered through links / generated, this month, over streams in tonnes (0 if none generated)."""
    rows = _live(model)
    generated = model.firms.generated[rows][:, model.stream_is_mass].sum()
    delivered = model.firms.delivered_out[rows][:, model.stream_is_mass].sum()
    return float(delivered / generated) if generated > 0 else 0.0


@step_metric("yuan/month")
def disposal_paid(model: ParkModel) -> float:
    """Firms' payments to outside disposal contractors this month (ledger kind `disposal`)."""
    return model.ledger.flow("disposal", step=model.steps)


@step_metric("yuan/month")
def landfill_tax_revenue(model: ParkModel) -> float:
    """Landfill tax collected by government this month (ledger kind `landfill_tax`)."""
    return model.ledger.flow("landfill_tax", step=model.steps)


@step_metric("yuan/month")
def fiscal_spending(model: ParkModel) -> float:
    """Everything government paid out this month (all kinds: subsidies, top-ups, compensation)."""
    return sum(model.ledger.flows_by_kind("government", step=model.steps).tolist())


@step_metric("yuan")
def government_balance(model: ParkModel) -> float:
    """Government's ledger balance: cumulative taxes and revenues minus subsidies paid."""
    return model.ledger.balance(model.government.account)


@step_metric("yuan")
def firm_cash(model: ParkModel) -> float:
    """Sum of live firms' cash (ledger balances)."""
    return float(model.firm_cash(_live(model)).sum())


@step_metric("firms/month")
def exits(model: ParkModel) -> float:
    """Firms that left the park this month."""
    return float(model.exits_this_step)


@step_metric("firms/month")
def entries(model: ParkModel) -> float:
    """Firms that entered a vacant plot this month."""
    return float(model.entries_this_step)


@step_metric("fen")
def money_total(model: ParkModel) -> float:
    """Sum of all ledger balances in fen (0.01 yuan): always exactly 0 (an invariant)."""
    return float(model.ledger.total())


# -- per run -------------------------------------------------------------------------------
@run_metric("yuan")
def total_sales(model: ParkModel) -> float:
    """Sum over the run of firms' sales (ledger kind `sale`)."""
    return model.ledger.flow("sale")


@run_metric("tCO2e", steps=("emissions",))
def total_emissions(model: ParkModel) -> float:
    """Sum over steps of `emissions`."""
    return float(sum(_over_steps(model, "emissions")))


@run_metric("tCO2e", steps=("emissions_bau",))
def total_emissions_bau(model: ParkModel) -> float:
    """Sum over steps of `emissions_bau`."""
    return float(sum(_over_steps(model, "emissions_bau")))


@run_metric("tCO2e", steps=("emissions", "emissions_bau"))
def emissions_avoided(model: ParkModel) -> float:
    """total_emissions_bau - total_emissions: emissions avoided by links and abatement."""
    return total_emissions_bau(model) - total_emissions(model)


@run_metric("share")
def reuse_rate_mass_total(model: ParkModel) -> float:
    """Delivered / generated over the whole run, over streams in tonnes."""
    mass = model.stream_is_mass
    generated = model.stream_totals["generated"][mass].sum()
    return float(model.stream_totals["delivered"][mass].sum() / generated) if generated > 0 else 0.0


@run_metric("yuan")
def landfill_tax_total(model: ParkModel) -> float:
    """Landfill tax collected over the run."""
    return model.ledger.flow("landfill_tax")


@run_metric("yuan")
def subsidies_paid(model: ParkModel) -> float:
    """All payments from government to other parties over the run (every subsidy kind)."""
    return sum(model.ledger.flow(k, "government") for k in model.ledger.kinds)


@run_metric("yuan")
def fiscal_cost(model: ParkModel) -> float:
    """-(government balance): subsidies paid minus taxes and revenues collected, net."""
    return -model.ledger.balance(model.government.account)


#: What the operator receives that is financing, not revenue.
OPERATOR_FINANCING = ("equity", "capex_subsidy", "ppp_investment", "infrastructure_loan")


@run_metric("yuan")
def operator_revenue(model: ParkModel) -> float:
    """Everything the operator received over the run except financing (starting equity, capex
    subsidy, PPP investment, infrastructure loans), net of what it passed straight on: carbon-pool
    sales less the payouts to contributing firms (it keeps the pool commission)."""
    received = sum(model.ledger.flow(k, None, "operator") for k in model.ledger.kinds if k not in OPERATOR_FINANCING)
    return received - model.ledger.flow("carbon_pool_payout", "operator", None)


@run_metric("firms")
def firms_final(model: ParkModel) -> float:
    """Firms in the park at the end of the run."""
    return float(len(_live(model)))


@run_metric("firms", steps=("exits",))
def total_exits(model: ParkModel) -> float:
    """Firms that exited over the run."""
    return float(sum(_over_steps(model, "exits")))


@run_metric("firms", steps=("entries",))
def total_entries(model: ParkModel) -> float:
    """Firms that entered over the run."""
    return float(sum(_over_steps(model, "entries")))


@run_metric("share", steps=("mean_utilisation",))
def mean_utilisation_run(model: ParkModel) -> float:
    """Mean over steps of `mean_utilisation`."""
    values = _over_steps(model, "mean_utilisation")
    return float(np.mean(values)) if values else 0.0


#: The operator's income by line of business (ledger kinds received); the pool line is net.
OPERATOR_INCOME = {
    "rent": ("rent",),
    "infrastructure": ("infrastructure_connection", "infrastructure_throughput"),
    "services": ("carbon_accounting_fee", "energy_management_fee"),
    "platform": ("platform_fee", "operator_commission"),
    "green_power": ("green_power", "green_power_fee"),
    "reclaimed_water": ("reclaimed_water", "reclaimed_water_fee"),
}


def operator_income(model: ParkModel) -> dict[str, float]:
    """The operator's income over the run by line (yuan): the OPERATOR_INCOME kinds received, and
    ``pool`` = carbon-pool sales - payouts to contributors (its commission)."""
    ledger = model.ledger
    out = {line: sum(ledger.flow(k, None, "operator") for k in kinds) for line, kinds in OPERATOR_INCOME.items()}
    out["pool"] = ledger.flow("allowance_sale", None, "operator") - ledger.flow("carbon_pool_payout", "operator")
    return out


def _income_share(model: ParkModel, line: str) -> float:
    """max(I_line, 0) / sum over lines of max(I, 0), in [0, 1]: a line that lost money over the run
    (carbon-pool payouts above its sales) counts as no income, and float noise cannot leave [0, 1]."""
    income = {k: max(float(v), 0.0) for k, v in operator_income(model).items()}
    total = sum(income.values())
    return min(income[line] / total, 1.0) if total > 0 else 0.0
