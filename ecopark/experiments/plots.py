"""Figures of a sweep folder (``ecopark plot FOLDER``), listed in ``FOLDER/figures.md``.

For each outcome:

- ``plot-<outcome>-vs-<parameter>``: the mean outcome at each value of a grid parameter with
  its 95% interval over replications (mean +- 1.96 s / sqrt(n)); a second parameter gives
  one series per value (each its own colour, marker and line style, points dodged so
  intervals do not hide each other), a third gives one panel per value, and any further
  parameter is named in the title as averaged over. Numeric x values are joined by lines;
  categorical and true/false values are points with error bars.
- ``heatmap-<outcome>``: the mean over the first two grid parameters, each cell labelled
  with its value (one panel per value of a third parameter).
- ``pdp-<outcome>-vs-<parameter>`` for a sampled parameter (``[sample.ranges]``): every run
  as a dot and the binned partial dependence (mean and 95% interval per decile bin).
- ``cost-effectiveness-<outcome>`` and ``.csv``: each point's change of the outcome against
  the baseline point vs its extra cost, with paired 95% intervals
  (:mod:`ecopark.experiments.effectiveness`), hollow where the change is not clear of zero;
  only for the outcomes public money is meant to buy (``compare.POLICY_OUTCOMES``): a change
  per yuan of a surplus share, a Gini index or a money total means nothing, and is not drawn.
- ``frontier``, ``ranking``, ``who-gains-<preset>`` (``ecopark compare``) and ``pareto``
  (``ecopark design``): see :func:`compare_figures` and :func:`pareto_figure`.
- ``sensitivity``: the Sobol or Morris indices of ``indices.csv`` (``ecopark sensitivity``)
  as bars with their 95% intervals.

Axis labels are words with units: a metric's name and unit from ``ecopark/metrics/``, a
parameter's name and unit from its declaration; large values in k, M or bn.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecopark.experiments.batch import load_results
from ecopark.experiments.effectiveness import cost_effectiveness
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError
from ecopark.viz.numbers import abbreviate, magnitude

MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))
#: Most values of a parameter drawn as series (colours) or panels before it is averaged over.
MAX_SERIES, MAX_PANELS = 6, 4


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (normal approximation, 1.96 s/sqrt(n))."""
    n = values.count()
    half = 1.96 * values.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
    return float(values.mean()), float(half)


#: Longest generated file name, in characters (file systems allow 255 bytes).
MAX_NAME = 150


def safe_name(text: str) -> str:
    """A file-name part from any text (parameter and outcome names read from a results folder):
    letters, digits, '.', '_' and '-' only (so no '/', '\\' or drive letter), no leading dot (no
    '..' or hidden file), at most :data:`MAX_NAME` characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).lstrip(".")[:MAX_NAME] or "_"


def _declaration(key: str) -> dict[str, Any]:
    """The ``param(...)`` metadata (unit, doc) of a dotted scenario key, or {} if not found."""
    from ecopark.policies import REGISTRY
    from ecopark.scenario import Scenario

    parts = key.split(".")
    cls: Any = Scenario
    if parts[0] == "policies" and len(parts) == 3 and parts[1] in REGISTRY:
        cls, parts = REGISTRY[parts[1]].Params, parts[2:]
    meta: dict[str, Any] = {}
    for part in parts:
        if not dataclasses.is_dataclass(cls):
            return {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return {}
        meta, cls = dict(fields[part].metadata), typing.get_type_hints(cls).get(part)
    return meta


def parameter_label(key: str) -> str:
    """A parameter in words with its unit: 'capex subsidy share (share of capex)'."""
    parts = key.split(".")
    words = " ".join(parts[1:] if parts[0] == "policies" else parts[-2:]).replace("_", " ")
    unit = _declaration(key).get("unit", "")
    return f"{words} ({unit})" if unit else words


def outcome_label(name: str, divisor_suffix: str = "") -> str:
    """An outcome in words with its unit from the metric: 'links formed total (links)', 'fiscal cost (M yuan)'."""
    unit = RUN_METRICS[name].unit
    unit = f"{divisor_suffix} {unit}".strip()
    return f"{name.replace('_', ' ')} ({unit})"


def _scale(values: pd.Series | np.ndarray) -> tuple[float, str]:
    """Divisor and suffix (k, M, bn) for the largest absolute value."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return magnitude(float(finite.max()) if finite.size else 0.0)


