"""The allowance price firms expect: an intertemporal no-arbitrage (Hotelling) path from what they can know.

With banking, an allowance held is an asset: nobody holds one whose price is expected to
rise by less than the cost of carry r, and nobody sells one whose price is expected to rise
by more, so while the bank is positive the expected price rises at r (Rubin 1996, JEEM
31(3); Schennach 2000, JEEM 40(3)). Its level is set by scarcity over the horizon firms
can see: the price path P_t = min(P0 (1 + r)^t, penalty) (t in years from now) must make
the abatement it calls forth cover the cumulative shortfall

    D = E_sofar + e x (m_left + 12 (H - 1)) - B - sum_(y=1..H-1) cap_y                 (1)

with E_sofar the covered emissions of this compliance year so far, e this month's covered
emissions (tCO2e/month), m_left the months left in the year including this one, H the
horizon in compliance years (``policies.cap_and_trade.expectation_years``), B the allowances
in circulation and not yet surrendered (firms, government, entrant reserve) and cap_y the
announced caps of the next years. A step k on offer (MAC m_k, a_k tCO2e/month) is installed
when the path first reaches its MAC, at t_k = ln(m_k / P0) / ln(1 + r) (0 if m_k <= P0), and
abates 12 a_k (T - t_k) up to the horizon's end T = m_left / 12 + H - 1, so P0 solves

    A(P0) = sum_k 12 a_k max(T - t_k(P0), 0) = D                                        (2)

(A rises with P0; bisection). D <= 0 (a surplus is banked beyond the horizon): P0 is the
floor, the price falls to it. The penalty is a buy-out price: at a deadline nobody pays more
than the penalty for an allowance, so the path may not pass it there, P0 <= penalty (1 + r)^(-T);
where even that path does not cover D the shortfall is bought out and P0 = penalty (1 + r)^(-T),
the penalty discounted to the deadline (before issue 23's price-path work: the penalty itself,
600 yuan/t now for a shortfall ten years ahead). With r = 0 the path is flat and (2) is the
static merit order, P0 = the MAC of the marginal step.

Allowances can be banked but not borrowed: the bank may not be negative at any compliance
deadline, so (2) must hold for the shortfall D_h to each year end h = 1..H (horizon T_h,
D_h as (1) with H = h) and the price is the highest of these,

    P0 = max_h P0_h,       A_h(P0_h) = D_h                                              (3)

(Rubin 1996: the price rises at r while the bank is positive; where a deadline binds, the
path starts from the price that clears it).
"""

from __future__ import annotations

import math

import numpy as np


def abatement_along_path(p0: float, mac: np.ndarray, a: np.ndarray, horizon: float, rate: float) -> float:
    """A(P0) of (2), tCO2e: abatement of the steps (``mac`` yuan/t, ``a`` tCO2e/month) installed
    when the path P0 (1 + rate)^t reaches their MAC, each abating until ``horizon`` years from now."""
    if p0 <= 0:
        return 0.0
    with np.errstate(divide="ignore"):
        wait = np.where(mac <= p0, 0.0,
                        np.log(mac / p0) / np.log1p(rate) if rate > 0 else np.inf)
    return float(12.0 * a @ np.maximum(horizon - wait, 0.0))


