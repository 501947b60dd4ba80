"""CPU time of one model run in this source tree beside other trees (commits), paired by seed.

Each run is the default park (or a park of ``--firms`` firms) for ``--steps`` months, timed by
``time.process_time`` in a fresh child process (the model imported and built before the clock
starts), so another process on the machine slows the wall clock but hardly the CPU time. The
trees run one after another for every (round, seed), this tree first, so all see the same
machine. Reported per tree: best and mean seconds, and against this tree the paired ratio
(geometric mean of other / this over the pairs) with its 95% t-interval.

    git worktree add --detach ../tree-f38d586 f38d586
    python benchmarks/compare_trees.py ../tree-f38d586 [more trees] [--seeds 3] [--rounds 2] [--firms N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

from scipy import stats


def _child(firms: int, steps: int, seed: int) -> None:
    """Time one run in this process; print its CPU seconds as JSON."""
    import time

    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    scenario = load_scenario("generic") if not firms else scale_park(load_scenario("generic"), firms)
    model = ParkModel(scenario, seed=seed)
    start = time.process_time()
    for _ in range(steps):
        model.step()
    print(json.dumps({"cpu": time.process_time() - start}))


def cpu_seconds(tree: str, firms: int, steps: int, seed: int) -> float:
    """CPU seconds of one run of the model in source tree ``tree``, in a child process."""
    env = {**os.environ, "PYTHONPATH": tree}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--firms", str(firms), "--steps", str(steps),
           "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])["cpu"]


def label(tree: str) -> str:
    """The short commit of ``tree`` (git), else its folder name."""
    done = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or os.path.basename(os.path.abspath(tree))


def paired_ratio(other: list[float], this: list[float]) -> tuple[float, float, float]:
    """(ratio, low, high): geometric mean of other_i / this_i and its 95% t-interval."""
    logs = [math.log(o / t) for o, t in zip(other, this, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), math.nan, math.nan
    half = stats.t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    """Print the table; return {tree label: CPU seconds of each (round, seed) pair}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", help="other source trees (e.g. git worktrees of older commits)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--firms", type=int, default=0, help="park size (default: the default park)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.firms, args.steps, args.seed)
        return {}
    trees = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *map(os.path.abspath, args.trees)]
    names = [label(t) for t in trees]
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.rounds):
        for seed in range(args.seeds):
            for tree, name in zip(trees, names, strict=True):
                seconds[name].append(cpu_seconds(tree, args.firms, args.steps, seed))
    park = f"{args.firms:,} firms" if args.firms else "the default park"
    print(f"CPU seconds of {args.steps} months of {park}, {args.rounds} rounds x {args.seeds} seeds")
    print(f"{'tree':<12}{'best':>8}{'mean':>8}{'other / ' + names[0]:>18}{'95% interval':>18}")
    for name in names:
        best, mean = min(seconds[name]), statistics.fmean(seconds[name])
        ratio, low, high = paired_ratio(seconds[name], seconds[names[0]])
        print(f"{name:<12}{best:>8.3f}{mean:>8.3f}{ratio:>18.3f}{f'{low:.3f}-{high:.3f}':>18}")
    return seconds


if __name__ == "__main__":
    main()
