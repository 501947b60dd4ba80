"""Firm finance and exits: exits by cause, the credit line, receivables, recapitalisation and the
allowances bought back from exiting firms (markets/credit.py credit line; ParkModel.exit_rule)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@step_metric("firms/month")
def exits_positive_margin(model: ParkModel) -> float:
    """Firms that left the park this month whose expected operating margin
    (``FirmTable.expected_margin``) was positive when they left."""
    return float(model.exits_positive_margin)


@step_metric("firms/month")
def exits_insolvent(model: ParkModel) -> float:
    """Firms that left this month by the exit rule because they were insolvent (cash negative after
    the credit line) and not worth recapitalising."""
    return float(model.exits_insolvent)


@step_metric("firms/month")
def exits_economic(model: ParkModel) -> float:
    """Solvent firms that left this month because their going-concern value was below minus their
    closure cost (expected operating margin negative enough)."""
    return float(model.exits_economic)


@step_metric("draws/month")
def credit_line_draws(model: ParkModel) -> float:
    """Draws on working-capital credit lines this month (``CreditMarket.draw_line``)."""
    return float(model.credit.line_draws)


@step_metric("yuan")
def credit_line_outstanding(model: ParkModel) -> float:
    """Outstanding of all credit-line draws (principal and capitalised interest)."""
    rows = _live(model)
    return float(model.credit.line_used(rows).sum()) if len(rows) else 0.0


@step_metric("yuan")
def receivables_outstanding(model: ParkModel) -> float:
    """Accounts receivable of the firms in the park at the month's end: sum_f R_f, what outside
    customers owe them for output sold and not yet paid (the operating cycle,
    ``economy.collection_days``; agents/enterprise.py ``collect_receivables``)."""
    rows = _live(model)
    return float(model.firms.receivables[rows].sum()) if len(rows) else 0.0


@run_metric("firms", steps=("exits_positive_margin",))
def exits_positive_margin_total(model: ParkModel) -> float:
    """Sum over steps of `exits_positive_margin`."""
    return float(np.sum(_over_steps(model, "exits_positive_margin")))


@run_metric("yuan")
def recapitalisation_total(model: ParkModel) -> float:
    """Cash owners (outside) put into firms over the run (``recapitalisation``: ordered upgrades and
    shortfalls of firms worth keeping)."""
    return model.ledger.flow("recapitalisation")


@run_metric("tCO2e")
def allowances_bought_back_total(model: ParkModel) -> float:
    """Allowances government bought from exiting firms over the run (``ParkModel.settle_allowances``)."""
    return model.allowances_bought_back
