"""A firm's decision on an indivisible (whole) technology step in the carbon market.

A technology step abates S tCO2e over the rest of the compliance year at MAC m (yuan/t,
annualised capex + opex per tonne), and it is installed whole or not at all. Of S, the
firm needs c <= S to cover its own shortfall; the other S - c would be surplus. Installing
costs the whole step, m x S; it saves buying (or being penalised for) c at the price the
firm would otherwise pay, P_short, and the surplus S - c can be sold or banked at the
price the firm expects for it, P_bank (the expected price with banking, else 0). So the
firm installs exactly when

    m x S <= c x P_short + (S - c) x P_bank                                       (1)

Bidding: before a session the firm does not know the price, so for the c it needs it bids
the price at which buying and installing cost the same, the break-even of (1):

    b = (m x S - (S - c) x P_bank) / c = m + (S - c) / c x (m - P_bank)          (2)

(at most the penalty); b = m for a step it needs whole. After the session, (1) decides
with P_short the price of the cheapest supply left for it (:func:`residual_supply_price`).
"""

from __future__ import annotations

import numpy as np


def break_even_bid(mac: np.ndarray, step: np.ndarray, need: np.ndarray, bank_price: float | np.ndarray,
                   penalty: float) -> np.ndarray:
    """Equation (2), yuan/tCO2e: the highest price a firm pays for ``need`` tonnes rather than
    install the whole ``step`` (tCO2e) at ``mac``; capped at ``penalty``; ``mac`` where need = 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        bid = mac + (step - need) / need * np.maximum(mac - bank_price, 0.0)
    return np.where(need > 0, np.minimum(bid, penalty), mac)


def worth_installing(mac: np.ndarray, step: np.ndarray, committed: np.ndarray, short_price: np.ndarray,
                     bank_price: float) -> np.ndarray:
    """Equation (1): install the whole ``step`` (tCO2e) when its cost mac x step is at most
    what it saves, committed x short_price + (step - committed) x bank_price."""
    committed = np.minimum(committed, step)
    saves = committed * short_price + (step - committed) * bank_price
    return (step > 0) & (committed > 0) & (mac * step <= saves * (1 + 1e-12))


def residual_supply_price(need: np.ndarray, firm: np.ndarray, ask_prices: np.ndarray, ask_left: np.ndarray,
                          ask_owner: np.ndarray, penalty: float) -> np.ndarray:
    """P_short of (1), yuan/tCO2e: for each (firm[i], need[i]) the price at which the asks left
    unfilled after a session by other owners cover ``need`` (the marginal ask), or the
    ``penalty`` if they cannot. Looped only over the firms deciding on a partly committed step."""
    out = np.full(len(need), penalty, dtype=float)
    live = ask_left > 0
    for i in range(len(need)):
        others = live & (ask_owner != firm[i])
        prices = ask_prices[others]
        order = np.argsort(prices, kind="stable")
        cum = np.cumsum(ask_left[others][order])
        k = int(np.searchsorted(cum, need[i] * (1 - 1e-12)))
        if k < len(cum):
            out[i] = min(float(prices[order][k]), penalty)
    return out
