"""Byproduct-exchange audits for the validation report: sector margins, the Changzhou rule,
and where each instrument binds (docs/byproduct.md).

- :func:`sector_margins`: each sector's operating margin in a run, from the ledger:
  (operating receipts - operating payments) / (sales + salvage), with the kinds in
  :data:`ecopark.metrics.OPERATING_IN` and ``OPERATING_OUT`` (no subsidies, finance or investment), beside
  the plausible range and its source in ``ecopark/data/margins.toml``.
"""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from ecopark.metrics import operating_accounts, reuse_rate_mass_total
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, presets


def margin_ranges() -> dict[str, dict]:
    """Plausible operating-margin range and its source per sector (``ecopark/data/margins.toml``)."""
    return tomllib.loads(resources.files("ecopark.data").joinpath("margins.toml").read_text())


def sector_margins(model: ParkModel) -> pd.DataFrame:
    """Per sector of a run's firms (alive or not): revenue = sales + salvage (yuan), operating
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


# -- where instruments bind -----------------------------------------------------------------------
#: Instrument -> (scenario key, levels): landfill tax yuan/t, reuse subsidy yuan/unit, capex subsidy share,
#: platform off/on (0/1).
INSTRUMENTS: dict[str, tuple[str, tuple[float, ...]]] = {
    "landfill tax (yuan/t)": ("policies.landfill_tax.rate", (0.0, 50.0, 150.0, 300.0)),
    "reuse subsidy (yuan/t)": ("policies.reuse_subsidy.rate", (0.0, 50.0, 200.0, 500.0)),
    "capex subsidy (share)": ("policies.capex_subsidy.share", (0.0, 0.15, 0.3, 0.5)),
    "platform (off/on)": ("policies.platform.enabled", (0.0, 1.0)),
}


def _level(key: str, level: float) -> dict[str, object]:
    return {key: bool(level)} if key.endswith("enabled") else {key: level}


def _reuse_by_stream(model: ParkModel) -> np.ndarray:
    totals = model.stream_totals
    gen = totals["generated"]
    return np.where(gen > 0, totals["delivered"] / np.where(gen > 0, gen, 1.0), np.nan)


def need_cap(scenario: str = "generic") -> pd.Series:
    """Receivers' need at normal output / generation at normal output, per stream, in a park at
    the start (the most a stream's reuse by mass can reach is min(1, this) x contract_share)."""
    model = ParkModel(load_scenario(scenario), seed=0)
    generated, needed = model.byproduct_market.normal_generation(model.firms.live)
    gen = generated.sum(axis=0)
    return pd.Series(np.where(gen > 0, needed.sum(axis=0) / np.where(gen > 0, gen, 1.0), np.nan),
                     index=model.catalogue.stream_keys)


def instrument_slopes(seeds: int, months: int) -> pd.DataFrame:
    """For each instrument of :data:`INSTRUMENTS`, the slope of each outcome on the level (OLS over
    the levels within each seed, the same seeds at every level), its mean over seeds with a 95%
    interval, and the outcome at the lowest level. Outcomes: links formed, reuse by mass, and
    each stream's reuse (delivered / generated)."""
    keys: tuple[str, ...] = ()
    rows = []
    for label, (key, levels) in INSTRUMENTS.items():
        per_seed, bases = [], []
        for seed in range(seeds):
            outcomes = []
            for level in levels:
                model = ParkModel(load_scenario("generic", _level(key, level)), seed=seed)
                for _ in range(months):
                    model.step()
                keys = model.catalogue.stream_keys
                outcomes.append(np.r_[model.byproduct_market.links.n, reuse_rate_mass_total(model),
                                      _reuse_by_stream(model)])
            y = np.array(outcomes)
            x = np.asarray(levels) - np.mean(levels)
            per_seed.append((x @ (y - y.mean(axis=0))) / (x @ x))
            bases.append(y[0])
        slopes, base = np.array(per_seed), np.nanmean(bases, axis=0)
        names = ["links_formed_total", "reuse_rate_mass_total"] + [f"reuse: {k}" for k in keys]
        for j, name in enumerate(names):
            col = slopes[:, j]
            if np.isnan(col).any():
                continue
            rows.append({"instrument": label, "outcome": name, "slope": float(col.mean()),
                         "half": _half_width(col), "base": float(base[j]),
                         "span": float(levels[-1] - levels[0])})
    return pd.DataFrame(rows)


def fraccascia_signs(seeds: int, months: int, scenarios: tuple[str, ...]) -> pd.DataFrame:
    """Sign tests of Fraccascia, Giannoccaro and Albino (2017): a landfill tax (100 yuan/t) and an
    exchange subsidy (100 yuan/unit) each raise links formed, platform off and on, in every
    scenario: paired mean difference (treated - instrument off) with its 95% interval."""
    arms = {"landfill tax 100 yuan/t": ({"policies.landfill_tax.enabled": False},
                                        {"policies.landfill_tax.enabled": True, "policies.landfill_tax.rate": 100.0}),
            "reuse subsidy 100 yuan/t": ({"policies.reuse_subsidy.enabled": False},
                                            {"policies.reuse_subsidy.enabled": True,
                                             "policies.reuse_subsidy.rate": 100.0})}
    rows = []
    for scenario in scenarios:
        for platform in (False, True):
            for label, (base, treated) in arms.items():
                diff = []
                for seed in range(seeds):
                    counts = []
                    for arm in (base, treated):
                        model = ParkModel(load_scenario(scenario, {**arm, "policies.platform.enabled": platform}),
                                          seed=seed)
                        for _ in range(months):
                            model.step()
                        counts.append(model.byproduct_market.links.n)
                    diff.append(counts[1] - counts[0])
                d = np.array(diff, dtype=float)
                rows.append({"scenario": scenario, "platform": platform, "instrument": label,
                             "effect": float(d.mean()), "half": _half_width(d)})
    return pd.DataFrame(rows)


def report_section(quick: bool = False) -> list[str]:
    """Markdown lines of the validation report's byproduct-exchange section (docs/validation.md)."""
    margin_seeds, months = (1, 24) if quick else (3, 60)
    cz_seeds = 2 if quick else 10
    slope_seeds, slope_months = (2, 12) if quick else (6, 48)
    sign_seeds, sign_months, sign_scenarios = (1, 12, ("generic",)) if quick else (6, 36, tuple(presets()))
    lines = ["", "## 7. Byproduct exchange: margins, the Changzhou rule, where instruments bind", "",
             f"### Sector operating margins (`generic`, {months} months, mean over {margin_seeds} seed(s))", "",
             "Operating margin = (operating receipts - operating payments) / (sales + byproduct sales), "
             "from the ledger (`ecopark/experiments/exchange.py`, `sector_margins`); the range and its source "
             "are in `ecopark/data/margins.toml`.", "",
             "| sector | margin | plausible range | in range | source |", "|---|---|---|---|---|"]
    tables = [sector_margins(_ran("generic", {}, seed, months)) for seed in range(margin_seeds)]
    margins = pd.concat(tables).groupby("sector", sort=False).agg(
        margin=("margin", "mean"), lo=("lo", "first"), hi=("hi", "first"), source=("source", "first"))
    for sector, row in margins.iterrows():
        ok = row.lo <= row.margin <= row.hi
        lines.append(f"| {sector} | {row.margin:.1%} | {row.lo:.0%} to {row.hi:.0%} | {'yes' if ok else '**no**'} | "
                     f"{row.source} |")
    effect = changzhou_effect(cz_seeds)
    bare = changzhou_effect(cz_seeds, friction=False)
    pre, post = CHANGZHOU_DOCUMENTED
    lines += ["", f"### The Changzhou posted-price rule ({cz_seeds} paired seeds)", "",
              "The documented scenario `CHANGZHOU` (generic park with six acid users, no platform, nash "
              "bargaining); the rule (generator pays the user 60% of the disposal price, the fund 40%) starts in "
              "month 37. Spent-acid cross-firm utilisation:", "",
              "| | year before the rule | third year, no rule | third year, rule | effect (95% interval) |",
              "|---|---|---|---|---|",
              f"| documents (DOMAIN.md 4) | {pre:.0%} | | {post:.0%} | +{post - pre:.0%} (before-after) |",
              f"| model, bargaining friction on | {effect['pre']:.1%} | {effect['without']:.1%} | "
              f"{effect['with']:.1%} | {effect['effect']:+.1%} ± {effect['half']:.1%} |",
              f"| model, friction off | {bare['pre']:.1%} | {bare['without']:.1%} | {bare['with']:.1%} | "
              f"{bare['effect']:+.1%} ± {bare['half']:.1%} |", "",
              "The model's effect is the rule's alone (paired against the same park without it); the documents' "
              "+41 points is a before-after change that also contains three years of growth in links (the "
              "model's own before-after change is the 'rule' column minus the first). Firms of the calibrated "
              "generic park meet by chance 0.63 times a month, so most acid generators have met a user before "
              "the rule starts and utilisation the year before is above Changzhou's 48%; a fixed price does not "
              "find partners: the rule removes the haggling (cost, delay, breakdown) of pairs that have met.", ""]
    slopes = instrument_slopes(slope_seeds, slope_months)
    cap = need_cap()
    lines += [f"### Where instruments bind (`generic`, {slope_months} months, {slope_seeds} paired seeds)", "",
              "Slope of the outcome on the instrument's level (OLS over the levels within each seed), times the "
              "span of levels tried, with a 95% interval over seeds; per-stream reuse where the slope is not "
              "zero. `need/generation` is receivers' need over generation at normal output: where it is below 1, "
              "receivers' needs cap reuse of that stream at that share (times `contract_share`).", "",
              "| instrument (levels) | outcome | at lowest level | change over the span (95% interval) | "
              "need/generation |", "|---|---|---|---|---|"]
    for _, row in slopes.iterrows():
        stream = row.outcome.removeprefix("reuse: ")
        if stream != row.outcome and abs(row.slope) * row.span < 1e-4:
            continue
        levels = ", ".join(f"{x:g}" for x in INSTRUMENTS[row.instrument][1])
        ratio = f"{cap[stream]:.2f}" if stream in cap.index else ""
        lines.append(f"| {row.instrument} ({levels}) | `{row.outcome}` | {row.base:.3g} | "
                     f"{row.slope * row.span:+.3g} ± {row.half * row.span:.2g} | {ratio} |")
    signs = fraccascia_signs(sign_seeds, sign_months, sign_scenarios)
    lines += ["", f"### Sign tests of Fraccascia, Giannoccaro and Albino (2017) ({sign_months} months, "
              f"{sign_seeds} paired seed(s))", "",
              "Links formed, instrument on minus off; the published IS-ABM finds both positive in every scenario.",
              "", "| scenario | platform | instrument | change in links (95% interval) | sign |",
              "|---|---|---|---|---|"]
    for _, row in signs.iterrows():
        verdict = ("positive" if row.effect - row.half > 0 else "negative" if row.effect + row.half < 0
                   else "not significant")
        lines.append(f"| {row.scenario} | {'on' if row.platform else 'off'} | {row.instrument} | "
                     f"{row.effect:+.1f} ± {row.half:.1f} | {verdict} |")
    lines += ["", "Where the sign is not significant the model explains it: a preset with no landfilled stream "
              "(`qinzhou`, `yueyang`: heat, steam, hydrogen, CO2, acid, bran) gives the tax nothing to act on (a "
              "change of exactly 0); where landfilled streams exist, their links already pay without the tax "
              "(d + v - proc - transport > 0), so the number of links is set by who has met whom and by receivers' "
              "needs (need/generation above: red mud 0.10), not by the price, and an instrument that raises the "
              "surplus of links that form anyway adds few links. A price instrument moves the number of links where "
              "exchanges are marginal; in these parks most are not.",
              ""]
    return lines


def _ran(scenario: str, overrides: dict, seed: int, months: int) -> ParkModel:
    model = ParkModel(load_scenario(scenario, overrides), seed=seed)
    for _ in range(months):
        model.step()
    return model
