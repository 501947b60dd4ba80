"""Compare policy instruments side by side: what each buys, what it costs the state, who gains.

``ecopark compare SPEC`` answers the analyst's question directly: for every instrument at
every dose, on every preset, the change of the outcome against a common baseline, the net
public cost it adds (spending minus revenue raised, both shown), a ranking by
cost-effectiveness, the efficient frontier, and the change of every party's gain
(:mod:`ecopark.experiments.incidence`). A spec is a TOML file (or a dict) like::

    presets = ["generic", "liaocheng"]     # each a preset name or scenario file
    steps = 60                             # months per run
    replications = 6                       # paired seeds: replication k has the same seed everywhere
    seed = 2026
    outcome = "reuse_rate_mass_total"      # what the public money is meant to buy
    better = "higher"                      # or "lower" (emissions, say)
    outcomes = ["emissions_avoided"]       # reported beside it (optional)

    [baseline]                             # overrides of every run, the baseline included
    "policies.capex_subsidy.share" = 0.0

    [[instruments]]
    name = "landfill tax"
    key = "policies.landfill_tax.rate"     # the dose parameter ...
    doses = [80.0, 150.0]                  # ... and its values
    [[instruments]]
    name = "platform"
    set = { "policies.platform.enabled" = true }   # no key: one dose, "on"

Every instrument's runs differ from the baseline's only by the instrument's overrides
(``set`` and ``key = dose``); replication k of every point runs with the seed
``derive_seed(seed, k)`` (common random numbers), so every change is paired over the
replications both completed: for replication k, d_k = y(instrument, k) - y(baseline, k),
reported as mean(d) +- t(0.975, n-1) s_d / sqrt(n) (95%). An effect is *clear of zero* when
its interval excludes zero.

Ranking (per preset), with g the gain of the outcome in its better direction and c the
change of ``fiscal_cost`` (net public cost, yuan; positive: the state pays more):

1. **gains and raises money** (g > 0 and c < 0, both clear of zero): dominates every
   costly option; ordered by g;
2. **gains at no measurable net cost** (g > 0 clear, c not clear of zero); ordered by g;
3. **gains at a cost** (g > 0 and c > 0, both clear): ordered by the cost per unit gained,
   c / g, with the delta-method interval t sqrt(var(c - r d) / n) / |mean d|;
4. **no measurable effect at this dose** (g not clear of zero);
5. **worsens the outcome** (g < 0 clear).

The *efficient frontier* is the set of points (instrument and dose, the baseline at (0, 0)
included) that no other point beats on both mean net cost (lower) and mean gain (higher).

Layout of the output folder::

    <preset>/            a sweep folder per preset (manifest, parts, runs table): resumable
    effects.csv          tidy: preset, instrument, dose, measure, change, half-width, interval, clear
    ranking.csv          one row per preset, instrument and dose: gain, net cost, spending,
                         revenue, cost per unit, verdict, rank, on_frontier, for the outcome
    rankings.csv         the same for every further outcome money is meant to buy (POLICY_OUTCOMES),
                         with an ``outcome`` column
    who_gains.csv        tidy: change of each party's and sector's gain, paired intervals
    report.md            the tables in words, the figures, the sign convention
    frontier.png, ranking.png, who-gains-<preset>.png
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark.experiments.effectiveness import _half_width
from ecopark.experiments.spec import SweepSpec, check_override, derive_seed, read_spec_table
from ecopark.metrics import RUN_METRICS
from ecopark.scenario import load_scenario
from ecopark.schema import ConfigError, build, param, to_dict

#: The outcomes public money is meant to buy: a change per yuan of these means something.
#: Shares of a split (surplus shares, link splits), inequality indices and money totals do not.
POLICY_OUTCOMES = ("reuse_rate_mass_total", "reuse_rate_value_total", "adoption_rate_final", "links_formed_total",
                   "emissions_avoided", "total_abated", "abatement_adoption_final", "total_emissions",
                   "recycling_rate_in_plant", "resource_recycling_rate", "recycling_units_final",
                   "emission_intensity_index_final")
#: Outcomes of POLICY_OUTCOMES for which less is better (ranked with better = "lower").
LOWER_IS_BETTER = ("total_emissions", "emission_intensity_index_final")
#: Verdicts of the ranking, best first (module docstring).
VERDICTS = ("gains and raises money", "gains at no measurable net cost", "gains at a cost",
            "no measurable effect at this dose", "worsens the outcome")
#: Columns every comparison records besides its outcomes.
COST_METRICS = ("fiscal_cost", "subsidies_paid")


@dataclass(frozen=True)
class Instrument:
    name: str = param("", doc="label of the instrument in tables and figures")
    key: str = param("", doc="dotted scenario key of the dose (omit: one dose, the overrides of `set`)")
    doses: list[Any] = param([], doc="values of `key`, each compared with the baseline")
    set: dict[str, Any] = param({}, doc="overrides that switch the instrument on, applied at every dose")

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        """(dose label, overrides) of each dose."""
        if not self.key:
            return [("on", dict(self.set))]
        return [(_text(d), {**self.set, self.key: d}) for d in self.doses]


@dataclass(frozen=True)
class CompareSpec:
    presets: list[str] = param(["generic"], doc="preset names or scenario files, each compared on its own")
    steps: int = param(60, lo=1, hi=2400, unit="months", doc="steps per run")
    replications: int = param(6, lo=2, hi=10_000, doc="paired seeds per point (at least 2 for an interval)")
    seed: int = param(0, lo=0, doc="master seed; replication k runs with derive_seed(seed, k) everywhere")
    outcome: str = param("reuse_rate_mass_total", doc="the run metric the money is meant to buy")
    better: str = param("higher", choices=("higher", "lower"), doc="direction of improvement of `outcome`")
    outcomes: list[str] = param([], doc="further run metrics reported beside the outcome")
    baseline: dict[str, Any] = param({}, doc="overrides applied to every run, the baseline included")
    instruments: list[Instrument] = param([], doc="the instruments compared, each at its doses")
    format: str = param("csv", choices=("parquet", "csv"), doc="table format of the per-preset run tables")
    source: str = field(default="<dict>", compare=False)

    def validate(self, path: str) -> None:
        if not self.presets:
            raise ConfigError("presets", "needs at least one preset")
        if not self.instruments:
            raise ConfigError("instruments", "needs at least one [[instruments]] entry")
        for i, name in enumerate([self.outcome, *self.outcomes]):
            if name not in RUN_METRICS:
                where = "outcome" if i == 0 else f"outcomes[{i - 1}]"
                raise ConfigError(where, f"unknown run metric {name!r}; allowed: {', '.join(RUN_METRICS)}")
        names = [ins.name for ins in self.instruments]
        for i, ins in enumerate(self.instruments):
            where = f"instruments[{i}]"
            if not ins.name or names.count(ins.name) > 1:
                raise ConfigError(f"{where}.name", "each instrument needs a name of its own")
            if ins.key and not ins.doses:
                raise ConfigError(f"{where}.doses", f"{ins.key!r} needs at least one dose")
            if ins.doses and not ins.key:
                raise ConfigError(f"{where}.key", "doses need the key they are values of")
            if not ins.key and not ins.set:
                raise ConfigError(f"{where}.set", "an instrument needs a key with doses or overrides in set")
        for preset in self.presets:
            try:
                base = load_scenario(load_scenario(preset), self.baseline)
            except ConfigError as exc:
                raise ConfigError(f"baseline.{exc.key}", str(exc)) from None
            for i, ins in enumerate(self.instruments):
                for _, overrides in ins.points():
                    for key, value in overrides.items():
                        check_override(base, key, value, f'instruments[{i}]."{key}"')

    def points(self) -> list[dict[str, Any]]:
        """Point 0 the baseline, then every instrument at every dose: instrument, dose, overrides."""
        out = [{"point": 0, "instrument": "baseline", "dose": "", "params": dict(self.baseline)}]
        for ins in self.instruments:
            for dose, overrides in ins.points():
                out.append({"point": len(out), "instrument": ins.name, "dose": dose,
                            "params": {**self.baseline, **overrides}})
        return out

    def sweep(self, preset: str) -> SweepSpec:
        """The sweep each preset's runs are executed with."""
        outcomes = list(dict.fromkeys([self.outcome, *self.outcomes, *COST_METRICS]))
        return SweepSpec(scenario=preset, steps=self.steps, replications=self.replications, seed=self.seed,
                         outcomes=outcomes, format=self.format, source=self.source)

    def tasks(self) -> list[dict[str, Any]]:
        """Every run of one preset: run = point x replications + k, seed derive_seed(seed, k)."""
        return [{"run": p["point"] * self.replications + k, "point": p["point"], "replication": k,
                 "seed": derive_seed(self.seed, k), "params": p["params"]}
                for p in self.points() for k in range(self.replications)]


