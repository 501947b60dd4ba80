"""Carbon: the allowance market's prices and sessions, the cap, abatement, carbon revenues and
the pool (markets/carbon.py, markets/block_trade.py, agents/abatement.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@step_metric("yuan/tCO2e")
def carbon_price(model: ParkModel) -> float:
    """Last call-auction clearing price; with a carbon tax and no cap, the tax rate; 0 if neither."""
    market = model.carbon_market
    if model.policy("cap_and_trade") and np.isfinite(market.last_price):
        return float(market.last_price)
    tax = model.policy("carbon_tax")
    return float(tax.params.rate) if tax and not model.policy("cap_and_trade") else 0.0


@step_metric("yuan/tCO2e")
def expected_carbon_price(model: ParkModel) -> float:
    """The carbon price firms expect (adaptive: E <- E + w (P - E) after each session)."""
    return float(model.expected_carbon_price)


@step_metric("tCO2e/month")
def emissions_cap(model: ParkModel) -> float:
    """This compliance year's cap / 12 (0 without cap-and-trade)."""
    return model.carbon_market.cap / 12 if model.policy("cap_and_trade") else 0.0


@step_metric("tCO2e/month")
def emissions_covered(model: ParkModel) -> float:
    """Emissions this month of firms in sectors under the cap."""
    rows = _live(model)
    return float(model.firms.emissions[rows[model.carbon_market.covered(rows, "cap_and_trade")]].sum())


@step_metric("share")
def abatement_adoption(model: ParkModel) -> float:
    """Share of live firms with at least one abatement technology in operation."""
    rows = _live(model)
    model.abatement._grow()
    return float((model.abatement.installed_at[rows] >= 0).any(axis=1).mean()) if len(rows) else 0.0


@step_metric("tCO2e/month")
def emissions_abated(model: ParkModel) -> float:
    """Sum over live firms of tCO2e abated this month by their technologies in operation."""
    return float(model.firms.abated[_live(model)].sum())


@step_metric("tCO2e")
def allowances_held(model: ParkModel) -> float:
    """Allowances held by firms (after a year end: the banked stock)."""
    return model.carbon_market.held_by_firms()


@step_metric("tCO2e")
def allowance_balance_total(model: ParkModel) -> float:
    """Sum of all allowance balances: issued = surrendered + expired + held makes it 0 (an invariant)."""
    return float(model.allowances.total())


# -- carbon --
def _session_prices(model: ParkModel) -> np.ndarray:
    return np.array([p for _, p in model.carbon_market.session_prices])


@run_metric("yuan/tCO2e")
def carbon_price_mean(model: ParkModel) -> float:
    """Mean of the call-auction clearing prices over the run (0 if no session traded)."""
    prices = _session_prices(model)
    return float(prices.mean()) if len(prices) else 0.0


@run_metric("yuan/tCO2e")
def carbon_price_volatility(model: ParkModel) -> float:
    """Standard deviation of the clearing prices over the run."""
    prices = _session_prices(model)
    return float(prices.std()) if len(prices) > 1 else 0.0


def _price_band(model: ParkModel) -> tuple[np.ndarray, float, float]:
    """(session prices, reserve price, penalty) of the run's cap-and-trade (prices empty without one)."""
    ets = model.policy("cap_and_trade")
    if ets is None:
        return np.zeros(0), 0.0, 0.0
    return _session_prices(model), ets.params.reserve_price, ets.params.penalty


