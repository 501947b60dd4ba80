"""Section 4 of the validation report: ordinary vs green NPL in a demand slump, secured and
risk-priced lending on and off (markets/secured_lending.py)."""

from __future__ import annotations

from typing import Any

from ecopark.scenario import presets
from ecopark.validation.common import interval, map_jobs, run_metrics
from ecopark.validation.policy import SLUMP

# -- 4. ordinary vs green NPL (markets/secured_lending.py) ---------------------------------------
#: Secured and risk-priced lending all switched off (banks lend working capital only on the
#: standard cover test) and all switched on (warehouse receipts for the sectors a preset gives
#: stocks, pledged allowances, risk-priced loans to weak firms).
SECURED_OFF: dict[str, Any] = {"credit.secured.warehouse_receipts": False, "credit.secured.carbon_pledge": False,
                               "credit.secured.risk_priced_lending": False}
SECURED_ON: dict[str, Any] = {"credit.secured.warehouse_receipts": True, "credit.secured.carbon_pledge": True,
                              "credit.secured.risk_priced_lending": True}
NPL_OUTCOMES = ("npl_ratio_green_pooled", "npl_ratio_other_pooled", "margin_calls_total", "collateral_sold_total",
                "risk_priced_disbursed")


def npl_by_loan_kind(seeds: int, steps: int, workers: int) -> list[dict[str, Any]]:
    """Every preset in the demand slump (SLUMP) with secured and risk-priced lending all on and
    all off, on the same seeds: pooled green and ordinary NPL and the within-run gap
    ordinary - green, each a mean with a 95% interval, and the secured-lending activity."""
    arms = (("on", SECURED_ON), ("off", SECURED_OFF))
    jobs = [(name, {**SLUMP, **arm}, seed, steps) for name in presets() for _, arm in arms for seed in range(seeds)]
    results = iter(map_jobs(run_metrics, jobs, workers))
    rows = []
    for name in presets():
        for label, _ in arms:
            runs = [next(results) for _ in range(seeds)]
            row: dict[str, Any] = {"preset": name, "arm": label}
            for outcome in NPL_OUTCOMES:
                row[outcome] = interval([r[outcome] for r in runs])
            row["gap"] = interval([r["npl_ratio_other_pooled"] - r["npl_ratio_green_pooled"] for r in runs])
            rows.append(row)
    return rows


def npl_section(rows: list[dict[str, Any]], seeds: int, steps: int) -> list[str]:
    """Markdown lines of section 4: :func:`npl_by_loan_kind` as a table, and how the books arise."""
    lines = [
        "## 4. Ordinary vs green NPL", "",
        "The documents (seeds/003): green loans in 37 parks had an NPL ratio of 0.87% (PBoC 2023) and the "
        "carbon-efficiency loan 0.65%, \"clearly below traditional industrial loans\"; ordinary park loans run at "
        "1.8% (ICBC). Each preset in a demand slump of 30% for 24 months from month 13, "
        f"{steps} months, {seeds} paired seeds, with secured and risk-priced lending "
        "(`[credit.secured]`: warehouse receipts where the preset gives sectors stocks, pledged allowances, "
        "risk-priced loans to weak firms) all switched on (*on*) and all off (*off*). NPL ratios are "
        "balance-weighted over the run "
        "(`npl_ratio_green_pooled`, `npl_ratio_other_pooled`: sum over months of loans 3+ instalments behind / "
        "sum over months of loans outstanding); the gap is ordinary - green within each run; mean ± 95% "
        "interval.", "",
        "| preset | secured lending | green NPL | ordinary NPL | gap ordinary - green | margin calls | "
        "collateral sold (yuan) | risk-priced lent (yuan) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pct = [f"{100 * r[k][0]:.2f}% ± {100 * r[k][1]:.2f}" for k in
               ("npl_ratio_green_pooled", "npl_ratio_other_pooled", "gap")]
        lines.append(f"| `{r['preset']}` | {r['arm']} | " + " | ".join(pct) + f" | {r['margin_calls_total'][0]:.1f} | "
                     f"{r['collateral_sold_total'][0]:,.0f} | {r['risk_priced_disbursed'][0]:,.0f} |")
    lines += [
        "", "How the books arise: customers pay after `economy.collection_days` (66), and every firm keeps its "
        "credit line drawn up to its accounts receivable (docs/credit.md, the operating cycle), so the ordinary "
        "book is the routine working capital of the park's firms, as most ordinary park loans in the documents "
        "are. Both ratios here are in a 30% slump, above the documents' calm-year 0.87% and 1.8%; ordinary loans "
        "stay above green ones in every preset. Green loans finance projects that passed a cash-flow cover test. "
        "Where the model differs: a firm is judged on its prospects (the exit rule), so a firm with no future "
        "closes and its bad loans are written off (defaults) rather than carried for years as NPL.", ""]
    return lines
