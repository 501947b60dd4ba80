"""The readable end of a run: a text summary and a one-page PNG report (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter

from ecopark.experiments.runner import COUNT_UNITS, RunResult
from ecopark.metrics import RUN_METRICS
from ecopark.viz.numbers import abbreviate


def _fmt(value: float, unit: str) -> str:
    """A number with a thousand/million/billion suffix, or a percentage for shares."""
    if unit == "share":
        return f"{100 * value:.1f} %"
    return abbreviate(value, unit)


#: The outcomes of the one-screen summary (``ecopark run``); ``ecopark run --all`` prints every one.
SUMMARY_METRICS = ("firms_final", "total_exits", "total_entries", "mean_utilisation_run", "total_sales",
                   "total_emissions", "emissions_avoided", "links_formed_total", "adoption_rate_final",
                   "reuse_rate_mass_total", "fiscal_cost", "carbon_price_mean", "loans_disbursed", "defaults_total")
#: Money flows listed under the one-screen summary (the full summary lists 8).
SUMMARY_FLOWS = 5


def _value_text(value: float, unit: str) -> str:
    return f"{round(value):,} {unit}" if unit in COUNT_UNITS else _fmt(value, unit)


def summary_text(result: RunResult, full: bool = False) -> str:
    """A plain-text table of the run's outcomes, each with its unit, and its largest money flows.

    By default one screen (about 30 lines): the outcomes of :data:`SUMMARY_METRICS` and the
    5 largest flows; with ``full`` every run metric (``docs/metrics.md``) and 8 flows."""
    cfg = result.config
    names = list(RUN_METRICS) if full else [n for n in SUMMARY_METRICS if n in result.metrics]
    lines = [
        f"ecopark {cfg['ecopark_version']}  scenario {cfg['scenario_source']}  "
        f"steps {cfg['steps']}  seed {cfg['seed']}",
        "",
        f"{'outcome':<26}{'value':>28}",
        "-" * 54,
    ]
    lines += [f"{name:<26}{_value_text(result.metrics[name], RUN_METRICS[name].unit):>28}" for name in names]
    negative = [n for n in names if RUN_METRICS[n].unit == "yuan" and result.metrics[n] < 0]
    if negative:
        lines += ["", "money outcomes are signed; below zero here:"]
        lines += [f"  {n}: {RUN_METRICS[n].formula}" for n in negative]
    flows = 8 if full else SUMMARY_FLOWS
    ledger = result.ledger.sort_values("amount_yuan", ascending=False).head(flows)
    lines += ["", f"{'largest money flows':<30}{'payer -> payee':<26}{'yuan':>18}", "-" * 74]
    for row in ledger.itertuples():
        lines.append(f"{row.kind:<30}{row.payer + ' -> ' + row.payee:<26}{row.amount_yuan:>18,.0f}")
    if not full:
        lines += ["", f"{len(RUN_METRICS) - len(names)} more outcomes: ecopark run --all, or metrics.json with "
                      "--out (units and definitions: docs/metrics.md)"]
    return "\n".join(lines)


#: Money kinds shown by name in the report's money panel; the rest are summed as "other".
TOP_MONEY_KINDS = 8


def _byproduct_panels(fig, slot, streams) -> None:
    """Byproducts generated over the run (disposed + reused by another firm + recycled in-plant
    = generated), one panel per unit (t, GJ, ...):
    amounts in different units never share an axis."""
    streams = streams[streams["generated"] > 0]
    units = list(dict.fromkeys(streams["unit"]))
    spec = slot.get_subplotspec()
    slot.remove()
    if not units:
        return
    inner = spec.subgridspec(len(units), 1, height_ratios=[max(1, int((streams["unit"] == u).sum())) for u in units],
                             hspace=0.9)
    for i, unit in enumerate(units):
        ax = fig.add_subplot(inner[i])
        rows = streams[streams["unit"] == unit]
        ax.barh(rows["stream"], rows["disposed"], label="disposed", color="tab:gray")
        ax.barh(rows["stream"], rows["delivered"], left=rows["disposed"], label="reused by another firm",
                color="tab:green")
        ax.barh(rows["stream"], rows["recycled"], left=rows["disposed"] + rows["delivered"],
                label="recycled in-plant", color="tab:olive")
        ax.set_xlabel(f"{unit} over the run", fontsize=8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: abbreviate(v, digits=None)))
        ax.tick_params(labelsize=8)
        if i == 0:
            ax.set_title("Byproducts over the run, one panel per unit")
        if i == len(units) - 1:
            ax.legend(fontsize=7, loc="lower right")


def _money_panel(ax, ledger) -> None:
    """Money moved over the run by kind: the largest kinds by name, the rest grouped, each bar labelled."""
    by_kind = ledger.groupby("kind")["amount_yuan"].sum().sort_values(ascending=False)
    top = by_kind.head(TOP_MONEY_KINDS)
    rest = by_kind.iloc[TOP_MONEY_KINDS:]
    if len(rest):
        top = pd.concat([top, pd.Series({f"other ({len(rest)} kinds)": rest.sum()})])
    top = top[::-1]
    ax.barh([k.replace("_", " ") for k in top.index], top.values, color="tab:blue")
    for y, value in enumerate(top.values):
        ax.text(value, y, " " + abbreviate(value, digits=1), va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=top.max() * 30 if len(top) else None)
    ax.set(title=f"Money moved over the run: top {min(TOP_MONEY_KINDS, len(by_kind))} kinds",
           xlabel="yuan (log scale)")
    ax.tick_params(labelsize=8)


def write_report(result: RunResult, path: str | Path) -> Path:
    """Draw the one-page report of a run to ``path`` (PNG or SVG by suffix)."""
    ts = result.timeseries
    fig, axes = plt.subplots(3, 2, figsize=(11, 11))
    fig.suptitle(
        f"ecopark run: {result.config['scenario_source']}, seed {result.config['seed']}, "
        f"{result.config['steps']} months",
        fontsize=13,
    )
    ax = axes[0, 0]
    ax.plot(ts.index, ts["emissions"] / 1e3, label="actual")
    ax.plot(ts.index, ts["emissions_bau"] / 1e3, "--", label="business as usual")
    ax.set(title="Emissions", xlabel="month", ylabel="kt CO2e / month")
    ax.legend()

    ax = axes[0, 1]
    ax.plot(ts.index, ts["reuse_rate_mass"] * 100)
    ax.set(title="Cross-firm byproduct reuse (by mass)", xlabel="month", ylabel="% of tonnes generated", ylim=(0, 100))

    ax = axes[1, 0]
    ax.plot(ts.index, ts["firms_active"], label="firms in park")
    ax.bar(ts.index, ts["exits"], color="tab:red", label="exits")
    ax.bar(ts.index, ts["entries"], color="tab:green", label="entries")
    ax.set(title="Firms", xlabel="month", ylabel="firms")
    ax.legend()

    ax = axes[1, 1]
    ax.plot(ts.index, ts["mean_utilisation"] * 100)
    ax.set(title="Mean capacity utilisation", xlabel="month", ylabel="%")

    _byproduct_panels(fig, axes[2, 0], result.streams)
    _money_panel(axes[2, 1], result.ledger)

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
