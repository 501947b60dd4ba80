"""Negotiation breakdown share and cross-firm reuse by stream, paired over seeds.

    python benchmarks/stream_breakdown.py [preset] [months] [seeds] ['{"key": value}']

Counts every negotiation by wrapping ``Bargaining.negotiate`` (so it runs on older checkouts
too, for before -> after comparisons) and prints, per stream, attempts, breakdown share and
reuse (delivered / generated over the run, mean over seeds), then the per-seed reuse as JSON.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import ecopark
from ecopark.markets import bargaining
from ecopark.model import ParkModel


def main(preset: str = "generic", months: int = 60, seeds: int = 4, overrides: str = "{}") -> None:
    counts: dict[int, list[int]] = {}
    negotiate = bargaining.Bargaining.negotiate

    def counted(self, k, *args, **kwargs):
        agreed = negotiate(self, k, *args, **kwargs)
        entry = counts.setdefault(k, [0, 0])
        entry[0] += 1
        entry[1] += not agreed
        return agreed

    bargaining.Bargaining.negotiate = counted
    reuse: dict[str, list[float]] = {}
    for seed in range(int(seeds)):
        model = ParkModel(ecopark.load_scenario(preset, json.loads(overrides)), seed=seed)
        for _ in range(int(months)):
            model.step()
        totals = model.stream_totals
        for k, key in enumerate(model.catalogue.stream_keys):
            if totals["generated"][k] > 0:
                reuse.setdefault(key, []).append(float(totals["delivered"][k] / totals["generated"][k]))
    keys = model.catalogue.stream_keys
    for k, (attempts, failed) in sorted(counts.items()):
        print(f"{keys[k]:15s} attempts {attempts:5d} breakdown {failed / attempts:.2f} "
              f"reuse {np.mean(reuse.get(keys[k], [np.nan])):.3f}")
    print(json.dumps(reuse))


if __name__ == "__main__":
    main(*sys.argv[1:])
