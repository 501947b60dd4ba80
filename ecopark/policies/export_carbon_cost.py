"""Export carbon cost (EU CBAM-like): the exported share of a sector's output pays an external
carbon price on its embedded emissions, net of the carbon price paid at home.

For firm f of sector s in month t, with export share x_s (``export_share``), external price
P_ext (``price``), the domestic carbon price it pays per tonne d_f (carbon tax rate if taxed,
plus the expected allowance price if under the cap: ``CarbonMarket.cost_per_tonne``), recorded
emissions e_f (markets/emissions.py) and the grid-power emissions its recorded emissions leave
out s2_f = grid_f x EF x (1 - scope2_in_intensity_s) (agents/electricity.py)::

    embedded_f = x_s x (e_f + [scope2] x s2_f)                tCO2e/month
    charge_f   = max(P_ext - d_f, 0) x embedded_f             yuan/month, firm -> outside

(the EU's CBAM, definitive from 2026, charges the embedded emissions of imported aluminium,
cement, steel, fertilisers and hydrogen at the EU allowance price, less a carbon price paid
in the country of origin; DOMAIN.md / issue 26). The charge is a cost per exported unit, so it
enters the firm's carbon cost per unit in ``agents/pricing.py`` (:meth:`cost_per_unit`) and the
value a firm puts on a MWh of green power (agents/electricity.py: :meth:`value_per_grid_tonne`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.catalogue import load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_keys, register
from ecopark.schema import param

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@dataclass(frozen=True)
class ExportCarbonCostParams(PolicyParams):
    price: float = param(600.0, lo=0, hi=100000, unit="yuan/tCO2e",
                         doc="external carbon price on embedded emissions (assumption: EU allowances about "
                             "80 EUR/t at 7.5 yuan/EUR)")
    export_share: dict[str, float] = param({"aluminium": 0.1, "building_materials": 0.02}, lo=0, hi=1,
                                           unit="share of output",
                                           doc="share of each named sector's output exported to the charging "
                                               "market (assumption: about a tenth of aluminium, little cement)")
    scope2: bool = param(True, doc="the charge covers the grid-power emissions recorded emissions leave out")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_keys(f"{path}.export_share", self.export_share, load_catalogue().sector_keys, "sector")


@register
class ExportCarbonCost(Policy):
    """charge_f = max(price - d_f, 0) x export_share_s x (e_f + [scope2] s2_f), firm -> outside (module docstring)."""

    name = "export_carbon_cost"
    Params = ExportCarbonCostParams

    def __init__(self, params: ExportCarbonCostParams, model: ParkModel) -> None:
        super().__init__(params, model)
        keys = model.catalogue.sector_keys
        self.share = np.array([params.export_share.get(k, 0.0) for k in keys])
        self.paid_by_sector = np.zeros(len(keys))  # yuan over the run

    def rate(self, rows: np.ndarray) -> np.ndarray:
        """max(P_ext - d_f, 0) x x_s: yuan per tonne of the firm's emissions (all of its output)."""
        model = self.model
        domestic = model.carbon_market.cost_per_tonne(rows)
        return np.maximum(self.params.price - domestic, 0.0) * self.share[model.firms.sector[rows]]

    def value_per_grid_tonne(self, rows: np.ndarray) -> np.ndarray:
        """What a tonne of the firm's grid-power emissions costs it here (yuan/tCO2): rate_f x
        (scope2_in_intensity_s + [scope2] (1 - scope2_in_intensity_s))."""
        s = self.model.firms.sector[rows]
        counted = self.model.electricity.in_share[s]
        return self.rate(rows) * (counted + (1.0 - counted) * float(self.params.scope2))

    def cost_per_unit(self, rows: np.ndarray) -> np.ndarray:
        """rate_f x (intensity_s + [scope2] e_s x EF x (1 - scope2_in_intensity_s)): yuan per unit of
        output at business-as-usual emissions and all power from the grid."""
        model = self.model
        s = model.firms.sector[rows]
        el = model.electricity
        extra = el.intensity[s] * el.data.grid_emission_factor * (1.0 - el.in_share[s])
        return self.rate(rows) * (model.sector_intensity[s] + float(self.params.scope2) * extra)

    def regulate(self) -> None:
        """Charge each firm of an exporting sector on its month's embedded emissions."""
        model = self.model
        firms = model.firms
        rows = firms.live
        s = firms.sector[rows]
        extra = firms.scope2[rows] * (1.0 - model.electricity.in_share[s])
        charge = self.rate(rows) * (firms.emissions[rows] + float(self.params.scope2) * extra)
        model.ledger.transfer("export_carbon_cost", firms.account[rows], model.outside, charge)
        np.add.at(self.paid_by_sector, s, charge)
