"""cProfile of one model run: total Python function calls and the top entries by cumulative time.

The default park (or ``--firms`` firms), ``--steps`` months, seed ``--seed``; the model is built
before profiling starts. Call counts are the same on every machine; times are relative.

    python benchmarks/profile_model.py [--steps 120] [--seed 0] [--firms N] [--top 30]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats


def main(argv: list[str] | None = None) -> pstats.Stats:
    """Profile one run; print the calls and the top entries; return the statistics."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--firms", type=int, default=0, help="park size (default: the default park)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)

    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    scenario = load_scenario("generic") if not args.firms else scale_park(load_scenario("generic"), args.firms)
    model = ParkModel(scenario, seed=args.seed)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.steps):
        model.step()
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    return stats


if __name__ == "__main__":
    main()