def abatement_to_deadlines(p0: float, mac: np.ndarray, a: np.ndarray, horizons: np.ndarray, rate: float,
                           buffers: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """A_h(P0) of (2) for every deadline ``horizons[h]`` (years from now) at once, tCO2e.

    ``buffers``: (steps, deadlines) arrays, the second holding T_h in every row, kept by a caller that prices
    the same steps many times: max(T_h - wait, 0) is laid out in the first (the same numbers, quicker)."""
    if p0 <= 0:
        return np.zeros(len(horizons))
    with np.errstate(divide="ignore"):
        wait = np.where(mac <= p0, 0.0,
                        np.log(mac / p0) / np.log1p(rate) if rate > 0 else np.inf)
    if buffers is None:
        return 12.0 * a @ np.maximum(np.asarray(horizons, float)[None, :] - wait[:, None], 0.0)
    reach, deadlines = buffers
    np.copyto(reach, wait[:, None])
    np.subtract(deadlines, reach, out=reach)
    return 12.0 * a @ np.maximum(reach, 0.0, out=reach)


def no_borrowing_price(shortfalls: np.ndarray, horizons: np.ndarray, mac: np.ndarray, a: np.ndarray, rate: float,
                       floor: float, penalty: float) -> float:
    """P0 of (3), yuan/tCO2e: the highest of the prices (2) that cover the cumulative shortfall
    ``shortfalls[h]`` (tCO2e) by each compliance deadline ``horizons[h]`` (years from now).

    Each A_h rises with P0, so max_h P0_h is the lowest P0 at which every deadline is covered,
    A_h(P0) >= D_h, or bought out, P0 >= penalty (1 + rate)^(-T_h), for all h: one bisection over
    all deadlines at once (the deadline that binds is the one at which the bank runs out; a
    surplus banked now is priced at the discounted price of that later scarcity)."""
    shortfalls, horizons = np.asarray(shortfalls, float), np.asarray(horizons, float)
    ok = np.isfinite(mac) & (a > 0) & (mac < penalty)
    mac, a = mac[ok], a[ok]
    if (shortfalls <= 0).all():
        return floor
    buyout = np.maximum(floor, penalty * (1.0 + rate) ** -horizons)

    def covered(price: float) -> bool:
        return bool(((abatement_to_deadlines(price, mac, a, horizons, rate) >= shortfalls) | (price >= buyout)).all())

    lo, hi = floor, float(buyout[shortfalls > 0].max())
    if covered(lo):
        return floor
    # the 60 halvings, TREE_LEVELS at a time: the mids every outcome of the next levels would visit are
    # priced in one call and the path followed (each mid the same number, so the same price bit for bit)
    levels = min(TREE_LEVELS, int(np.log2(TREE_CELLS / max(len(a) * len(horizons), 1) + 1)))
    twelve_a = 12.0 * a
    # halvings whose outcome is known are not priced (as in _bisect_batch): the cover test is priced first just
    # below and above the threshold guess; a mid at or below below_cut (a price found not covering less twice
    # _known_gap) does not cover, one at or above above_cut covers. Only where the halvings are priced levels at a
    # time: a large problem's guess costs about what the pricings it would save cost
    below_cut, above_cut = 0.0, hi
    with np.errstate(divide="ignore", invalid="ignore"):  # _covered_at's divisions, once for every call
        if levels > 1 and rate > 0 and len(a) and np.isfinite(shortfalls).all() and np.isfinite(a).all():
            guess = _threshold_guess_one(shortfalls, horizons, mac, a, rate, lo, hi, buyout)
            prices = [min(max(guess * (1.0 - GUESS_GAP), lo), hi), min(max(guess * (1.0 + GUESS_GAP), lo), hi)]
            up = _covered_at(np.array(prices), mac, twelve_a, horizons, rate, shortfalls, buyout).tolist()
            top = float(mac.max())
            no = max([price for price, cover in zip(prices, up, strict=True) if not cover and price > 0], default=0.0)
            yes = min([price for price, cover in zip(prices, up, strict=True) if cover], default=hi)
            below_cut = no * (1.0 - 2.0 * _known_gap_one(top, no)) if no > 0 else 0.0
            above_cut = yes * (1.0 + 2.0 * _known_gap_one(top, yes))
        done = 0 if levels > 1 else 60  # large problems: one price at a time, below
        while done < 60:
            mid = 0.5 * (lo + hi)
            if mid == hi or (mid == lo and lo != floor):
                break  # lo and hi adjacent numbers: every later mid is one of them, priced before, and leaves them be
            if mid <= below_cut or mid >= above_cut:  # known: this halving's outcome, without pricing it
                lo, hi = (lo, mid) if mid >= above_cut else (mid, hi)
                done += 1
                continue
            depth = levels if levels < 60 - done else 60 - done
            bounds = [(lo, hi)]  # the tree's intervals in heap order: node i's children 2i + 1 (covered), 2i + 2
            mids = []  # node i's mid, the end its child 2i + 1 shares with 2i + 2
            for i in range(2 ** depth - 1):
                low, high = bounds[i]
                mid = 0.5 * (low + high)
                bounds += [(low, mid), (mid, high)]
                mids += (mid,)
            mids = np.array(mids)
            up = _covered_at(mids, mac, twelve_a, horizons, rate, shortfalls, buyout)
            node = 0
            for _ in range(depth):
                node = 2 * node + (1 if up[node] else 2)
            lo, hi = bounds[node]
            done += depth
    if levels > 1:
        return hi
    reach = np.empty((len(mac), len(horizons)))  # one price at a time, in buffers kept over the halvings
    buffers = (reach, np.broadcast_to(horizons, reach.shape).copy())
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break  # lo and hi adjacent numbers: every later mid is one of them, priced before, and leaves them be
        if ((abatement_to_deadlines(mid, mac, a, horizons, rate, buffers) >= shortfalls) | (mid >= buyout)).all():
            hi = mid
        else:
            lo = mid
    return hi


#: Levels of the bisection :func:`no_borrowing_price` prices at once (2^levels - 1 prices per call).
TREE_LEVELS = 3
#: At most this many cells (prices x steps x deadlines) per such call: the levels are the most with
#: (2^levels - 1) x steps x deadlines <= TREE_CELLS; with fewer than two, one price at a time (a large park,
#: where the arithmetic, not the call, costs).
TREE_CELLS = 2000


def _covered_at(prices: np.ndarray, mac: np.ndarray, twelve_a: np.ndarray, horizons: np.ndarray, rate: float,
                shortfalls: np.ndarray, buyout: np.ndarray) -> np.ndarray:
    """Whether each price in ``prices`` covers every deadline of one problem (steps ``mac``, 12 x their
    abatement ``twelve_a``, filtered): :func:`abatement_to_deadlines` of each price, element by element the
    same operations, the product one matrix-vector product per price. Called under
    ``np.errstate(divide="ignore", invalid="ignore")`` (a price of 0 divides by 0: its wait is not used)."""
    wait = np.where(mac[None, :] <= prices[:, None], 0.0,
                    np.log(mac[None, :] / prices[:, None]) / np.log1p(rate) if rate > 0 else np.inf)
    reach = np.subtract(horizons, wait[:, :, None])  # max(T_h - wait, 0), the second step in place
    abated = np.matmul(twelve_a, np.maximum(reach, 0.0, out=reach))
    abated[prices <= 0] = 0.0
    return np.logical_and.reduce((abated >= shortfalls[None, :]) | (prices[:, None] >= buyout[None, :]), axis=1)


#: Cells (problems x steps x deadlines) one round of :func:`no_borrowing_prices` holds at once (~8 MB).
BATCH_CELLS = 1 << 20


def no_borrowing_prices(shortfalls: np.ndarray, horizons: np.ndarray, mac: np.ndarray, a: np.ndarray, rate: float,
                        floor: float, penalty: float) -> np.ndarray:
    """:func:`no_borrowing_price` of each of P problems at once, yuan/tCO2e (P,): problem j has the
    shortfalls ``shortfalls[j]`` (P, H) and the abatement ``a[j]`` (P, K) of the steps ``mac`` (K,)
    shared by all, to the deadlines ``horizons`` (H,) shared by all.

    The same prices bit for bit: every problem's bisection takes the same 60 halvings and evaluates
    A_h(P0) of each with the same operations on the same filtered arrays (elementwise, and the product
    a @ max(T - wait, 0) as one matrix-vector product per problem), only many problems per numpy call
    instead of one. Problems whose filtered steps differ in number go in separate batches."""
    shortfalls, horizons = np.asarray(shortfalls, float), np.asarray(horizons, float)
    mac, a = np.asarray(mac, float), np.asarray(a, float)
    out = np.full(len(shortfalls), float(floor))
    ok = np.isfinite(mac)[None, :] & (a > 0) & (mac < penalty)[None, :]
    short = ~(shortfalls <= 0).all(axis=1)
    if not short.any():
        return out
    buyout = np.maximum(floor, penalty * (1.0 + rate) ** -horizons)
    counts = ok.sum(axis=1)
    for count in np.unique(counts[short]).tolist():
        group = np.flatnonzero(short & (counts == count))
        chunk = max(1, BATCH_CELLS // max(count * len(horizons), 1))
        for lo in range(0, len(group), chunk):
            part = group[lo:lo + chunk]
            keep = ok[part]
            macs = np.broadcast_to(mac, keep.shape)[keep].reshape(len(part), count)
            out[part] = _bisect_batch(shortfalls[part], horizons, macs, a[part][keep].reshape(len(part), count),
                                      rate, floor, buyout)
    return out


def _bisect_batch(shortfalls: np.ndarray, horizons: np.ndarray, mac: np.ndarray, a: np.ndarray, rate: float,
                  floor: float, buyout: np.ndarray) -> np.ndarray:
    """The bisection of :func:`no_borrowing_price` on P problems with a shortfall, each with its own steps
    ``mac`` and ``a`` (P, K, already filtered), run side by side.

    Halvings whose outcome is already known are not priced (:func:`_known_gap`): each problem's cover test is
    priced at its :func:`_threshold_guess` just below and just above, and a later mid well below a price found
    not covering, or well above one found covering, takes that outcome. Only the mids near the threshold (the
    last dozen halvings or so) are priced, the same numbers as before, so every halving goes the same way."""
    twelve_a = (12.0 * a)[:, None, :]  # (P, 1, K): each problem's row, as 12.0 * a in the scalar product
    reach = np.empty((*mac.shape, len(horizons)))  # (P, K, H), refilled at every price
    deadlines = np.broadcast_to(horizons, reach.shape).copy()  # T_h at every (problem, step)

    def covered(price: np.ndarray) -> np.ndarray:  # called under the errstate below
        wait = np.where(mac <= price[:, None], 0.0,
                        np.log(mac / price[:, None]) / np.log1p(rate) if rate > 0 else np.inf)
        np.copyto(reach, wait[:, :, None])  # max(T_h - wait, 0), in place (the same numbers, laid out at once)
        np.subtract(deadlines, reach, out=reach)
        np.maximum(reach, 0.0, out=reach)
        abated = np.matmul(twelve_a, reach)[:, 0, :]  # one matrix-vector product per problem
        abated[price <= 0] = 0.0
        return np.logical_and.reduce((abated >= shortfalls) | (price[:, None] >= buyout), axis=1)  # .all(axis=1)

    lo = np.full(len(shortfalls), float(floor))
    hi = np.where(shortfalls > 0, buyout, -np.inf).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # covered's divisions (a price of 0), once for all calls
        done = covered(lo)
        todo = ~done
        if not (rate > 0 and reach.size >= GUESS_CELLS and todo.any() and np.isfinite(shortfalls[todo]).all()
                and np.isfinite(hi[todo]).all() and np.isfinite(a).all()):
            for _ in range(60):  # a small batch (the guess would cost more than the pricings it saves): every mid
                mid = 0.5 * (lo + hi)
                if (done | (mid == lo) | (mid == hi)).all():
                    break  # every bisection left has lo and hi adjacent: the halvings left change nothing
                up = covered(mid)
                hi = np.where(up, mid, hi)
                lo = np.where(up, lo, mid)
            return np.where(done, float(floor), hi)
        guess = hi.copy()
        guess[todo] = _threshold_guess(shortfalls[todo], horizons, mac[todo], a[todo], rate, lo[todo], hi[todo], buyout)
        # what is known: no (the highest price priced and found not covering, 0 if none) and yes (the lowest found
        # covering; hi covers every deadline by its buy-out); a mid at or below below_cut (no less twice the
        # _known_gap) does not cover, one at or above above_cut covers
        no, yes = np.zeros(len(lo)), hi.copy()
        top = mac.max(axis=1)  # the highest MAC of each problem
        for side in (1.0 - GUESS_GAP, 1.0 + GUESS_GAP):
            price = np.minimum(np.maximum(guess * side, lo), hi)
            up = covered(price)
            yes = np.where(up & (price < yes), price, yes)
            no = np.where(~up & (price > no), price, no)
        below_cut = np.where(no > 0, no * (1.0 - 2.0 * _known_gap(top, no)), 0.0)
        above_cut = yes * (1.0 + 2.0 * _known_gap(top, yes))
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            settled = done | (mid == lo) | (mid == hi)
            if settled.all():
                break  # every bisection left has lo and hi adjacent: the halvings left change nothing
            known_yes = mid >= above_cut
            ask = ~(settled | known_yes | (mid <= below_cut))
            up = known_yes
            if ask.any():
                priced = covered(mid)
                up = np.where(ask, priced, known_yes)
                no = np.where(ask & ~priced & (mid > no), mid, no)
                yes = np.where(ask & priced & (mid < yes), mid, yes)
                below_cut = np.where(no > 0, no * (1.0 - 2.0 * _known_gap(top, no)), 0.0)
                above_cut = yes * (1.0 + 2.0 * _known_gap(top, yes))
            hi = np.where(~settled & up, mid, hi)  # a settled bisection stays as it is (its mid is lo or hi)
            lo = np.where(~settled & ~up, mid, lo)
    return np.where(done, float(floor), hi)


#: Batches of fewer cells (problems x steps x deadlines) than this price every mid (:func:`_bisect_batch`).
GUESS_CELLS = 10_000
#: The cover test is priced at the threshold guess x (1 -+ GUESS_GAP) (:func:`_bisect_batch`).
GUESS_GAP = 1e-13


def _known_gap(top: np.ndarray, price: np.ndarray) -> np.ndarray:
    """The relative gap beyond which the computed cover test of :func:`_bisect_batch` is known from its value at
    ``price`` (> 0): 2u (1 + 64 max(1, ln(top / price))), u = 2^-53, with ``top`` the problem's highest MAC.

    The test is monotone in the price up to the last bits of the logarithm: for m < m' every other step (m / MAC
    and its rounding, the division by ln(1 + r) > 0, T_h - wait, max(., 0), the product with 12 a >= 0 summed,
    the comparisons) keeps its order, and ln(MAC / m) - ln(MAC / m') >= ln(m' / m) - 2u while each computed
    logarithm is within a few ulp of |ln(MAC / m)| <= ln(top / m) (well within 16 ulp, 32u ln(top / m)). So a
    price at least twice this gap below one found not covering does not cover, and one as far above a price
    found covering covers."""
    return 2.0 ** -52 * (1.0 + 64.0 * np.maximum(np.log(np.maximum(top / price, 1.0)), 1.0))


def _known_gap_one(top: float, price: float) -> float:
    """:func:`_known_gap` of one price (> 0), on Python floats."""
    return 2.0 ** -52 * (1.0 + 64.0 * max(math.log(max(top / price, 1.0)), 1.0))


def _closed_form_abated(t, u, mid: float, c: float, s_full, s_part, sl_full, sl_part):
    """A_h(u) of :func:`_threshold_guess` (tCO2e by deadline T_h = ``t``, u = ln P), from the prefix sums of the
    steps sorted by ln MAC: ``s_full``/``sl_full`` of a and a (ln MAC - ``mid``) over the steps with ln MAC <= u,
    ``s_part``/``sl_part`` over those with ln MAC < u + c T_h (c = ln(1 + r)):
    12 (T_h S_full + (T_h + (u - mid) / c) (S_part - S_full) - (SL_part - SL_full) / c)."""
    return 12.0 * (t * s_full + (t + (u - mid) / c) * (s_part - s_full) - (sl_part - sl_full) / c)


def _threshold_guess_one(shortfalls: np.ndarray, horizons: np.ndarray, mac: np.ndarray, a: np.ndarray, rate: float,
                         lo: float, hi: float, buyout: np.ndarray) -> float:
    """:func:`_threshold_guess` of one problem (steps ``mac``, ``a`` (K,), filtered), without its halvings: A_h of
    the closed form at every kink (each step's ln MAC and ln MAC - c T_h), the first kink whose A_h covers D_h and
    the last that does not, linear interpolation between them; the last deadline to be covered (or bought out)
    gives the guess, within [lo, hi]."""
    c = np.log1p(rate)
    order = np.argsort(mac)
    lam, a = np.log(mac[order]), a[order]
    mid = 0.5 * (lam[0] + lam[-1])  # ln MAC taken from the middle in the sums: less cancellation in A_h
    sum_a, sum_al = np.concatenate([[0.0], np.cumsum(a)]), np.concatenate([[0.0], np.cumsum(a * (lam - mid))])
    reach = (c * horizons)[:, None]  # (H, 1)
    kinks = np.concatenate([np.broadcast_to(lam, (len(horizons), len(lam))), lam - reach], axis=1)  # (H, 2K)
    full = np.searchsorted(lam, kinks, side="right")
    part = np.searchsorted(lam, kinks + reach, side="left")
    t = horizons[:, None]
    abated = _closed_form_abated(t, kinks, mid, c, sum_a[full], sum_a[part], sum_al[full], sum_al[part])
    need = shortfalls[:, None]
    enough = abated >= need
    upper = np.where(enough, kinks, np.inf).min(axis=1)  # the first kink covering each deadline
    lower = np.where(enough, -np.inf, kinks).max(axis=1)  # the last kink not covering it
    at_upper = np.where(enough & (kinks == upper[:, None]), abated, -np.inf).max(axis=1)
    at_lower = np.where(~enough & (kinks == lower[:, None]), abated, -np.inf).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = lower + (shortfalls - at_lower) / (at_upper - at_lower) * (upper - lower)
    cross = np.where(np.isfinite(upper), np.where(np.isfinite(cross), cross, upper), np.inf)
    price = np.minimum(np.exp(np.minimum(cross, 700.0)), buyout)  # each deadline: covered, or bought out
    guess = float(np.where(shortfalls > 0, price, -np.inf).max())
    return min(max(guess, lo), hi) if math.isfinite(guess) else hi


def _threshold_guess(shortfalls: np.ndarray, horizons: np.ndarray, mac: np.ndarray, a: np.ndarray, rate: float,
                     lo: np.ndarray, hi: np.ndarray, buyout: np.ndarray) -> np.ndarray:
    """A guess of each problem's price (3) (yuan/tCO2e, (P,)) from the closed form of (2): in u = ln P a step
    abates 12 a_k clip(T_h - (ln MAC_k - u) / c, 0, T_h), c = ln(1 + r), so with the steps sorted by ln MAC

        A_h(u) = 12 (T_h S_a(ln MAC <= u) + (T_h + u / c) S_a(u < ln MAC < u + c T_h) - S_(a ln MAC)(same) / c)

    from prefix sums S, piecewise linear in u. Bisected in u down to a bracket too narrow to hold a kink (almost
    surely), then each deadline still short at its lower end crosses its shortfall by linear interpolation (or
    is bought out), and the last crossing is the guess. Only where to price the cover test first: the rounding
    differs from the computed test's, and :func:`_bisect_batch` takes nothing from it but where it prices."""
    n, k = mac.shape
    c = np.log1p(rate)
    lam = np.log(mac)
    order = np.argsort(lam, axis=1)
    lam, a = np.take_along_axis(lam, order, axis=1), np.take_along_axis(a, order, axis=1)
    low, high = float(lam.min()), float(lam.max())
    mid = 0.5 * (low + high)  # ln MAC taken from the middle in the sums: less cancellation in A_h
    sum_a, sum_al = np.zeros((n, k + 1)), np.zeros((n, k + 1))
    np.cumsum(a, axis=1, out=sum_a[:, 1:])
    np.cumsum(a * (lam - mid), axis=1, out=sum_al[:, 1:])
    reach = c * horizons  # (H,): how far below ln MAC a step starts abating by each deadline
    most = float(reach.max())
    # every problem's sorted ln MAC in one array, each row lifted above the last, for one searchsorted per price
    lift = (np.arange(n) * (high - low + most + 4.0))[:, None]
    keys = (lam - low + lift).ravel()
    first, rows = (np.arange(n) * k)[:, None], np.arange(n)[:, None]

    def abated(u: np.ndarray) -> np.ndarray:  # A_h(u), (P, H)
        at = np.clip(u, low - most - 1.0, high + 1.0)[:, None]
        full = np.searchsorted(keys, (at - low + lift).ravel(), side="right").reshape(n, 1) - first
        part = np.searchsorted(keys, (at + reach - low + lift).ravel(), side="left").reshape(n, -1) - first
        return _closed_form_abated(horizons, at, mid, c, sum_a[rows, full], sum_a[rows, part], sum_al[rows, full],
                                   sum_al[rows, part])

    u_lo, u_hi = np.log(np.maximum(lo, np.exp(low - most - 1.0))), np.log(hi)
    a_lo, a_hi = abated(u_lo), abated(u_hi)
    for _ in range(GUESS_HALVINGS):
        u = 0.5 * (u_lo + u_hi)
        at = abated(u)
        up = ((at >= shortfalls) | (np.exp(u)[:, None] >= buyout)).all(axis=1)
        u_hi, u_lo = np.where(up, u, u_hi), np.where(up, u_lo, u)
        a_hi, a_lo = np.where(up[:, None], at, a_hi), np.where(up[:, None], a_lo, at)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = u_lo[:, None] + (shortfalls - a_lo) / (a_hi - a_lo) * (u_hi - u_lo)[:, None]
    cross = np.minimum(np.where(a_hi >= shortfalls, cross, np.inf), np.log(buyout))  # covered, or bought out
    short = (a_lo < shortfalls) & (np.exp(u_lo)[:, None] < buyout)
    last = np.where(short, np.clip(cross, u_lo[:, None], u_hi[:, None]), -np.inf).max(axis=1)
    return np.exp(np.where(np.isfinite(last), last, u_hi))


#: Halvings of :func:`_threshold_guess`'s bracket before it interpolates (from about 3 in ln P to about 1e-6).
GUESS_HALVINGS = 22


def no_arbitrage_price(shortfall: float, mac: np.ndarray, a: np.ndarray, horizon: float, rate: float,
                       floor: float, penalty: float) -> float:
    """P0 of (2), yuan/tCO2e: the price now from which a path rising at ``rate`` (1/year) calls forth
    abatement covering ``shortfall`` (tCO2e, (1)) by ``horizon`` years from now; ``floor`` if
    there is no shortfall; at most the penalty discounted to the deadline, max(floor, penalty (1 +
    rate)^(-horizon)), which it is if even that path does not cover the shortfall (a buy-out)."""
    ok = np.isfinite(mac) & (a > 0) & (mac < penalty)
    mac, a = mac[ok], a[ok]
    if shortfall <= 0:
        return floor
    cap = max(floor, penalty * (1.0 + rate) ** -horizon)
    if abatement_along_path(cap, mac, a, horizon, rate) < shortfall:
        return cap
    lo, hi = floor, cap
    if abatement_along_path(lo, mac, a, horizon, rate) >= shortfall:
        return floor
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if abatement_along_path(mid, mac, a, horizon, rate) >= shortfall:
            hi = mid
        else:
            lo = mid
    return hi
