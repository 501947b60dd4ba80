"""Cap-and-trade: an emission cap for covered sectors, allowances allocated and traded.

The mechanism lives in ``ecopark/markets/carbon.py``; this module holds its parameters.
Each compliance year (12 steps) the cap is

    cap_y = cap_start * (1 - cap_decline)^y * (covered BAU emissions at normal output, 12 months)

(or ``cap_path[y]`` x the same BAU, :func:`cap_share`)
of which ``new_entrant_reserve`` is set aside for firms entering during the year,
``free_share`` of the rest is allocated free by the ``allocation`` method
(``markets/allocation.py``: grandfathered, benchmark x expected output, or output-based with
an ex-post true-up) and the remainder is auctioned by government in the year's sessions at
no less than ``reserve_price``. With ``true_up_session`` a last session is held in month 12,
before surrender. At year end each covered firm surrenders allowances for its emissions;
each tonne short costs ``penalty``. Unused allowances are banked if ``banking`` is on (up to
``carry_over_limit`` a firm), else they expire. Firms expect the no-arbitrage price over
``expectation_years`` with cost of carry ``carry_rate`` (``markets/expectations.py``); a park
linked to a national market trades at ``external_price`` or at an observed path
(``external_series``, ``ecopark/data/carbon_prices.toml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecopark.catalogue import load_catalogue
from ecopark.ledger import MAX_YUAN_PER_UNIT
from ecopark.markets import price_series
from ecopark.markets.allocation import ALLOCATION_METHODS
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import ConfigError, param


@dataclass(frozen=True)
class CapAndTradeParams(PolicyParams):
    covered_sectors: list[str] = param(["refining", "fine_chemicals", "chlor_alkali", "aluminium", "copper",
                                        "building_materials"], names="sectors",
                                       doc="sectors under the cap (DOMAIN 4: power, cement, aluminium, chemicals)")
    cap_start: float = param(0.97, lo=0, hi=2, doc="first year's cap as a share of covered BAU emissions")
    cap_decline: float = param(0.02, lo=0, hi=1, unit="1/year", doc="annual decline of the cap")
    cap_path: list[float] = param([], lo=0, hi=2,
                                  doc="cap of each compliance year as a share of covered BAU, announced one year at "
                                      "a time (China's annual and two-year allocation plans); the last value holds "
                                      "after the list; firms expect later years to follow this year's share x (1 - "
                                      "cap_decline)^k; empty: cap_start x (1 - cap_decline)^y, announced for every "
                                      "year")
    free_share: float = param(0.9, lo=0, hi=1, doc="share of the cap allocated free by benchmark")
    reserve_price: float = param(40.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                 doc="lowest price at which government auctions")
    auction_hold_share: float = param(0.9, lo=0, hi=1,
                                      doc="government holds back auction volume that would sell below this share "
                                          "of the expected price E: it offers at max(reserve_price, share x E) and "
                                          "keeps what does not sell for the year's later sessions (EU Auctioning "
                                          "Regulation 1031/2010 art. 7(6): an auction clearing significantly under "
                                          "the secondary-market price is cancelled and its volume auctioned later; "
                                          "the share is an assumption, the threshold is not published); 0: offer "
                                          "at the reserve price only")
    penalty: float = param(600.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                           doc="charge per tonne not covered at compliance")
    banking: bool = param(True, doc="unused allowances carry over to the next year")
    offset_limit: float = param(0.05, lo=0, hi=1, doc="offset credits usable, as a share of covered emissions")
    session_months: int = param(3, lo=1, hi=12, values=(1, 2, 3, 4, 6, 12), unit="months",
                                doc="months between call-auction sessions (a divisor of 12)")
    initial_price: float = param(60.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                 doc="price firms expect before the first session")
    expectation_weight: float = param(0.5, lo=0, hi=1, doc="weight of the last session in the expected share of "
                                      "the carbon pool's offer that sells: F' = F + w * (sold / offered - F) "
                                      "(assumption)")
    expectation_years: int = param(10, lo=1, hi=30, unit="years",
                                   doc="compliance years of the announced cap path firms see when they form the "
                                       "expected price (markets/expectations.py): the price is set by the deadline "
                                       "at which the bank runs out within them; the EU ETS legislates its cap path "
                                       "for a ten-year trading period (phase 4, 2021-2030, Directive (EU) "
                                       "2018/410), China's State Council opinion of Aug 2025 announces absolute "
                                       "caps from 2027 and the path to 2030; 2 was China's two-year allocation "
                                       "plans (MEE 2019-2020, 2021-2022, 2023-2024)")
    carry_rate: float = param(0.035, lo=0, hi=1, unit="1/year",
                              doc="cost of carry of a banked allowance: the expected price rises at this rate while "
                                  "allowances are banked (Hotelling; Rubin 1996); PBoC 1-year loan prime rate "
                                  "3.85% (2021) to 3.0% (2025)")
    min_step_months: int = param(6, lo=1, hi=12, unit="months",
                                 doc="months left in the compliance year below which firms no longer offer or "
                                     "rely on a new abatement step and buy what they need (assumption: a "
                                     "technology takes months to commission)")
    external_price: float | None = param(None, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                         doc="price of a linked external market (omit: no link)")
    external_growth: float = param(0.0, lo=-0.5, hi=1, unit="1/year", doc="annual growth of the external price")
    external_series: str | None = param(None, doc="an observed price path the park's market is linked to, by name "
                                                  "in ecopark/data/carbon_prices.toml (cea: China's national "
                                                  "market); replaces external_price and external_growth")
    series_start: str = param("2021-07", doc="calendar month (YYYY-MM) of the policy's first month on "
                                             "external_series")
    carry_over_limit: float | None = param(None, lo=0, hi=1e9, unit="tCO2e",
                                           doc="most allowances a firm may bank into the next compliance year; the "
                                               "rest expire at surrender (omit: no limit; China's 2025 plan: "
                                               "10,000 t for power, 100,000 t for steel, cement and aluminium)")
    allocation: str = param("benchmark", choices=ALLOCATION_METHODS,
                            doc="free allocation: grandfathered (last year's emissions), benchmark (intensity x "
                                "expected output, ex ante), output_based (intensity x actual output, ex-post true-up)")
    provisional_share: float = param(1.0, lo=0, hi=1,
                                     doc="output_based: share of the benchmark x last year's verified output "
                                         "allocated at the year's opening, the rest at the true-up (MEE national "
                                         "allocation plans 2019-2020 and 2021-2022: 70% pre-allocation; the model "
                                         "surrenders at year end, right after the true-up, so below 1 the "
                                         "withheld part cannot be traded before surrender; default 1)")
    new_entrant_reserve: float = param(0.05, lo=0, hi=1,
                                       doc="share of the cap set aside to allocate firms entering during the year")
    true_up_session: bool = param(True, doc="a call-auction session in month 12 and in the surrender month, "
                                            "before surrender")
    surrender_month: int = param(0, lo=0, hi=11, unit="month of the next year",
                                 doc="surrender deadline: 0 at the year end, right after verification; L > 0 at "
                                     "the end of month L of the next year, so the trued-up allowances and the "
                                     "next year's allocation can be traded and used before it (China's national "
                                     "ETS surrendered 2019-2020 and 2021-2022 by the end of the following year); "
                                     "needs banking")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_names(f"{path}.covered_sectors", self.covered_sectors, load_catalogue().sector_keys, "sector")
        if self.external_series is not None and self.external_series not in price_series.names():
            raise ConfigError(f"{path}.external_series", f"unknown series {self.external_series!r}; allowed: "
                                                         f"{', '.join(price_series.names())}")
        if not re.fullmatch(r"(19|20)\d\d-(0[1-9]|1[0-2])", self.series_start):
            raise ConfigError(f"{path}.series_start", f"value {self.series_start!r} must be a month YYYY-MM, "
                                                      "e.g. 2021-07")
        if self.surrender_month and not self.banking:
            raise ConfigError(f"{path}.surrender_month", f"value {self.surrender_month} needs banking = true (a "
                                                         "deadline in the next year uses allowances across years); "
                                                         "allowed without banking: 0")


def cap_share(p: CapAndTradeParams, year: int) -> float:
    """The cap of compliance year ``year`` (0 = the first) as a share of covered BAU: ``cap_path[year]`` (its last
    value after the list) if given, else cap_start x (1 - cap_decline)^year."""
    if p.cap_path:
        return p.cap_path[min(year, len(p.cap_path) - 1)]
    return p.cap_start * (1.0 - p.cap_decline) ** year


@register
class CapAndTrade(Policy):
    """Parameters of the emission trading system run by ``CarbonMarket``."""

    name = "cap_and_trade"
    Params = CapAndTradeParams
