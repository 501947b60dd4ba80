"""Paired measurements of green power, the export carbon cost and reclaimed water (docs/energy.md).

``python -m ecopark.experiments.energy [--scenario generic] [--months 60] [--seeds 6]`` runs each
seed with the mechanism off and on (same seed: common random numbers, ecopark/model.py) and
prints, per outcome, the mean over seeds of off, on and the paired difference on - off with its
95% interval (Student t over seeds).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import t as student_t

from ecopark import metrics
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

GREEN_OUTCOMES = ("green_power_share", "green_power_capacity", "scope2_total", "operator_green_power_share",
                  "operator_rent_share", "operator_revenue", "energy_per_value_added", "emission_intensity_scope1",
                  "emission_intensity_scope12", "value_added", "total_exits")
WATER_OUTCOMES = ("water_reuse_share", "operator_water_share", "operator_rent_share", "operator_revenue",
                  "value_added", "total_exits")
EXPORT_OUTCOMES = ("export_carbon_cost_total", "green_power_share", "scope2_total", "value_added", "total_exits")


def run_once(scenario: str, overrides: list[str], months: int,
             seed: int) -> tuple[ParkModel, dict[str, float], dict[str, float]]:
    """Run ``scenario`` with ``overrides`` for ``months`` at ``seed``; (model, every run metric, output
    over the run by sector in output units)."""
    model = ParkModel(load_scenario(scenario, overrides), seed=seed)
    keys = model.catalogue.sector_keys
    output = np.zeros(len(keys))
    for _ in range(months):
        model.step()
        rows = model.firms.live
        output += np.bincount(model.firms.sector[rows], model.firms.output[rows], minlength=len(keys))
    values = {name: float(m.func(model)) for name, m in metrics.RUN_METRICS.items()
              if all(s in model.datacollector.model_vars for s in m.steps)}
    return model, values, dict(zip(keys, output.tolist(), strict=True))


def interval(diff: np.ndarray) -> float:
    """Half-width of the 95% Student-t interval of the mean of ``diff``."""
    n = len(diff)
    return float(student_t.ppf(0.975, n - 1) * np.std(diff, ddof=1) / np.sqrt(n)) if n > 1 else float("inf")


def paired(scenario: str, off: list[str], on: list[str], months: int, seeds: int,
           outcomes: tuple[str, ...]) -> tuple[list[tuple[str, float, float, float, float]], dict[str, list]]:
    """Rows (outcome, mean off, mean on, mean on - off, 95% half-width) and, per arm, each seed's
    export payments by sector and output over the run by sector."""
    values: dict[str, list[tuple[float, float]]] = {o: [] for o in outcomes}
    extra: dict[str, list] = {"paid": [], "output_off": [], "output_on": []}
    for seed in range(seeds):
        _, r_off, q_off = run_once(scenario, off, months, seed)
        m_on, r_on, q_on = run_once(scenario, on, months, seed)
        for o in outcomes:
            values[o].append((r_off[o], r_on[o]))
        policy = m_on.government.policies.get("export_carbon_cost")
        if policy is not None:
            extra["paid"].append(dict(zip(m_on.catalogue.sector_keys, policy.paid_by_sector.tolist(), strict=True)))
        extra["output_off"].append(q_off)
        extra["output_on"].append(q_on)
    rows = []
    for o, pairs in values.items():
        a = np.array(pairs)
        diff = a[:, 1] - a[:, 0]
        rows.append((o, float(a[:, 0].mean()), float(a[:, 1].mean()), float(diff.mean()), interval(diff)))
    return rows, extra


RENT_OUTCOMES = ("operator_rent_share", "operator_green_power_share", "operator_water_share",
                 "green_power_capacity", "green_power_share", "water_reuse_share")


def rent_share_presets(presets: tuple[str, ...], months: int, seeds: int) -> None:
    """Print, per preset, the operator's revenue mix with green power and reclaimed water off -> on
    (the rent-share holdout of validation section 8: 38.5% for a leading park)."""
    lines = ["operator.green_power.enabled=true", "operator.reclaimed_water.enabled=true"]
    print(f"## presets, {months} months, seeds 0-{seeds - 1}: green power and reclaimed water off -> on")
    print("| preset | outcome | off | on | on - off | 95% interval |")
    print("|---|---|---:|---:|---:|---:|")
    for preset in presets:
        rows, _ = paired(preset, [], lines, months, seeds, RENT_OUTCOMES)
        for o, a, b, d, h in rows:
            print(f"| {preset} | {o} | {a:.4g} | {b:.4g} | {d:+.4g} | {d - h:+.4g} .. {d + h:+.4g} |")
    print()


def main(argv: list[str] | None = None) -> None:
    """Print the three paired comparisons (green power; export carbon cost; reclaimed water: off/on)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default="generic")
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--presets", nargs="*", default=None,
                    help="instead: the operator's revenue mix in these presets, both lines off -> on")
    args = ap.parse_args(argv)
    if args.presets is not None:
        rent_share_presets(tuple(args.presets) or ("yueyang", "liaocheng", "qinzhou"), args.months, args.seeds)
        return
    green = "operator.green_power.enabled=true"
    for title, off, on, outcomes in (
            ("green power off -> on", [], [green], GREEN_OUTCOMES),
            ("export carbon cost off -> on (green power on)", [green],
             [green, "policies.export_carbon_cost.enabled=true"], EXPORT_OUTCOMES),
            ("reclaimed water off -> on", [], ["operator.reclaimed_water.enabled=true"], WATER_OUTCOMES)):
        rows, extra = paired(args.scenario, off, on, args.months, args.seeds, outcomes)
        print(f"## {args.scenario}, {args.months} months, seeds 0-{args.seeds - 1}: {title}")
        print("| outcome | off | on | on - off | 95% interval |")
        print("|---|---:|---:|---:|---:|")
        for o, a, b, d, h in rows:
            print(f"| {o} | {a:.4g} | {b:.4g} | {d:+.4g} | {d - h:+.4g} .. {d + h:+.4g} |")
        if extra["paid"]:
            keys = extra["paid"][0]
            print("\n| sector | export cost paid, mean yuan | output off | on | on - off (95% interval) |")
            print("|---|---:|---:|---:|---:|")
            for k in keys:
                paid = np.mean([p[k] for p in extra["paid"]])
                out_off = np.array([p[k] for p in extra["output_off"]])
                out_on = np.array([p[k] for p in extra["output_on"]])
                d, h = float((out_on - out_off).mean()), interval(out_on - out_off)
                if paid > 0 or d != 0:
                    print(f"| {k} | {paid:.4g} | {out_off.mean():.4g} | {out_on.mean():.4g} | "
                          f"{d:+.4g} ({d - h:+.4g} .. {d + h:+.4g}) |")
        print()


if __name__ == "__main__":
    main()
