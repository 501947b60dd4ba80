"""Wall time of one 120-step run of the default park and of parks of 100 and 1,000 firms.

Targets (issue 2): default park (about 60 firms) under 1 s; 1,000 firms under 20 s; time
growing no faster than about linearly in the number of firms at fixed link density (the
park's area grows with the number of firms, so plots per km2 stay the same).

    python benchmarks/bench_model.py [--steps 120] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import time

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, scale_park


def time_run(n_firms: int | None, steps: int, repeat: int) -> tuple[int, float]:
    """Best wall time (s) of ``repeat`` runs of ``steps`` steps; returns (firms, seconds)."""
    scenario = load_scenario("generic") if n_firms is None else scale_park(load_scenario("generic"), n_firms)
    best = math.inf
    for seed in range(repeat):
        model = ParkModel(scenario, seed=seed)
        start = time.perf_counter()
        for _ in range(steps):
            model.step()
        best = min(best, time.perf_counter() - start)
    return sum(scenario.park.firms.values()), best


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows, measured = [], {}
    print(f"{'park':<16}{'firms':>7}{'steps':>7}{'wall s':>10}{'ms/step':>10}{'us/firm-step':>14}")
    for label, n, target in (("default", None, 1.0), ("100 firms", 100, None), ("1,000 firms", 1000, 20.0)):
        repeat = args.repeat if n != 1000 else 1
        firms, seconds = time_run(n, args.steps, repeat)
        measured[n] = (firms, seconds)
        per_firm = 1e6 * seconds / (firms * args.steps)
        print(f"{label:<16}{firms:>7}{args.steps:>7}{seconds:>10.3f}{1e3 * seconds / args.steps:>10.2f}"
              f"{per_firm:>14.1f}" + (f"   target < {target} s" if target else ""))
        name = f"model run, {'default park' if n is None else 'park'} of {firms:,} firms, {args.steps} steps"
        rows.append({"benchmark": name + (f" (best of {repeat})" if repeat > 1 else ""),
                     "measured": f"{seconds:.2f} s", "target": f"< {target:g} s" if target else "",
                     "met": seconds < target if target else None})
    (f_small, t_small), (f_large, t_large) = measured[100], measured[1000]
    exponent = math.log(t_large / t_small) / math.log(f_large / f_small)
    print(f"growth 100 -> 1,000 firms: time ~ firms^{exponent:.2f}   target: about linear (exponent <= 1.2)")
    rows.append({"benchmark": f"model run time growth, {f_small:,} to {f_large:,} firms",
                 "measured": f"time ~ firms^{exponent:.2f}", "target": "about linear (exponent <= 1.2)",
                 "met": exponent <= 1.2})
    return rows


if __name__ == "__main__":
    main()
