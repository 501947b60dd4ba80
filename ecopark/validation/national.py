"""Section 1, the park on China's national carbon price path and a stylised national market beside
the CEA's path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from ecopark.markets import price_series
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario
from ecopark.validation.common import interval, map_jobs, run_metrics

#: The park in China's national ETS from 2025 (DOMAIN.md section 7): cement and aluminium covered,
#: intensity-based (output-based) free allocation equal to verified emissions at normal output (the 2025
#: allocation equals verified 2024 emissions), no auction, a carry-over limit of 100,000 t, and the national
#: market's observed price path (`ecopark/data/carbon_prices.toml`, series `cea`, from January 2025; held at
#: its last value, 19 Nov 2025, after it) for a market of unlimited depth.
NATIONAL_ETS_2025: dict[str, Any] = {
    "policies.cap_and_trade.covered_sectors": ["aluminium", "building_materials"],
    "policies.cap_and_trade.allocation": "output_based", "policies.cap_and_trade.free_share": 1.0,
    "policies.cap_and_trade.cap_start": 1.0, "policies.cap_and_trade.cap_decline": 0.0,
    "policies.cap_and_trade.new_entrant_reserve": 0.0, "policies.cap_and_trade.reserve_price": 0.0,
    "policies.cap_and_trade.carry_over_limit": 100_000.0, "policies.cap_and_trade.external_series": "cea",
    "policies.cap_and_trade.series_start": "2025-01",
}


def national_ets_section(seeds: Sequence[int] = tuple(range(6)), months: int = 36, workers: int = 1) -> list[str]:
    """Report lines: the generic park's cement and aluminium firms on the national market's price path
    (:data:`NATIONAL_ETS_2025`) against the park with no carbon price, paired seeds, mean and 95% interval."""
    keys = ("total_emissions", "total_abated", "total_exits", "total_sales", "carbon_price_mean")
    jobs = [("generic", extra, seed, months) for seed in seeds
            for extra in (NATIONAL_ETS_2025, {"policies.cap_and_trade.enabled": False})]
    results = map_jobs(run_metrics, jobs, workers)
    path = [price_series.price_at("cea", "2025-01", m) for m in range(months)]
    lines = ["", "### The park on China's national price path", "",
             f"`generic` with `NATIONAL_ETS_2025` (`ecopark/validation/national.py`: cement and aluminium covered, "
             f"output-based free allocation at verified emissions, carry-over limit 100,000 t, linked to the CEA's "
             f"observed path from January 2025, {min(path):.2f}-{max(path):.2f} yuan/t over the run) against the "
             f"same park with no cap, {months} months, seeds {min(seeds)}-{max(seeds)} paired: difference on - off, "
             "mean and 95% interval.", "", "| outcome | with the national price | difference (95% interval) |",
             "|---|---|---|"]
    for k in keys:
        on = np.array([r[k] for r in results[0::2]])
        x = on - np.array([r[k] for r in results[1::2]])
        mean, half = interval(x, single=0.0)
        lines.append(f"| `{k}` | {on.mean():,.4g} | {mean:+,.4g} ± {half:,.3g} |")
    return [*lines, ""]


#: A stylised national market (issue 23, item 7): many firms of the covered sectors, each standing for many
#: plants of the national market, heterogeneous in size and cost (the generic economy), no entry, no carbon
#: pool. Free output-based allocation only, no auction, no price floor (China's national ETS has neither), the
#: first compliance year 2021. The cap path is announced one year at a time: tightening 2% a year from 2021 to
#: 2024 (assumption, standing for the allocation benchmarks the MEE plans tightened for 2021-2022 and
#: 2023-2024), then in 2025 allocation equal to verified emissions (the 2025 plan for the new sectors).
NATIONAL_MARKET_FIRMS: dict[str, int] = {"building_materials": 20, "aluminium": 8, "refining": 8,
                                         "chlor_alkali": 8, "copper": 6}
NATIONAL_MARKET: dict[str, Any] = {
    "park.firms": NATIONAL_MARKET_FIRMS, "park.vacant_plots": 0, "economy.entry_rate": 0.0,
    "operator.carbon_pool": False, "policies.cap_and_trade.covered_sectors": list(NATIONAL_MARKET_FIRMS),
    "policies.cap_and_trade.allocation": "output_based", "policies.cap_and_trade.free_share": 1.0,
    "policies.cap_and_trade.new_entrant_reserve": 0.0, "policies.cap_and_trade.reserve_price": 0.0,
    "policies.cap_and_trade.initial_price": 48.0, "policies.cap_and_trade.cap_decline": 0.02,
    "policies.cap_and_trade.cap_path": [0.99, 0.97, 0.95, 0.93, 1.0],
}
#: calendar month of the national market's first model month
NATIONAL_MARKET_START = "2021-01"


def national_market_path(seed: int, months: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """The stylised national market's prices by month (yuan/tCO2e, :data:`NATIONAL_MARKET`): (the last clearing
    price, NaN before the first session that traded; the price firms expect, ``model.expected_carbon_price``)."""
    model = ParkModel(load_scenario("generic", NATIONAL_MARKET), seed=seed)
    cleared, expected = np.full(months, np.nan), np.zeros(months)
    for month in range(months):
        model.step()
        prices = model.carbon_market.session_prices
        cleared[month] = prices[-1][1] if prices else np.nan
        expected[month] = model.expected_carbon_price
    return cleared, expected


def national_market_section(seeds: Sequence[int] = tuple(range(6)), months: int = 60) -> list[str]:
    """Report lines: the stylised national market's formed price path beside China's observed CEA path, at each
    observation date, with the shape (peak, fall after it) of both."""
    runs = [national_market_path(seed, months) for seed in seeds]
    paths, expected = np.array([c for c, _ in runs]), np.array([e for _, e in runs])
    days, observed = price_series.series("cea")
    y0, m0 = (int(x) for x in NATIONAL_MARKET_START.split("-"))
    lines = ["", "### A stylised national market beside the CEA path", "",
             f"`NATIONAL_MARKET` (`ecopark/validation/national.py`): {sum(NATIONAL_MARKET_FIRMS.values())} "
             "heterogeneous firms of the covered sectors, free output-based allocation only, no floor, the cap "
             "announced one year at a time (2% tighter a year 2021-2024, an assumption for the tightening "
             "benchmarks; 2025 at verified "
             f"emissions), the model's first month {NATIONAL_MARKET_START}, {months} months, seeds "
             f"{min(seeds)}-{max(seeds)}. Model: the last clearing price in the month of each CEA observation (a month "
             "with no trade keeps it) and the price firms expect that month, median and range over seeds.", "",
             "| date | CEA (yuan/t) | model clearing, median | range | model expected, median | range |",
             "|---|---|---|---|---|---|"]
    for day, price in zip(days, observed, strict=True):
        when = date.fromordinal(int(day) + date(1970, 1, 1).toordinal())
        k = (when.year - y0) * 12 + when.month - m0
        if 0 <= k < months:
            col, e = paths[:, k], expected[:, k]
            lines.append(f"| {when.isoformat()} | {price:.2f} | {np.nanmedian(col):.1f} | {np.nanmin(col):.1f}-"
                         f"{np.nanmax(col):.1f} | {np.median(e):.1f} | {e.min():.1f}-{e.max():.1f} |")
    last = min(months, 48)  # to the end of 2024, the CEA's rise
    peak = np.nanmax(paths[:, :last], axis=1)
    after = np.array([np.nanmin(np.r_[p[last:], np.inf]) for p in paths])
    fall = np.where(np.isfinite(after), after / peak - 1.0, np.nan)
    expected_fall = expected[:, last:].min(axis=1) / expected[:, :last].max(axis=1) - 1.0
    rise = peak / np.array([p[np.isfinite(p)][0] for p in paths]) - 1.0
    lines += ["", f"Shape. CEA: +{observed[2] / observed[0] - 1:.0%} from the opening to the Nov 2024 high, then "
              f"{observed[4] / observed[2] - 1:.0%} by Jun 2025 on a banked surplus. Model: from its first clearing "
              f"to its 2021-2024 peak {np.median(rise):+.0%} (range {rise.min():+.0%} to {rise.max():+.0%}), "
              f"then in 2025 at lowest {np.nanmedian(fall):+.0%} (range {np.nanmin(fall):+.0%} to "
              f"{np.nanmax(fall):+.0%}; a session with no trade keeps the last price), the expected price "
              f"{np.median(expected_fall):+.0%} (range {expected_fall.min():+.0%} to {expected_fall.max():+.0%}) "
              "below its 2021-2024 peak. Agrees: the rise (the cost of carry and the tightening cap, no-arbitrage, "
              "`docs/carbon.md`) and a fall in 2025, when the cap at verified emissions leaves the bank in surplus. "
              "Does not agree: (i) the level, above the CEA's, because the price is set by the catalogue's "
              "marginal steps in these sectors (about 150-200 yuan/t), while the CEA was set by power, which the "
              "catalogue does not hold; (ii) the size of the fall: firms here extrapolate the 2025 cap by "
              "`cap_decline` and find the bank of 2021-2024 and the whole steps installed then cover all "
              "`expectation_years`, so the expected price falls to the floor (0: no floor, as in China) and "
              "trading stops, where the CEA fell 36% and kept trading: China announced absolute caps from 2027, "
              "power's allocation kept binding and the carry-over limits made surplus holders sell; (iii) the "
              "CEA opened below its no-arbitrage price and traded thinly (bulk deals near 45 yuan/t in Oct "
              "2025), while the model's sessions clear at the firms' expected price from the start.", ""]
    return lines
