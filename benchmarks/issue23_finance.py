"""Issue 23 (items 3-5) before/after figures: exits, the cap's emission cut, the ordinary loan book,
the intensity target. It uses only interfaces that exist before and after the change, so the same
script measures both versions (put the version to measure first on PYTHONPATH):

    python benchmarks/issue23_finance.py measure DIR [NAME ...]  # configurations (all), seeds 0-5, one process
    python benchmarks/issue23_finance.py report DIR [DIR2]  # paired means with 95% intervals

An exit "with a positive operating margin" is one whose operating cash flow over its last 12
months (every money kind but financing, carbon trades, carbon taxes and penalties) was positive
on average; "after carbon" counts those whose expected margin (``FirmTable.expected_margin``,
carbon cost accrued) was positive when they left. Extra overrides for every run can be given in
the environment variable I23_EXTRA (space-separated key=value). The split of an emission change
is the one of ``metrics.emission_decomposition`` (docs/model.md),
computed from per-firm run totals the script keeps itself.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from scipy import stats

from ecopark.ledger import MONEY_KINDS
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

SEEDS = range(6)
#: (name, preset, months, overrides)
CONFIGS = [("cap85", "generic", 36, ["policies.cap_and_trade.cap_start=0.85"]),
           ("capdef", "generic", 36, []),
           ("capoff", "generic", 36, ["policies.cap_and_trade.enabled=false"]),
           *[(f"pre_{p}", p, 60, []) for p in ("generic", "yueyang", "qinzhou", "liaocheng")],
           ("it_on", "liaocheng", 120, []),
           ("it_off", "liaocheng", 120, ["policies.intensity_target.enabled=false"])]
NOT_OPERATING = {"equity", "dividend", "liquidation", "recapitalisation", "loan_disbursement", "loan_repayment",
                 "loan_interest", "capex", "capex_subsidy", "allowance_purchase", "allowance_sale",
                 "allowance_block_trade", "carbon_penalty", "carbon_tax", "offset_quota_fine", "collateral_sale",
                 "allowance_buyback"}
TOTALS = ("bau", "link", "abated", "em", "months")


def run(preset: str, months: int, seed: int, overrides: list[str]) -> dict:
    """One run's figures (see the module docstring)."""
    extra = os.environ.get("I23_EXTRA", "").split()  # e.g. I23_EXTRA=economy.collection_days=0
    model = ParkModel(load_scenario(preset, [*overrides, *extra]), seed=seed, step_metrics=["emission_intensity_index"])
    firms, ledger = model.firms, model.ledger
    operating = [k for k in MONEY_KINDS if k not in NOT_OPERATING]

    def operating_cash(accounts):
        return sum(ledger.received(accounts, k) - ledger.paid(accounts, k) for k in operating)

    history: dict[int, list[float]] = {}
    totals = {k: np.zeros(0) for k in TOTALS}
    exits = exits_positive = exits_positive_after_carbon = insolvent = economic = 0
    negative_cash, book, npl = [], [], []
    for _ in range(months):
        rows = firms.live.copy()
        before = operating_cash(firms.account[rows])
        model.step()
        exits_positive_after_carbon += model.exits_positive_margin
        insolvent += model.exits_insolvent
        economic += model.exits_economic
        for row, flow in zip(rows, operating_cash(firms.account[rows]) - before, strict=True):
            history.setdefault(int(row), []).append(float(flow))
        for k in totals:
            totals[k] = np.r_[totals[k], np.zeros(firms.n - len(totals[k]))]
        for k, values in zip(TOTALS, (firms.emissions_bau, firms.link_avoided, firms.abated, firms.emissions),
                             strict=False):
            totals[k][rows] += values[rows]
        totals["months"][rows] += 1
        for row in rows[~firms.alive[rows]]:
            exits += 1
            exits_positive += int(np.mean(history[int(row)][-12:]) > 0)
        cash = model.firm_cash(firms.live)
        negative_cash.append(float(-cash[cash < 0].sum()))
        loans = model.credit.loans
        ordinary = loans.live[~loans.green[loans.live]]
        outstanding = loans.outstanding_fen[ordinary].sum() / 100
        bad = model.credit.non_performing()
        bad = bad[~loans.green[bad]]
        book.append(float(outstanding))
        npl.append(float(loans.outstanding_fen[bad].sum() / 100 / outstanding) if outstanding > 0 else 0.0)
    loans = model.credit.loans
    index = model.datacollector.model_vars["emission_intensity_index"]
    target = model.government.policies.get("intensity_target")
    forced = float(target.forced_exits_total) if target is not None and target.params.enabled else 0.0
    met = target.met / target.assessments if target is not None and target.assessments else 0.0
    traded = float(getattr(target, "credits_traded", 0.0)) if target is not None else 0.0
    routes = float(getattr(target, "credit_routes", 0)) if target is not None else 0.0

    def owners(kind):
        return ledger.flow(kind, "outside", "enterprise") if kind in ledger.kinds else 0.0

    ordinary = ~loans.green[: loans.n]
    lent = float(loans.principal[: loans.n][ordinary].sum())
    lost = float(loans.principal_written_off[: loans.n][ordinary].sum())
    return {"exits": exits, "exits_positive": exits_positive,
            "exits_positive_after_carbon": exits_positive_after_carbon, "exits_insolvent": insolvent,
            "exits_economic": economic, "ordinary_loss_rate": lost / lent if lent else 0.0,
            "totals": {k: v.tolist() for k, v in totals.items()},
            "normal_bau": model.abatement.normal_bau(np.arange(firms.n)).tolist(),
            "entered": firms.entered[: firms.n].tolist(), "T": int(model.steps),
            "negative_cash": float(np.mean(negative_cash)),
            "owners_in": owners("liquidation") + owners("recapitalisation"),
            "book": float(np.mean(book)), "npl": float(np.mean(npl)),
            "ordinary_loans": int((~loans.green[: loans.n]).sum()),
            "ordinary_lent": float(loans.principal[: loans.n][~loans.green[: loans.n]].sum()),
            "index_mean": float(np.mean(index)), "index_last12": float(np.mean(index[-12:])),
            "emissions": float(totals["em"].sum()), "forced_exits": forced, "met_share": float(met),
            "credits_traded": traded, "credit_routes": routes}


