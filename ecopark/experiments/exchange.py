"""Byproduct-exchange audits for the validation report: sector margins, the Changzhou rule,
the dose-response of every exchange instrument and the published sign tests (docs/byproduct.md).

- :func:`dose_response`, :func:`dose_effects`: each instrument of
  :data:`DOSES` at four doses in every preset, paired over seeds, on cross-firm reuse (mass and
  value), in-plant recycling, the resource recycling rate, links and public cost;
  :func:`binding_constraint` names what binds where the effect is null. Figures:
  ``python -m ecopark.experiments.exchange dose`` (:func:`main`).

- :func:`sector_margins`: each sector's operating margin in a run, from the ledger:
  (operating receipts - operating payments) / (sales + salvage), with the kinds in
  :data:`ecopark.metrics.OPERATING_IN` and ``OPERATING_OUT`` (no subsidies, finance or investment), beside
  the plausible range and its source in ``ecopark/data/margins.toml``.

The report's section 7, built from these (the dose-response table, the sign tests), is
``ecopark/validation/exchange.py``.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from ecopark.metrics import operating_accounts
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, presets


def margin_ranges() -> dict[str, dict]:
    """Plausible operating-margin range and its source per sector (``ecopark/data/margins.toml``)."""
    return tomllib.loads(resources.files("ecopark.data").joinpath("margins.toml").read_text())


def sector_margins(model: ParkModel) -> pd.DataFrame:
    """Per sector of a run's firms (alive or not): revenue = operating income (OPERATING_IN received, yuan), operating
    profit = sum of OPERATING_IN received - sum of OPERATING_OUT paid (yuan; both from
    :func:`ecopark.metrics.operating_accounts`), margin = profit / revenue, and the plausible
    range (lo, hi) with its source."""
    firms, cat = model.firms, model.catalogue
    rows = np.arange(firms.n)
    revenue, operating = operating_accounts(model)
    ranges = margin_ranges()
    table = []
    for i, key in enumerate(cat.sector_keys):
        mine = firms.sector[rows] == i
        if not mine.any():
            continue
        rev = float(revenue[mine].sum())
        profit = float(operating[mine].sum())
        lo, hi = ranges[key]["value"]
        table.append({"sector": key, "firms": int(mine.sum()), "revenue": rev, "profit": profit,
                      "margin": profit / rev if rev > 0 else 0.0, "lo": lo, "hi": hi,
                      "source": ranges[key]["source"]})
    return pd.DataFrame(table)


# -- the Changzhou rule ------------------------------------------------------------------------
#: A documented scenario for the Changzhou comparison (docs/byproduct.md): the generic park with
#: as many acid users (chlor-alkali) as acid generators (fine chemicals), so that spent-acid reuse
#: is not capped by need, no platform, bargaining under nash. Cross-firm utilisation of the
#: hazardous waste in months 25-36, the year before the rule, was near Changzhou's pre-rule 48%
#: on the generic preset before its calibration; 61% since (chance encounters twice as frequent
#: spread the acid links earlier; docs/byproduct.md). Not re-tuned: the park is the documented one.
CHANGZHOU: dict[str, object] = {
    "park.firms.chlor_alkali": 6, "park.firms.fine_chemicals": 6, "policies.platform.enabled": False,
    "byproduct_market.sharing_rule": "nash", "policies.posted_price_rule.share": 0.6,
}
CHANGZHOU_RULE: dict[str, object] = {"byproduct_market.sharing_rule": "posted_price",
                                     "policies.posted_price_rule.start": 37}
#: Changzhou's documented effect: utilisation +41 points to 89% in three years (DOMAIN.md section 4).
CHANGZHOU_DOCUMENTED = (0.48, 0.89)


def utilisation(model: ParkModel, stream: str, since: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """(delivered / generated of ``stream`` since the stream totals ``since``, the totals now)."""
    k = model.catalogue.stream_keys.index(stream)
    now = np.array([model.stream_totals["generated"][k], model.stream_totals["delivered"][k]])
    gen, used = now - (since if since is not None else 0.0)
    return (float(used / gen) if gen > 0 else 0.0), now


def changzhou_run(seed: int, rule: bool, friction: bool = True) -> tuple[float, float]:
    """Spent-acid utilisation in months 25-36 (the year before the rule) and 61-72 (the third
    year of the rule, which starts in month 37), in the :data:`CHANGZHOU` park with or without
    the rule."""
    overrides = {**CHANGZHOU, **(CHANGZHOU_RULE if rule else {}), "byproduct_market.negotiation": friction}
    model = ParkModel(load_scenario("generic", overrides), seed=seed)
    marks: dict[int, np.ndarray] = {}
    rates = {}
    for month in range(1, 73):
        model.step()
        if month in (24, 60):
            marks[month] = utilisation(model, "spent_acid")[1]
        if month in (36, 72):
            rates[month] = utilisation(model, "spent_acid", marks[month - 12])[0]
    return rates[36], rates[72]


def changzhou_effect(seeds: int, friction: bool = True) -> dict[str, float]:
    """The rule's effect on spent-acid utilisation in its third year, paired over ``seeds``: the
    year-before-rule utilisation, the third-year utilisation without and with the rule, and the
    mean paired difference with its 95% half-width (t interval)."""
    pre, without, with_rule = [], [], []
    for seed in range(seeds):
        before, base = changzhou_run(seed, False, friction)
        _, treated = changzhou_run(seed, True, friction)
        pre.append(before)
        without.append(base)
        with_rule.append(treated)
    diff = np.subtract(with_rule, without)
    return {"pre": float(np.mean(pre)), "without": float(np.mean(without)), "with": float(np.mean(with_rule)),
            "effect": float(diff.mean()), "half": _half_width(diff)}


def _half_width(diff: np.ndarray) -> float:
    """95% half-width of the mean of paired differences (Student t, n - 1 d.f.)."""
    n = len(diff)
    return float(student_t.ppf(0.975, n - 1) * np.std(diff, ddof=1) / np.sqrt(n)) if n > 1 else float("inf")


# -- dose-response of every exchange instrument ------------------------------------------------------
#: Instrument -> (unit of the dose, [(dose, overrides)], first dose = the instrument off). Doses are
#: absolute levels; every other instrument stays as the preset has it.
DOSES: dict[str, tuple[str, list[tuple[float, dict[str, object]]]]] = {
    "landfill tax": ("yuan/t", [(x, {"policies.landfill_tax.enabled": x > 0, "policies.landfill_tax.rate": x})
                                for x in (0.0, 25.0, 100.0, 300.0)]),
    "reuse subsidy": ("yuan/t", [(x, {"policies.reuse_subsidy.enabled": x > 0, "policies.reuse_subsidy.rate": x})
                                 for x in (0.0, 20.0, 100.0, 300.0)]),
    "capex subsidy": ("share of capex", [(x, {"policies.capex_subsidy.enabled": x > 0,
                                              "policies.capex_subsidy.share": x}) for x in (0.0, 0.15, 0.3, 0.5)]),
    "interest subsidy": ("bp/year", [(x, {"policies.interest_subsidy.enabled": x > 0,
                                          "policies.interest_subsidy.rate_bp": x}) for x in (0.0, 50.0, 150.0, 300.0)]),
    "risk compensation": ("cover share", [(x, {"policies.risk_compensation_fund.enabled": x > 0,
                                               "policies.risk_compensation_fund.cover_share": x})
                                          for x in (0.0, 0.3, 0.6, 0.9)]),
    "posted-price rule": ("fund's share of the disposal price", [(0.0, {"byproduct_market.sharing_rule": "nash"})] + [
        (x, {"byproduct_market.sharing_rule": "posted_price", "policies.posted_price_rule.share": 1.0 - x})
        for x in (0.1, 0.4, 0.7)]),
    "reuse quota": ("fine, yuan/unit", [(x, {"policies.reuse_quota.enabled": x > 0, "policies.reuse_quota.fine": x})
                                        for x in (0.0, 50.0, 200.0, 1000.0)]),
    "mandatory consumption": ("fine, yuan/t", [(x, {"policies.mandatory_consumption.enabled": x > 0,
                                                    "policies.mandatory_consumption.fine": x})
                                               for x in (0.0, 50.0, 200.0, 1000.0)]),
    "platform": ("25,000 yuan/link/month less its fee (0 = off)",
                 [(0.0, {"policies.platform.enabled": False})] + [
                     (25000.0 - fee, {"policies.platform.enabled": True, "policies.platform.fee": fee})
                     for fee in (20000.0, 5000.0, 0.0)]),
}
#: Outcomes of the dose-response (metric name -> label, with its unit).
DOSE_OUTCOMES = {
    "reuse_rate_mass_total": "cross-firm reuse by mass (share)",
    "reuse_rate_value_total": "cross-firm reuse by value (share)",
    "recycling_rate_in_plant": "in-plant recycling (share)",
    "resource_recycling_rate": "resource recycling rate (share)",
    "links_formed_total": "links formed (count)",
    "fiscal_cost": "public cost (yuan, net of taxes collected)",
}


def _dose_run(job: tuple[str, int, int, dict[str, object]]) -> dict[str, float]:
    """The :data:`DOSE_OUTCOMES` and diagnostics of one run (preset, seed, months, overrides)."""
    from ecopark import metrics

    preset, seed, months, overrides = job
    model = run_months(preset, overrides, seed, months)
    out = {name: float(getattr(metrics, name)(model)) for name in DOSE_OUTCOMES}
    bargaining = model.byproduct_market.bargaining
    out["breakdown_rate"] = bargaining.breakdowns / bargaining.attempts if bargaining.attempts else 0.0
    out["need_bound"] = need_bound(model)
    out["room_left"] = room_left(model)
    out["platform"] = float(model.policy("platform") is not None)
    return out


def need_cap(scenario: str = "generic") -> pd.Series:
    """Receivers' need at normal output / generation at normal output, per stream, in a park at
    the start (the most a stream's reuse by mass can reach is min(1, this) x contract_share)."""
    model = ParkModel(load_scenario(scenario), seed=0)
    generated, needed = model.byproduct_market.normal_generation(model.firms.live)
    gen = generated.sum(axis=0)
    return pd.Series(np.where(gen > 0, needed.sum(axis=0) / np.where(gen > 0, gen, 1.0), np.nan),
                     index=model.catalogue.stream_keys)


def need_bound(model: ParkModel) -> float:
    """The most cross-firm reuse by mass receivers' needs allow at normal output: sum over streams in t
    of min(generation, contract_share x need) / sum of generation (share)."""
    generated, needed = model.byproduct_market.normal_generation(model.firms.live)
    gen, need = generated.sum(axis=0), needed.sum(axis=0)
    mass = model.stream_is_mass
    share = model.scenario.byproduct_market.contract_share
    return float(np.minimum(gen, share * need)[mass].sum() / gen[mass].sum()) if gen[mass].sum() > 0 else 0.0


def room_left(model: ParkModel) -> float:
    """Tonnes a month that could still be matched at the end of a run, over generation at normal
    output (share): sum over streams in t of min(open supply, open demand) over the park's firms,
    where open = ``contract_share`` x normal quantity less what links commit
    (:meth:`ByproductMarket.open_quantities`). Near 0: receivers' needs (or suppliers' output) are
    taken; well above 0: supply and room exist but the pairs do not link."""
    market = model.byproduct_market
    _, supply, demand = market.open_quantities()
    generated, _ = market.normal_generation(model.firms.live)
    mass = model.stream_is_mass
    total = generated[:, mass].sum()
    open_ = np.minimum(np.clip(supply, 0, None).sum(axis=0), np.clip(demand, 0, None).sum(axis=0))
    return float(open_[mass].sum() / total) if total > 0 else 0.0


def dose_response(presets_: tuple[str, ...], seeds: int, months: int, workers: int = 1,
                  instruments: tuple[str, ...] = tuple(DOSES)) -> pd.DataFrame:
    """Every instrument of :data:`DOSES` at each dose, in each preset, on seeds 0..seeds-1: one row per
    (preset, instrument, dose, seed) with the :data:`DOSE_OUTCOMES`, the negotiation breakdown rate and
    the needs bound (:func:`need_bound`). Runs whose scenario is the same (a dose equal to the
    preset's level, or an instrument off that the preset does not have) are run once.
    ``workers`` > 1 runs them in a pool of processes that end with their parent."""
    from ecopark.experiments.batch import worker_pool

    cells, jobs, index = [], [], {}
    for preset in presets_:
        for instrument in instruments:
            for dose, overrides in DOSES[instrument][1]:
                key = repr(load_scenario(preset, overrides))
                for seed in range(seeds):
                    if (key, seed) not in index:
                        index[key, seed] = len(jobs)
                        jobs.append((preset, seed, months, overrides))
                    cells.append((preset, instrument, dose, seed, index[key, seed]))
    if workers > 1:
        with worker_pool(workers) as pool:
            results = list(pool.map(_dose_run, jobs))
    else:
        results = [_dose_run(job) for job in jobs]
    return pd.DataFrame([{"preset": p, "instrument": i, "dose": d, "seed": s, **results[j]}
                         for p, i, d, s, j in cells])


def dose_effects(runs: pd.DataFrame) -> pd.DataFrame:
    """Paired effects of each dose against the instrument off (the first dose), per preset,
    instrument and outcome: mean difference over seeds and its 95% half-width (t interval), with the
    level off, the breakdown rate and the needs bound off (for naming what binds)."""
    rows = []
    for (preset, instrument), group in runs.groupby(["preset", "instrument"], sort=False):
        doses = [d for d, _ in DOSES[instrument][1]]
        off = group[group.dose == doses[0]].set_index("seed")
        for dose in doses[1:]:
            on = group[group.dose == dose].set_index("seed").loc[off.index]
            for outcome in DOSE_OUTCOMES:
                diff = (on[outcome] - off[outcome]).to_numpy()
                rows.append({"preset": preset, "instrument": instrument, "dose": dose, "outcome": outcome,
                             "off": float(off[outcome].mean()), "effect": float(diff.mean()),
                             "half": _half_width(diff), "breakdown_off": float(off["breakdown_rate"].mean()),
                             "need_bound": float(off["need_bound"].mean()),
                             "room_left": float(off["room_left"].mean()), "platform": float(off["platform"].mean())})
    return pd.DataFrame(rows)


def binding_constraint(preset: str, instrument: str, cells: pd.DataFrame) -> str:
    """Why an instrument leaves cross-firm reuse by mass unchanged in a preset (``cells``: its
    :func:`dose_effects` rows), from the runs with it off: it does not act (no money moves and
    nothing changes); receivers' needs (reuse within 10% of :func:`need_bound`, or under 2% of
    generation left with both open supply and room, :func:`room_left`); else a transfer to links
    that form anyway, with the share of generation that could still be matched and what holds it
    back (discovery without the platform, distance, breakdowns, pairs that do not pay)."""
    reuse = cells[cells.outcome == "reuse_rate_mass_total"]
    cost = cells[cells.outcome == "fiscal_cost"]
    if (cost.effect.abs() < 1.0).all() and (reuse.effect.abs() < 1e-9).all():
        return "does not act in this preset (nothing it prices: no covered stream, sector or link)"
    off, bound = float(reuse.off.iloc[0]), float(reuse.need_bound.iloc[0])
    room, platform = float(reuse.room_left.iloc[0]), bool(reuse.platform.iloc[0] > 0.5)
    if off >= 0.9 * bound or room < 0.02:
        return (f"no room left to match: only {room:.1%} of generation finds both open supply and a receiver with "
                f"open need (reuse {off:.1%} against a needs bound of {bound:.1%}; the rest of that bound goes to "
                "in-plant recycling, sales outside and deliveries short of contracts)")
    spent = float(cost.effect.iloc[-1])
    why = ("who has met whom (no platform), distance, " if not platform else "distance (max_distance, transport), ")
    held = (f"{room:.1%} of generation still finds open supply and a receiver with room, held back by {why}"
            f"negotiation breakdowns ({float(reuse.breakdown_off.iloc[0]):.0%} of negotiations) and pairs that "
            "do not pay even with the instrument")
    if abs(spent) >= 1.0:
        return (f"a transfer: {abs(spent) / 1e6:,.0f} M yuan {'paid' if spent > 0 else 'collected'} at the highest "
                f"dose, to or from links that form anyway (reuse {off:.1%}, needs bound {bound:.1%}); {held}")
    return f"too small to change any link's decision (no money moves at the doses tried); {held}"


def dose_figures(effects: pd.DataFrame, out: str, outcomes: tuple[str, ...] = (
        "reuse_rate_mass_total", "recycling_rate_in_plant", "links_formed_total", "fiscal_cost")) -> list[str]:
    """One PNG per outcome in folder ``out``: for each instrument (panel), the paired effect against
    the instrument off at each dose, one line per preset, with 95% intervals. Returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(out).mkdir(parents=True, exist_ok=True)
    paths = []
    for outcome in outcomes:
        data = effects[effects.outcome == outcome]
        fig, axes = plt.subplots(3, 3, figsize=(12, 10), sharey=False)
        for ax, instrument in zip(axes.ravel(), DOSES, strict=True):
            unit, doses = DOSES[instrument]
            for preset, group in data[data.instrument == instrument].groupby("preset"):
                x = [doses[0][0], *group.dose]
                scale = 1e-6 if outcome == "fiscal_cost" else (100.0 if "rate" in outcome else 1.0)
                y = np.r_[0.0, group.effect] * scale
                h = np.r_[0.0, group.half.fillna(0.0)] * scale
                ax.errorbar(x, y, yerr=h, marker="o", capsize=3, label=preset)
            ax.axhline(0.0, color="grey", lw=0.8)
            ax.set_title(instrument, fontsize=10)
            ax.set_xlabel(unit, fontsize=8)
        axes[0, 0].legend(fontsize=8)
        ylabel = {"fiscal_cost": "change in public cost (M yuan)", "links_formed_total": "change in links formed"}
        fig.supylabel(ylabel.get(outcome, f"change in {DOSE_OUTCOMES[outcome].split(' (')[0]} (points)"))
        fig.suptitle(f"Dose-response against the instrument off: {DOSE_OUTCOMES[outcome]} (95% intervals)")
        fig.tight_layout()
        path = str(Path(out) / f"dose_{outcome}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def fraccascia_signs(seeds: int, months: int, scenarios: tuple[str, ...], workers: int = 1) -> pd.DataFrame:
    """Sign tests of Fraccascia, Giannoccaro and Albino (2017): a landfill tax (100 yuan/t) and an
    exchange subsidy (100 yuan/t) each raise symbiosis, platform off and on, in every scenario,
    measured on links formed and on cross-firm reuse by mass: paired mean differences (treated -
    instrument off) with their 95% half-widths."""
    from ecopark.experiments.batch import worker_pool

    arms = {"landfill tax 100 yuan/t": ({"policies.landfill_tax.enabled": False},
                                        {"policies.landfill_tax.enabled": True, "policies.landfill_tax.rate": 100.0}),
            "reuse subsidy 100 yuan/t": ({"policies.reuse_subsidy.enabled": False},
                                         {"policies.reuse_subsidy.enabled": True,
                                          "policies.reuse_subsidy.rate": 100.0})}
    cells = [(scenario, platform, label, seed, arm)
             for scenario in scenarios for platform in (False, True) for label, pair in arms.items()
             for seed in range(seeds) for arm in pair]
    jobs = [(scenario, seed, months, {**arm, "policies.platform.enabled": platform})
            for scenario, platform, _, seed, arm in cells]
    if workers > 1:
        with worker_pool(workers) as pool:
            results = list(pool.map(_dose_run, jobs))
    else:
        results = [_dose_run(job) for job in jobs]
    rows = []
    for i in range(0, len(cells), 2 * seeds):
        scenario, platform, label = cells[i][:3]
        pairs = [(results[j], results[j + 1]) for j in range(i, i + 2 * seeds, 2)]
        row = {"scenario": scenario, "platform": platform, "instrument": label}
        for outcome, name in (("links_formed_total", "links"), ("reuse_rate_mass_total", "reuse")):
            d = np.array([on[outcome] - off[outcome] for off, on in pairs], dtype=float)
            row[name], row[f"{name}_half"] = float(d.mean()), _half_width(d)
        rows.append(row)
    return pd.DataFrame(rows)


def run_months(scenario: str, overrides: dict, seed: int, months: int) -> ParkModel:
    model = ParkModel(load_scenario(scenario, overrides), seed=seed)
    for _ in range(months):
        model.step()
    return model


def main(argv: list[str] | None = None) -> None:
    """``python -m ecopark.experiments.exchange dose [--quick] [--workers N] [--seeds N] [--months N]
    [--presets a,b] [--out DIR]``: run the dose-response grid, write its paired effects
    (``dose_effects.csv``) and one figure per outcome (:func:`dose_figures`) into ``DIR``
    (default docs/figures), and print the time it took."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m ecopark.experiments.exchange",
                                     description="Dose-response of every exchange instrument (docs/byproduct.md).")
    parser.add_argument("what", choices=["dose"])
    parser.add_argument("--quick", action="store_true", help="generic only, 2 seeds, 12 months")
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--seeds", type=int, default=6, help="paired seeds (default 6)")
    parser.add_argument("--months", type=int, default=60, help="months a run (default 60)")
    parser.add_argument("--presets", default=",".join(presets()), help="comma-separated presets (default all)")
    parser.add_argument("--out", default="docs/figures", help="folder for the CSV and figures")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.seeds < 2 or args.months < 1:
        parser.error("--workers and --months must be at least 1 and --seeds at least 2")
    chosen = ("generic",) if args.quick else tuple(p for p in args.presets.split(",") if p)
    unknown = sorted(set(chosen) - set(presets()))
    if unknown:
        parser.error(f"--presets: unknown preset {unknown[0]}; allowed: {', '.join(presets())}")
    seeds, months = (2, 12) if args.quick else (args.seeds, args.months)
    start = time.perf_counter()
    effects = dose_effects(dose_response(chosen, seeds, months, args.workers))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    effects.to_csv(Path(args.out) / "dose_effects.csv", index=False)
    for path in dose_figures(effects, args.out):
        print(path)
    print(f"{len(chosen)} preset(s), {seeds} seeds, {months} months, {args.workers} worker(s): "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