def _is_numeric(levels: list[Any]) -> bool:
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in levels)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) and not isinstance(value, bool) else str(value)


def _save(fig, folder: Path, stem: str, fmt: str) -> Path:
    path = folder / f"{safe_name(stem)}.{fmt}"
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _line_figure(runs: pd.DataFrame, outcome: str, p: str, others: list[str]) -> tuple[Any, str]:
    """Outcome vs parameter ``p``: series by a second parameter, panels by a third, the rest named."""
    small = [q for q in others if runs[q].nunique() <= MAX_SERIES]
    hue = small[0] if small else None
    facet = next((q for q in small[1:] if runs[q].nunique() <= MAX_PANELS), None)
    averaged = [q for q in others if q not in (hue, facet)]
    panels = sorted(runs[facet].unique()) if facet else [None]
    divisor, suffix = _scale(runs[outcome])
    levels = sorted(runs[p].unique())
    numeric = _is_numeric(levels)
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.3), sharey=True, squeeze=False)
    hues = sorted(runs[hue].unique()) if hue else [None]
    spread = (max(levels) - min(levels)) if numeric and len(levels) > 1 else 1.0
    for ax, panel in zip(axes[0], panels, strict=True):
        data = runs[runs[facet] == panel] if facet else runs
        for i, h in enumerate(hues):
            group = data[data[hue] == h] if hue else data
            stats = group.groupby(p)[outcome].apply(mean_ci)
            if stats.empty:
                continue
            x = np.array(stats.index, dtype=float) if numeric else np.array([levels.index(v) for v in stats.index])
            x = x + (i - (len(hues) - 1) / 2) * 0.012 * spread * (len(hues) > 1) if numeric else \
                x + (i - (len(hues) - 1) / 2) * 0.08
            mean = np.array([m for m, _ in stats]) / divisor
            half = np.array([h_ for _, h_ in stats]) / divisor
            label = f"{parameter_label(hue[6:])} = {_text(h)}" if hue else "mean"
            style = {"marker": MARKERS[i % len(MARKERS)], "capsize": 3, "label": label, "markersize": 6}
            if numeric:
                ax.errorbar(x, mean, yerr=half, linestyle=LINESTYLES[i % len(LINESTYLES)], **style)
            else:
                ax.errorbar(x, mean, yerr=half, linestyle="none", **style)
        if not numeric:
            ax.set_xticks(range(len(levels)), [_text(v) for v in levels])
            ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set_xlabel(parameter_label(p[6:]))
        if facet:
            ax.set_title(f"{parameter_label(facet[6:])} = {_text(panel)}", fontsize=10)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(outcome_label(outcome, suffix))
    note = f"; mean over {', '.join(parameter_label(q[6:]) for q in averaged)}" if averaged else ""
    fig.suptitle(f"{outcome.replace('_', ' ')} vs {parameter_label(p[6:])}\n(mean and 95% interval{note})",
                 fontsize=11)
    caption = f"{outcome} vs {p[6:]}" + (f", series by {hue[6:]}" if hue else "") + \
        (f", panels by {facet[6:]}" if facet else "") + (f", averaged over {', '.join(q[6:] for q in averaged)}"
                                                        if averaged else "")
    return fig, caption