def interval(values) -> str:
    """Mean [95% interval] over seeds."""
    x = np.asarray(values, float)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return f"{x.mean():.3g} [{x.mean() - half:.3g}, {x.mean() + half:.3g}]"


def decomposition(treated: dict, base: dict) -> dict[str, float]:
    """Mt CO2e: the parts of ``metrics.emission_decomposition`` from the script's per-firm totals."""
    def parts(r):
        t = {k: np.array(v) for k, v in r["totals"].items()}
        normal, first = np.array(r["normal_bau"]), np.array(r["entered"]) == 0
        return {"E": t["em"].sum(), "A": t["abated"].sum(), "L": t["link"].sum(),
                "X": ((r["T"] - t["months"][first]) * normal[first]).sum(),
                "D": (t["bau"][first] - t["months"][first] * normal[first]).sum(), "G": t["bau"][~first].sum()}
    p, q = parts(treated), parts(base)
    d = {k: (p[k] - q[k]) / 1e6 for k in p}
    return {"total": d["E"], "technology": -d["A"], "links": -d["L"], "output_of_staying": d["D"],
            "exits_net_of_entries": d["G"] - d["X"]}


def measure(directory: str, names: list[str]) -> None:
    """Run the configurations ``names`` (all if empty) and write DIR/name.json."""
    os.makedirs(directory, exist_ok=True)
    for name, preset, months, overrides in CONFIGS:
        if names and name not in names:
            continue
        results = []
        for seed in SEEDS:
            start = time.time()
            results.append(run(preset, months, seed, overrides))
            print(name, seed, f"{time.time() - start:.1f} s", flush=True)
        with open(os.path.join(directory, name + ".json"), "w") as f:
            json.dump(results, f)


def report(directory: str) -> None:
    def load(name):
        with open(os.path.join(directory, name + ".json")) as f:
            return json.load(f)
    print("=====", directory)
    c85, default, off = load("cap85"), load("capdef"), load("capoff")
    print("exits with positive operating margin, cap_start=0.85 - cap off:",
          interval([a["exits_positive"] - b["exits_positive"] for a, b in zip(c85, off, strict=True)]),
          "| all exits:", interval([a["exits"] - b["exits"] for a, b in zip(c85, off, strict=True)]))
    for key in ("exits_positive_after_carbon", "exits_insolvent", "exits_economic"):
        if key in c85[0]:
            print(f"  {key}, cap_start=0.85 - cap off:",
                  interval([a[key] - b[key] for a, b in zip(c85, off, strict=True)]))
    for label, treated in (("default cap", default), ("cap_start=0.85", c85)):
        parts = [decomposition(a, b) for a, b in zip(treated, off, strict=True)]
        print(label, "vs cap off, Mt:", "; ".join(f"{k} {interval([p[k] for p in parts])}" for k in parts[0]))
    for preset in ("generic", "yueyang", "qinzhou", "liaocheng"):
        r = load("pre_" + preset)
        print(preset, "60 months: ordinary book (M yuan)", interval([x["book"] / 1e6 for x in r]),
              "| ordinary NPL", interval([x["npl"] for x in r]),
              "| ordinary loss rate", interval([x.get("ordinary_loss_rate", np.nan) for x in r]),
              "| ordinary loans", interval([x["ordinary_loans"] for x in r]),
              "| negative cash (M yuan/month)", interval([x["negative_cash"] / 1e6 for x in r]),
              "| owners paid in (M yuan)", interval([x["owners_in"] / 1e6 for x in r]))
    on, without = load("it_on"), load("it_off")
    for key in ("index_mean", "index_last12"):
        print("liaocheng 120 months, intensity index", key, "on - off:",
              interval([a[key] - b[key] for a, b in zip(on, without, strict=True)]))
    print("liaocheng emissions on/off - 1 (%):",
          interval([100 * (a["emissions"] / b["emissions"] - 1) for a, b in zip(on, without, strict=True)]),
          "| exits on - off:", interval([a["exits"] - b["exits"] for a, b in zip(on, without, strict=True)]))
    if "credits_traded" in on[0]:
        print("liaocheng intensity credits traded a run (kt)", interval([a["credits_traded"] / 1e3 for a in on]),
              "| ordered firms staying on credits", interval([a["credit_routes"] for a in on]))
    if "forced_exits" in on[0]:
        print("liaocheng intensity target: forced exits a run", interval([a["forced_exits"] for a in on]),
              "| assessments met", interval([a["met_share"] for a in on]))


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3:])
    else:
        for d in sys.argv[2:]:
            report(d)
