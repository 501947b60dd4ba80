"""Water as a flow and the operator's reclaimed water (issue 26 item 3).

Firm f of sector s producing q_f uses W_f = q_f x cost_factor_f x w_s m3 of water
(``water_intensity``), which its variable cost already contains at the sector's ``water_price``
p_s. Of it, r_f m3 is reclaimed water bought from the operator at its price p_r; the rest is
fresh (tap) water::

    tap_water_f       = p_s x (W_f - r_f)     yuan/month, firm -> outside
    reclaimed_water_f = p_r x r_f             yuan/month, firm -> operator (+ contract_fee if r_f > 0)
    purchase_f        = q_f x vc_s x cost_factor_f - power bill - p_s x W_f   (enterprise.produce)

A firm values a m3 of reclaimed water at its tap price (v_f = p_s) and wants
coverable_share x W_f (the uses reclaimed quality can serve); the choice, rationing and the
operator's investment are those of agents/operator_supply.py, with capacity in m3/day, output
30.4 m3 a month per m3/day, opex opex_per_m3 on that output, and potential return_share x the
park's water use this month (the wastewater the plant can treat), in m3/day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.agents.operator_supply import OperatorSupply
from ecopark.catalogue import load_figures

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: Days in a month (365 / 12).
DAYS_PER_MONTH = 365.0 / 12.0


@dataclass(frozen=True)
class WaterData:
    """The reclaimed-water plant's figures (ecopark/data/water.toml)."""

    capex_per_m3_day: float  # yuan per m3/day of capacity
    opex_per_m3: float  # yuan/m3 treated
    lifetime: float  # months
    coverable_share: float  # share of a firm's water use reclaimed water can replace
    return_share: float  # share of the park's water use that returns as treatable wastewater


def load_water() -> WaterData:
    """The shipped reclaimed-water figures, each checked to be a {value, unit, source} table."""
    return load_figures("water.toml", WaterData)


class ReclaimedWater(OperatorSupply):
    """Every firm's water bill; the operator's reclaimed-water plant and its sales."""

    key = "reclaimed_water"
    label = "Reclaimed-water plant and reuse main"
    sale_kind = "reclaimed_water"
    fee_kind = "reclaimed_water_fee"

    def __init__(self, model: ParkModel) -> None:
        data = load_water()
        super().__init__(model, model.scenario.operator.reclaimed_water, data.capex_per_m3_day,
                         data.opex_per_m3 * DAYS_PER_MONTH, DAYS_PER_MONTH, data.lifetime, data.coverable_share)
        self.data = data
        self.intensity = model.catalogue.sector_array("water_intensity")
        self.price = model.catalogue.sector_array("water_price")
        #: run totals, m3: water used, reclaimed water bought
        self.totals = {"use": 0.0, "reclaimed": 0.0}

    def potential(self) -> float:
        """return_share x the live firms' water use this month, in m3/day."""
        firms = self.model.firms
        return self.data.return_share * float(firms.water[firms.live].sum()) / DAYS_PER_MONTH

    def value_per_unit(self, rows: np.ndarray) -> np.ndarray:
        """v_f = p_s, the tap water it replaces (yuan/m3)."""
        return self.price[self.model.firms.sector[rows]]

    def buy(self, rows: np.ndarray, output: np.ndarray) -> np.ndarray:
        """Set this month's water use and reclaimed water of ``rows`` and book the bills; returns
        p_s x W_f (yuan), the part of variable cost that was water."""
        model = self.model
        firms = model.firms
        s = firms.sector[rows]
        use = output * firms.cost_factor[rows] * self.intensity[s]
        reclaimed = self.sell(rows, use)
        model.ledger.transfer("tap_water", firms.account[rows], model.outside, self.price[s] * (use - reclaimed))
        firms.water[rows] = use
        firms.reclaimed_water[rows] = reclaimed
        self.totals["use"] += use.sum()
        self.totals["reclaimed"] += reclaimed.sum()
        return self.price[s] * use

    def review(self) -> None:
        """On the infrastructure review months: build reclaimed-water capacity for the unmet willing
        demand (``OperatorSupply.invest`` with this month's water use)."""
        self.invest(self.model.firms.water[self.model.firms.live])