def _heatmap_figure(runs: pd.DataFrame, outcome: str, a: str, b: str, others: list[str]) -> tuple[Any, str]:
    """Mean outcome over (a, b), each cell labelled; panels by a third parameter, the rest named."""
    facet = next((q for q in others if runs[q].nunique() <= MAX_PANELS), None)
    averaged = [q for q in others if q != facet]
    panels = sorted(runs[facet].unique()) if facet else [None]
    divisor, suffix = _scale(runs.groupby([a, b, *([facet] if facet else [])])[outcome].mean())
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.8), squeeze=False, layout="constrained")
    all_values = runs.groupby([a, b])[outcome].mean() / divisor
    vmin, vmax = float(all_values.min()), float(all_values.max())
    if facet:
        by_panel = runs.groupby([facet, a, b])[outcome].mean() / divisor
        vmin, vmax = float(by_panel.min()), float(by_panel.max())
    for ax, panel in zip(axes[0], panels, strict=True):
        data = runs[runs[facet] == panel] if facet else runs
        table = data.groupby([a, b])[outcome].mean().unstack(b) / divisor
        values = table.to_numpy(dtype=float)
        image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        middle = (vmin + vmax) / 2
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=9,
                        color="white" if v < middle else "black")
        ax.set_xticks(range(table.shape[1]), [_text(v) for v in table.columns])
        ax.set_yticks(range(table.shape[0]), [_text(v) for v in table.index])
        ax.set(xlabel=parameter_label(b[6:]), ylabel=parameter_label(a[6:]))
        if facet:
            ax.set_title(f"{parameter_label(facet[6:])} = {_text(panel)}", fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), label=outcome_label(outcome, suffix))
    note = f"; mean over {', '.join(parameter_label(q[6:]) for q in averaged)}" if averaged else ""
    fig.suptitle(f"mean {outcome.replace('_', ' ')}{note}", fontsize=11)
    caption = f"mean {outcome} over {a[6:]} x {b[6:]}, cells labelled" + \
        (f", panels by {facet[6:]}" if facet else "") + (f", averaged over {', '.join(q[6:] for q in averaged)}"
                                                        if averaged else "")
    return fig, caption


def _pdp_figure(runs: pd.DataFrame, outcome: str, p: str, bins: int = 10) -> tuple[Any, str]:
    """Every run as a dot, and the binned partial dependence: mean and 95% interval per quantile bin."""
    divisor, suffix = _scale(runs[outcome])
    x, y = runs[p].astype(float), runs[outcome] / divisor
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    ax.scatter(x, y, s=10, alpha=0.35, color="tab:gray", label="runs")
    edges = np.unique(np.quantile(x, np.linspace(0, 1, min(bins, x.nunique()) + 1)))
    groups = pd.cut(x, edges, include_lowest=True)
    stats = y.groupby(groups, observed=True).apply(mean_ci)
    centres = x.groupby(groups, observed=True).mean()
    ax.errorbar(centres, [m for m, _ in stats], yerr=[h for _, h in stats], marker="o", color="tab:blue",
                capsize=3, label=f"mean per bin ({len(stats)} bins, 95% interval)")
    ax.set(xlabel=parameter_label(p[6:]), ylabel=outcome_label(outcome, suffix),
           title=f"{outcome.replace('_', ' ')} vs {parameter_label(p[6:])}\n(sampled; other parameters vary)")
    ax.legend(fontsize=8)
    return fig, f"{outcome} vs sampled {p[6:]}: runs and binned partial dependence"


def ratio_text(values: dict[str, Any], outcome: str, per: float) -> str:
    """The legend entry of a point's cost-effectiveness in words and plain numbers: the ratio
    with the outcome's unit where effect and extra cost are both clear of zero, otherwise what
    can be said (raises money, no measurable net cost, no measurable effect)."""
    from ecopark.experiments.compare import unit_of

    factor, unit = unit_of(outcome)
    effect_clear = abs(values["effect"]) > values["effect_half"]
    cost_clear = abs(values["extra_cost"]) > values["extra_cost_half"]
    if not effect_clear:
        return "no measurable effect"
    if not cost_clear:
        return "no measurable net cost"
    if values["extra_cost"] < 0:
        return "raises money" + (" and gains" if values["effect"] > 0 else " and loses")
    return f"{values['per_yuan'] * factor:,.2f} {unit} per {abbreviate(per, 'yuan', digits=0)}"


