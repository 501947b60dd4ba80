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
the allowances still on offer, the penalty). It may buy c from one seller or several, each
installing one or more whole steps: the cheapest package (:func:`cheapest_cover`, a knapsack
solved with scipy ``milp``) costs sum_k m_k S_k - (sum_k S_k - c) P_bank; steps sell whole in
MAC order (a_k = m_k) and the last one the rest (at its break-even above). The package is
bought when its cost is below w x c, at prices that split the gain equally between the buyer
and the sellers (a symmetric Nash bargain, :func:`package_prices`):

    price_k = a_k + (w c - sum_k a_k q_k) / (2 c)      (one seller: (a + w) / 2)
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from ecopark.markets.lumpy_steps import break_even_bid
from ecopark.solver_output import muted


def package_prices(asks: np.ndarray, quantities: np.ndarray, walk_away: float) -> np.ndarray:
    """Prices of a package of block trades (yuan/tCO2e each): every seller's ask plus half the
    package's gain per tonne, a_k + (w c - sum a q) / (2 c) with c = sum q, so the buyer and the
    sellers split the gain equally (the symmetric Nash bargain; one seller: (a + w) / 2)."""
    need = quantities.sum()
    return asks + (walk_away * need - asks @ quantities) / (2.0 * need)


def cheapest_cover(need: float, buyer: int, mac: np.ndarray, step: np.ndarray, holding: np.ndarray,
                   bank_price: float, walk_away: float) -> list[tuple[int, int, float, float]]:
    """The cheapest package of block trades, as (firm index, step column, tCO2e, ask yuan/t),
    that covers ``need`` tCO2e, or [] if it costs at least ``walk_away`` x need.

    The sellers' steps are whole: the package is the knapsack (scipy ``milp``) over the other
    firms' steps on offer (``mac``, ``step`` firms x steps, tCO2e over the months ahead)

        min sum_k (m_k - P_bank) S_k x_k   s.t.  sum_k S_k x_k >= need,
        sum_(k of firm f) S_k x_k <= holding_f,   x_k in {0, 1},

    its total cost sum_k m_k S_k x_k - (sum_k S_k x_k - need) P_bank (the surplus beyond the need
    is the sellers', at P_bank). Steps sell whole in MAC order, the last one the rest, at its
    break-even (2); the others at their MAC.
    """
    owner = np.broadcast_to(np.arange(mac.shape[0])[:, None], mac.shape)
    r, c = np.nonzero((step > 0) & (owner != buyer) & np.isfinite(mac) & (need > 0))
    if not len(r):
        return []
    size, unit = step[r, c], mac[r, c]
    # the LP bound first (divisible steps, holdings ignored: steps below P_bank whole, the others
    # in MAC order up to the need); most searches end here
    if size.sum() < need:
        return []
    gain = unit < bank_price
    by_mac = np.flatnonzero(~gain)[np.argsort(unit[~gain], kind="stable")]
    rest = need - size[gain].sum()
    filled = np.minimum(size[by_mac], np.maximum(rest - (np.cumsum(size[by_mac]) - size[by_mac]), 0.0))
    bound = (unit[gain] - bank_price) @ size[gain] + (unit[by_mac] - bank_price) @ filled + bank_price * need
    if bound >= walk_away * need:
        return []
    firms, index = np.unique(r, return_inverse=True)
    per_firm = sparse.csr_matrix((size, (index, np.arange(len(r)))), shape=(len(firms), len(r)))
    with muted():
        result = milp((unit - bank_price) * size, integrality=np.ones(len(r)), bounds=Bounds(0, 1),
                      constraints=[LinearConstraint(size[None, :], need, np.inf),
                                   LinearConstraint(per_firm, 0.0, holding[firms])])
    if result.x is None:
        return []
    chosen = np.flatnonzero(result.x > 0.5)
    chosen = chosen[np.argsort(unit[chosen], kind="stable")]
    left, package = need, []
    for k in chosen:
        quantity = min(size[k], left)
        if quantity <= 0:
            break
        ask = break_even_bid(unit[k:k + 1], size[k:k + 1], np.array([quantity]), bank_price, np.inf)[0]
        package.append((int(r[k]), int(c[k]), float(quantity), float(ask)))
        left -= quantity
    total = sum(q * a for _, _, q, a in package)
    return package if total < walk_away * need else []

