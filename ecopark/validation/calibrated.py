"""Section 8 of the validation report: the calibrated presets' fitted targets and holdouts, and the
cross-park relation, from ``experiments/preset_fit.py``."""

from __future__ import annotations

import numpy as np

from ecopark.experiments.preset_fit import (
    CALIBRATED_PRESETS,
    EXCHANGE_RATE,
    PROFIT_MARGIN,
    RELATION_SLOPE,
    _fmt,
    at_range_edge,
    binding_constraint,
    mean_interval,
    preset_fit,
    relation,
    shipped_spec,
    within,
)


def section(quick: bool = False, workers: int = 2, presets: tuple[str, ...] | None = None) -> list[str]:
    """Markdown lines of the validation report's section on the calibrated presets (``quick``: two
    presets, 24 months, the spec's replications and 2 seeds for the relation)."""
    presets = presets or (CALIBRATED_PRESETS[:2] if quick else CALIBRATED_PRESETS)
    fits, runs = preset_fit(presets, workers, relation_seeds=2 if quick else 8, steps=24 if quick else None)
    lines = [
        "## 8. Calibrated presets: fit and holdout side by side", "",
        "Each preset as shipped (calibrated with `ecopark calibrate <preset>`, spec in "
        "`ecopark/calibrations/<preset>.toml`; `docs/calibration.md`), run with its spec's replications and seeds "
        f"({'24 months (quick form)' if quick else 'the spec' + chr(39) + 's months'}): every fitted target and "
        "holdout, observed ± tolerance beside the simulated mean with a 95% interval over the replications, and "
        "whether the mean is within the tolerance. Where it is not, the constraint that binds.", "",
        "| preset | kind | figure (metric) | observed ± tolerance | simulated (95% interval) | within | "
        "what binds where it is not |",
        "|---|---|---|---|---|---|---|",
    ]
    for preset in presets:
        spec, rows = shipped_spec(preset), fits[preset]
        for kind, targets in (("fitted", spec.targets), ("holdout", spec.holdout)):
            for t in targets:
                mean, half = mean_interval(np.array([r[t.label] for r in rows]))
                ok = within(t, mean)
                reach = t.scale if t.tolerance is not None else 1.96 * t.scale
                lines.append(f"| `{preset}` | {kind} | {t.label} (`{t.metric}`) | {_fmt(t.observed, t.metric)} ± "
                             f"{_fmt(reach, t.metric)} | {_fmt(mean, t.metric)} ({_fmt(mean - half, t.metric)} to "
                             f"{_fmt(mean + half, t.metric)}) | {'yes' if ok else '**no**'} | "
                             f"{'' if ok else binding_constraint(preset, t.metric, rows)} |")
    edges = {p: at_range_edge(shipped_spec(p)) for p in presets}
    lines += ["", "Free parameters at the edge of their searched range (within 5% of it; there the range, not "
              "the figures, may stop the fit): " + ("; ".join(f"`{p}`: {', '.join(e)}" for p, e in edges.items() if e)
                                                  or "none") + "."]
    rel = relation(runs)
    per_preset = len(runs) // len(presets)
    lines += [
        "", "### The cross-park relation (holdout)", "",
        "DOMAIN.md section 5: a 10-point rise in byproduct exchange rate goes with +2.3 points of cluster profit "
        "margin, a slope of 0.23 across parks. Here across the calibrated presets' parks "
        f"({len(presets)} presets x {per_preset} seeds): OLS slope of `{PROFIT_MARGIN}` (operating profit / revenue "
        f"of all firms over the run, the sector margins of section 7 taken together) on `{EXCHANGE_RATE}` "
        "(cross-firm reuse by mass), with a 95% t interval; *pooled* compares parks of different sector mixes, "
        "as the documents' cross-section does; *within presets* removes each preset's means, so only the "
        "seed-to-seed variation of one park's exchange rate is left.", "",
        "| slope of margin on exchange rate | documents | model (95% interval) | parks | 0.23 within the interval |",
        "|---|---|---|---|---|",
    ]
    for label, key in (("pooled across presets", "pooled"), ("within presets", "within")):
        slope, half, n = rel[key]
        inside = abs(slope - RELATION_SLOPE) <= half
        lines.append(f"| {label} | {RELATION_SLOPE:.2f} | {slope:+.3f} ({slope - half:+.3f} to {slope + half:+.3f}) | "
                     f"{n} | {'yes' if inside else '**no**'} |")
    gain = np.mean([r["link_gain_share"] for r in runs])
    rate = np.mean([r[EXCHANGE_RATE] for r in runs])
    lines += [
        "", f"What exchange earns in the model: over these parks the two firms' realised net gains from links "
        f"(`surplus_total` less the operator's share) are {gain:.2%} of the park's revenue on average, at a "
        f"cross-firm reuse rate of {rate:.0%}: {gain / rate if rate > 0 else 0.0:.3f} points of margin per point "
        "of exchange if every point earned the average. A link saves disposal fees and virgin inputs on "
        "byproducts whose value is small beside the firms' sales, so the margin moves little with exchange. "
        "The documents' 0.23 is an association across real parks that also differ in sector, age and policy, "
        "which it does not separate; the model's slope is the part exchange itself earns.", "",
    ]
    return lines