def _cost_effectiveness_figure(table: pd.DataFrame, params: list[str]) -> tuple[Any, str]:
    """The cost-effectiveness plane: extra cost (x) vs change of the outcome (y), paired 95%
    intervals; hollow markers where the change of the outcome is not clear of zero."""
    from ecopark.experiments.compare import unit_of

    outcome, cost, per = table.attrs["outcome"], table.attrs["cost"], table.attrs["per"]
    factor, unit = unit_of(outcome)
    fig, ax = plt.subplots(figsize=(11, 5))
    base = table.attrs["baseline"]
    for i, row in enumerate(table.itertuples(index=False)):
        values = dict(zip(table.columns, row, strict=True))
        changed = [f"{p[6:].split('.')[-2] if p.count('.') > 1 else p[6:]}={_text(values[p])}" for p in params
                   if values[p] != base[p[6:]]]
        clear = abs(values["effect"]) > values["effect_half"]
        colour = f"C{i % 10}"
        ax.errorbar(values["extra_cost"] / 1e6, values["effect"] * factor, xerr=values["extra_cost_half"] / 1e6,
                    yerr=values["effect_half"] * factor, marker=MARKERS[i % len(MARKERS)], capsize=3,
                    linestyle="none", color=colour, markerfacecolor=colour if clear else "white",
                    label=", ".join(changed) + ": " + ratio_text(values, outcome, per))
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    ax.set(xlabel=f"extra {cost.replace('_', ' ')} (M yuan; negative: raises money)",
           ylabel=f"change of {outcome.replace('_', ' ')} ({unit})",
           title="Cost-effectiveness against the baseline point\n(paired 95% intervals over replications; "
                 "hollow: change not clear of zero)")
    baseline_text = ", ".join(f"{k.split('.')[-2] if k.count('.') > 1 else k}={_text(v)}" for k, v in base.items())
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title=f"vs baseline {baseline_text}",
              title_fontsize=8)
    return fig, f"cost-effectiveness of {outcome} per yuan of {cost}, each point against the baseline"


def _sensitivity_figure(indices: pd.DataFrame) -> tuple[Any, str]:
    """Sobol (S1, ST) or Morris (mu*) indices as bars with their 95% intervals."""
    names = [parameter_label(p) for p in indices["parameter"]]
    fig, ax = plt.subplots(figsize=(7, 0.6 * len(names) + 2))
    y = np.arange(len(names))
    if "S1" in indices:
        for offset, col, label in ((-0.2, "S1", "first order S1"), (0.2, "ST", "total order ST")):
            ax.barh(y + offset, indices[col], height=0.4, xerr=indices[f"{col}_conf"], capsize=3, label=label)
        ax.set_xlabel("Sobol index (share of the outcome's variance)")
    else:
        ax.barh(y, indices["mu_star"], xerr=indices["mu_star_conf"], capsize=3, label="mu* (mean |elementary effect|)")
        ax.set_xlabel(outcome_label(indices["outcome"].iloc[0]))
    ax.set_yticks(y, names)
    ax.legend(fontsize=8)
    outcome = indices["outcome"].iloc[0]
    ax.set_title(f"Sensitivity of {outcome.replace('_', ' ')} ({indices['method'].iloc[0]}, 95% intervals)")
    return fig, f"{indices['method'].iloc[0]} sensitivity indices of {outcome} with 95% intervals"


