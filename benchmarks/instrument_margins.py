"""The issue-24 instrument comparisons, paired over seeds (runs on older checkouts too).

    python benchmarks/instrument_margins.py [months] [seeds]

generic: reuse subsidy 0 -> 20 yuan/t (cross-firm reuse by mass, subsidy paid), landfill tax
25 -> 100 yuan/t, capex subsidy 15% -> 30%; liaocheng: mandatory-consumption fine 50 -> 200
yuan/t (``waste_input_content_mean``).
Paired mean differences with 95% t intervals.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy.stats import t as student_t

import ecopark

COMPARISONS = (
    ("generic", "reuse subsidy 0 -> 20", {"policies.reuse_subsidy.enabled": False},
     {"policies.reuse_subsidy.enabled": True, "policies.reuse_subsidy.rate": 20.0}),
    ("generic", "landfill tax 25 -> 100", {"policies.landfill_tax.rate": 25.0}, {"policies.landfill_tax.rate": 100.0}),
    ("generic", "capex subsidy 15% -> 30%", {"policies.capex_subsidy.share": 0.15},
     {"policies.capex_subsidy.share": 0.3}),
    ("liaocheng", "consumption fine 50 -> 200", {"policies.mandatory_consumption.fine": 50.0},
     {"policies.mandatory_consumption.fine": 200.0}),
)


def outcomes(preset: str, seed: int, months: int, overrides: dict) -> dict[str, float]:
    m = ecopark.run(preset, steps=months, seed=seed, overrides=overrides).metrics
    out = {"cross-firm reuse (points)": 100 * m["reuse_rate_mass_total"],
           "in-plant recycling (points)": 100 * m["recycling_rate_in_plant"],
           "links formed": m["links_formed_total"], "public cost (M yuan)": m["fiscal_cost"] / 1e6}
    if preset == "liaocheng":
        out["waste-input content (points)"] = 100 * m["waste_input_content_mean"]
        out["consumption fines (M yuan)"] = m["consumption_ratio_fines"] / 1e6
    return out


def main(months: int = 60, seeds: int = 6) -> None:
    for preset, label, base, treated in COMPARISONS:
        diffs: dict[str, list[float]] = {}
        for seed in range(int(seeds)):
            a, b = outcomes(preset, seed, int(months), base), outcomes(preset, seed, int(months), treated)
            for name in a:
                diffs.setdefault(name, []).append(b[name] - a[name])
        for name, d in diffs.items():
            d = np.array(d)
            half = student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
            lo, hi = d.mean() - half, d.mean() + half
            print(f"{preset:10s} {label:28s} {name:32s} {d.mean():+9.2f} [{lo:+.2f}, {hi:+.2f}]")


if __name__ == "__main__":
    main(*sys.argv[1:])
