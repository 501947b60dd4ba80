"""In-plant recycling and the resource recycling rate (agents/recycling.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecopark.metrics.park import reuse_rate_mass_total
from ecopark.metrics.registry import _live, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@step_metric("t/month")
def recycled_in_plant_t(model: ParkModel) -> float:
    """Sum over live firms of byproducts recycled in their own plants this month, streams in tonnes."""
    return float(model.firms.recycled[_live(model)][:, model.stream_is_mass].sum())


def _mass_share(model: ParkModel, part: str) -> float:
    mass = model.stream_is_mass
    generated = model.stream_totals["generated"][mass].sum()
    return float(model.stream_totals[part][mass].sum() / generated) if generated > 0 else 0.0


@run_metric("share")
def recycling_rate_in_plant(model: ParkModel) -> float:
    """Recycled in the generating firm's own plant / generated over the run, streams in tonnes."""
    return _mass_share(model, "recycled")


@run_metric("share")
def recycling_rate_sold_outside(model: ParkModel) -> float:
    """Sold to buyers outside the park (disposed units of streams with a salvage value, disposal
    cost < 0: bran and meal to feed traders, scrap to scrap dealers) / generated over the run,
    streams in tonnes."""
    return _mass_share(model, "sold_outside")


@run_metric("share")
def resource_recycling_rate(model: ParkModel) -> float:
    """(delivered through links + recycled in-plant + sold outside) / generated over the run, streams
    in tonnes: reuse_rate_mass_total (cross-firm) + recycling_rate_in_plant +
    recycling_rate_sold_outside; the model's counterpart of DOMAIN's 78.4% resource recycling rate."""
    return reuse_rate_mass_total(model) + recycling_rate_in_plant(model) + recycling_rate_sold_outside(model)


@run_metric("units")
def recycling_units_final(model: ParkModel) -> float:
    """In-plant recycling units in operation at live firms at the end of the run."""
    return float(model.recycling.installed(_live(model)).sum())