def plot_results(folder: str | Path, outcomes: list[str] | None = None, fmt: str = "png",
                 cost: str | None = None) -> list[Path]:
    """Draw the figures of a sweep folder (module docstring) and list them in ``figures.md``.

    ``cost``: the run metric in yuan against which cost-effectiveness is drawn (default
    ``fiscal_cost`` when the sweep recorded it and has at least two replications and a
    baseline point). Returns the files written, the index last.
    """
    if fmt not in ("png", "svg"):
        raise ConfigError("format", f"{fmt!r}; allowed: 'png', 'svg'")
    folder = Path(folder)
    runs, _, manifest = load_results(folder)
    runs = runs[runs["status"] == "ok"]
    params = [f"param:{p}" for p in manifest["parameters"]]
    sample = (manifest.get("spec") or {}).get("sample") or {}
    sampled = {f"param:{k}" for k in (sample.get("ranges") or {})}
    available = [c for c in runs.columns if c in RUN_METRICS]
    outcomes = outcomes or available
    for i, name in enumerate(outcomes):
        if name not in available:
            raise ConfigError(f"outcomes[{i}]", f"{name!r} is not in this sweep; allowed: {', '.join(available)}")
    if cost is not None and cost not in available:
        raise ConfigError("cost", f"{cost!r} is not in this sweep; allowed: {', '.join(available)}")
    if cost is not None and RUN_METRICS[cost].unit != "yuan":
        yuan = [c for c in available if RUN_METRICS[c].unit == "yuan"]
        raise ConfigError("cost", f"{cost!r} is in {RUN_METRICS[cost].unit}, not yuan; allowed: "
                                  f"{', '.join(yuan) or 'none recorded by this sweep'}")
    figures: list[tuple[Path, str]] = []
    notes: list[str] = []
    grid = [p for p in params if p not in sampled]
    for outcome in outcomes:
        for p in params:
            if p in sampled:
                fig, caption = _pdp_figure(runs, outcome, p)
                figures.append((_save(fig, folder, f"pdp-{outcome}-vs-{p[6:]}", fmt), caption))
            else:
                fig, caption = _line_figure(runs, outcome, p, [q for q in grid if q != p])
                figures.append((_save(fig, folder, f"plot-{outcome}-vs-{p[6:]}", fmt), caption))
        if len(grid) >= 2:
            fig, caption = _heatmap_figure(runs, outcome, grid[0], grid[1], grid[2:])
            figures.append((_save(fig, folder, f"heatmap-{outcome}", fmt), caption))
    chosen_cost = cost or ("fiscal_cost" if "fiscal_cost" in available else None)
    if chosen_cost and grid and runs["replication"].nunique() >= 2:
        from ecopark.experiments.compare import POLICY_OUTCOMES

        meaningless = [o for o in outcomes if o != chosen_cost and o not in POLICY_OUTCOMES]
        if meaningless:
            notes.append(f"no cost-effectiveness figure of {', '.join(meaningless)}: a change per yuan means "
                         "something only for what public money is meant to buy (reuse, adoption, links, "
                         "abatement, emissions), not for shares of a split, indices or money totals")
        for outcome in outcomes:
            if outcome == chosen_cost or outcome not in POLICY_OUTCOMES:
                continue
            try:
                table = cost_effectiveness(runs, outcome, cost=chosen_cost)
            except ConfigError as exc:
                notes.append(f"no cost-effectiveness figure: {exc}")
                break
            stem = f"cost-effectiveness-{outcome}"
            table.to_csv(folder / f"{safe_name(stem)}.csv", index=False)
            fig, caption = _cost_effectiveness_figure(table, params)
            figures.append((_save(fig, folder, stem, fmt), caption + f" (table: {safe_name(stem)}.csv)"))
    elif cost:
        notes.append("no cost-effectiveness figure: it needs a grid parameter and at least two replications")
    if (folder / "indices.csv").is_file():
        fig, caption = _sensitivity_figure(pd.read_csv(folder / "indices.csv"))
        figures.append((_save(fig, folder, "sensitivity", fmt), caption))
    index = folder / "figures.md"
    lines = [f"# Figures of {folder.name}", "", f"{len(figures)} figures written by `ecopark plot`; "
             "intervals are 95%.", ""]
    lines += [f"- [{path.name}]({path.name}): {caption}" for path, caption in figures]
    lines += [f"- {note}" for note in notes]
    index.write_text("\n".join(lines) + "\n")
    return [path for path, _ in figures] + [index]


