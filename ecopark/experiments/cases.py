"""The case library beside the industry report's figures (issue 26 item 6; docs/cases.md).

Each case of ``ecopark/scenarios/cases/`` (and the Qinzhou preset's remanufacturing) is run over
seeds; every figure the document states for it is set beside the simulated one (mean and 95%
interval, 1.96 standard errors over the seeds) and, where they differ, the constraint that binds
is named (:func:`diagnose`). The documents' figures are yearly (2023), so a case is run over its
horizon and measured over its **final year** (the last 12 months), after the first years in
which links are negotiated and built; a multi-year change (Changzhou: +41 points in three years)
is measured as the paired difference, over the same seeds, between the case and the case without
its rule at the end of the same horizon.

Final-year measures (``final_year``; units per year, streams in tonnes):

* ``reuse_rate[k]`` = delivered_k / generated_k over the final year (cross-firm reuse of stream k);
* ``hazardous_reuse`` = sum over hazardous streams of delivered / generated (Changzhou's
  "cross-firm utilisation of hazardous waste");
* ``waste_reused_t`` = delivered + recycled in-plant, over streams in tonnes (Tianjin Ziya's and
  Chengdu's "solid waste" figures; in the model a reused tonne is one not disposed of);
* ``input_cost_saved`` = sum_k delivered_k x virgin_price_k (the receivers' purchases of the
  input the stream replaces: Tianjin Ziya's "raw-material purchase cost");
* ``disposal_avoided`` = sum_k delivered_k x max(disposal_cost_k, 0) (the generators' disposal
  bills avoided: Shaoxing, Changzhou);
* ``green_power_share`` = green MWh / MWh used; ``pool_sales`` = the carbon pool's sales (ledger
  kind ``allowance_sale`` received by the operator);
* run-level: ``exchange_chains_final`` and ``platform_success_rate`` (ecopark/metrics/exchange.py, targets.py).

Run: ``python -m ecopark.experiments.cases --seeds 6`` (prints the table of docs/cases.md; the table is the
validation report's section 9, ``ecopark/validation/cases.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ecopark.experiments.preset_fit import mean_interval

#: Months of the final year over which yearly figures are measured.
YEAR = 12
#: Measures that are shares (printed in per cent).
SHARE_MEASURES = ("hazardous_reuse", "platform_success_rate", "green_power_share", "resource_recycling_rate")


@dataclass(frozen=True)
class Figure:
    """A documented figure of a case: ``label`` (with the document's words), the documented value,
    the key of the simulated measure (a key of :func:`final_year` or ``delta:<key>`` for the paired
    difference against ``Case.without``), how close counts as a fit (absolute), and the stream whose
    constraint :func:`diagnose` reads where they differ."""

    label: str
    documented: float
    measure: str
    tolerance: float
    stream: str | None = None
    why: str = ""  # a mechanism reason that holds whatever the run (prefixed to the diagnosis)

    @property
    def share(self) -> bool:
        """Whether the figure is a share (printed in per cent)."""
        return self.measure.split(":")[-1] in SHARE_MEASURES or self.measure.startswith("reuse_rate:")


@dataclass(frozen=True)
class Case:
    """A case: its scenario, its figures, the overrides that remove its rule (for ``delta:`` figures),
    a note on what is not measured, and overrides of the scenario for the case (if any)."""

    name: str
    scenario: str
    figures: tuple[Figure, ...]
    without: tuple[str, ...] = ()
    note: str = ""
    overrides: tuple[str, ...] = ()


CASES: tuple[Case, ...] = (
    Case("Tianjin Ziya", "tianjin_ziya", (
        Figure("cycle chains (17 among 32 firms)", 17, "exchange_chains_final", 3),
        Figure("solid waste cut, kt a year (120)", 120, "waste_reused_kt", 30, "scrap_metal"),
        Figure("raw-material cost cut, bn yuan a year (0.86)", 0.86, "input_cost_saved_bn", 0.2, "scrap_metal"),
    ), note="the smelter's flue heat raising steam for a food plant is not represented (catalogue copper "
            "yields waste heat, food plants need steam)"),
    Case("Changzhou", "changzhou", (
        Figure("hazardous waste used across firms after three years (89%)", 0.89, "hazardous_reuse", 0.05,
               "spent_acid"),
        Figure("... rise over the rule's three years (+41 points)", 0.41, "delta:hazardous_reuse", 0.05, "spent_acid",
               why="the rule moves money, not tonnes: the acid links already pay under Nash bargaining "
                   "(disposal 1,500 > virgin 600 yuan/t), so the same links form without it; "),
        Figure("hazardous-waste fees saved, M yuan a year (18 for one drug maker; simulated: the park's)", 18.0,
               "disposal_avoided_m", 5, "spent_acid"),
    ), without=("byproduct_market.sharing_rule=nash", "policies.posted_price_rule.enabled=false")),
    Case("Ningbo", "ningbo", (
        Figure("platform exchange success rate (91.5%)", 0.915, "platform_success_rate", 0.05),
    ), note="execution time (14 days to 36 hours) is not measured: the model's step is a month"),
    Case("Chengdu", "chengdu", (
        Figure("new cycle chains among 19 firms (12)", 12, "exchange_chains_final", 3),
        Figure("solid waste used, kt a year (87)", 87, "waste_reused_kt", 20, "slag"),
    )),
    Case("Ordos", "ordos", (
        Figure("carbon pool sales, M yuan a year (120)", 120, "pool_sales_m", 30, None),
        Figure("green power share of use (above 70%)", 0.70, "green_power_share", 0.10),
    ), note="the largest single firm's payout (18 M yuan) is not measured: the ledger books payouts by party"),
    Case("Weifang", "weifang", (
        Figure("raw-material utilisation (91.3%)", 0.913, "resource_recycling_rate", 0.05, "chlorine"),
        Figure("chlorine piped to pesticide plants (the chain runs; fits if over half is used)", 1.0,
               "reuse_rate:chlorine", 0.5, "chlorine"),
        Figure("pesticide waste acid to TiO2 (the chain runs; fits if over half is used)", 1.0,
               "reuse_rate:waste_sulfuric_acid", 0.5, "waste_sulfuric_acid"),
    )),
    Case("Shaoxing", "shaoxing", (
        Figure("disposal cost saved, M yuan a year (above 20)", 20, "disposal_avoided_m", 5, "spent_caustic"),
    )),
    Case("Zouping", "zouping", (
        Figure("aluminium ash used (above 95%)", 0.95, "reuse_rate:aluminium_dross", 0.05, "aluminium_dross"),
        Figure("aluminium ash treated, kt a year (150)", 150, "delivered_kt:aluminium_dross", 30,
               "aluminium_dross"),
    )),
    Case("Qinzhou remanufacturing", "qinzhou", (
        Figure("worn machines remanufactured in the park (no figure; fits if over half is used)", 1.0,
               "reuse_rate:worn_machines", 0.5, "worn_machines"),
    ), note="the document gives no figure; the share shows whether the remanufacturing link forms"),
)


def final_year(model: Any, before: dict[str, Any]) -> dict[str, float]:
    """The final-year measures of the module docstring, from ``model`` at the end of the run and
    ``before`` = :func:`snapshot` of it 12 months earlier."""
    from ecopark.metrics import exchange_chains_final, platform_success_rate

    cat = model.catalogue
    delta = {k: model.stream_totals[k] - before[k] for k in ("generated", "delivered", "recycled", "sold_outside")}
    mass, hazardous = model.stream_is_mass, cat.stream_array("hazardous") > 0
    gen, dlv = delta["generated"], delta["delivered"]
    rate = np.divide(dlv, gen, out=np.zeros_like(gen), where=gen > 0)
    haz_gen = gen[hazardous & mass].sum()
    out = {
        "exchange_chains_final": exchange_chains_final(model),
        "platform_success_rate": platform_success_rate(model),
        "hazardous_reuse": float(dlv[hazardous & mass].sum() / haz_gen) if haz_gen > 0 else 0.0,
        "waste_reused_kt": float((dlv + delta["recycled"])[mass].sum() / 1e3),
        "input_cost_saved_bn": float(dlv @ cat.stream_array("virgin_price") / 1e9),
        "disposal_avoided_m": float(dlv @ np.maximum(cat.stream_array("disposal_cost"), 0.0) / 1e6),
        "pool_sales_m": (model.ledger.flow("allowance_sale", None, "operator") - before["pool_sales"]) / 1e6,
    }
    e_use = model.electricity.totals["use"] - before["e_use"]
    out["green_power_share"] = float((model.electricity.totals["green"] - before["e_green"]) / e_use) if e_use else 0.0
    gen_t = gen[mass].sum()
    kept = (dlv + delta["recycled"] + delta["sold_outside"])[mass].sum()
    out["resource_recycling_rate"] = float(kept / gen_t) if gen_t > 0 else 0.0
    for j, key in enumerate(cat.stream_keys):
        out[f"reuse_rate:{key}"] = float(rate[j])
        out[f"delivered_kt:{key}"] = float(dlv[j] / 1e3)
    return out


def snapshot(model: Any) -> dict[str, Any]:
    """The cumulative totals :func:`final_year` differences against."""
    return {**{k: v.copy() for k, v in model.stream_totals.items()},
            "pool_sales": model.ledger.flow("allowance_sale", None, "operator"),
            "e_use": model.electricity.totals["use"], "e_green": model.electricity.totals["green"]}


def case_run(scenario: str, seed: int, overrides: Sequence[str] = ()) -> tuple[Any, dict[str, float]]:
    """Run ``scenario`` over its horizon with ``seed``; (the model, its final-year measures)."""
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario

    spec = load_scenario(scenario, list(overrides))
    horizon = spec.park.horizon
    model = ParkModel(spec, seed=seed)
    for _ in range(max(horizon - YEAR, 0)):
        model.step()
    before = snapshot(model)
    for _ in range(min(YEAR, horizon)):
        model.step()
    return model, final_year(model, before)


def diagnose(model: Any, measures: dict[str, float], figure: Figure, simulated: float) -> str:
    """Which constraint binds where a simulated figure misses the documented one (``measures``: the
    run's :func:`final_year`): a figure over tonnes or their value that overshoots names the stream
    that carries most of it; otherwise, for the figure's stream, supply beyond the park's receivers'
    need (demand binds), uncarried tonnes (links not formed or not paying) or supply (supply binds);
    the platform's success rate and the carbon pool's sales name their own constraints."""
    return figure.why + _binds(model, figure, simulated, measures)


def _binds(model: Any, figure: Figure, simulated: float, measures: dict[str, float]) -> str:
    cat = model.catalogue
    if figure.measure in ("waste_reused_kt", "input_cost_saved_bn") and simulated > figure.documented:
        weight = {"waste_reused_kt": np.ones(len(cat.streams)),
                  "input_cost_saved_bn": cat.stream_array("virgin_price")}[figure.measure]
        value = np.array([measures[f"delivered_kt:{k}"] for k in cat.stream_keys]) * weight
        top = cat.stream_keys[int(np.argmax(value))]
        return (f"the case's park reuses more than the document's: {value.max() / value.sum():.0%} of it is {top} "
                f"({measures[f'delivered_kt:{top}']:,.0f} kt a year; firm counts and sizes are assumptions)")
    if figure.measure == "platform_success_rate":
        market = model.byproduct_market
        bargaining = market.bargaining
        return (f"of {market.platform_proposed} proposals {market.platform_formed} became links; a proposal fails on "
                f"negotiation cost, breakdown ({bargaining.breakdowns} of {bargaining.attempts} negotiations) or "
                "a side's NPV after financing its capex")
    if figure.measure == "pool_sales_m":
        from ecopark.metrics import carbon_price

        return (f"the pool sells only reductions verified at firms outside the cap, at the carbon price (about "
                f"{carbon_price(model):.0f} yuan/t at the end), and buyers may use offsets for at most "
                f"offset_limit = {model.scenario.policies['cap_and_trade'].offset_limit:.0%} of their obligations")
    if figure.measure == "exchange_chains_final":
        from ecopark.experiments.preset_fit import chain_ceiling

        return (f"the case's sectors allow at most {chain_ceiling(model.scenario)} chains (catalogue: who yields "
                "and who needs what; firm counts per sector are assumptions)")
    if figure.measure == "green_power_share":
        from ecopark.agents.electricity import load_green_power

        return (f"PV with storage serves at most coverable_share = {load_green_power().coverable_share:.0%} of "
                "a buyer's use, and sectors whose grid tariff is below the green price "
                f"({model.scenario.operator.green_power.price:.0f} yuan/MWh) do not buy")
    if figure.stream is None:
        return "see the case note"
    cat, market = model.catalogue, model.byproduct_market
    k = cat.stream_keys.index(figure.stream)
    gen, need = market.normal_generation(model.firms.live)
    supply, demand = float(gen[:, k].sum()), float(need[:, k].sum())
    unit = cat.streams[figure.stream].unit
    committed_out, _ = market.committed()
    carried = float(committed_out[:, k].sum())
    if supply <= 0:
        return f"no {figure.stream} is generated in the park"
    uncarried = (f"links carry {carried:,.0f} of the {min(supply, demand):,.0f} {unit}/month that could be reused "
                 "(pairs not linked or whose link does not pay, and the uncommitted 1 - contract_share)")
    if demand < 0.9 * supply:
        return (f"demand binds: the park's receivers need {demand:,.0f} of the {supply:,.0f} {unit}/month of "
                f"{figure.stream} generated at normal output (at most {demand / supply:.0%})"
                + (f"; and {uncarried}" if carried < 0.9 * demand else ""))
    if carried < 0.9 * min(supply, demand):
        return uncarried
    if simulated < figure.documented:
        return f"supply binds: {supply:,.0f} {unit}/month of {figure.stream} at normal output, reused in full"
    return f"the park's {figure.stream} flow exceeds the document's (firm counts and sizes are assumptions)"


def case_rows(seeds: Sequence[int] = tuple(range(6)), cases: Sequence[Case] = CASES,
              run: Callable[..., tuple[Any, dict[str, float]]] = case_run) -> list[dict[str, Any]]:
    """One row per documented figure: case, figure, documented, simulated mean and 95% half-width
    over ``seeds``, whether it fits (|mean - documented| <= tolerance) and, if not, what binds
    (read on the last seed's run)."""
    rows = []
    for case in cases:
        runs = [run(case.scenario, seed, case.overrides) for seed in seeds]
        base = ([run(case.scenario, seed, (*case.overrides, *case.without))[1] for seed in seeds]
                if any(f.measure.startswith("delta:") for f in case.figures) else [])
        for figure in case.figures:
            if figure.measure.startswith("delta:"):
                key = figure.measure[6:]
                values = [m[key] - b[key] for (_, m), b in zip(runs, base, strict=True)]
            else:
                values = [m[figure.measure] for _, m in runs]
            mean, half = mean_interval(values)
            fits = abs(mean - figure.documented) <= figure.tolerance
            rows.append({"case": case.name, "scenario": case.scenario, "figure": figure.label,
                         "documented": figure.documented, "mean": mean, "half": half, "fits": fits,
                         "share": figure.share,
                         "binds": "" if fits else diagnose(*runs[-1], figure=figure, simulated=mean),
                         "note": case.note})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecopark.experiments.cases",
                                     description="The case library beside the industry report's figures.")
    parser.add_argument("--seeds", type=int, default=6, help="seeds 0..N-1 (default 6)")
    args = parser.parse_args(argv)
    from ecopark.validation.cases import section

    print("\n".join(section(tuple(range(args.seeds)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
