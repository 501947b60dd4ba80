"""Section 9 of the validation report: the case library beside the industry report's figures, from
``experiments/cases.py`` (docs/cases.md has the same table)."""

from __future__ import annotations

from collections.abc import Sequence

from ecopark.experiments.cases import case_rows


def _fmt(value: float, share: bool) -> str:
    return f"{value:.0%}" if share else f"{value:,.3g}"


def section(seeds: Sequence[int] = tuple(range(6)),
            title: str = "## The case library beside the industry report's figures") -> list[str]:
    """Markdown lines of the validation report's case-library section (docs/cases.md has the same table)."""
    rows = case_rows(seeds)
    lines = ["", title, "",
             f"Each case of `ecopark/scenarios/cases/` (`ecopark run --scenario <case>`) over {len(seeds)} seeds, "
             "measured over its final year (the last 12 of 36 months); mean ± 95% interval (1.96 se). "
             "Changzhou's rise is the paired difference against the same park without its rule.", "",
             "| case | documented figure | simulated | fits? / what binds |", "|---|---|---|---|"]
    for r in rows:
        verdict = "fits" if r["fits"] else r["binds"]
        lines.append(f"| {r['case']} | {r['figure']} | {_fmt(r['mean'], r['share'])} ± {_fmt(r['half'], r['share'])} "
                     f"| {verdict} |")
    notes = dict.fromkeys(f"{r['case']}: {r['note']}" for r in rows if r["note"])
    lines += ["", *[f"- {n}" for n in notes], ""]
    return lines