# -- figures of a comparison (``ecopark compare``) ------------------------------------------------
#: Colours of the ranking's verdicts (experiments/compare.py VERDICTS), best first.
VERDICT_COLOURS = ("tab:green", "tab:olive", "tab:blue", "tab:gray", "tab:red")


def _verdict_colour(verdict: str) -> str:
    from ecopark.experiments.compare import VERDICTS

    return VERDICT_COLOURS[VERDICTS.index(verdict)]


def frontier_figure(ranking: pd.DataFrame, outcome: str) -> Any:
    """Outcome gained (y) against net public cost (x, M yuan) of every instrument and dose, one
    panel per preset: paired 95% intervals both ways, doses of an instrument joined, hollow
    markers where the gain is not clear of zero, the efficient frontier as a dashed line."""
    from ecopark.experiments.compare import VERDICTS, unit_of

    factor, unit = unit_of(outcome)
    presets = list(dict.fromkeys(ranking["preset"]))
    instruments = list(dict.fromkeys(ranking.sort_values("point")["instrument"]))
    fig, axes = plt.subplots(1, len(presets), figsize=(6.5 * len(presets) + 2.5, 4.8), squeeze=False)
    for ax, preset in zip(axes[0], presets, strict=True):
        data = ranking[ranking["preset"] == preset].sort_values("point")
        for i, name in enumerate(instruments):
            rows = data[data["instrument"] == name]
            if rows.empty:
                continue
            colour = f"C{i % 10}"
            x, y = rows["net_cost"] / 1e6, rows["gain"] * factor
            ax.plot(x, y, color=colour, lw=0.8, alpha=0.6)
            for r in rows.itertuples(index=False):
                clear = r.verdict != VERDICTS[3]
                ax.errorbar(r.net_cost / 1e6, r.gain * factor, xerr=r.net_cost_half / 1e6, yerr=r.gain_half * factor,
                            marker=MARKERS[i % len(MARKERS)], color=colour, capsize=3, markersize=7,
                            markerfacecolor=colour if clear else "white", linestyle="none")
                ax.annotate(r.dose, (r.net_cost / 1e6, r.gain * factor), textcoords="offset points", xytext=(5, 4),
                            fontsize=7, color=colour)
            ax.plot([], [], marker=MARKERS[i % len(MARKERS)], color=colour, linestyle="-", label=name)
        front = data[data["on_frontier"]].sort_values("net_cost")
        fx = np.concatenate([[0.0], front["net_cost"] / 1e6]) if (front["net_cost"] > 0).all() else \
            front["net_cost"].to_numpy() / 1e6
        fy = np.concatenate([[0.0], front["gain"] * factor]) if (front["net_cost"] > 0).all() else \
            front["gain"].to_numpy() * factor
        ax.plot(fx, fy, color="black", ls="--", lw=1, label="efficient frontier")
        ax.plot(0, 0, marker="*", color="black", markersize=11, linestyle="none", label="baseline")
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(0, color="black", lw=0.5)
        ax.set(xlabel="net public cost: change of spending - revenue (M yuan)",
               ylabel=f"{outcome.replace('_', ' ')} gained ({unit})", title=preset)
    ax.plot([], [], marker="o", color="gray", markerfacecolor="white", linestyle="none",
            label="hollow: gain not clear of zero")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("What each instrument buys and what it costs the state (against the baseline, paired 95% intervals;"
                 "\nleft of 0: the instrument raises more than it spends)", fontsize=10)
    return fig


