"""Time and peak memory of a park with many vacant plots and no platform (chance encounters).

    python benchmarks/encounter_memory.py [preset] [vacant_plots] [months]

Defaults: qinzhou, 10,000 vacant plots, 2 months, seed 0. Prints seconds, the process's peak
resident memory (GB) and reuse by mass (the same before and after the chunked encounters).
"""

from __future__ import annotations

import resource
import sys
import time

import ecopark


def main(preset: str = "qinzhou", vacant_plots: int = 10000, months: int = 2) -> None:
    start = time.perf_counter()
    result = ecopark.run(preset, steps=int(months), seed=0, overrides={
        "park.vacant_plots": int(vacant_plots), "policies.platform.enabled": False})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux
    print(f"{time.perf_counter() - start:.1f} s, peak {peak:.2f} GB, "
          f"reuse by mass {result.metrics['reuse_rate_mass_total']:.6f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
