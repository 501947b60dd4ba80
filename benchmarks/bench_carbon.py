"""Clearing time of one uniform-price call auction with 1,000 bidders (target: under 10 ms).

Each bidder has a step curve of three bids (two technology steps and a residual at the
penalty) and there are 1,000 asks, as in a park of 1,000 covered firms.

    python benchmarks/bench_carbon.py [--bidders 1000] [--repeat 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ecopark.markets.carbon import clear_uniform_price


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bidders", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.bidders
    bid_p = np.r_[rng.uniform(50, 500, 2 * n), np.full(n, 600.0)]
    bid_q = rng.uniform(100, 10000, 3 * n)
    ask_p, ask_q = rng.uniform(40, 400, n), rng.uniform(100, 30000, n)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = clear_uniform_price(bid_p, bid_q, ask_p, ask_q)
        times.append(time.perf_counter() - start)
    ms = 1e3 * float(np.median(times))
    print(f"call auction, {n} bidders ({len(bid_p)} bids, {len(ask_p)} asks): median {ms:.2f} ms, "
          f"price {result.price:.1f}, volume {result.volume:,.0f}   target < 10 ms")
    return [{"benchmark": f"carbon call auction, {n:,} bidders (median of {args.repeat})", "measured": f"{ms:.2f} ms",
             "target": "< 10 ms", "met": ms < 10}]


if __name__ == "__main__":
    main()
