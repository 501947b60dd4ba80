"""Block trades: a bilateral allowance sale backed by a whole abatement step, after a session.

China's national ETS trades allowances in two ways: listed agreement transfers, matched on
the exchange (here the call auction of ``markets/carbon.py``), and bulk agreement transfers
(block trades), negotiated between two parties and reported to the exchange. A uniform-price
auction ranks abatement by its MAC, which is right for divisible abatement but not for whole
steps: a firm rationed on its marginal step needs only c of its step S, and its own choice is
to install all of S or to pay the penalty on c. Another firm j with a smaller step may cover
c at a lower cost, and the auction cannot see it. A block trade lets them meet.

Firm j sells c allowances (it must hold them) and installs its whole step S_j (MAC m_j), which
frees S_j of its own allowances; it keeps S_j - c as surplus valued at its reservation price
P_bank. Its least acceptable price is the break-even of ``markets/lumpy_steps.py``, equation (2),
from the seller's side:

    a_j(c) = (m_j x S_j - (S_j - c) x P_bank) / c,       c <= min(S_j, holding_j)

The buyer walks away at w = min(its own break-even b(c) for installing its step, the price of
the allowances still on offer, the penalty). The trade happens with the cheapest seller when
a_j(c) < w, at the price that splits the gain equally (a symmetric Nash bargain),

    price = (a_j(c) + w) / 2,

so both gain (w - a_j) / 2 per tonne. When no one step is the cheapest cover, the buyer may
assemble c from several sellers (:func:`cheapest_cover`): whole steps sold whole (a_j = m_j),
taken in MAC order while they fit in c, and the rest from one more step at its break-even;
each is a block trade of its own at its Nash price, every a_j below w, and the set must
cover all of c (the buyer's own step is then not needed).
"""

from __future__ import annotations

import numpy as np

from ecopark.markets.lumpy_steps import break_even_bid


def cheapest_seller(need: float, buyer: int, mac: np.ndarray, step: np.ndarray, holding: np.ndarray,
                    bank_price: float, penalty: float) -> tuple[int, int, float]:
    """(firm index, step column, ask a_j(c) in yuan/tCO2e) of the cheapest whole step, among
    firms other than ``buyer``, that covers ``need`` tCO2e: ``mac`` and ``step`` (tCO2e over the
    months ahead, 0 where none is on offer) are firms x steps, ``holding`` the allowances each
    firm holds (tCO2e). (-1, -1, inf) when no step can."""
    owner = np.broadcast_to(np.arange(mac.shape[0])[:, None], mac.shape)
    can = (step >= need) & (owner != buyer) & (holding[:, None] >= need) & (need > 0)
    if not can.any():
        return -1, -1, np.inf
    r, c = np.nonzero(can)
    ask = break_even_bid(mac[r, c], step[r, c], np.full(len(r), need), bank_price, penalty)
    best = int(np.argmin(ask))
    return int(r[best]), int(c[best]), float(ask[best])


def nash_price(ask: float, walk_away: float) -> float:
    """Price of a block trade (yuan/tCO2e): halfway between the seller's least acceptable price
    and the buyer's walk-away price."""
    return 0.5 * (ask + walk_away)


def cheapest_cover(need: float, buyer: int, mac: np.ndarray, step: np.ndarray, holding: np.ndarray,
                   bank_price: float, penalty: float, walk_away: float) -> list[tuple[int, int, float, float]]:
    """The cheapest set of block trades, as (firm index, step column, tCO2e, ask yuan/t), that
    covers ``need`` tCO2e with every ask below ``walk_away``: one step (:func:`cheapest_seller`),
    or whole steps in MAC order plus one step for the rest, whichever costs less in total
    (sum of tCO2e x ask). Empty when neither covers the need below the walk-away price."""
    options = []
    firm, col, ask = cheapest_seller(need, buyer, mac, step, holding, bank_price, penalty)
    if ask < walk_away:
        options.append([(firm, col, need, ask)])
    owner = np.broadcast_to(np.arange(mac.shape[0])[:, None], mac.shape)
    r, c = np.nonzero((step > 0) & (owner != buyer) & (mac < walk_away))
    left, room, bundle, free = need, holding.astype(float).copy(), [], step.copy()
    for i in np.argsort(mac[r, c], kind="stable"):
        s = step[r[i], c[i]]
        if s <= left and room[r[i]] >= s:
            bundle.append((int(r[i]), int(c[i]), float(s), float(mac[r[i], c[i]])))
            left -= s
            room[r[i]] -= s
            free[r[i], c[i]] = 0.0
    if bundle and left > 1e-9 * need:
        firm, col, ask = cheapest_seller(left, buyer, mac, free, room, bank_price, penalty)
        bundle = [*bundle, (firm, col, left, ask)] if ask < walk_away else []
    if bundle:
        options.append(bundle)
    if not options:
        return []
    return min(options, key=lambda trades: sum(q * a for _, _, q, a in trades))
