"""What a calibration concludes and writes: fit, intervals, identifiability, scenario, report.

* **Accepted set** (the fit test): every candidate whose distance is at or below the spec's
  acceptance threshold (default the 95% chi-square quantile, df = fitted targets): none
  accepted means the model cannot fit every target at once.
* **Intervals** (the interval region, ``search_methods.region_cut``): a parameter's interval
  is its range over the candidates whose region statistic D_R = z' R^-1 z (z the standardised
  differences, R the targets' errors' correlation) is at most max(chi2_level(m), min D_R +
  chi2_level(1)): the candidates the figures do not reject at level ``region.level`` (m the
  fitted targets), or, when no candidate fits every target, the likelihood-ratio region. The
  region stage walks its edges outward until candidates just beyond them are rejected; each
  side of an interval says what bounds it (``bound_low``, ``bound_high``): "data" (a rejected
  candidate within the resolution beyond it), "range" (the end of the searched range) or
  "search" (neither: the budget ran out first, and the interval may be too short there).
* **Identifiability** (global sample only, which is space-filling and does not depend on
  the targets): for each target and parameter, how many tolerances (or se) the target's
  simulated moment moves when the parameter crosses its whole range, from a least-squares
  fit of the moment on every parameter's position and its square, with the F test of the
  parameter's terms (:func:`identifiability`). A parameter is identified by a target when
  |response| >= 1 and p < 0.05; a parameter identified by no target, or whose interval spans
  more than ``SHARE_MAX`` (half) of its range, is flagged not identified.
* **Reach**: a target whose observed value lies outside the range of the means simulated
  at every candidate cannot be reached within the ranges searched; the report says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark.experiments.batch import _write_atomic
from ecopark.experiments.calibration import region_losses, target_correlation
from ecopark.experiments.calibration_spec import CalibrationSpec
from ecopark.experiments.plots import _declaration
from ecopark.experiments.search_methods import region_cut, region_edges
from ecopark.metrics import RUN_METRICS, STEP_METRICS
from ecopark.scenario import apply_overrides, load_scenario, read_scenario_data

RESPONSE_MIN, P_MAX = 1.0, 0.05
#: A parameter whose interval spans more than this share of its searched range is not identified,
#: whatever the response table says: the targets leave most of its range acceptable.
SHARE_MAX = 0.5


@dataclass
class CalibrationResult:
    """The outcome of a calibration (also written to its folder).

    Attributes:
        best: the calibrated values of the free parameters (the candidate of least distance).
        distance: its distance; ``threshold`` the acceptance distance (the fit test);
            ``threshold_region`` the cut of the interval region's statistic (``search_methods.region_cut``).
        interval_basis: the set the intervals come from and which rule applied: D_R <= chi2_level(m) (the
            figures' test) or D_R <= min D_R + chi2_level(1) (no candidate fits; points column ``in_set``).
        parameters: one row per free parameter: base and calibrated value, interval, share of the
            range it covers, what bounds each side (``bound_low``, ``bound_high``: "data", "range",
            "search"), the targets that identify it, ``identified`` (by a target and share <= 0.5).
        targets: one row per target (fitted and holdout): observed, scale, before and after
            (mean and 95% interval over replications), range over the interval set, z, ``within``,
            ``reachable``.
        identifiability: change, response and p of each (target, parameter) from the global sample.
        points: every candidate: id, stage, parameter values, moments (means), distance, accepted,
            region_statistic (z' R^-1 z), in_set.
        correlation: the fitted targets' correlation across seeds R used by the region statistic.
        folder: the output folder.
    """

    best: dict[str, Any]
    distance: float
    threshold: float
    threshold_region: float
    interval_basis: str
    parameters: pd.DataFrame
    targets: pd.DataFrame
    identifiability: pd.DataFrame
    points: pd.DataFrame
    folder: Path
    correlation: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: list[Path] = field(default_factory=list)


def points_table(spec: CalibrationSpec, evaluations: list) -> pd.DataFrame:
    """Every candidate once: id, stage, ``param:``, ``moment:`` (means over replications), distance, accepted."""
    rows = []
    for e in evaluations:
        means = e.moments.mean() if len(e.moments) else pd.Series(dtype=float)
        rows.append({"point": e.point, "stage": e.stage, **{f"param:{k}": v for k, v in e.params.items()},
                     **{f"moment:{t.label}": means.get(t.label, np.nan) for t in (*spec.targets, *spec.holdout)},
                     "failed_runs": e.failed, "distance": e.distance})
    table = pd.DataFrame(rows)
    table["accepted"] = table["distance"] <= spec.threshold
    return table


def identifiability(spec: CalibrationSpec, points: pd.DataFrame) -> pd.DataFrame:
    """How strongly each target responds to each parameter over the global sample.

    Each target's simulated moment is fitted by least squares on every parameter's position u_j
    in its search range (0 to 1) and its square: m = a + sum_j (b_j u_j + c_j u_j^2) (linear
    terms only when the sample has fewer than 2 d + 2 points). The *response* of the target to
    parameter j is the range of b_j u + c_j u^2 over [0, 1] divided by the target's tolerance
    or se (how many tolerances the target moves as the parameter crosses its range, the
    others held), signed by its direction from u = 0 to u = 1; ``p`` is the F test of
    dropping the parameter's terms. It identifies the parameter when |response| >= 1 and p < 0.05.
    """
    from scipy.stats import f as f_dist

    glob = points[(points["stage"] == "global") & (points["failed_runs"] == 0)]
    keys = list(spec.free)
    u = np.column_stack([[spec.free[k].position(float(v)) for v in glob[f"param:{k}"]] for k in keys])
    quadratic = len(glob) >= 2 * len(keys) + 2
    columns = [np.ones(len(glob))]
    owner = [-1]
    for j in range(len(keys)):
        columns.append(u[:, j])
        owner.append(j)
        if quadratic:
            columns.append(u[:, j] ** 2)
            owner.append(j)
    design, owner = np.column_stack(columns), np.array(owner)
    grid = np.linspace(0.0, 1.0, 101)
    rows = []
    for target in (*spec.targets, *spec.holdout):
        y = glob[f"moment:{target.label}"].to_numpy(dtype=float)
        coef, rss, dof = _least_squares(design, y)
        for j, key in enumerate(keys):
            mine = owner == j
            b = coef[mine]
            curve = b[0] * grid + (b[1] * grid**2 if quadratic else 0.0)
            span = float(curve.max() - curve.min())
            response = np.sign(curve[-1] - curve[0]) * span / target.scale
            _, rss_without, _ = _least_squares(design[:, ~mine], y)
            q = int(mine.sum())
            if dof > 0 and rss > 0:
                p = float(f_dist.sf(((rss_without - rss) / q) / (rss / dof), q, dof))
            else:
                p = 0.0 if rss_without > rss else 1.0
            rows.append({"target": target.label, "fitted": target in spec.targets, "parameter": key,
                         "change": float(np.sign(curve[-1] - curve[0]) * span), "response": float(response),
                         "p": p, "identifies": bool(abs(response) >= RESPONSE_MIN and p < P_MAX)})
    return pd.DataFrame(rows)


def _least_squares(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Coefficients, residual sum of squares and residual degrees of freedom of y ~ design."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return coef, float(resid @ resid), len(y) - np.linalg.matrix_rank(design)


def _interval(values: np.ndarray, z: float = 1.96) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else np.nan
    half = float(z * values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


def summarise(spec: CalibrationSpec, evaluations: list, out: Path) -> CalibrationResult:
    """The tables of a finished search (see :class:`CalibrationResult`)."""
    points = points_table(spec, evaluations)
    by_id = {e.point: e for e in evaluations}
    base = by_id[int(points.loc[points["stage"] == "base", "point"].iloc[0])]
    best = by_id[int(points.loc[points["distance"].idxmin(), "point"])]
    unit = np.column_stack([[free.position(float(v)) for v in points[f"param:{key}"]]
                            for key, free in spec.free.items()])
    in_box = np.all((unit >= -1e-9) & (unit <= 1 + 1e-9), axis=1)
    corr = target_correlation(spec)
    points["region_statistic"] = stat = region_losses(spec, evaluations, corr)
    cut = region_cut(stat, spec.interval_level, len(spec.targets))
    in_set = points["region_statistic"] <= cut
    what = "z' R^-1 z" if spec.region.correlation is not None else "D"
    from scipy.stats import chi2

    rule = ("the figures' test" if cut == chi2.ppf(spec.interval_level, len(spec.targets))
            else "the likelihood-ratio region: no candidate fits every target")
    basis = f"interval region ({what} <= {cut:.4g}: {rule}; level {spec.interval_level:.0%})"
    edges = region_edges(unit[in_box], stat[in_box], cut, spec.search_space().resolution)
    points["in_set"] = in_set
    accepted = points[in_set]
    ident = identifiability(spec, points)
    fitted_ident = ident[ident["fitted"]]

    rows = []
    for target in (*spec.targets, *spec.holdout):
        label = target.label
        b_mean, b_lo, b_hi = _interval(base.moments[label]) if len(base.moments) else (np.nan,) * 3
        a_mean, a_lo, a_hi = _interval(best.moments[label])
        sims = points[f"moment:{label}"].dropna()
        acc = accepted[f"moment:{label}"]
        rows.append({
            "target": label, "metric": target.metric, "role": "fitted" if target in spec.targets else "holdout",
            "observed": target.observed, "scale": target.scale, "scale_kind": "tolerance" if target.tolerance
            is not None else "se", "before": b_mean, "before_low": b_lo, "before_high": b_hi,
            "after": a_mean, "after_low": a_lo, "after_high": a_hi,
            "set_low": float(acc.min()) if len(acc) else np.nan,
            "set_high": float(acc.max()) if len(acc) else np.nan,
            "z_before": (b_mean - target.observed) / target.scale, "z_after": (a_mean - target.observed) / target.scale,
            "within": bool(abs(a_mean - target.observed) <= (target.scale if target.tolerance is not None
                                                              else 1.96 * target.scale)),
            "reachable": bool(len(sims) and sims.min() <= target.observed <= sims.max()),
            "closest": float(sims.iloc[(sims - target.observed).abs().argmin()]) if len(sims) else np.nan,
            "note": target.note,
        })
    targets = pd.DataFrame(rows)

    prow = []
    for (key, free), (bound_low, bound_high) in zip(spec.free.items(), edges, strict=True):
        values = accepted[f"param:{key}"]
        lo, hi = (float(values.min()), float(values.max())) if len(values) else (np.nan, np.nan)
        span = (free.position(hi) - free.position(lo)) if len(values) else np.nan
        ids = fitted_ident[(fitted_ident["parameter"] == key) & fitted_ident["identifies"]]["target"].tolist()
        prow.append({"parameter": key, "low": free.low, "high": free.high, "log": free.log,
                     "base": base.params[key], "calibrated": best.params[key], "interval_low": lo,
                     "interval_high": hi, "interval_share_of_range": span, "bound_low": bound_low,
                     "bound_high": bound_high, "bounded_by_search": "search" in (bound_low, bound_high),
                     "identified_by": "; ".join(ids),
                     "identified": bool(ids) and bool(span <= SHARE_MAX)})
    return CalibrationResult(best=dict(best.params), distance=best.distance, threshold=spec.threshold,
                             threshold_region=cut,
                             correlation=pd.DataFrame(corr, index=[t.label for t in spec.targets],
                                                      columns=[t.label for t in spec.targets]),
                             interval_basis=basis,
                             parameters=pd.DataFrame(prow), targets=targets, identifiability=ident, points=points,
                             folder=out)


# -- the calibrated scenario -----------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def toml_text(data: dict[str, Any], prefix: str = "") -> str:
    """TOML text of plain scenario data: scalars and lists, tables, arrays of tables (None omitted)."""
    lines, tables = [], []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{_toml_key(key)}"
        if isinstance(value, dict):
            text += f"\n[{name}]\n" + toml_text(value, f"{name}.")
        else:
            for item in value:
                text += f"\n[[{name}]]\n" + toml_text(item, f"{name}.")
    return text


def calibrated_scenario(spec: CalibrationSpec, result: CalibrationResult) -> str:
    """The base scenario with [fixed] and the calibrated values, as TOML whose comments name the fit."""
    raw, label = read_scenario_data(spec.scenario)
    data = apply_overrides(raw, {**spec.fixed, **result.best})
    head = [f"# Calibrated from {label} by `ecopark calibrate` ({spec.source}): method of simulated moments,",
            f"# {spec.replications} replications of {spec.steps} months per candidate (common random numbers, seed "
            f"{spec.seed}), {len(result.points)} candidates.",
            f"# Distance {result.distance:.4g} (acceptance at or below {result.threshold:.4g}; "
            f"{int(result.points['accepted'].sum())} candidates accepted).", "#", "# Targets (observed -> simulated "
            "here, mean over replications [95% interval]):"]
    for r in result.targets.itertuples():
        head.append(f"#   {r.role} {r.target}: {r.observed:.4g} +/- {r.scale:.3g} ({r.scale_kind}) -> {r.after:.4g} "
                    f"[{r.after_low:.4g}, {r.after_high:.4g}]{'' if r.within else '  (outside)'}")
    head += ["#", f"# Calibrated parameters (interval over the {result.interval_basis}; base value):"]
    for r in result.parameters.itertuples():
        head.append(f"#   {r.parameter} = {r.calibrated:.6g} [{r.interval_low:.4g}, {r.interval_high:.4g}] "
                    f"(base {r.base:.4g}){'' if r.identified else '  NOT IDENTIFIED by the targets'}"
                    f"{'  (interval bounded by the search, not the data)' if r.bounded_by_search else ''}")
    for key, value in spec.fixed.items():
        head.append(f"# Fixed for the calibration: {key} = {_toml_value(value)}")
    load_scenario(label, {**spec.fixed, **result.best})  # the calibrated scenario is valid
    return "\n".join(head) + "\n\n" + toml_text(data)


# -- the report --------------------------------------------------------------------------------------
def _fmt(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.4g}"


def target_unit(metric: str, aggregate: str | None = None) -> str:
    """The unit of a target's moment: its metric's (``docs/metrics.md``); a step metric summed over
    months loses its "/month" ("t/month" summed is "t")."""
    unit = (RUN_METRICS.get(metric) or STEP_METRICS.get(metric)).unit
    return unit.removesuffix("/month") if aggregate == "sum" and metric not in RUN_METRICS else unit


def plots(spec: CalibrationSpec, result: CalibrationResult, out: Path) -> list[Path]:
    """fit.png (observed vs simulated per target), distance.png (the search), parameters.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    t = result.targets
    aggregates = {x.label: x.aggregate for x in (*spec.targets, *spec.holdout)}
    fig, axes = plt.subplots(len(t), 1, figsize=(7, 1.5 * len(t) + 0.8), squeeze=False)
    for ax, r in zip(axes[:, 0], t.itertuples(), strict=True):
        ax.axvspan(r.observed - r.scale, r.observed + r.scale, color="0.85", label=f"observed ± {r.scale_kind}")
        ax.axvline(r.observed, color="k", lw=1)
        if math.isfinite(r.set_low):
            ax.plot([r.set_low, r.set_high], [0.5, 0.5], color="tab:green", lw=6, alpha=0.4,
                    label=result.interval_basis.split(" (")[0] + " set")
        ax.errorbar([r.before], [0.25], xerr=[[r.before - r.before_low], [r.before_high - r.before]], fmt="s",
                    color="tab:gray", label="before (base)")
        ax.errorbar([r.after], [0.75], xerr=[[r.after - r.after_low], [r.after_high - r.after]], fmt="o",
                    color="tab:blue" if r.role == "fitted" else "tab:orange", label="after (calibrated)")
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_title(f"{r.role}: {r.target}", fontsize=9, loc="left")
        ax.set_xlabel(target_unit(r.metric, aggregates.get(r.target)), fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    paths.append(out / "fit.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    p = result.points
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = {"base": "tab:gray", "global": "tab:blue", "refine": "tab:orange", "region": "tab:purple"}
    for stage, part in p.groupby("stage"):
        ax.scatter(part["point"], part["distance"], s=12, color=colors.get(stage), label=stage)
    ax.plot(p["point"], p["distance"].cummin(), color="k", lw=1, label="best so far")
    ax.axhline(result.threshold, color="tab:green", ls="--", lw=1, label="acceptance")
    ax.set_yscale("log")
    ax.set_xlabel("candidate (order evaluated)")
    ax.set_ylabel("distance D (dimensionless, log scale)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "distance.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    keys = list(spec.free)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        ax.scatter(p[f"param:{key}"], p["distance"], s=10, color="0.6")
        acc = p[p["in_set"]]
        ax.scatter(acc[f"param:{key}"], acc["distance"], s=14, color="tab:green",
                   label=result.interval_basis.split(" (")[0])
        ax.axvline(result.best[key], color="tab:blue", lw=1, label="calibrated")
        if spec.free[key].log:
            ax.set_xscale("log")
        ax.set_yscale("log")
        unit = _declaration(key).get("unit") or "no unit"
        ax.set_xlabel(f"{key}\n({unit}{', log scale' if spec.free[key].log else ''})", fontsize=7)
        ax.set_ylabel("distance D (dimensionless)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "parameters.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def markdown(spec: CalibrationSpec, result: CalibrationResult, manifest: dict[str, Any]) -> str:
    """The report: fit and holdout, parameters and intervals, identifiability, limits, figures."""
    t, prm = result.targets, result.parameters
    lines = [
        f"# Calibration of `{spec.scenario}`", "",
        f"Spec `{spec.source}`; ecopark {manifest.get('ecopark_version')}. {len(result.points)} candidates x "
        f"{spec.replications} replications of {spec.steps} months = {len(result.points) * spec.replications} runs "
        f"(common random numbers: replication k uses the same seed for every candidate); wall time "
        f"{manifest.get('wall_seconds_total', 0):.0f} s on {manifest.get('workers')} worker(s) "
        f"({manifest.get('backend')}).", "",
        f"Best distance **{result.distance:.4g}** (base park: {result.points['distance'].iloc[0]:.4g}); "
        f"acceptance at distance <= {result.threshold:.4g}: **{int(result.points['accepted'].sum())}** candidates "
        f"accepted. Intervals below come from the **{result.interval_basis}** set.", "",
        "## Targets: observed vs simulated", "",
        "Simulated values are means over the replications with a 95% interval (1.96 standard errors); "
        "*before* is the base scenario, *after* the calibrated one; *set* is the range of the means over "
        "the candidates of the interval region; z = (simulated - observed) / scale.", "",
        "| role | target | observed ± scale | before [95%] | after [95%] | set | z before -> after | fits |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in t.itertuples():
        lines.append(f"| {r.role} | {r.target} | {_fmt(r.observed)} ± {_fmt(r.scale)} ({r.scale_kind}) | "
                     f"{_fmt(r.before)} [{_fmt(r.before_low)}, {_fmt(r.before_high)}] | "
                     f"{_fmt(r.after)} [{_fmt(r.after_low)}, {_fmt(r.after_high)}] | "
                     f"{_fmt(r.set_low)} - {_fmt(r.set_high)} | {r.z_before:+.2f} -> {r.z_after:+.2f} | "
                     f"{'yes' if r.within else '**no**'} |")
    notes = [f"- {r.target}: {r.note}" for r in t.itertuples() if r.note]
    if notes:
        lines += ["", "Where the figures come from:", "", *notes]
    unreachable = t[~t["reachable"]]
    lines += ["", "## Limits: moments the model did not reach", ""]
    if len(unreachable):
        for r in unreachable.itertuples():
            lines.append(f"- **{r.target}** ({r.role}): observed {_fmt(r.observed)} lies outside every simulated "
                         f"value within the ranges searched; the closest was {_fmt(r.closest)}. The fit of the "
                         "other targets is a compromise with this one; widen the ranges, free another parameter, "
                         "or read it as a gap between the model and the figure.")
    else:
        lines.append("Every target's observed value lies within the range of simulated values.")
    lines += ["", "## Parameters", "",
              "The interval is the range of the parameter over the candidates whose region statistic "
              "z' R^-1 z (z: the standardised differences of the fitted targets; R: their errors' correlation, "
              "`region.correlation`; the identity when not given, and the statistic is then the distance D) "
              f"is at most {result.threshold_region:.4g}: the larger of the {spec.interval_level:.0%} quantile of "
              f"chi-square with {len(spec.targets)} degrees of freedom (the candidates the figures do not reject) and "
              "the least statistic + the quantile with 1 degree of freedom (the likelihood-ratio region, for when no "
              "candidate fits every target; docs/calibration.md). *bounded by* says what ends each "
              "side: *data* (a candidate just beyond it was rejected), *range* (the end of the searched range), "
              "*search* (neither: the region stage's budget ran out first or it was not run, so the interval may "
              "be too short there). *share* is the part of the searched range (on its search scale) the interval "
              f"covers; above {SHARE_MAX:g} the parameter is not identified.", "",
              "| parameter | range | base | calibrated | interval | bounded by (low, high) | share | identified by |",
              "|---|---|---|---|---|---|---|---|"]
    for r in prm.itertuples():
        scale = ", log" if r.log else ""
        lines.append(f"| `{r.parameter}` | [{_fmt(r.low)}, {_fmt(r.high)}{scale}] | {_fmt(r.base)} | "
                     f"**{_fmt(r.calibrated)}** | [{_fmt(r.interval_low)}, {_fmt(r.interval_high)}] | "
                     f"{r.bound_low}, {r.bound_high} | {_fmt(r.interval_share_of_range)} | "
                     f"{_identified_cell(r)} |")
    lines += ["", "## Identifiability (global sample)", "",
              f"Response: how many tolerances (or se) a target moves when the parameter crosses its whole range, "
              f"the others held (least-squares fit of the target on every parameter's position and its square "
              f"over the {int((result.points['stage'] == 'global').sum())} global points), with the p value of "
              f"the F test of the parameter's terms. A parameter is identified by a target when "
              f"|response| >= {RESPONSE_MIN:g} and p < {P_MAX:g}.", "",
              "| target | " + " | ".join(f"`{k}`" for k in spec.free) + " |",
              "|---|" + "---|" * len(spec.free)]
    for label, part in result.identifiability.groupby("target", sort=False):
        cells = [f"{r.response:+.2f} (p {r.p:.2g}){' ✓' if r.identifies else ''}" for r in part.itertuples()]
        lines.append(f"| {label}{'' if part['fitted'].iloc[0] else ' (holdout)'} | " + " | ".join(cells) + " |")
    flagged = prm[prm["identified_by"] == ""]["parameter"].tolist()
    if flagged:
        lines += ["", "**Warning**: not identified by any fitted target: " + ", ".join(f"`{k}`" for k in flagged)
                  + ". Its calibrated value is arbitrary within its interval; fix it, or add a target it moves."]
    wide = prm[(prm["identified_by"] != "") & ~prm["identified"]]["parameter"].tolist()
    if wide:
        lines += ["", "**Warning**: not identified, though a target responds to it: " + ", ".join(
            f"`{k}`" for k in wide) + f": its interval spans more than {SHARE_MAX:.0%} of its range (the targets "
                  "leave most of it acceptable). Fix it from other evidence, or add a target it moves."]
    short = prm[prm["bounded_by_search"]]["parameter"].tolist()
    if short:
        lines += ["", "**Warning**: bounded by the search, not the data: " + ", ".join(f"`{k}`" for k in short)
                  + ". The region stage's budget ran out (or it was not run) before a rejected candidate was "
                  "found just beyond that side; the interval may be too short there. Raise `region.rounds` or "
                  "`region.batch` and run again (a resumed calibration reuses every run made)."]
    lines += ["", "## Figures", "", "![fit](fit.png)", "", "![distance over the search](distance.png)", "",
              "![distance against each parameter](parameters.png)", ""]
    return "\n".join(lines)


def _identified_cell(r: Any) -> str:
    if not r.identified_by:
        return "**not identified**"
    if not r.identified:
        return f"{r.identified_by}; **not identified** (interval over {SHARE_MAX:.0%} of the range)"
    return r.identified_by


def write(spec: CalibrationSpec, evaluations: list, out: Path, manifest: dict[str, Any]) -> CalibrationResult:
    """Compute the result and write calibrated.toml, report.md, PNGs and the tables into ``out``."""
    result = summarise(spec, evaluations, out)
    files = []
    for name, table in (("points", result.points), ("targets", result.targets),
                        ("parameters", result.parameters), ("identifiability", result.identifiability)):
        path = out / f"{name}.csv"
        _write_atomic(path, lambda p, table=table: table.to_csv(p, index=False))
        files.append(path)
    toml = out / "calibrated.toml"
    text = calibrated_scenario(spec, result)
    _write_atomic(toml, lambda p: p.write_text(text))
    files.append(toml)
    files += plots(spec, result, out)
    report = out / "report.md"
    text_md = markdown(spec, result, manifest)
    _write_atomic(report, lambda p: p.write_text(text_md))
    files.append(report)
    manifest.update(best=result.best, distance=result.distance, threshold=result.threshold,
                    accepted=int(result.points["accepted"].sum()), interval_basis=result.interval_basis,
                    bounded_by_search=result.parameters.loc[result.parameters["bounded_by_search"],
                                                            "parameter"].tolist(), files=[p.name for p in files])
    result.files = files
    return result