def ranking_figure(ranking: pd.DataFrame, outcome: str) -> Any:
    """The ranking of every instrument and dose per preset: the gain with its 95% interval,
    coloured by verdict, labelled with the net public cost and the cost per unit gained."""
    from ecopark.experiments.compare import VERDICTS, unit_of

    factor, unit = unit_of(outcome)
    presets = list(dict.fromkeys(ranking["preset"]))
    tallest = ranking.groupby("preset").size().max()
    fig, axes = plt.subplots(1, len(presets), figsize=(10 * len(presets), 0.45 * tallest + 2.2), squeeze=False)
    per_unit = unit[:-1] if unit.endswith("s") else unit
    for ax, preset in zip(axes[0], presets, strict=True):
        data = ranking[ranking["preset"] == preset].sort_values("rank")
        y = np.arange(len(data))[::-1]
        colours = [_verdict_colour(v) for v in data["verdict"]]
        ax.barh(y, data["gain"] * factor, xerr=data["gain_half"] * factor, color=colours, capsize=3, alpha=0.85)
        ax.set_yticks(y, [f"{r.rank}. {r.instrument} {r.dose}" for r in data.itertuples(index=False)], fontsize=8)
        span = float(np.nanmax(np.abs(data["gain"] * factor) + data["gain_half"] * factor)) if len(data) else 1.0
        for yi, r in zip(y, data.itertuples(index=False), strict=True):
            cost = f"net cost {r.net_cost / 1e6:,.0f} ± {r.net_cost_half / 1e6:,.0f} M"
            ratio = f"\n{r.cost_per_unit / factor / 1e6:,.1f} M yuan per {per_unit}" \
                if np.isfinite(r.cost_per_unit) and r.cost_per_unit > 0 else ""
            ax.text(1.02, yi, cost + ratio, va="center", fontsize=7, transform=ax.get_yaxis_transform())
        low = float(np.nanmin(data["gain"] * factor - data["gain_half"] * factor)) if len(data) else 0.0
        ax.set_xlim(min(low, 0.0) - 0.05 * span, span * 1.05)
        ax.axvline(0, color="black", lw=0.6)
        ax.set(xlabel=f"{outcome.replace('_', ' ')} gained ({unit})", title=f"{preset}: best first")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in VERDICT_COLOURS]
    fig.legend(handles, VERDICTS, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle("Ranking by cost-effectiveness (gain with its paired 95% interval)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    return fig


def who_gains_figure(who: pd.DataFrame, preset: str) -> Any:
    """Change of each party's and sector's gain (M yuan) for every instrument and dose on one
    preset, paired 95% intervals, in three panels with their own scales (the park's parties,
    the rest of the economy, the firms by sector); hatched bars are not clear of zero."""
    from ecopark.experiments.incidence import PARTY_LABELS

    data = who[who["preset"] == preset]
    points = list(dict.fromkeys(zip(data["instrument"], data["dose"], strict=True)))
    parties = list(dict.fromkeys(data["party"]))
    groups = [("the park's parties", [p for p in parties if p in ("firms", "operator", "bank", "government")]),
              ("outside the park", [p for p in parties if p.startswith("outside")]),
              ("firms by sector", [p for p in parties if p.startswith("sector:")])]
    groups = [(title, rows) for title, rows in groups if rows]
    heights = [max(len(rows), 1) for _, rows in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 0.035 * len(points) * sum(heights) + 0.35 * sum(heights)
                                                     + 2.5), gridspec_kw={"height_ratios": heights}, squeeze=False)
    height = 0.8 / len(points)
    for ax, (title, rows_of) in zip(axes[:, 0], groups, strict=True):
        y = np.arange(len(rows_of))[::-1]
        for j, (instrument, dose) in enumerate(points):
            rows = data[(data["instrument"] == instrument) & (data["dose"] == dose)].set_index("party").reindex(rows_of)
            offsets = y + 0.4 - height * (j + 0.5)
            clear = rows["clear"].fillna(False).to_numpy(bool)
            for mask, hatch in ((clear, None), (~clear, "///")):
                ax.barh(offsets[mask], rows["change"].to_numpy()[mask] / 1e6, height=height,
                        xerr=rows["half"].to_numpy()[mask] / 1e6, color=f"C{j % 10}", capsize=2, hatch=hatch,
                        alpha=0.85 if hatch is None else 0.35, error_kw={"lw": 0.8},
                        label=f"{instrument} {dose}".strip() if hatch is None else None)
        ax.set_yticks(y, [PARTY_LABELS.get(p, p.replace("sector:", "")) for p in rows_of], fontsize=8)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("change of net gain over the run (M yuan; positive: better off)", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{j % 10}") for j in range(len(points))]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="gray", hatch="///"))
    axes[0, 0].legend(handles, [f"{i} {d}".strip() for i, d in points] + ["not clear of zero"], fontsize=7,
                      loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle(f"Who gains and who loses on {preset} (against the baseline, paired 95% intervals;\n"
                 "all parties sum to zero, the sectors to 'firms (all sectors)')", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def compare_figures(result: Any, spec: Any, out: Path, fmt: str = "png") -> list[Path]:
    """The figures of a comparison (``experiments/compare.py``) written into ``out``."""
    paths = [_save(frontier_figure(result.ranking, spec.outcome), out, "frontier", fmt),
             _save(ranking_figure(result.ranking, spec.outcome), out, "ranking", fmt)]
    if not result.who_gains.empty:
        for preset in dict.fromkeys(result.who_gains["preset"]):
            paths.append(_save(who_gains_figure(result.who_gains, preset), out, f"who-gains-{preset}", fmt))
    return paths


def pareto_figure(result: Any, spec: Any, out: Path, fmt: str = "png") -> Path:
    """Every candidate of a design (``experiments/design.py``): net public cost (x, M yuan)
    against the first target's metric (y), feasible ones filled, the Pareto front joined, the
    target's threshold dashed and the chosen mix (verified on fresh seeds) starred."""
    from ecopark.experiments.compare import unit_of

    target = spec.targets[0]
    factor, unit = unit_of(target.metric)
    table = result.evaluations
    fig, ax = plt.subplots(figsize=(10, 5))
    y = table[f"mean:{target.metric}"] * factor
    feasible = table["feasible"].to_numpy(bool)
    for stage, marker in (("global", "o"), ("refine", "s"), ("marginal", "^")):
        rows = (table["stage"] == stage).to_numpy()
        for mask, filled in ((rows & feasible, True), (rows & ~feasible, False)):
            if mask.any():
                ax.plot(table["net_cost"][mask] / 1e6, y[mask], marker=marker, linestyle="none", color="tab:blue",
                        markerfacecolor="tab:blue" if filled else "white", alpha=0.8,
                        label=f"{stage} stage, {'meets' if filled else 'misses'} the targets")
    front = result.pareto
    ax.plot(front["net_cost"] / 1e6, front[f"mean:{target.metric}"] * factor, color="black", ls="-", lw=1,
            label="Pareto front (means)")
    op = ">=" if target.at_least is not None else "<="
    ax.axhline(target.threshold * factor, color="tab:red", ls="--", lw=1,
               label=f"target: {target.metric}\n{op} {target.threshold:g} on {target.probability:.0%} of seeds")
    if result.best is not None and not result.robustness.empty:
        rob = result.robustness
        ax.errorbar(rob["net_cost"] / 1e6, rob[f"mean:{target.metric}"] * factor, xerr=rob["net_cost_half"] / 1e6,
                    yerr=rob[f"half:{target.metric}"] * factor, marker="*", markersize=14, color="tab:orange",
                    linestyle="none", capsize=3, label="mixes verified on fresh seeds, cheapest first (95% intervals)")
    ax.set(xlabel="net public cost: spending - revenue raised (M yuan)",
           ylabel=f"{target.metric.replace('_', ' ')} (mean over seeds, {unit})",
           title="Design: every candidate mix, cost against outcome\n(a candidate meets the target when its "
                 "worst allowed seed does, not its mean)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, out, "pareto", fmt)
