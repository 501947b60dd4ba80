"""Byproduct market clearing time per month for a park of 1,000 firms (target: under 50 ms).

Times phase 3 (deliveries and settlement) plus phase 4 (discovery, matching, formation) of
the byproduct market, with and without the platform, after a warm-up year so that links
exist and new ones keep forming.

    python benchmarks/bench_byproduct.py [--firms 1000] [--months 24]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ecopark.agents.enterprise import dispose_and_buy_inputs, produce
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, scale_park


def time_market(firms: int, months: int, platform: bool) -> tuple[float, float, int]:
    """(median ms, max ms) per month of the byproduct market, and active links at the end."""
    scenario = load_scenario(scale_park(load_scenario("generic"), firms), {"policies.platform.enabled": platform})
    model = ParkModel(scenario, seed=1)
    for _ in range(12):
        model.step()
    times = []
    market = model.byproduct_market
    for _ in range(months):
        model.steps += 1
        model.ledger.step = model.steps
        model.government.update_policies()
        produce(model)
        model.operator.collect_rent()
        start = time.perf_counter()
        market.deliver()
        dispose_and_buy_inputs(model)
        market.match()
        times.append(time.perf_counter() - start)
        model.exit_and_enter()
    return 1e3 * float(np.median(times)), 1e3 * max(times), len(market.links.live)


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=1000)
    parser.add_argument("--months", type=int, default=24)
    args = parser.parse_args(argv)
    rows = []
    print(f"{'market':<26}{'firms':>7}{'median ms':>11}{'max ms':>9}{'links':>8}")
    for platform in (False, True):
        median, worst, links = time_market(args.firms, args.months, platform)
        label = "byproduct, platform " + ("on" if platform else "off")
        print(f"{label:<26}{args.firms:>7}{median:>11.1f}{worst:>9.1f}{links:>8}   target < 50 ms")
        rows.append({"benchmark": f"byproduct clearing per month, {args.firms:,} firms, platform "
                                  f"{'on' if platform else 'off'} (median of {args.months} months)",
                     "measured": f"{median:.1f} ms (max {worst:.1f} ms)", "target": "< 50 ms",
                     "met": median < 50})
    return rows


if __name__ == "__main__":
    main()