@run_metric("share")
def carbon_sessions_at_floor(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price is at the reserve price (within 0.5
    yuan/t): count(P <= reserve + 0.5) / sessions (0 if none traded)."""
    prices, floor, _ = _price_band(model)
    return float((prices <= floor + 0.5).mean()) if len(prices) else 0.0


@run_metric("share")
def carbon_sessions_at_penalty(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price is at the penalty (within 0.5 yuan/t):
    count(P >= penalty - 0.5) / sessions (0 if none traded)."""
    prices, _, penalty = _price_band(model)
    return float((prices >= penalty - 0.5).mean()) if len(prices) else 0.0


def _price_quantile(model: ParkModel, q: float) -> float:
    prices = _session_prices(model)
    return float(np.quantile(prices, q)) if len(prices) else 0.0


@run_metric("yuan/tCO2e")
def carbon_price_p10(model: ParkModel) -> float:
    """10th percentile of the call-auction clearing prices over the run (numpy's linear quantile; 0 if no
    session traded)."""
    return _price_quantile(model, 0.1)


@run_metric("yuan/tCO2e")
def carbon_price_median(model: ParkModel) -> float:
    """Median of the call-auction clearing prices over the run (0 if no session traded)."""
    return _price_quantile(model, 0.5)


@run_metric("yuan/tCO2e")
def carbon_price_p90(model: ParkModel) -> float:
    """90th percentile of the call-auction clearing prices over the run (numpy's linear quantile; 0 if no
    session traded)."""
    return _price_quantile(model, 0.9)


@run_metric("share")
def carbon_sessions_in_cea_range(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price lies in the range China's national market (CEA)
    has closed in since July 2021, 48-105.66 yuan/t (``ecopark/data/carbon_prices.toml``):
    count(48 <= P <= 105.66) / sessions (0 if none traded)."""
    prices = _session_prices(model)
    return float(((prices >= 48.0) & (prices <= 105.66)).mean()) if len(prices) else 0.0


@run_metric("ratio")
def carbon_first_price_ratio(model: ParkModel) -> float:
    """First session's clearing price / median clearing price of the run (0 if none traded): how far the
    opening session stands from the run's typical price."""
    prices = _session_prices(model)
    return float(prices[0] / np.median(prices)) if len(prices) and np.median(prices) > 0 else 0.0


@run_metric("tCO2e")
def block_trade_volume(model: ParkModel) -> float:
    """Allowances sold firm to firm in block trades over the run, each backed by whole abatement
    steps the sellers installed (``markets/block_trade.py``; allowance ledger kind `block_trade`)."""
    return float(sum(quantity for *_, quantity, _ in model.carbon_market.block_trades))


@run_metric("yuan")
def auction_revenue(model: ParkModel) -> float:
    """Government's allowance sales over the run (ledger `allowance_sale` to government)."""
    return model.ledger.flow("allowance_sale", None, "government")


@run_metric("yuan")
def carbon_penalties(model: ParkModel) -> float:
    """Penalties for allowances short at compliance, plus local-offset quota fines."""
    return model.ledger.flow("carbon_penalty") + model.ledger.flow("offset_quota_fine")


@run_metric("yuan")
def carbon_tax_revenue(model: ParkModel) -> float:
    """Carbon tax collected over the run."""
    return model.ledger.flow("carbon_tax")


@run_metric("yuan")
def carbon_pool_revenue(model: ParkModel) -> float:
    """Proceeds of the operator's carbon pool from selling offset credits."""
    return model.ledger.flow("allowance_sale", None, "operator")


@run_metric("yuan")
def carbon_pool_payouts(model: ParkModel) -> float:
    """Paid by the carbon pool to contributing firms (proceeds less commission)."""
    return model.ledger.flow("carbon_pool_payout")


@run_metric("share")
def abatement_adoption_final(model: ParkModel) -> float:
    """`abatement_adoption` in the last month."""
    return abatement_adoption(model)


@run_metric("tCO2e", steps=("emissions_abated",))
def total_abated(model: ParkModel) -> float:
    """Sum over steps of `emissions_abated`: what abatement technologies avoided over the run."""
    return float(sum(_over_steps(model, "emissions_abated")))


@run_metric("tCO2e")
def allowances_banked_final(model: ParkModel) -> float:
    """Allowances held by firms at the end of the run."""
    return model.carbon_market.held_by_firms()
