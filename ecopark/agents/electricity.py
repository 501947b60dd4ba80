"""Electricity as a flow: grid power with its scope-2 emissions, and the operator's green-power line.

**Use and bill** (:meth:`Electricity.buy`, in phase 2 after output is set). Firm f of sector s
producing q_f uses u_f = q_f x cost_factor_f x e_s MWh (``electricity_intensity``; a costlier
firm uses proportionally more), which its variable cost already contains at the sector's
``electricity_price`` p_s. Of it, g_f MWh is green power bought from the operator at the green
price p_g and the rest from the grid::

    grid_f  = u_f - g_f                       MWh/month, paid p_s x grid_f to outside (grid_power)
    green   = p_g x g_f                       yuan/month to the operator (green_power)
    fee     = contract_fee if g_f > 0         yuan/month to the operator (green_power_fee)
    purchase = q_f x vc_s x cost_factor_f - p_s x u_f     the rest of variable cost (enterprise.produce)
    scope2_f = grid_f x EF                    tCO2/month of grid power (EF: grid_emission_factor)

A sector whose catalogue emission intensity already counts its grid power
(``scope2_in_intensity`` = c_s > 0: chlor-alkali, aluminium, data centres) has its
business-as-usual emissions lowered by the green power it buys: bau_f -= c_s x g_f x EF
(floored at 0), so the carbon price, intensity targets and the export carbon cost see it.
Emissions with scope 2 add the part of scope 2 recorded emissions leave out, (1 - c_s) x scope2_f.

**The firm's choice.** A MWh of green power is worth to firm f

    v_f = p_s + EF x [c_s x d_f + x_f]                   yuan/MWh

with d_f its domestic carbon price per tonne (``CarbonMarket.cost_per_tonne``) and x_f what a
tonne of its grid emissions costs it under the export carbon cost
(``ExportCarbonCost.value_per_grid_tonne``, 0 without it). It wants w_f = coverable_share x u_f
(what PV with storage can serve) and buys when (v_f - p_g) x w_f > contract_fee. When this
month's PV output G = MW x 730 h x capacity_factor is short, the firms with the highest v_f are
served first.

**The operator's investment** (:meth:`review`, on the infrastructure review months, after
``Infrastructure.step``): agents/operator_supply.py, with capacity in MW of PV + storage, output
730 h x capacity_factor MWh per MW a month and potential potential_mw_per_km2 x potential_scale
x the park's side^2; the build is an infrastructure project whose fees are the green-power sales.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.agents.operator_supply import OperatorSupply
from ecopark.catalogue import load_figures

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: Hours in a month (8,760 / 12).
HOURS_PER_MONTH = 730.0


@dataclass(frozen=True)
class GreenPowerData:
    """The grid factor and distributed PV + storage figures (ecopark/data/green_power.toml)."""

    grid_emission_factor: float  # tCO2/MWh
    capex_per_mw: float  # yuan/MW of PV with its storage
    opex_per_mw: float  # yuan/MW/month
    capacity_factor: float  # share of the year at full output
    lifetime: float  # months
    coverable_share: float  # share of a firm's electricity PV with storage can serve
    potential_mw_per_km2: float  # MW of PV the park's roofs and spare land take per km2


def load_green_power() -> GreenPowerData:
    """The shipped green-power figures, each checked to be a {value, unit, source} table."""
    return load_figures("green_power.toml", GreenPowerData)


class Electricity(OperatorSupply):
    """Every firm's electricity bill and scope 2; the operator's PV + storage and green-power sales."""

    key = "green_power"
    label = "Distributed PV + storage"
    sale_kind = "green_power"
    fee_kind = "green_power_fee"

    def __init__(self, model: ParkModel) -> None:
        data = load_green_power()
        super().__init__(model, model.scenario.operator.green_power, data.capex_per_mw, data.opex_per_mw,
                         HOURS_PER_MONTH * data.capacity_factor, data.lifetime, data.coverable_share)
        self.data = data
        cat = model.catalogue
        self.intensity = cat.sector_array("electricity_intensity")
        self.price = cat.sector_array("electricity_price")
        self.in_share = cat.sector_array("scope2_in_intensity")
        #: run totals: MWh used, MWh green, tCO2 scope 2 (grid power), tCO2 of it outside recorded
        #: emissions, MWh of PV output
        self.totals = {"use": 0.0, "green": 0.0, "scope2": 0.0, "scope2_extra": 0.0, "generated": 0.0}

    @property
    def capacity_mw(self) -> float:
        """MW of PV + storage built."""
        return self.capacity

    @property
    def potential_mw(self) -> float:
        """MW of PV the park can take: potential_mw_per_km2 x potential_scale x side^2."""
        side = self.model.scenario.park.size_km
        return self.data.potential_mw_per_km2 * self.spec.potential_scale * side * side

    def potential(self) -> float:
        """:attr:`potential_mw`."""
        return self.potential_mw

    def value_per_unit(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`value_per_mwh`."""
        return self.value_per_mwh(rows)

    def value_per_mwh(self, rows: np.ndarray) -> np.ndarray:
        """v_f = p_s + EF x (c_s x d_f + x_f) (yuan/MWh, module docstring)."""
        model = self.model
        s = model.firms.sector[rows]
        per_tonne = model.carbon_market.cost_per_tonne(rows) * self.in_share[s]
        export = model.policy("export_carbon_cost")
        if export is not None:
            per_tonne = per_tonne + export.value_per_grid_tonne(rows)
        return self.price[s] + self.data.grid_emission_factor * per_tonne

    def buy(self, rows: np.ndarray, output: np.ndarray) -> np.ndarray:
        """Set this month's electricity, green power and scope 2 of ``rows``, book the bills, lower the
        BAU emissions of power-counting sectors; returns p_s x u_f (yuan), the part of variable cost
        that was power (``enterprise.produce`` books the rest as purchase)."""
        model = self.model
        firms = model.firms
        s = firms.sector[rows]
        use = output * firms.cost_factor[rows] * self.intensity[s]
        self.totals["generated"] += self.supply()
        green = self.sell(rows, use)
        grid = use - green
        model.ledger.transfer("grid_power", firms.account[rows], model.outside, self.price[s] * grid)
        ef = self.data.grid_emission_factor
        firms.emissions_bau[rows] = np.maximum(firms.emissions_bau[rows] - self.in_share[s] * green * ef, 0.0)
        firms.electricity[rows] = use
        firms.green_power[rows] = green
        firms.scope2[rows] = grid * ef
        self.totals["use"] += use.sum()
        self.totals["green"] += green.sum()
        self.totals["scope2"] += grid.sum() * ef
        self.totals["scope2_extra"] += (grid * ef * (1.0 - self.in_share[s])).sum()
        return self.price[s] * use

    def review(self) -> None:
        """On the infrastructure review months: build PV + storage for the unmet willing demand
        (``OperatorSupply.invest`` with this month's electricity use)."""
        self.invest(self.model.firms.electricity[self.model.firms.live])
