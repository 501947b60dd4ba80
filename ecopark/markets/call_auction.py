"""The uniform-price call auction that clears the carbon market's sessions and the intensity
target's performance-standard trades: ``clear_uniform_price(bid prices, bid quantities, ask
prices, ask quantities) -> Clearing``.

A module of its own so that the carbon market (``markets/carbon.py``) and the policy
instruments (``policies/intensity_target.py``), which the carbon market imports, both use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clearing:
    """Result of one call auction: price (NaN if nothing trades), volume and fills per order."""

    price: float
    volume: float
    buy_fills: np.ndarray
    sell_fills: np.ndarray


def _fill(prices: np.ndarray, quantities: np.ndarray, eligible: np.ndarray, volume: float,
          descending: bool) -> np.ndarray:
    """Fill eligible orders by price priority, then array order, up to ``volume``."""
    fills = np.zeros(len(prices))
    idx = np.flatnonzero(eligible)
    key = -prices[idx] if descending else prices[idx]
    idx = idx[np.argsort(key, kind="stable")]
    q = quantities[idx]
    cum = np.cumsum(q)
    fills[idx] = np.clip(volume - (cum - q), 0.0, q)
    return fills


def clear_uniform_price(
    bid_prices: np.ndarray, bid_quantities: np.ndarray, ask_prices: np.ndarray, ask_quantities: np.ndarray
) -> Clearing:
    """Clear a uniform-price call auction of limit orders (1-D arrays, one entry per order).

    Price rule: among the order prices, take those that maximise the traded volume
    V(p) = min(D(p), S(p)), with D(p) the bids at or above p and S(p) the asks at or below p;
    among them those with the smallest imbalance |D(p) - S(p)|; then the highest such price
    if buyers are left over, the lowest if sellers are, and the midpoint of the range if
    the book balances. No trade (V = 0): price NaN.

    Rationing: buyers are filled in descending price order and sellers in ascending price
    order; orders at the same price are filled in array order (time priority: the caller
    shuffles the orders), the last one partially. So no buyer pays above its bid and no
    seller receives below its ask.
    """
    bp, bq = np.asarray(bid_prices, float), np.asarray(bid_quantities, float)
    ap, aq = np.asarray(ask_prices, float), np.asarray(ask_quantities, float)
    none = Clearing(np.nan, 0.0, np.zeros(len(bp)), np.zeros(len(ap)))
    live_b, live_a = bq > 0, aq > 0
    if not live_b.any() or not live_a.any():
        return none
    candidates = np.unique(np.concatenate([bp[live_b], ap[live_a]]))
    b_sorted = np.argsort(bp[live_b])
    b_price, b_cum = bp[live_b][b_sorted], np.cumsum(bq[live_b][b_sorted][::-1])[::-1]
    a_sorted = np.argsort(ap[live_a])
    a_price, a_cum = ap[live_a][a_sorted], np.cumsum(aq[live_a][a_sorted])
    first_b = np.searchsorted(b_price, candidates, side="left")
    demand = np.where(first_b < len(b_cum), b_cum[np.minimum(first_b, len(b_cum) - 1)], 0.0)
    last_a = np.searchsorted(a_price, candidates, side="right") - 1
    supply = np.where(last_a >= 0, a_cum[np.maximum(last_a, 0)], 0.0)
    volume = np.minimum(demand, supply)
    best = volume.max()
    if best <= 0:
        return none
    tol = 1e-9 * best
    at_max = np.flatnonzero(volume >= best - tol)
    imbalance = demand[at_max] - supply[at_max]
    smallest = np.abs(imbalance) <= np.abs(imbalance).min() + tol
    chosen, residual = at_max[smallest], imbalance[smallest]
    if np.all(residual > tol):
        price = candidates[chosen].max()
    elif np.all(residual < -tol):
        price = candidates[chosen].min()
    else:
        price = 0.5 * (candidates[chosen].min() + candidates[chosen].max())
    buys = _fill(bp, bq, live_b & (bp >= price), best, descending=True)
    sells = _fill(ap, aq, live_a & (ap <= price), best, descending=False)
    return Clearing(float(price), float(best), buys, sells)
