"""Wall time of one 120-step run of the default park, of parks of 100, 300 and 1,000 firms, and its growth.

Targets (issue 28): the default park (the generic preset, about 60 firms) at most 0.35 s;
1,000 firms at most 2.5 s; time growing no faster than linearly in the number of firms at
fixed link density (the park's area grows with the number of firms, so plots per km2 stay
the same): the exponent b of time ~ firms^b fitted over 100 to 1,000 firms at most 1.

Each run is timed in a fresh child process (the model imported before the clock starts),
best of ``--repeat`` runs on seeds 0, 1, ... With ``--against PATH`` (a source tree of another
commit, e.g. ``git worktree add /tmp/base <commit>``) the same runs of that tree are timed
too, alternating old and new run by run so that both see the same machine load, and the
table gives both side by side with their ratio.

    python benchmarks/bench_model.py [--steps 120] [--repeat 3] [--against PATH] [--sizes 100,300,1000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

TARGETS = {None: 0.35, 1000: 2.5}  # seconds, by park size (None: the default park)
GROWTH_TARGET = 1.0  # the exponent b of time ~ firms^b


def _child(n_firms: int | None, steps: int, seed: int) -> None:
    """Time one run in this process; print {"firms", "seconds"} as JSON."""
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    scenario = load_scenario("generic") if n_firms is None else scale_park(load_scenario("generic"), n_firms)
    model = ParkModel(scenario, seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        model.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"firms": sum(scenario.park.firms.values()), "seconds": seconds}))


def time_run(n_firms: int | None, steps: int, seed: int, tree: str | None = None) -> tuple[int, float]:
    """(firms, seconds) of one run in a child process; ``tree``: the source tree to import ecopark from."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(n_firms or 0), "--steps", str(steps),
           "--seed", str(seed)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd=tree or None)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["firms"], figures["seconds"]


def tree_label(tree: str) -> str:
    """The short commit of source tree ``tree`` (git), else its folder name."""
    done = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else os.path.basename(tree)


def best_times(n_firms: int | None, steps: int, repeat: int, against: str | None) -> tuple[int, float, float | None]:
    """(firms, best seconds of this tree, best seconds of ``against`` or None), alternating run by run."""
    best, best_old = math.inf, math.inf
    firms = 0
    for seed in range(repeat):
        if against is not None:
            best_old = min(best_old, time_run(n_firms, steps, seed, against)[1])
        firms, seconds = time_run(n_firms, steps, seed)
        best = min(best, seconds)
    return firms, best, (best_old if against is not None else None)


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size, best taken (default 3)")
    parser.add_argument("--sizes", default="100,300,1000", help="park sizes besides the default park (firms)")
    parser.add_argument("--against", metavar="PATH", help="also time the source tree PATH, run by run alternating")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child or None, args.steps, args.seed)
        return []
    sizes = [None] + [int(s) for s in args.sizes.split(",") if s]
    if args.against:  # the children run in that tree: a relative path must not be read from there
        args.against = os.path.abspath(args.against)
    label = tree_label(args.against) if args.against else ""
    rows, measured = [], {}
    print(f"{'park':<16}{'firms':>7}{'steps':>7}{'wall s':>10}{'ms/step':>10}{'us/firm-step':>14}"
          + (f"{'against s':>11}{'ratio':>8}" if args.against else ""))
    for n in sizes:
        firms, seconds, old = best_times(n, args.steps, args.repeat, args.against)
        measured[n] = (firms, seconds)
        target = TARGETS.get(n)
        per_firm = 1e6 * seconds / (firms * args.steps)
        print(f"{'default' if n is None else f'{n:,} firms':<16}{firms:>7}{args.steps:>7}{seconds:>10.3f}"
              f"{1e3 * seconds / args.steps:>10.2f}{per_firm:>14.1f}"
              + (f"{old:>11.3f}{seconds / old:>8.2f}" if old else "")
              + (f"   target <= {target} s" if target else ""))
        name = f"model run, {'default park' if n is None else 'park'} of {firms:,} firms, {args.steps} steps"
        side = f" ({old:.2f} s for {label} side by side, {old / seconds:.2f}x faster)" if old else ""
        rows.append({"benchmark": name + (f" (best of {args.repeat})" if args.repeat > 1 else ""),
                     "measured": f"{seconds:.2f} s{side}", "target": f"<= {target:g} s" if target else "",
                     "met": seconds <= target if target else None})
    grown = [n for n in sizes if n is not None]
    if len(grown) >= 2:
        x = [math.log(measured[n][0]) for n in grown]
        y = [math.log(measured[n][1]) for n in grown]
        mx, my = sum(x) / len(x), sum(y) / len(y)
        exponent = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((a - mx) ** 2 for a in x)
        first, last = measured[grown[0]][0], measured[grown[-1]][0]
        print(f"growth {first:,} -> {last:,} firms: time ~ firms^{exponent:.2f}   target: exponent <= {GROWTH_TARGET}")
        rows.append({"benchmark": f"model run time growth, {first:,} to {last:,} firms ({len(grown)} sizes, "
                                  "least-squares fit of log time on log firms)",
                     "measured": f"time ~ firms^{exponent:.2f}", "target": f"no faster than linear (exponent <= "
                                                                          f"{GROWTH_TARGET:g})",
                     "met": exponent <= GROWTH_TARGET})
    return rows


if __name__ == "__main__":
    main()
