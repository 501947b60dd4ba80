"""Carbon tax: covered firms pay ``rate`` per tCO2e emitted each month (instead of a cap)."""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.catalogue import load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import param


@dataclass(frozen=True)
class CarbonTaxParams(PolicyParams):
    rate: float = param(80.0, lo=0, hi=100000, unit="yuan/tCO2e", doc="tax per tonne emitted")
    covered_sectors: list[str] = param(["refining", "fine_chemicals", "chlor_alkali", "aluminium", "copper",
                                        "building_materials"], names="sectors", doc="sectors that pay the tax")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_names(f"{path}.covered_sectors", self.covered_sectors, load_catalogue().sector_keys, "sector")


@register
class CarbonTax(Policy):
    """tax_f = rate * emissions_f each month for firms of covered sectors, paid to government."""

    name = "carbon_tax"
    Params = CarbonTaxParams
