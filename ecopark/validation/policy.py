"""Section 2 of the validation report: the direction of every policy effect (paired seeds, 95%
intervals) and, 2b, where each emission change comes from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ecopark.metrics import DECOMPOSITION_PARTS, emission_decomposition
from ecopark.validation.common import interval, map_jobs, run_metrics


# -- 2. policy directions -------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyEffect:
    """A change of one instrument and the outcomes it should move: metric -> expected sign
    (+1 raises, -1 lowers)."""

    label: str
    base: dict[str, Any]
    treated: dict[str, Any]
    outcomes: dict[str, int]


SLUMP = {"economy.shock_start": 13, "economy.shock_months": 24, "economy.shock_depth": 0.3}

POLICY_EFFECTS: tuple[PolicyEffect, ...] = (
    PolicyEffect("landfill tax 0 -> 150 yuan/t (platform on)",
                 {"policies.landfill_tax.enabled": False, "policies.platform.enabled": True},
                 {"policies.landfill_tax.rate": 150.0, "policies.platform.enabled": True},
                 {"reuse_rate_mass_total": +1}),
    PolicyEffect("matching platform off -> on", {}, {"policies.platform.enabled": True}, {"links_formed_total": +1}),
    PolicyEffect("capex subsidy 0 -> 45%", {"policies.capex_subsidy.share": 0.0},
                 {"policies.capex_subsidy.share": 0.45}, {"links_formed_total": +1, "total_abated": +1}),
    PolicyEffect("reuse subsidy 0 -> 50 yuan/unit (platform on)", {"policies.platform.enabled": True},
                 {"policies.platform.enabled": True, "policies.reuse_subsidy.rate": 50.0},
                 {"reuse_rate_mass_total": +1}),
    PolicyEffect("cap tighter: decline 0 -> 8% a year", {"policies.cap_and_trade.cap_decline": 0.0},
                 {"policies.cap_and_trade.cap_decline": 0.08}, {"carbon_price_mean": +1, "total_emissions": -1}),
    PolicyEffect("carbon tax 0 -> 200 yuan/t (no cap)", {"policies.cap_and_trade.enabled": False},
                 {"policies.cap_and_trade.enabled": False, "policies.carbon_tax.rate": 200.0},
                 {"total_emissions": -1, "abatement_adoption_final": +1, "total_exits": +1,
                  "mean_utilisation_run": -1}),
    PolicyEffect("green project loans: none -> 70% of capex", {"credit.loan_to_value": 0.0}, {},
                 {"links_formed_total": +1, "total_abated": +1}),
    PolicyEffect("interest subsidy 0 -> 200 bp on green loans", {}, {"policies.interest_subsidy.rate_bp": 200.0},
                 {"loans_disbursed": +1}),
    PolicyEffect("demand slump of 30% for 24 months from month 13", {}, SLUMP,
                 {"defaults_total": +1, "npl_ratio_mean": +1}),
    PolicyEffect("operator may build a heat network (PPP 30%)", {},
                 {"operator.infrastructure.kinds": ["heat_network"], "operator.infrastructure.ppp_share": 0.3},
                 {"links_formed_total": +1, "operator_rent_share": -1}),
    PolicyEffect("heat cascade off -> on", {"park.heat_cascade": False}, {},
                 {"exchange_chains_final": +1, "emissions_avoided": +1}),
    PolicyEffect("operator services off -> on (in-house MRV 40,000 yuan/month)",
                 {"operator.services.mrv_cost": 40000.0},
                 {"operator.services.mrv_cost": 40000.0, "operator.services.enabled": True},
                 {"operator_services_share": +1, "operator_rent_share": -1}),
    PolicyEffect("in-plant recycling off -> on", {"recycling.enabled": False}, {},
                 {"recycling_rate_in_plant": +1, "resource_recycling_rate": +1}),
    PolicyEffect("intensity target off -> 3% a year, ordered after 2 missed years",
                 {"policies.intensity_target.enabled": False}, {"policies.intensity_target.enabled": True},
                 {"emission_intensity_index_final": -1, "total_exits": +1}),
    PolicyEffect("mandatory consumption off -> 30% waste inputs in cement, 3% procurement premium (platform on)",
                 {"policies.mandatory_consumption.enabled": False, "policies.platform.enabled": True},
                 {"policies.mandatory_consumption.premium": 0.03, "policies.platform.enabled": True},
                 {"waste_input_content_mean": +1}),
)


def policy_runs(seeds: int, steps: int, workers: int) -> list[tuple[PolicyEffect, list[dict], list[dict]]]:
    """Run metrics of every POLICY_EFFECTS comparison: (effect, base runs, treated runs), one run per seed."""
    jobs = [("generic", arm, seed, steps) for e in POLICY_EFFECTS for arm in (e.base, e.treated)
            for seed in range(seeds)]
    results = iter(map_jobs(run_metrics, jobs, workers))
    out = []
    for effect in POLICY_EFFECTS:
        base = [next(results) for _ in range(seeds)]
        treated = [next(results) for _ in range(seeds)]
        out.append((effect, base, treated))
    return out


def policy_directions(seeds: int, steps: int, workers: int,
                      runs: list[tuple[PolicyEffect, list[dict], list[dict]]] | None = None) -> list[dict[str, Any]]:
    """Paired-seed mean difference (treated - base) of each effect's outcome, with a 95% interval
    (``runs``: the result of :func:`policy_runs`, if the caller has it)."""
    runs = policy_runs(seeds, steps, workers) if runs is None else runs
    rows = []
    for effect, base, treated in runs:
        for outcome, expected in effect.outcomes.items():
            diff = np.array([t[outcome] - b[outcome] for b, t in zip(base, treated, strict=True)])
            mean, half = interval(diff)
            if abs(mean) <= half:
                verdict = "not significant at this size"
            elif np.sign(mean) == expected:
                verdict = "as expected"
            else:
                verdict = "OPPOSITE to expected"
            rows.append({"change": effect.label, "outcome": outcome, "expected": "up" if expected > 0 else "down",
                         "mean": mean, "half": half, "base": float(np.mean([b[outcome] for b in base])),
                         "verdict": verdict})
    return rows


def emission_sources(runs: list[tuple[PolicyEffect, list[dict], list[dict]]]) -> list[dict[str, Any]]:
    """For every policy comparison, where the emission change comes from: the paired mean and 95%
    interval over seeds of each part of ``metrics.emission_decomposition`` (tCO2e) and of the
    change in exits of firms with a positive expected operating margin."""
    rows = []
    for effect, base, treated in runs:
        parts = [emission_decomposition(t, b) for b, t in zip(base, treated, strict=True)]
        row: dict[str, Any] = {"change": effect.label}
        for key in ("total", *DECOMPOSITION_PARTS):
            row[key] = interval([p[key] for p in parts])
        row["exits_positive_margin"] = interval([t["exits_positive_margin_total"] - b["exits_positive_margin_total"]
                                                  for b, t in zip(base, treated, strict=True)])
        rows.append(row)
    return rows


def emission_sources_section(rows: list[dict[str, Any]], seeds: int, steps: int) -> list[str]:
    """Markdown table of :func:`emission_sources`."""
    lines = [
        "", "## 2b. Where each emission change comes from", "",
        f"The comparisons of section 2 ({steps} months, {seeds} paired seeds): the change of run emissions "
        "(`emissions_run_total`, every firm over its months in the park) split into technology abatement, "
        "link-avoided emissions, the output change of the firms present at the start while they stay, and exits "
        "net of entries (`metrics.emission_decomposition`, defined in docs/model.md so that the parts sum to the "
        "change; the first firms are the same in both arms). Mt CO2e, mean ± 95% interval; the last column is the "
        "change in exits of firms whose expected operating margin was positive (`exits_positive_margin_total`).", "",
        "| change | total | technology | links | output of staying firms | exits net of entries | "
        "positive-margin exits |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r[k][0] / 1e6:+.3g} ± {r[k][1] / 1e6:.2g}" for k in
                 ("total", "technology_abatement", "link_avoided", "output_of_staying_firms", "exits_net_of_entries")]
        mean, half = r["exits_positive_margin"]
        lines.append(f"| {r['change']} | " + " | ".join(cells) + f" | {mean:+.2f} ± {half:.2f} |")
    return lines


def policy_section(effects: list[dict[str, Any]], seeds: int, steps: int) -> list[str]:
    """Markdown lines of section 2: :func:`policy_directions` as a table, and how to read a verdict."""
    lines = [
        "", "## 2. Direction of every policy effect", "",
        f"The default park (`generic`), {steps} months, {seeds} paired seeds (the same seeds with and without "
        "the change): mean difference treated - base of the outcome, with a 95% interval "
        "(1.96 standard errors of the paired differences).", "",
        "| change | outcome | expected | base mean | difference (95% interval) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {e['change']} | `{e['outcome']}` | {e['expected']} | {e['base']:.4g} | "
              f"{e['mean']:+.4g} ± {e['half']:.3g} | {e['verdict']} |" for e in effects]
    lines += [
        "", "Where a verdict is *not significant*, the change moves the outcome less than seed-to-seed "
        "noise at this size; `docs/credit.md` explains why the price of green credit moves adoption "
        "little. Under a binding cap, emissions are set by the cap, so instruments that cheapen abatement "
        "lower the carbon price rather than emissions.",
    ]
    return lines
