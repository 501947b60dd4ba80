"""Figures of DOMAIN.md section 5 the presets are calibrated against that no other area owns: the
platform's success rate and the park's operating margin, with the one definition of a firm's
operating accounts it reads (also read by the validation report's sector margins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import run_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@run_metric("share")
def platform_success_rate(model: ParkModel) -> float:
    """Matches the platform proposed that became links / matches it proposed, over the run (0 if it
    proposed none, e.g. the platform is off). A proposal is a pair the platform's surplus-maximising
    match gives a flow of at least ``min_quantity`` in a month; it fails when either side's value of
    the link does not cover its half of the negotiation cost, the negotiation breaks down, or a
    side's NPV after financing its capex is not positive or it cannot pay its part
    (``ByproductMarket.form``). A pair that failed and is matched again in a later month counts
    again. DOMAIN 5: 91.5% (Ningbo)."""
    market = model.byproduct_market
    return market.platform_formed / market.platform_proposed if market.platform_proposed else 0.0


#: Money a firm receives in its operations (yuan): sales (also out of its warehouse stock), salvage,
#: in-plant recycling revenue, green-procurement premiums, link payments and penalties received, carbon
#: sales and pool payouts.
OPERATING_IN = ("sale", "stock_sale", "salvage", "recycling_revenue", "green_procurement_premium",
                "byproduct_payment", "gate_fee", "contract_penalty", "allowance_sale", "carbon_pool_payout",
                "allowance_block_trade", "intensity_credit_trade")
#: Money a firm pays in its operations (yuan): inputs (also for its warehouse stock), fixed costs,
#: disposal, link costs and fees (platform, commission, infrastructure, negotiation, penalties), in-plant
#: recycling and abatement running costs, the operator's services and MRV, carbon costs, quota and
#: consumption fines, off-spec treatment and the qualification of new sources, electricity and water
#: (grid, green power, tap and reclaimed water with their fees) and the export carbon cost.
OPERATING_OUT = ("purchase", "stock_purchase", "virgin_input", "operating_cost", "disposal", "landfill_tax", "rent",
                 "processing", "transport", "byproduct_payment", "gate_fee", "platform_fee", "operator_commission",
                 "infrastructure_connection", "infrastructure_throughput", "negotiation", "contract_penalty",
                 "recycling_opex", "abatement_opex", "carbon_accounting_fee", "energy_management_fee",
                 "monitoring_cost", "allowance_purchase", "carbon_penalty", "carbon_tax", "offset_quota_fine",
                 "reuse_quota_fine", "consumption_ratio_fine", "allowance_block_trade", "offspec_treatment",
                 "qualification", "grid_power", "green_power", "green_power_fee", "tap_water", "reclaimed_water",
                 "reclaimed_water_fee", "export_carbon_cost", "intensity_credit_trade")


def operating_accounts(model: ParkModel) -> tuple[np.ndarray, np.ndarray]:
    """(operating income, operating profit) over the run of every firm row, alive or not (yuan each):
    income = sum of the OPERATING_IN kinds received; profit = income - sum of the OPERATING_OUT kinds
    paid + the book value of its warehouse stock at the end (at cost: goods bought for stock are an
    asset, not a cost, until sold; ``SecuredLending.stock_value``); no subsidies for investment,
    finance or investment. The one definition of a firm's operating accounts: the cluster margin and
    the validation report's sector margins both read it; profit <= income by construction (the stock
    at cost never exceeds what was paid for it)."""
    ledger, firms = model.ledger, model.firms
    accounts = firms.account[np.arange(firms.n)]
    kinds = set(ledger.kinds)
    zero = np.zeros(firms.n)
    received = sum((np.asarray(ledger.received(accounts, k), float) for k in OPERATING_IN if k in kinds), zero)
    paid = sum((np.asarray(ledger.paid(accounts, k), float) for k in OPERATING_OUT if k in kinds), zero)
    return received, received - paid + model.secured_lending.stock_value(np.arange(firms.n))


@run_metric("ratio")
def cluster_profit_margin(model: ParkModel) -> float:
    """The park's operating margin over the run: sum over every firm that was in the park of operating
    profit / sum of operating income (``operating_accounts``), the sector operating margins of the
    validation report taken over all firms together; at most 1 by construction, negative when operating
    costs exceed income (0 if no income). DOMAIN 5's "cluster profit margin"."""
    revenue, profit = operating_accounts(model)
    total = float(revenue.sum())
    return float(profit.sum()) / total if total > 0 else 0.0
