"""The exchange-metric figures of docs/byproduct.md (issue 24 items 3, 5, 6), one case at a time.

Each case prints one JSON line of figures over its seeds; run it with PYTHONPATH at a checkout
to compare that checkout's code (the "before -> after" figures of the docs):

    python benchmarks/link_metrics.py efficiency   # match_efficiency etc., generic + platform, liaocheng
    python benchmarks/link_metrics.py worse        # share_worse_off at 36 / 60 / 120 months
    python benchmarks/link_metrics.py equal        # supplier's share of links.csv's gains under equal
    python benchmarks/link_metrics.py operator     # yueyang: the operator's share and its infrastructure fees
    python benchmarks/link_metrics.py fuzz         # issue 29's fuzz case: shares in [0, 1]
    python benchmarks/link_metrics.py carbon       # link reductions into the pool and off covered firms
    python benchmarks/link_metrics.py stock        # yueyang in a slump: warehouse stock bought and held
    python benchmarks/link_metrics.py memory       # yueyang with 10,000 vacant plots: the metric's memory
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

from ecopark import metrics
from ecopark.experiments.runner import simulate
from ecopark.markets import carbon
from ecopark.markets.secured_lending import RECEIPT

PLATFORM = {"policies.platform.enabled": True}


def _metrics(model, names: list[str]) -> dict[str, float]:
    return {n: round(float(metrics.RUN_METRICS[n].func(model)), 4) for n in names if n in metrics.RUN_METRICS}


def efficiency() -> dict:
    names = ["match_efficiency", "share_worse_off", "gini_link_gains", "surplus_share_supplier",
             "surplus_share_operator", "link_split_supplier", "cluster_profit_margin"]
    out = {f"generic_platform_seed{seed}": _metrics(simulate("generic", 60, seed, PLATFORM), names)
           for seed in range(6)}
    out["liaocheng_seed0"] = _metrics(simulate("liaocheng", 60, 0), names)
    return out


def worse() -> dict:
    return {f"generic_{steps}m_seed{seed}": _metrics(simulate("generic", steps, seed), ["share_worse_off",
                                                                                       "gini_link_gains"])
            for steps in (36, 60, 120) for seed in range(3)}


def equal() -> dict:
    out = {}
    for seed in range(6):
        model = simulate("generic", 60, seed, {**PLATFORM, "byproduct_market.sharing_rule": "equal"})
        table = model.byproduct_market.links.frame(model.catalogue.stream_keys)
        share = table.gain_supplier.sum() / (table.gain_supplier.sum() + table.gain_receiver.sum())
        out[f"seed{seed}"] = {"links_csv_supplier_share": round(float(share), 4),
                              **_metrics(model, ["link_split_supplier", "surplus_share_supplier"])}
    return out


def operator() -> dict:
    out = {}
    for seed in range(3):
        model = simulate("yueyang", 60, seed)
        fees = model.ledger.flow("infrastructure_connection") + model.ledger.flow("infrastructure_throughput")
        out[f"seed{seed}"] = {**_metrics(model, ["surplus_share_operator", "surplus_share_supplier",
                                                 "surplus_share_receiver", "surplus_total", "cluster_profit_margin"]),
                              "infrastructure_fees": round(fees)}
    return out


def fuzz() -> dict:
    model = simulate("liaocheng", 6, 997, {"policies.reuse_quota.end": 1, "policies.reuse_quota.fine": 2000})
    shares = _metrics(model, [n for n, m in metrics.RUN_METRICS.items() if m.unit == "share"])
    return {"outside_0_1": {k: v for k, v in shares.items() if not 0 <= v <= 1},
            **_metrics(model, ["surplus_share_supplier", "surplus_share_receiver", "link_split_supplier",
                               "match_efficiency", "cluster_profit_margin"])}


def carbon_credits() -> dict:
    """Link reductions (tCO2e) of firms outside the cap that entered the pool, and of covered firms
    (off their obligations), summed over the months by wrapping CarbonMarket.collect_pool_credits."""
    sums = {"pool_link": 0.0, "covered_link": 0.0}
    original = carbon.CarbonMarket.collect_pool_credits

    def counting(self, rows):
        firms = self.model.firms
        if self.model.scenario.operator.carbon_pool:
            sums["pool_link"] += float(firms.link_avoided[rows].sum())
        sums["covered_link"] += float(firms.link_avoided[np.setdiff1d(firms.live, rows)].sum())
        return original(self, rows)

    carbon.CarbonMarket.collect_pool_credits = counting
    out = {}
    try:
        for seed in range(4):
            sums.update(pool_link=0.0, covered_link=0.0)
            model = simulate("generic", 60, seed)
            cat = model.catalogue
            table = model.byproduct_market.links.frame(cat.stream_keys)
            delivered = {k: float((table.delivered_total[table.stream == k] * cat.streams[k].co2_avoided).sum())
                         for k in ("bran_meal", "scrap_metal")}
            out[f"seed{seed}"] = {**{k: round(v) for k, v in sums.items()},
                                  **{f"delivered_tco2_{k}": round(v) for k, v in delivered.items()}}
    finally:
        carbon.CarbonMarket.collect_pool_credits = original
    return out


def stock() -> dict:
    out = {}
    for seed in range(3):
        model = simulate("yueyang", 30, seed, {"economy.shock_start": 12, "economy.shock_months": 24})
        secured = model.secured_lending
        secured._grow()
        rows = model.firms.live
        rows = rows[secured.stock[rows] > 0]
        value = float(sum(secured.stock[r] * secured.unit_price(RECEIPT, r) for r in rows))
        book = float(secured.stock_cost[rows].sum()) if hasattr(secured, "stock_cost") else float("nan")
        bought = model.ledger.flow("stock_purchase") if "stock_purchase" in model.ledger.kinds else 0.0
        out[f"seed{seed}"] = {"stock_market_value_M": round(value / 1e6, 1),
                              "stock_book_value_M": round(book / 1e6, 1),
                              "holders_cash_M": round(float(model.firm_cash(rows).sum()) / 1e6, 1),
                              "stock_bought_M": round(bought / 1e6, 1),
                              "firms_exited": int((model.firms.exited[: model.firms.n] >= 0).sum())}
    return out


def memory() -> dict:
    model = simulate("yueyang", 3, 0, {"park.vacant_plots": 10000, "economy.entry_rate": 1.0})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    start = time.time()
    value = metrics.match_efficiency(model)
    return {"firms": len(model.firms.live), "peak_rss_run_GB": round(before, 2), "match_efficiency": value,
            "seconds": round(time.time() - start, 1),
            "peak_rss_after_metric_GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


CASES = {"efficiency": efficiency, "worse": worse, "equal": equal, "operator": operator, "fuzz": fuzz,
         "carbon": carbon_credits, "stock": stock, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    args = parser.parse_args()
    print(args.case, json.dumps(CASES[args.case]()))


if __name__ == "__main__":
    main()
