"""Electricity, green power, water, value added and the export carbon cost (agents/electricity.py,
issue 26)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecopark.metrics.park import _income_share
from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


#: Intermediate inputs firms buy from outside, for value added: the part of variable cost that is not
#: power or water, grid and green power, tap and reclaimed water and their fees, virgin inputs.
INTERMEDIATE_KINDS = ("purchase", "grid_power", "green_power", "green_power_fee", "tap_water", "reclaimed_water",
                      "reclaimed_water_fee", "virgin_input")


def _value_added(model: ParkModel) -> float:
    ledger = model.ledger
    return ledger.flow("sale") - sum(ledger.flow(k) for k in INTERMEDIATE_KINDS)


@step_metric("MWh/month")
def green_power_sold(model: ParkModel) -> float:
    """MWh of green power firms bought from the operator's PV + storage this month."""
    return float(model.firms.green_power[_live(model)].sum())


@step_metric("tCO2/month")
def scope2_emissions(model: ParkModel) -> float:
    """Sum over live firms of grid MWh x grid emission factor this month (scope 2, part of it already
    inside recorded emissions where scope2_in_intensity > 0)."""
    return float(model.firms.scope2[_live(model)].sum())


@run_metric("MWh")
def electricity_use(model: ParkModel) -> float:
    """Electricity the firms used over the run: sum of q_f x cost_factor_f x electricity_intensity_s."""
    return float(model.electricity.totals["use"])


@run_metric("share")
def green_power_share(model: ParkModel) -> float:
    """Green power bought / electricity used over the run (0 if none used)."""
    t = model.electricity.totals
    return float(t["green"] / t["use"]) if t["use"] > 0 else 0.0


@run_metric("tCO2")
def scope2_total(model: ParkModel) -> float:
    """Scope-2 emissions over the run: sum of grid MWh x grid emission factor."""
    return float(model.electricity.totals["scope2"])


@run_metric("yuan")
def value_added(model: ParkModel) -> float:
    """The park's value added over the run: sales - (purchase + grid_power + green_power +
    green_power_fee + tap_water + reclaimed_water + reclaimed_water_fee + virgin_input), the
    intermediate inputs bought (byproduct trades inside the park net out)."""
    return _value_added(model)


@run_metric("MWh/million yuan")
def energy_per_value_added(model: ParkModel) -> float:
    """Electricity use / (value added / 1e6) over the run (0 if value added <= 0)."""
    va = _value_added(model)
    return float(model.electricity.totals["use"] / (va / 1e6)) if va > 0 else 0.0


@run_metric("tCO2e/million yuan", steps=("emissions",))
def emission_intensity_scope1(model: ParkModel) -> float:
    """Emissions without scope 2 / (value added / 1e6) over the run: (E - S2c) / VA, with E the
    recorded emissions (sum of the `emissions` step metric) and S2c the grid-power emissions they
    count (scope2_in_intensity share of scope 2); 0 if value added <= 0."""
    va = _value_added(model)
    t = model.electricity.totals
    direct = max(sum(_over_steps(model, "emissions")) - (t["scope2"] - t["scope2_extra"]), 0.0)
    return float(direct / (va / 1e6)) if va > 0 else 0.0


@run_metric("tCO2e/million yuan", steps=("emissions",))
def emission_intensity_scope12(model: ParkModel) -> float:
    """Emissions with scope 2 / (value added / 1e6) over the run: (E + S2x) / VA, with S2x the
    scope-2 emissions recorded emissions leave out ((1 - scope2_in_intensity) share); 0 if VA <= 0."""
    va = _value_added(model)
    total = sum(_over_steps(model, "emissions")) + model.electricity.totals["scope2_extra"]
    return float(total / (va / 1e6)) if va > 0 else 0.0


@run_metric("share")
def operator_green_power_share(model: ParkModel) -> float:
    """Green power sales and platform fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "green_power")


@run_metric("MW")
def green_power_capacity(model: ParkModel) -> float:
    """MW of distributed PV + storage the operator has built by the end of the run."""
    return float(model.electricity.capacity_mw)


@run_metric("yuan")
def export_carbon_cost_total(model: ParkModel) -> float:
    """Export carbon cost firms paid over the run (ledger kind `export_carbon_cost`)."""
    return model.ledger.flow("export_carbon_cost")


@run_metric("m3")
def water_use(model: ParkModel) -> float:
    """Water the firms used over the run: sum of q_f x cost_factor_f x water_intensity_s."""
    return float(model.water.totals["use"])


@run_metric("share")
def water_reuse_share(model: ParkModel) -> float:
    """Reclaimed water bought from the operator / water used over the run (0 if none used). Not the
    national 'industrial water reuse rate' (92.4%), which counts in-plant recirculation."""
    t = model.water.totals
    return float(t["reclaimed"] / t["use"]) if t["use"] > 0 else 0.0


@run_metric("share")
def operator_water_share(model: ParkModel) -> float:
    """Reclaimed-water sales and fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "reclaimed_water")
