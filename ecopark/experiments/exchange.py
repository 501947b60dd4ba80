"""Byproduct-exchange audits for the validation report: sector margins, the Changzhou rule,
and where each instrument binds (docs/byproduct.md).

- :func:`sector_margins`: each sector's operating margin in a run, from the ledger:
  (operating receipts - operating payments) / (sales + salvage), with the kinds in
  :data:`OPERATING_IN` and :data:`OPERATING_OUT` (no subsidies, finance or investment), beside
  the plausible range and its source in ``ecopark/data/margins.toml``.
"""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pandas as pd

from ecopark.model import ParkModel

#: Money a firm receives in its operations (yuan): sales, salvage, link payments, carbon sales.
OPERATING_IN = ("sale", "salvage", "byproduct_payment", "gate_fee", "allowance_sale", "carbon_pool_payout")
#: Money a firm pays in its operations (yuan): inputs, fixed costs, disposal, link costs, carbon costs.
OPERATING_OUT = ("purchase", "virgin_input", "operating_cost", "disposal", "landfill_tax", "rent", "processing",
                 "transport", "byproduct_payment", "gate_fee", "platform_fee", "operator_commission",
                 "abatement_opex", "allowance_purchase", "carbon_penalty", "carbon_tax", "offset_quota_fine",
                 "reuse_quota_fine", "negotiation")


def margin_ranges() -> dict[str, dict]:
    """Plausible operating-margin range and its source per sector (``ecopark/data/margins.toml``)."""
    return tomllib.loads(resources.files("ecopark.data").joinpath("margins.toml").read_text())


def sector_margins(model: ParkModel) -> pd.DataFrame:
    """Per sector of a run's firms (alive or not): revenue = sales + salvage (yuan), operating
    profit = sum of OPERATING_IN received - sum of OPERATING_OUT paid (yuan), margin = profit /
    revenue, and the plausible range (lo, hi) with its source."""
    ledger, firms, cat = model.ledger, model.firms, model.catalogue
    rows = np.arange(firms.n)
    accounts = firms.account[rows]
    kinds = set(ledger.kinds)
    received = sum(np.asarray(ledger.received(accounts, k), dtype=float) for k in OPERATING_IN if k in kinds)
    paid = sum(np.asarray(ledger.paid(accounts, k), dtype=float) for k in OPERATING_OUT if k in kinds)
    revenue = np.asarray(ledger.received(accounts, "sale"), float) + np.asarray(ledger.received(accounts, "salvage"),
                                                                               float)
    ranges = margin_ranges()
    table = []
    for i, key in enumerate(cat.sector_keys):
        mine = firms.sector[rows] == i
        if not mine.any():
            continue
        rev = float(revenue[mine].sum())
        profit = float(received[mine].sum() - paid[mine].sum())
        lo, hi = ranges[key]["value"]
        table.append({"sector": key, "firms": int(mine.sum()), "revenue": rev, "profit": profit,
                      "margin": profit / rev if rev > 0 else 0.0, "lo": lo, "hi": hi,
                      "source": ranges[key]["source"]})
    return pd.DataFrame(table)
