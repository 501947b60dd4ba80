"""The operator as investor and service provider: its income shares by line, shared infrastructure
and its payback, carbon-accounting and energy-management services (agents/operator.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecopark.metrics.park import _income_share
from ecopark.metrics.registry import run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@run_metric("share")
def operator_infrastructure_share(model: ParkModel) -> float:
    """Infrastructure connection and throughput fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "infrastructure")


@run_metric("share")
def operator_services_share(model: ParkModel) -> float:
    """Carbon accounting and energy management fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "services")


@run_metric("share")
def operator_platform_share(model: ParkModel) -> float:
    """Platform fees and link commissions / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "platform")


@run_metric("share")
def operator_pool_share(model: ParkModel) -> float:
    """Carbon-pool sales less payouts / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "pool")


@step_metric("yuan/month")
def infrastructure_fees(model: ParkModel) -> float:
    """Connection and throughput fees firms paid the operator for its infrastructure this month."""
    step = model.steps
    return (model.ledger.flow("infrastructure_connection", step=step)
            + model.ledger.flow("infrastructure_throughput", step=step))


@run_metric("projects")
def infrastructure_built(model: ParkModel) -> float:
    """Pieces of shared infrastructure the operator built over the run."""
    return float(len(model.infrastructure.projects))


@run_metric("years")
def infrastructure_payback_years(model: ParkModel) -> float:
    """Sum of infrastructure capex / (12 x realised mean monthly fees less opex since each was
    built); 0 if nothing was built, 100 if fees do not cover opex (DOMAIN 4: PPP 6.2 years)."""
    return model.infrastructure.payback_years()


@step_metric("firms")
def accounting_subscribers(model: ParkModel) -> float:
    """Firms in the park subscribed to the operator's carbon accounting this month."""
    return float(model.services.subscribers()[0])


@step_metric("firms")
def energy_subscribers(model: ParkModel) -> float:
    """Firms in the park subscribed to the operator's energy management this month."""
    return float(model.services.subscribers()[1])


@run_metric("yuan")
def services_net_saving(model: ParkModel) -> float:
    """Subscribers' saving less fees over the run: sum over subscriber-months of (mrv_cost -
    accounting fee) and (energy_saving x the month's variable cost before the service, valued at
    the previous month's output - energy_fee)."""
    return model.services.net_saving