def load_compare(spec: str | Path | Mapping[str, Any] | CompareSpec) -> CompareSpec:
    """A validated CompareSpec from a TOML file, a mapping or a CompareSpec (scenario files
    in ``presets`` are taken relative to the spec's folder)."""
    if isinstance(spec, CompareSpec):
        return spec
    data, source = read_spec_table(spec)
    if source != "<dict>" and isinstance(data.get("presets"), list):
        folder = Path(source).parent
        data["presets"] = [str(folder / p) if isinstance(p, str) and p.endswith(".toml")
                           and not Path(p).is_absolute() else p for p in data["presets"]]
    built = build(CompareSpec, data)
    return CompareSpec(**{**built.__dict__, "source": source})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def preset_label(preset: str) -> str:
    """A preset's short name: the name itself, or a scenario file's stem."""
    return Path(preset).stem if preset.endswith(".toml") else preset


# -- statistics ---------------------------------------------------------------------------------
def paired(runs: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Paired changes of ``columns`` of every non-baseline point against the baseline (point 0).

    ``runs``: one row per run with ``point``, ``instrument``, ``dose``, ``replication`` and the
    columns. Returns one record per point and column: pairs, change (mean of d_k), half
    (95% half-width), low, high, clear (interval excludes zero)."""
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    base = ok[ok["point"] == 0].set_index("replication")
    rows = []
    for (point, instrument, dose), group in ok[ok["point"] != 0].groupby(["point", "instrument", "dose"], sort=True):
        g = group.set_index("replication")
        common = g.index.intersection(base.index)
        for col in columns:
            if col not in g or col not in base:
                continue
            d = (g.loc[common, col] - base.loc[common, col]).to_numpy(float)
            d = d[np.isfinite(d)]
            mean = float(d.mean()) if len(d) else float("nan")
            half = _half_width(d)
            rows.append({"point": int(point), "instrument": instrument, "dose": dose, "measure": col,
                         "pairs": len(d), "change": mean, "half": half, "low": mean - half, "high": mean + half,
                         "clear": bool(len(d) > 1 and abs(mean) > half)})
    return rows


def rank(runs: pd.DataFrame, outcome: str, better: str = "higher") -> pd.DataFrame:
    """The ranking of every non-baseline point of one preset (module docstring).

    ``runs`` needs ``point`` (0: the baseline), ``instrument``, ``dose``, ``replication``,
    ``outcome``, ``fiscal_cost`` and, if recorded, ``public:spending`` and ``public:revenue``.
    Returns one row per point: ``gain`` and ``gain_half`` (outcome units, in its better
    direction), ``net_cost``/``net_cost_half`` (yuan), ``spending``/``revenue`` changes,
    ``cost_per_unit`` with ``cost_per_unit_low``/``_high`` (yuan per unit of outcome gained,
    defined where the gain is positive and it and the net cost are both clear of zero, NaN
    otherwise: negative where the instrument raises money), ``verdict``,
    ``rank`` (1 best) and ``on_frontier``.
    """
    sign = 1.0 if better == "higher" else -1.0
    ok = runs[runs["status"] == "ok"] if "status" in runs else runs
    base = ok[ok["point"] == 0].set_index("replication")
    rows = []
    for (point, instrument, dose), group in ok[ok["point"] != 0].groupby(["point", "instrument", "dose"], sort=True):
        g = group.set_index("replication")
        common = g.index.intersection(base.index)
        d = sign * (g.loc[common, outcome] - base.loc[common, outcome]).to_numpy(float)
        c = (g.loc[common, "fiscal_cost"] - base.loc[common, "fiscal_cost"]).to_numpy(float)
        n = len(d)
        gain, gain_half = (float(d.mean()) if n else float("nan")), _half_width(d)
        cost, cost_half = (float(c.mean()) if n else float("nan")), _half_width(c)
        gain_clear, cost_clear = n > 1 and abs(gain) > gain_half, n > 1 and abs(cost) > cost_half
        row = {"point": int(point), "instrument": instrument, "dose": dose, "pairs": n,
               "gain": gain, "gain_half": gain_half, "net_cost": cost, "net_cost_half": cost_half}
        for name in ("spending", "revenue"):
            col = f"public:{name}"
            if col in g:
                v = (g.loc[common, col] - base.loc[common, col]).to_numpy(float)
                row[name], row[f"{name}_half"] = float(v.mean()) if n else float("nan"), _half_width(v)
        ratio = ratio_half = float("nan")
        if gain_clear and cost_clear and gain > 0:
            ratio = cost / gain
            ratio_half = _half_width(c - ratio * d) / abs(gain)
        if not gain_clear:
            verdict = VERDICTS[3]
        elif gain < 0:
            verdict = VERDICTS[4]
        elif not cost_clear:
            verdict = VERDICTS[1]
        else:
            verdict = VERDICTS[0] if cost < 0 else VERDICTS[2]
        row.update(cost_per_unit=ratio, cost_per_unit_low=ratio - ratio_half, cost_per_unit_high=ratio + ratio_half,
                   verdict=verdict)
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    tier = table["verdict"].map(VERDICTS.index)
    # within a tier: by gain (tiers 1, 2), by cost per unit (tier 3), by gain again for the rest
    key = np.where(tier == 2, table["cost_per_unit"], -table["gain"])
    table = table.assign(_tier=tier, _key=key).sort_values(["_tier", "_key", "point"], kind="stable")
    table = table.drop(columns=["_tier", "_key"]).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["on_frontier"] = frontier(table["net_cost"].to_numpy(), table["gain"].to_numpy())
    table.attrs.update(outcome=outcome, better=better)
    return table


def frontier(cost: np.ndarray, gain: np.ndarray, anchor: bool = True) -> np.ndarray:
    """Which points are efficient: no other point (with ``anchor``, the baseline at cost 0,
    gain 0 included) has a lower or equal cost and a higher or equal gain, one of them strictly."""
    cost, gain = np.asarray(cost, float), np.asarray(gain, float)
    all_cost, all_gain = (np.append(cost, 0.0), np.append(gain, 0.0)) if anchor else (cost, gain)
    beats = ((all_cost[None, :] <= cost[:, None]) & (all_gain[None, :] >= gain[:, None])
             & ((all_cost[None, :] < cost[:, None]) | (all_gain[None, :] > gain[:, None])))
    return ~beats.any(axis=1) & np.isfinite(cost) & np.isfinite(gain)


# -- running ------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """What :func:`compare` returns: the tables of ``docs/experiments.md`` ("Comparing instruments")."""

    ranking: pd.DataFrame     # one row per preset, instrument and dose, for the spec's outcome
    effects: pd.DataFrame     # tidy: every measure's paired change
    who_gains: pd.DataFrame   # tidy: every party's and sector's change of gain
    runs: pd.DataFrame        # every run of every preset
    figures: list[Path]
    rankings: pd.DataFrame = field(default_factory=pd.DataFrame)  # the further outcomes' rankings


def _runs_of(spec: CompareSpec, preset: str, table: pd.DataFrame) -> pd.DataFrame:
    points = {p["point"]: p for p in spec.points()}
    table = table.copy()
    table.insert(0, "preset", preset_label(preset))
    table.insert(1, "instrument", table["point"].map(lambda p: points[p]["instrument"]))
    table.insert(2, "dose", table["point"].map(lambda p: points[p]["dose"]))
    return table


def compare(
    spec: str | Path | Mapping[str, Any] | CompareSpec,
    out: str | Path,
    workers: int = 1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: bool = True,
    figures: bool = True,
) -> Comparison:
    """Run (or resume) a comparison into folder ``out`` and write its tables, report and figures.

    Each preset's runs go through the sweep machinery (``batch.execute``: parts written
    atomically, resumable after any kill, local processes or Dask) into ``out/<preset>``.
    """
    from ecopark.experiments.batch import execute
    from ecopark.experiments.incidence import measure

    spec = load_compare(spec)
    out = Path(out)
    extra = {"compare": json.loads(json.dumps({**to_dict(spec), "source": spec.source}))}
    tables = []
    for preset in spec.presets:
        table = execute(spec.sweep(preset), spec.tasks(), out / preset_label(preset), workers, backend, scheduler,
                        progress, extra=extra, measure=measure)
        tables.append(_runs_of(spec, preset, table))
    runs = pd.concat(tables, ignore_index=True)
    result = analyse(spec, runs)
    result.ranking.to_csv(out / "ranking.csv", index=False)
    result.rankings.to_csv(out / "rankings.csv", index=False)
    result.effects.to_csv(out / "effects.csv", index=False)
    result.who_gains.to_csv(out / "who_gains.csv", index=False)
    if figures:
        from ecopark.experiments.plots import compare_figures

        result.figures = compare_figures(result, spec, out)
    write_report(spec, result, out)
    return result


def analyse(spec: CompareSpec, runs: pd.DataFrame) -> Comparison:
    """The ranking, effects and who-gains tables of a comparison's runs (all presets)."""
    measures = list(dict.fromkeys([spec.outcome, *spec.outcomes, *COST_METRICS, "public:spending",
                                   "public:revenue"]))
    parties = [c for c in runs.columns if c.startswith("gain:")]
    further = [o for o in spec.outcomes if o in POLICY_OUTCOMES and o != spec.outcome]
    rankings, others, effects, who = [], [], [], []
    for preset, group in runs.groupby("preset", sort=False):
        table = rank(group, spec.outcome, spec.better)
        table.insert(0, "preset", preset)
        rankings.append(table)
        for outcome in further:
            table = rank(group, outcome, "lower" if outcome in LOWER_IS_BETTER else "higher")
            table.insert(0, "outcome", outcome)
            table.insert(0, "preset", preset)
            others.append(table)
        effects += [{"preset": preset, **r} for r in paired(group, measures)]
        who += [{"preset": preset, **r} for r in paired(group, parties)]
    who_gains = pd.DataFrame(who)
    if not who_gains.empty:
        who_gains = who_gains.rename(columns={"measure": "party"})
        who_gains["party"] = who_gains["party"].str.slice(5)
        # sectors with no firm in a preset stay zero in every run: not a party there
        who_gains = who_gains[~(who_gains["party"].str.startswith("sector:") & (who_gains["change"] == 0)
                                & (who_gains["half"] == 0))].reset_index(drop=True)
    ranking = pd.concat(rankings, ignore_index=True)
    ranking.attrs.update(outcome=spec.outcome, better=spec.better)
    return Comparison(ranking, pd.DataFrame(effects), who_gains, runs, [],
                      pd.concat(others, ignore_index=True) if others else pd.DataFrame())


