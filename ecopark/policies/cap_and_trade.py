"""Cap-and-trade: an emission cap for covered sectors, allowances allocated and traded.

The mechanism lives in ``ecopark/markets/carbon.py``; this module holds its parameters.
Each compliance year (12 steps) the cap is

    cap_y = cap_start * (1 - cap_decline)^y * (covered BAU emissions at normal output, 12 months)

of which ``new_entrant_reserve`` is set aside for firms entering during the year,
``free_share`` of the rest is allocated free by the ``allocation`` method
(``markets/allocation.py``: grandfathered, benchmark x expected output, or output-based with
an ex-post true-up) and the remainder is auctioned by government in the year's sessions at
no less than ``reserve_price``. With ``true_up_session`` a last session is held in month 12,
before surrender. At year end each covered firm surrenders allowances for its emissions;
each tonne short costs ``penalty``. Unused allowances are banked if ``banking`` is on, else
they expire.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.catalogue import load_catalogue
from ecopark.ledger import MAX_YUAN_PER_UNIT
from ecopark.markets.allocation import ALLOCATION_METHODS
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import param


@dataclass(frozen=True)
class CapAndTradeParams(PolicyParams):
    covered_sectors: list[str] = param(["refining", "fine_chemicals", "chlor_alkali", "aluminium", "copper",
                                        "building_materials"], names="sectors",
                                       doc="sectors under the cap (DOMAIN 4: power, cement, aluminium, chemicals)")
    cap_start: float = param(0.97, lo=0, hi=2, doc="first year's cap as a share of covered BAU emissions")
    cap_decline: float = param(0.02, lo=0, hi=1, unit="1/year", doc="annual decline of the cap")
    free_share: float = param(0.9, lo=0, hi=1, doc="share of the cap allocated free by benchmark")
    reserve_price: float = param(40.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                 doc="lowest price at which government auctions")
    penalty: float = param(600.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                           doc="charge per tonne not covered at compliance")
    banking: bool = param(True, doc="unused allowances carry over to the next year")
    offset_limit: float = param(0.05, lo=0, hi=1, doc="offset credits usable, as a share of covered emissions")
    session_months: int = param(3, lo=1, hi=12, values=(1, 2, 3, 4, 6, 12), unit="months",
                                doc="months between call-auction sessions (a divisor of 12)")
    initial_price: float = param(60.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                 doc="price firms expect before the first session")
    expectation_weight: float = param(0.5, lo=0, hi=1, doc="adaptive expectations: E' = E + w * (P - E)")
    external_price: float | None = param(None, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                         doc="price of a linked external market (omit: no link)")
    external_growth: float = param(0.0, lo=-0.5, hi=1, unit="1/year", doc="annual growth of the external price")
    allocation: str = param("benchmark", choices=ALLOCATION_METHODS,
                            doc="free allocation: grandfathered (last year's emissions), benchmark (intensity x "
                                "expected output, ex ante), output_based (intensity x actual output, ex-post true-up)")
    new_entrant_reserve: float = param(0.05, lo=0, hi=1,
                                       doc="share of the cap set aside to allocate firms entering during the year")
    true_up_session: bool = param(True, doc="a call-auction session in month 12, before surrender")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_names(f"{path}.covered_sectors", self.covered_sectors, load_catalogue().sector_keys, "sector")


@register
class CapAndTrade(Policy):
    """Parameters of the emission trading system run by ``CarbonMarket``."""

    name = "cap_and_trade"
    Params = CapAndTradeParams
