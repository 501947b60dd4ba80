"""The readable end of a run: a text summary and a one-page PNG report (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ecopark.experiments.runner import RunResult
from ecopark.metrics import RUN_METRICS


def _fmt(value: float, unit: str) -> str:
    """A number with a thousand/million/billion suffix, or a percentage for shares."""
    if unit == "share":
        return f"{100 * value:.1f} %"
    for div, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= div:
            return f"{value / div:,.2f}{suffix} {unit}"
    return f"{value:,.2f} {unit}"


#: Units of outcomes that count whole things: printed as integers.
COUNT_UNITS = ("firms", "links", "chains")


def summary_text(result: RunResult) -> str:
    """A plain-text table of the run's scalar metrics and its largest money flows."""
    cfg = result.config
    lines = [
        f"ecopark {cfg['ecopark_version']}  scenario {cfg['scenario_source']}  "
        f"steps {cfg['steps']}  seed {cfg['seed']}",
        "",
        f"{'outcome':<26}{'value':>28}",
        "-" * 54,
    ]
    for name, metric in RUN_METRICS.items():
        value = result.metrics[name]
        text = f"{round(value):,} {metric.unit}" if metric.unit in COUNT_UNITS else _fmt(value, metric.unit)
        lines.append(f"{name:<26}{text:>28}")
    negative = [n for n, m in RUN_METRICS.items() if m.unit == "yuan" and result.metrics[n] < 0]
    if negative:
        lines += ["", "money outcomes are signed; below zero here:"]
        lines += [f"  {n}: {RUN_METRICS[n].formula}" for n in negative]
    ledger = result.ledger.sort_values("amount_yuan", ascending=False).head(8)
    lines += ["", f"{'largest money flows':<30}{'payer -> payee':<26}{'yuan':>18}", "-" * 74]
    for row in ledger.itertuples():
        lines.append(f"{row.kind:<30}{row.payer + ' -> ' + row.payee:<26}{row.amount_yuan:>18,.0f}")
    return "\n".join(lines)


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
    ax.set(title="Byproduct reuse rate (by mass)", xlabel="month", ylabel="% of tonnes generated", ylim=(0, 100))

    ax = axes[1, 0]
    ax.plot(ts.index, ts["firms_active"], label="firms in park")
    ax.bar(ts.index, ts["exits"], color="tab:red", label="exits")
    ax.bar(ts.index, ts["entries"], color="tab:green", label="entries")
    ax.set(title="Firms", xlabel="month", ylabel="firms")
    ax.legend()

    ax = axes[1, 1]
    ax.plot(ts.index, ts["mean_utilisation"] * 100)
    ax.set(title="Mean capacity utilisation", xlabel="month", ylabel="%")

    ax = axes[2, 0]
    streams = result.streams[result.streams["generated"] > 0]
    ax.barh(streams["stream"], streams["disposed"], label="disposed", color="tab:gray")
    ax.barh(streams["stream"], streams["delivered"], left=streams["disposed"], label="reused", color="tab:green")
    ax.set(title="Byproducts over the run (own unit of each stream)", xscale="log")
    ax.legend()

    ax = axes[2, 1]
    by_kind = result.ledger.groupby("kind")["amount_yuan"].sum().sort_values()
    ax.barh(by_kind.index, by_kind.values / 1e8)
    ax.set(title="Money moved over the run, by kind", xlabel="10^8 yuan", xscale="log")

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