# -- report -------------------------------------------------------------------------------------
def unit_of(metric: str) -> tuple[float, str]:
    """(factor, unit) in which to show changes of ``metric``: shares in percentage points."""
    unit = RUN_METRICS[metric].unit if metric in RUN_METRICS else "yuan"
    return (100.0, "percentage points") if unit == "share" else (1.0, unit)


def money(value: float) -> str:
    """A yuan amount in M yuan, plain digits: '-316.2'."""
    return "n/a" if not np.isfinite(value) else f"{value / 1e6:,.1f}"


def _pm(mean: float, half: float, factor: float = 1.0, digits: int = 2) -> str:
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean * factor:,.{digits}f} ± {half * factor:,.{digits}f}" if np.isfinite(half) else \
        f"{mean * factor:,.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def ranking_markdown(ranking: pd.DataFrame, outcome: str) -> str:
    """The ranking as a markdown table (M yuan, outcome in its display unit, 95% intervals; the
    cost per unit in yuan or M yuan, whichever keeps its digits)."""
    factor, unit = unit_of(outcome)
    per_unit = unit[:-1] if unit.endswith("s") else unit
    ratios = (ranking["cost_per_unit"] / factor).abs()
    big = bool(ratios.notna().any() and ratios.median() >= 1e5)
    scale, money_unit = (1e-6, "M yuan") if big else (1.0, "yuan")
    digits = 0 if (ranking["gain"].abs() * factor).max() >= 100 else 2
    rows = []
    for r in ranking.itertuples(index=False):
        per = "—" if not np.isfinite(r.cost_per_unit) else \
            f"{r.cost_per_unit / factor * scale:,.2f} [{r.cost_per_unit_low / factor * scale:,.2f}, " \
            f"{r.cost_per_unit_high / factor * scale:,.2f}]"
        rows.append([str(r.rank), r.instrument, r.dose, _pm(r.gain, r.gain_half, factor, digits),
                     _pm(r.net_cost, r.net_cost_half, 1e-6, 1),
                     _pm(getattr(r, "spending", np.nan), getattr(r, "spending_half", np.nan), 1e-6, 1),
                     _pm(getattr(r, "revenue", np.nan), getattr(r, "revenue_half", np.nan), 1e-6, 1),
                     per, r.verdict, "yes" if r.on_frontier else ""])
    return markdown_table(["rank", "instrument", "dose", f"gain ({unit})", "net public cost (M yuan)",
                           "spending (M yuan)", "revenue raised (M yuan)",
                           f"net cost per {per_unit} gained ({money_unit})", "verdict", "frontier"], rows)


def who_gains_markdown(who: pd.DataFrame) -> str:
    """Change of each party's gain (M yuan, 95% intervals); '(not clear of zero)' where the interval holds 0."""
    from ecopark.experiments.incidence import PARTY_LABELS

    labels = [f"{i} {d}".strip() for i, d in who[["instrument", "dose"]].drop_duplicates().itertuples(index=False)]
    parties = list(dict.fromkeys(who["party"]))
    rows = []
    for party in parties:
        cells = []
        for label in labels:
            r = who[(who["party"] == party) & ((who["instrument"] + " " + who["dose"]).str.strip() == label)]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            text = _pm(r["change"], r["half"], 1e-6, 1)
            cells.append(text if r["clear"] else f"({text})")
        name = PARTY_LABELS.get(party, party.replace("sector:", "firms: "))
        rows.append([name, *cells])
    return markdown_table(["party (change of gain, M yuan)", *labels], rows)


def write_report(spec: CompareSpec, result: Comparison, out: Path) -> Path:
    """``out/report.md``: per preset the ranking and who gains, then the figures."""
    unit = unit_of(spec.outcome)[1]
    lines = [f"# Comparison of {len(spec.instruments)} instruments", "",
             f"Outcome: `{spec.outcome}` ({spec.better} is better), change in {unit} against the baseline "
             f"{json.dumps(spec.baseline) if spec.baseline else '(the preset as it is)'}; {spec.replications} paired "
             f"seeds x {spec.steps} months; mean ± 95% half-width. Net public cost = change of `fiscal_cost` "
             "= change of spending - change of revenue raised (positive: the state pays more). "
             "Who gains: change of each party's net gain over the run (positive: better off); "
             "values in brackets are not clear of zero.", ""]
    for preset in result.ranking["preset"].unique():
        lines += [f"## {preset}", "", ranking_markdown(result.ranking[result.ranking["preset"] == preset],
                                                       spec.outcome), ""]
        for outcome in (result.rankings["outcome"].unique() if not result.rankings.empty else []):
            rows = result.rankings[(result.rankings["preset"] == preset) & (result.rankings["outcome"] == outcome)]
            lines += [f"Ranked by `{outcome}` instead:", "", ranking_markdown(rows, outcome), ""]
        if not result.who_gains.empty:
            lines += [f"Who gains and who loses on {preset}:", "",
                      who_gains_markdown(result.who_gains[result.who_gains["preset"] == preset]), ""]
    lines += [f"![{p.stem}]({p.name})" for p in result.figures]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
