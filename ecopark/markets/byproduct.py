"""The byproduct market: discovery, matching and formation of symbiosis links, and deliveries.

Each month (phase 3) active links deliver; (phase 4) suppliers' uncontracted byproducts
and receivers' unmet substitutable needs, stream by stream, meet in a market.

Surplus per unit of stream k from supplier s to receiver r (:meth:`ByproductMarket.pair_values`)::

    u_srk = d_k + tax_k + quota_k * b_s + v_k - proc_k - e_k - trans_k * dist_sr + c * co2_k + sub_k + t_k
            - (A(capex_srk - capex_subsidy) + F + A qual_k [pair unfamiliar]) / q_sr

with d disposal cost, tax landfill tax, quota the reuse-quota fine and b_s the share of the
supplier's open supply still below its quota (:meth:`ByproductMarket.quota_shares`), t the
posted-price top-up (:meth:`ByproductMarket.posted_topups`), v the virgin price replaced,
proc processing, e = offspec_rate x offspec_cost the expected off-spec cost, qual the
receiver's qualification cost of a supplier it has not traded with, trans transport per km,
c the credited side's realisable carbon value (``CarbonMarket.value_per_tonne``), co2 tCO2e
avoided per unit, sub the reuse subsidy, capex = fixed + per_km * dist (piped streams), A the monthly
annuity factor over the contract at the pair's mean hurdle rate, F the platform fee and
q_sr = min(supply_s, demand_r) the quantity the pair could trade.
Pairs beyond the stream's max distance, unknown pairs, pairs barred after a failed
negotiation and a firm with itself are NaN.
Where they apply, the receiver's side adds its mandatory-consumption value per unit (fine
avoided and green-procurement premium, ``policies/mandatory_consumption.py``) and the
supplier's side loses the in-plant recycling margin its own idled units forgo
(``agents/recycling.py``).
Where the operator's shared infrastructure carries stream k, a link formed after it was
built pays less capex and transport and a tariff instead (agents/infrastructure.py:
``adjust_pair`` in the surplus, ``haulage`` at settlement); a firm's open supply includes
the low-grade heat it passes on (agents/heat_cascade.py), contracted like its own output at
``contract_share`` (:meth:`ByproductMarket.normal_supply`).

Matching: with the platform, :func:`match_max_surplus` (a transportation LP, scipy HiGHS)
over all pairs; without, :func:`deferred_acceptance` over the pairs each firm has
discovered (chance encounters with distance decay, referrals from partners).

Formation: each matched pair is priced by the revenue-sharing rule (contracts.py), negotiates
(bargaining.py: cost, delay, breakdown; none under the posted price) and forms only if both
firms' NPV over the contract at their own hurdle rate plus the partner's exit rate, with
expected deliveries discounted by trust in the supplier (covered in part by the risk fund on a
first link) and by the delay, capex valued at what financing it costs (subsidy, green loan,
cash: :meth:`Enterprise.financing_cost`) and the receiver's qualification cost of a new
source, is positive, and both can finance their capex (:meth:`Enterprise.invest`). Contracts
commit ``contract_share`` of normal supply and need.

Quality: the receiver's value per unit is net of the stream's expected off-spec cost
(offspec_rate x offspec_cost, catalogue); each month a link's delivery is off-spec with
probability offspec_rate (the model's ``quality`` generator), the receiver pays offspec_cost per
unit delivered (``offspec_treatment``) and the month counts as a failure for trust. Unfamiliar
pairs' surplus carries the qualification cost as an annuity over the contract.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from ecopark.markets.bargaining import Bargaining
from ecopark.markets.contracts import END_REASONS, LinkBook, posted_topup, share_surplus
from ecopark.markets.emissions import additional_share, additional_share_planned

if TYPE_CHECKING:
    from ecopark.model import ParkModel

PARTIES = ("supplier", "receiver", "operator", "government")
ACTIVE = END_REASONS.index("active")  # a link's end_reason while it is active
# cells (firms x plots) of encounter weights held at once in ByproductMarket.discover: ~8 MB of floats
ENCOUNTER_CHUNK_CELLS = 1 << 20
# parks with at most this many plots x plots cells (~34 MB: up to 2,048 plots) keep every plot's
# weights from the first month on; larger ones recompute the live firms' rows each month
ENCOUNTER_CACHE_CELLS = 1 << 22
# parks with at most this many pairs of firm rows (256 firms) compute every pair's distance and annuity as
# firms enter; larger ones compute the pairs asked for each time (ByproductMarket._pair_table)
PAIR_FILL_CELLS = 1 << 16
#: The instruments matching and formation ask for, looked up once for the month's match (a policy applies by
#: its schedule, by month: ByproductMarket._month_policies)
MONTH_POLICIES = ("posted_price_rule", "risk_compensation_fund", "mandatory_consumption", "capex_subsidy")


#: Annuity factors of scalar (rate, months) already computed: a run asks for the same few
#: thousand times (each firm's hurdle rate, each bank's rates, each tenor).
_ANNUITY_CACHE: dict[tuple[float, int], np.float64] = {}
_ANNUITY_CACHE_SIZE = 100_000


def annuity_factor(rate_year, months: int):
    """Monthly payment per yuan of capex repaid over ``months`` at annual rate ``rate_year``:
    i / (1 - (1 + i)^-months) with i = rate_year / 12, 1 / months where i <= 0.

    Arrays broadcast; a scalar rate and whole months give a numpy scalar, looked up in a cache
    (the same value the array formula gives, bit for bit)."""
    try:  # a number and whole months found as they are (numpy scalars hash and compare as Python numbers)
        return _ANNUITY_CACHE[(rate_year, months)]
    except KeyError:  # not yet computed
        pass
    except TypeError:  # arrays are not hashable
        return _annuity_array(rate_year, months)
    if isinstance(rate_year, (float, int, np.floating)) and isinstance(months, (int, np.integer)):
        key = (float(rate_year), int(months))
        if len(_ANNUITY_CACHE) >= _ANNUITY_CACHE_SIZE:
            _ANNUITY_CACHE.clear()
        factor = _ANNUITY_CACHE[key] = _annuity_scalar(*key)
        return factor
    return _annuity_array(rate_year, months)


def _annuity_scalar(rate_year: float, months: int) -> np.float64:
    """:func:`_annuity_array` of one (rate, months) in Python floats: the same value bit for bit (numpy's
    scalar power is the C library's ``pow``, as Python's), without the cost of numpy on 0-d arrays."""
    if months <= 0:
        return _annuity_array(rate_year, months)[()]
    i = rate_year / 12.0
    if not i > 0:  # also NaN, as np.where(i > 0, ...)
        return np.float64(1.0 / months)
    denominator = 1.0 - (1.0 + i) ** -months
    return np.float64(i / denominator if denominator != 0.0 else np.inf)


def _annuity_array(rate_year, months) -> np.ndarray:
    i = np.asarray(rate_year, dtype=float) / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = i / (1.0 - (1.0 + i) ** -months)
    return np.where(i > 0, factor, 1.0 / months)


def match_max_surplus(surplus: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Flows (S, R) maximising sum(surplus * flows) within supply (S,) and demand (R,).

    A transportation problem solved as a sparse LP (scipy HiGHS dual simplex, which returns
    a vertex: at most S + R - 1 positive flows). Pairs whose surplus is NaN or <= 0 get none.
    """
    return match_max_surplus_blocks([(surplus, supply, demand)])[0]


def match_max_surplus_blocks(
    problems: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> list[np.ndarray]:
    """:func:`match_max_surplus` of each (surplus, supply, demand) problem, in one LP.

    The problems share no constraint, so their LPs stack into one block-diagonal LP whose
    optimum is every block's optimum: one solver call instead of one per problem (each call
    costs ~2 ms of set-up whatever its size).
    """
    flows, picks, costs, bounds, rows, cols = [], [], [], [], [], []
    n_rows = n_cols = 0
    for surplus, supply, demand in problems:
        surplus = np.asarray(surplus, dtype=float)
        supply, demand = np.asarray(supply, dtype=float), np.asarray(demand, dtype=float)
        n_s, n_r = surplus.shape
        flows.append(np.zeros((n_s, n_r)))
        ok = np.isfinite(surplus) & (surplus > 0) & (supply[:, None] > 0) & (demand[None, :] > 0)
        si, ri = np.nonzero(ok)
        col = n_cols + np.arange(len(si))
        picks.append((si, ri, col, 1e-9 * max(1.0, supply.max(initial=0.0), demand.max(initial=0.0))))
        costs.append(-surplus[si, ri])
        bounds += [supply, demand]
        rows += [n_rows + si, n_rows + n_s + ri]
        cols += [col, col]
        n_rows, n_cols = n_rows + n_s + n_r, n_cols + len(si)
    if not n_cols:
        return flows
    a_ub = sparse.csr_matrix((np.ones(2 * n_cols), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(n_rows, n_cols))
    res = linprog(np.concatenate(costs), A_ub=a_ub, b_ub=np.concatenate(bounds), bounds=(0, None),
                  method="highs-ds")
    if res.status != 0:
        raise RuntimeError(f"byproduct matching LP failed: {res.message}")
    for flow, (si, ri, col, tol) in zip(flows, picks, strict=True):
        x = res.x[col]
        flow[si, ri] = np.where(x > tol, x, 0.0)
    return flows


#: Up to this many acceptable pairs :func:`deferred_acceptance` runs in Python numbers (a market's dozens of
#: numpy calls a round cost more than the arithmetic on a few hundred pairs); larger markets run on arrays.
DEFERRED_PYTHON_PAIRS = 256


def deferred_acceptance(surplus: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Decentralised matching: suppliers propose, receivers hold the best offers (flows (S, R)).

    Each round every supplier with unplaced supply offers all of it to its best receiver
    that has not rejected it (by surplus per unit, the lowest receiver index among equals; NaN
    and <= 0 never); each receiver keeps the offers with the highest surplus (the lowest supplier
    index among equals) up to its demand and rejects the rest, which return to their suppliers.
    Ends when no supplier has both unplaced supply and a receiver left. The result is stable: no
    supplier with supply left prefers a receiver with room or one holding a worse offer.

    Computed over the acceptable pairs only (a list, not the (S, R) matrix): a supplier only ever
    offers to its best receiver not yet rejected, so the receivers that rejected it are the first
    of its preference list and a pointer into the list is its place.

    Up to ``DEFERRED_PYTHON_PAIRS`` acceptable pairs with finite supply and demand, the same rounds in Python
    numbers (:func:`_deferred_acceptance_small`: every sum and comparison in the same order, so the same flows
    bit for bit); else on arrays (:func:`_deferred_acceptance_arrays`). A large park's tables are mostly
    NaN (pairs that have not met), so the count of acceptable pairs, not the table's size, decides.
    """
    surplus = np.asarray(surplus, dtype=float)
    found = _acceptable(surplus)
    if found.shape[0] <= DEFERRED_PYTHON_PAIRS:
        flows = _deferred_acceptance_small(surplus, np.asarray(supply, dtype=float).tolist(),
                                           np.asarray(demand, dtype=float).tolist(), found)
        if flows is not None:
            return flows
    return _deferred_acceptance_arrays(surplus, supply, demand)


def _acceptable(surplus: np.ndarray) -> np.ndarray:
    """Flat indices of the cells of ``surplus`` a pair would trade at, 0 < surplus < inf (not NaN), ascending."""
    flat = surplus.reshape(-1)
    return ((flat > 0.0) & (flat < math.inf)).nonzero()[0]


def _deferred_acceptance_small(surplus: np.ndarray, remaining: list[float], demand: list[float],
                               found: np.ndarray | None = None) -> np.ndarray | None:
    """:func:`deferred_acceptance` of a small market in Python numbers, the arithmetic of
    :func:`_deferred_acceptance_arrays` step for step (cumulative sums in the same order, clip as max then
    min, refusals added back pair by pair in the same order); None where supply or demand is not finite
    (left to the arrays, whose NaN rules Python's comparisons do not share). ``remaining`` is changed.
    ``found``: :func:`_acceptable` of ``surplus`` where the caller has it."""
    n_s, n_r = surplus.shape
    if not math.isfinite(sum(remaining + demand)):
        return None
    if found is None:
        found = _acceptable(surplus)  # acceptable pairs, by supplier then receiver
    flows = np.zeros(n_s * n_r)
    n_p = found.shape[0]
    if not n_p:
        return flows.reshape(n_s, n_r)
    ci, cj = np.divmod(found, n_r)
    ci, cj, cv = ci.tolist(), cj.tolist(), surplus.reshape(-1)[found].tolist()  # supplier, receiver, surplus
    # each supplier's pairs from its best receiver down (ties: lowest receiver first), at its pairs' place
    preference = [p for _, _, _, p in sorted([(ci[p], -cv[p], cj[p], p) for p in range(n_p)])]
    first, count = [0] * n_s, [0] * n_s
    for p in range(n_p - 1, -1, -1):
        first[ci[p]] = p
        count[ci[p]] += 1
    tol = 1e-9 * max([1.0, *remaining, *demand])  # (all finite: the arrays' max(1, max(supply), max(demand)))
    held, rejected, place = [0.0] * n_p, [False] * n_p, [0] * n_s
    while True:
        proposers = [s for s in range(n_s) if remaining[s] > tol and place[s] < count[s]]
        if not proposers:
            break
        touched = [False] * n_r
        for s in proposers:
            p = preference[first[s] + place[s]]
            held[p] = held[p] + remaining[s]
            remaining[s] = 0.0
            touched[cj[p]] = True
        # the receivers' held offers, by receiver, best surplus first (ties: lowest supplier)
        offers = sorted([(cj[p], -cv[p], ci[p], p) for p in range(n_p) if touched[cj[p]] and held[p] != 0.0])
        cum, at, offset = 0.0, -1, 0.0
        for r, _, s, p in offers:
            q = held[p]
            cum = cum + q
            if r != at:  # a receiver's first offer: what came before it in the running sum
                at, offset = r, cum - q
            accepted = demand[r] - ((cum - q) - offset)
            if not accepted > 0.0:
                accepted = 0.0
            elif accepted > q:
                accepted = q
            if accepted <= tol:
                accepted = 0.0
            held[p] = accepted
            refused = q - accepted
            if refused > tol and not rejected[p]:
                rejected[p] = True
                place[s] += 1
            remaining[s] = remaining[s] + refused
    flows[found] = held
    return flows.reshape(n_s, n_r)


def _deferred_acceptance_arrays(surplus: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """:func:`deferred_acceptance` on arrays (any size)."""
    surplus = np.asarray(surplus, dtype=float)
    n_s, n_r = surplus.shape
    flows = np.zeros((n_s, n_r))
    ok = np.isfinite(surplus) & (surplus > 0)
    ci, cj = np.nonzero(ok)  # the acceptable pairs, by supplier
    if not len(ci):
        return flows
    cv = surplus[ci, cj]
    held = np.zeros(len(ci))  # offered and held, per pair
    rejected = np.zeros(len(ci), dtype=bool)
    # each supplier's pairs from its best receiver down (ties: lowest receiver first), at its pairs' place
    preference = np.lexsort((cj, -cv, ci))
    first = np.searchsorted(ci, np.arange(n_s))  # each supplier's first place in the list
    count = np.bincount(ci, minlength=n_s)
    place = np.zeros(n_s, dtype=np.int64)  # receivers that have rejected each supplier
    remaining = np.asarray(supply, dtype=float).copy()
    demand = np.asarray(demand, dtype=float)
    tol = 1e-9 * max(1.0, remaining.max(initial=0.0), demand.max(initial=0.0))
    touched = np.zeros(n_r, dtype=bool)
    while True:
        proposers = np.flatnonzero((remaining > tol) & (place < count))
        if not len(proposers):
            flows[ci, cj] = held
            return flows
        offered = preference[first[proposers] + place[proposers]]
        held[offered] += remaining[proposers]
        remaining[proposers] = 0.0
        touched[:] = False
        touched[cj[offered]] = True
        pairs = np.flatnonzero(touched[cj] & (held != 0.0))
        pairs = pairs[np.lexsort((ci[pairs], -cv[pairs], cj[pairs]))]  # by receiver, best surplus first
        si, ri = ci[pairs], cj[pairs]
        q = held[pairs]
        cum = np.cumsum(q)
        group_start = np.concatenate(([0], np.flatnonzero(np.diff(ri)) + 1))
        offset = np.repeat(cum[group_start] - q[group_start], np.diff(np.concatenate((group_start, [len(ri)]))))
        accepted = np.clip(demand[ri] - (cum - q - offset), 0.0, q)
        accepted[accepted <= tol] = 0.0
        held[pairs] = accepted
        refused = q - accepted
        out = refused > tol
        fresh = out & ~rejected[pairs]  # a pair partly held after a refusal may be refused again
        rejected[pairs[out]] = True
        place += np.bincount(si[fresh], minlength=n_s)  # (a supplier's one pair offered and not yet refused)
        np.add.at(remaining, si, refused)


def two_step_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (row, col) pairs of firm rows two steps apart in the partner graph whose edges are the pairs
    (a[i], b[i]) either way round (self-pairs included), as int64 arrays, in the order of the non-zero
    entries of the sparse product A @ A (A the adjacency matrix, CSR): rows ascending and, within a row,
    the columns in the reverse of the order first reached through the row's partners, each partner's
    partners ascending (scipy's SMMP product). :meth:`ByproductMarket.discover` draws a referral for each
    pair in this order.

    In numpy without the sparse matrices: the walk row -> partner -> partner's partner is laid out as
    one array in that order (T = the sum over edges of the partner's degree), each (row, col)'s first
    place in it found by a stable sort, and each row's columns put in the reverse of those places."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if not a.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ends = np.concatenate((a, b))
    n = int(ends.max()) + 1
    edges = np.sort(ends * n + np.concatenate((b, a)))  # rows and partners ascending
    once = np.empty(edges.shape[0], dtype=bool)  # each partner once (np.unique, without its cost on small arrays)
    once[0] = True
    np.not_equal(edges[1:], edges[:-1], out=once[1:])
    edges = edges[once]
    row, mid = np.divmod(edges, n)
    start = np.searchsorted(row, np.arange(n + 1))  # row x's partners: mid[start[x]:start[x + 1]]
    reach = start[mid + 1] - start[mid]  # edge (row, mid) reaches mid's partners
    last = np.cumsum(reach)
    walk = np.repeat(row, reach) * n + mid[np.arange(last[-1]) + np.repeat(start[mid] - (last - reach), reach)]
    order = np.argsort(walk, kind="stable")
    ranked = walk[order]
    first = np.empty(ranked.shape[0], dtype=bool)
    first[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=first[1:])
    reached = walk[np.sort(order[first])]  # each (row, col) once, in the order first reached
    rows = reached // n
    m = rows.shape[0]
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(rows[1:], rows[:-1], out=new[1:])
    lo = new.nonzero()[0]  # each row's block of reached, reversed in place: i -> lo + hi - 1 - i
    hi = np.append(lo[1:], m)
    block = np.cumsum(new) - 1
    out = np.empty(m, dtype=np.int64)
    out[lo[block] + hi[block] - 1 - np.arange(m)] = reached
    return out // n, out % n


#: Up to this many cells :func:`_spread` copies (quicker than a broadcast view on small arrays).
SPREAD_COPY_CELLS = 4096


def _spread(values, shape: tuple[int, ...]) -> np.ndarray:
    """``values`` broadcast to ``shape``: a new array up to ``SPREAD_COPY_CELLS`` cells (a fifth of the
    time of ``np.broadcast_to`` on one stream's pairs in a small park), else the read-only broadcast view
    (no copy of a large block); the same numbers either way."""
    if math.prod(shape) > SPREAD_COPY_CELLS:
        return np.broadcast_to(values, shape)
    out = np.empty(shape)
    out[...] = values
    return out


class ByproductMarket:
    """Links between firms: discovery, matching, formation, deliveries and dissolution."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.byproduct_market
        cat = model.catalogue
        self.links = LinkBook()
        self.known = np.zeros((0, 0), dtype=bool)  # the pair has met (either way round)
        self._pair_buffers: dict[str, np.ndarray] = {}  # known, familiar: the arrays they are views of (_grow)
        self.familiar = np.zeros((0, 0), dtype=bool)  # the pair has agreed a link before (either way round)
        self.trust = np.zeros(0)
        self.linked = np.zeros(0, dtype=bool)  # firm has ever been in a link
        self.built: set[tuple[int, int, int]] = set()  # (supplier, receiver, stream) with infrastructure
        self.year_generated = np.zeros((0, len(cat.streams)))
        self.year_delivered = np.zeros((0, len(cat.streams)))
        self.gains = dict.fromkeys(PARTIES, 0.0)  # this month, yuan
        self.formed_this_step = 0
        # matches the platform proposed and those that became links, over the run
        self.platform_proposed = 0
        self.platform_formed = 0
        self.bargaining = Bargaining(model)
        self._plot_weights: np.ndarray | None = None  # every plot's encounter weights, small parks only
        self._pair_tables: dict[tuple, tuple[np.ndarray, int]] = {}  # (table, rows filled): _pair_table
        self._pv_factors: dict[tuple[int, int], tuple[float, float]] = {}  # (row, delay): pv_factors, as form asks
        # every firm row's CarbonMarket.value_per_tonne while match() runs (nothing it does changes them), else None
        self._carbon_values: np.ndarray | None = None
        # the instruments MONTH_POLICIES while match() runs (ParkModel.policy: fixed within a month), else None
        self._month_policies: dict[str, object] | None = None
        self.stream = {f: cat.stream_array(f) for f in (
            "disposal_cost", "virgin_price", "processing_cost", "transport_cost",
            "link_capex_fixed", "link_capex_per_km", "max_distance", "co2_avoided",
            "offspec_rate", "offspec_cost", "qualification_cost")}
        if not self.spec.quality_risk:
            for name in ("offspec_rate", "offspec_cost", "qualification_cost"):
                self.stream[name] = np.zeros_like(self.stream[name])
        self.piped = np.array([s.piped for s in cat.streams.values()])
        self.credit_supplier = np.array([s.credited_to == "supplier" for s in cat.streams.values()])
        model.exit_listeners.append(self.firms_exited)

    # -- firm-indexed state grows with the FirmTable ------------------------------------------
    def _grow(self) -> None:
        n = self.model.firms.n
        old = len(self.trust)
        if n <= old:
            return
        for name in ("known", "familiar"):  # views of (room, room) buffers: copied only when the room is used up
            buffer = self._pair_buffers.get(name)
            if buffer is None or len(buffer) < n or getattr(self, name).base is not buffer:  # (or a copied model)
                room = n + n // 8 + 16
                buffer = self._pair_buffers[name] = np.zeros((room, room), dtype=bool)
                buffer[:old, :old] = getattr(self, name)
            setattr(self, name, buffer[:n, :n])  # cells past the old rows are still False: only views write
        self.trust = np.concatenate((self.trust, np.full(n - old, self.spec.initial_trust)))
        self.linked = np.concatenate((self.linked, np.zeros(n - old, dtype=bool)))
        pad = np.zeros((n - old, self.year_generated.shape[1]))
        self.year_generated = np.vstack([self.year_generated, pad])
        self.year_delivered = np.vstack([self.year_delivered, pad])

    # -- per-unit values -----------------------------------------------------------------------
    def _rates(self, name: str, method: str) -> np.ndarray:
        policy = self.model.policy(name)
        return getattr(policy, method)(self.model.catalogue) if policy else np.zeros(len(self.piped))

    def supplier_value(self) -> np.ndarray:
        """Cash cost a supplier avoids per unit reused, per stream, before any quota fine:
        d_k + tax_k (yuan/unit)."""
        return self.stream["disposal_cost"] + self._rates("landfill_tax", "rates")

    def posted_topups(self) -> np.ndarray:
        """The green fund's top-up per unit by stream this month (yuan/unit): t_k of
        :func:`posted_topup` under the posted-price rule with the fund in force, else 0."""
        fund = self.model.policy("posted_price_rule")
        if fund is None or self.spec.sharing_rule != "posted_price":
            return np.zeros(len(self.piped))
        return posted_topup(self.stream["disposal_cost"], fund.params.share)

    def unit_values(self) -> dict[str, np.ndarray]:
        """This month's per-unit values by stream (yuan/unit): ``supplier`` = d_k + tax_k
        (:meth:`supplier_value`), ``quota`` = the reuse-quota fine per unit below the quota,
        ``subsidy`` = sub_k and ``topup`` = t_k (:meth:`posted_topups`)."""
        return {"supplier": self.supplier_value(), "quota": self._rates("reuse_quota", "fine_per_unit"),
                "subsidy": self._rates("reuse_subsidy", "rates"), "topup": self.posted_topups()}

    def pair_values(self, k: int, sup: np.ndarray, rec: np.ndarray, unit: dict[str, np.ndarray],
                    quota_share: np.ndarray | None = None, dist: np.ndarray | None = None,
                    pairs: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """(S, R) arrays of the components of the surplus for stream k (module docstring), from
        the month's :meth:`unit_values` ``unit``; ``quota_share`` (S,) is the share of each
        supplier's units that would avoid a quota fine (default all).

        With ``pairs`` = (i, j), index arrays into ``sup`` and ``rec``, the components of those pairs
        only, as arrays (P,): each the same number as cell (i, j) of the (S, R) array. ``dist`` is
        the pairs' :meth:`pair_distance` where the caller has it ((S, R), or (P,) with ``pairs``)."""
        st = self.stream
        # values[of_s] is a supplier's value spread over its pairs, values[of_r] a receiver's
        if pairs is None:
            if dist is None:
                dist = self.pair_distance(sup, rec)
            of_s, of_r = (slice(None), None), (None, slice(None))  # [:, None], [None, :]
        else:
            of_s, of_r = pairs
            if dist is None:
                dist = self.pair_distance(sup[of_s], rec[of_r], pairs=True)
        # the additional avoided CO2 (emissions.py) is worth what the credited side can realise
        # (CarbonMarket.value_per_tonne)
        credited = sup if self.credit_supplier[k] else rec
        carbon = st["co2_avoided"][k] * (self.model.carbon_market.value_per_tonne(credited)
                                         if self._carbon_values is None else self._carbon_values[credited])
        additional = additional_share_planned(self.model, k, sup)
        share = np.ones(len(sup)) if quota_share is None else quota_share
        # a supplier's value per unit is the same with every receiver: computed by supplier, then spread
        a_s = (unit["supplier"][k] + unit["quota"][k] * share
               + (additional * carbon if self.credit_supplier[k] else 0.0))
        a_r = (st["virgin_price"][k] - st["processing_cost"][k] - st["offspec_rate"][k] * st["offspec_cost"][k]
               - st["transport_cost"][k] * dist
               + (0.0 if self.credit_supplier[k] else additional[of_s] * carbon[of_r]))
        held = self._month_policies
        consumer = held["mandatory_consumption"] if held is not None else self.model.policy("mandatory_consumption")
        if consumer:  # consumption ratio fine avoided and green-procurement premium (policies/)
            a_r = a_r + consumer.planned_value(k, rec)[of_r]
        a_s = (a_s - self.model.recycling.forgone_planned(k, sup))[of_s]  # own recycling units idled
        capex = st["link_capex_fixed"][k] + st["link_capex_per_km"][k] * dist * self.piped[k]
        if pairs is None:
            a_s, subsidy, topup = (_spread(a_s, dist.shape), _spread(unit["subsidy"][k], dist.shape),
                                   _spread(unit["topup"][k], dist.shape))
        else:  # a_s is the pairs' own new array already; the stream's per-unit values filled in for each pair
            subsidy, topup = np.empty(dist.shape), np.empty(dist.shape)
            subsidy[...], topup[...] = unit["subsidy"][k], unit["topup"][k]
        values = {"dist": dist, "a_s": a_s, "a_r": a_r, "capex": capex, "subsidy": subsidy, "topup": topup}
        infrastructure = self.model.infrastructure
        # shared infrastructure, if built for the stream (adjust_pair changes nothing before: not asked)
        return infrastructure.adjust_pair(k, values) if infrastructure.since[k] >= 0 else values

    def _capex_subsidy_share(self, capex: np.ndarray) -> np.ndarray:
        held = self._month_policies
        policy = held["capex_subsidy"] if held is not None else self.model.policy("capex_subsidy")
        return policy.amounts(capex, "link") if policy else np.zeros_like(capex)

    # -- phase 3: deliveries -----------------------------------------------------------------
    def deliver(self) -> None:
        """Phase 3: active links deliver; money moves; trust, gains and dissolution update.

        delivered_l = committed_l * min(1, available_sk / committed_sk, need_rk / committed_rk)
        where committed_sk sums the supplier's links of stream k (pro-rata rationing). A link
        still under negotiation (its ``start`` not yet passed) delivers nothing.
        """
        firms, links = self.model.firms, self.links
        self._grow()
        self.gains = dict.fromkeys(PARTIES, 0.0)
        live = links.live
        live = live[links.start[live] < self.model.steps]
        if not len(live):
            return
        s, r, k, q = links.supplier[live], links.receiver[live], links.stream[live], links.quantity[live]
        n_k = len(self.piped)
        out_committed = np.zeros(firms.n * n_k)
        in_committed = np.zeros(firms.n * n_k)
        np.add.at(out_committed, s * n_k + k, q)
        np.add.at(in_committed, r * n_k + k, q)
        supply_ratio = np.minimum(1.0, firms.generated[s, k] / out_committed[s * n_k + k])
        need_ratio = np.minimum(1.0, firms.needs[r, k] / in_committed[r * n_k + k])
        delivered = q * np.minimum(supply_ratio, need_ratio)
        links.delivered[live] = delivered
        links.delivered_total[live] += delivered
        links.months[live] += 1
        np.add.at(firms.delivered_out, (s, k), delivered)
        np.add.at(firms.delivered_in, (r, k), delivered)
        additional = additional_share(self.model, s, k)  # emissions.py
        co2 = delivered * self.stream["co2_avoided"][k] * additional
        credited = np.where(self.credit_supplier[k], s, r)
        np.add.at(firms.link_avoided, credited, co2)

        # a month's delivery is off-spec with the stream's offspec_rate (one draw per link)
        offspec = (self.model.draws("quality").random(links.n)[live] < self.stream["offspec_rate"][k]) & (delivered > 0)
        failed = (supply_ratio < self.spec.shortfall_tolerance) | offspec
        self.trust[s[failed]] *= 1.0 - self.spec.trust_loss
        good = s[~failed]
        self.trust[good] += self.spec.trust_recovery * (1.0 - self.trust[good])
        self._settle(live, delivered, offspec, additional)

    def _settle(self, live: np.ndarray, delivered: np.ndarray, offspec: np.ndarray,
                additional: np.ndarray | None = None) -> None:
        """Book this month's payments of active links and record each party's gain; a receiver pays
        ``offspec_cost`` per unit of an off-spec delivery (``offspec``, bool per link). ``additional``
        is the links' :func:`~ecopark.markets.emissions.additional_share` where the caller has it (the
        month's, after ``delivered_out`` is booked), else computed."""
        model, links, ledger, st = self.model, self.links, self.model.ledger, self.stream
        firms = model.firms
        s, r, k = links.supplier[live], links.receiver[live], links.stream[live]
        acc_s, acc_r = firms.account[s], firms.account[r]
        op, outside = model.operator.account, model.outside
        price = links.price[live]
        ledger.transfer_signed("byproduct_payment", "gate_fee", acc_r, acc_s, delivered * price)
        ledger.transfer("processing", acc_r, outside, delivered * st["processing_cost"][k])
        treatment = np.where(offspec, delivered * st["offspec_cost"][k], 0.0)
        ledger.transfer("offspec_treatment", acc_r, outside, treatment)
        haulage, infra_fees = model.infrastructure.haulage(live, delivered)  # transport, infrastructure fees if used

        subsidy = np.zeros(len(live))
        policy = model.policy("reuse_subsidy")
        if policy:
            subsidy = policy.within_budget(delivered * policy.rates(model.catalogue)[k])
            policy.pay("reuse_subsidy", acc_r, subsidy)
        topup = np.zeros(len(live))
        fund = model.policy("posted_price_rule")
        if fund and links.topup[live].any():
            topup = fund.within_budget(delivered * links.topup[live])
            fund.pay("posted_price_topup", acc_r, topup)

        fee_half = links.fee[live] / 2
        ledger.transfer("platform_fee", np.concatenate((acc_s, acc_r)), op, np.concatenate((fee_half, fee_half)))
        quota = self._quota_avoided(live, delivered)
        # the carbon value of the avoided emissions counts for the credited side at what it can
        # realise (CarbonMarket.value_per_tonne): allowances saved, tax avoided, or pool payouts to come
        credited = np.where(self.credit_supplier[k], links.supplier[live], links.receiver[live])
        if additional is None:
            additional = additional_share(model, s, k)
        carbon = delivered * st["co2_avoided"][k] * additional * model.carbon_market.value_per_tonne(credited)
        op_s = (delivered * (self.supplier_value()[k] + price) + quota - fee_half
                + np.where(self.credit_supplier[k], carbon, 0.0))
        op_r = (delivered * (st["virgin_price"][k] - st["processing_cost"][k] - price) - haulage - treatment
                + subsidy + topup - fee_half + np.where(self.credit_supplier[k], 0.0, carbon))
        consumer = model.policy("mandatory_consumption")
        if consumer:
            op_r = op_r + delivered * consumer.realised_value(r, k)
        op_s = op_s - delivered * model.recycling.forgone_realised(s, k)
        beta = links.beta[live]
        # the commission is a share of the realised net surplus S (after both capex annuities and fees)
        commission = links.commission[live] * np.maximum(
            op_s + op_r - links.annuity_supplier[live] - links.annuity_receiver[live], 0.0)
        ledger.transfer("operator_commission", np.concatenate((acc_s, acc_r)), op,
                        np.concatenate((beta * commission, (1 - beta) * commission)))
        op_s -= beta * commission
        op_r -= (1 - beta) * commission
        lost_tax = delivered * self._rates("landfill_tax", "rates")[k]
        gov_gain = -(subsidy + topup) - lost_tax - quota
        operator = 2 * fee_half + commission + infra_fees
        # each party's gain of the month by the one definition (contracts.py, LinkBook.book_month)
        net_s, net_r = links.book_month(live, op_s, op_r, operator, gov_gain)
        links.quota_avoided[live] += quota
        links.commission_paid[live] += commission
        self.gains = {"supplier": float(net_s.sum()), "receiver": float(net_r.sum()),
                      "operator": float(operator.sum()), "government": float(gov_gain.sum())}

        links.bad_months_supplier[live] = np.where(op_s < 0, links.bad_months_supplier[live] + 1, 0)
        links.bad_months_receiver[live] = np.where(op_r < 0, links.bad_months_receiver[live] + 1, 0)
        self._compensate(live)
        self._dissolve(live)

    def _quota_avoided(self, live: np.ndarray, delivered: np.ndarray) -> np.ndarray:
        """Reuse-quota fines (yuan) the suppliers of links ``live`` avoid this month.

        A unit reused avoids the fine only while the supplier's reuse of the year is below the
        quota: avoided_sk = fine * (min(D_sk + d_sk, quota * (G_sk + g_sk)) - min(D_sk, quota * G_sk)),
        with D, G the year's deliveries and generation before this month and d, g this month's,
        shared among the supplier's links of the stream by their deliveries. Over a year this
        sums to exactly the fine the links spare (fine * min(reuse, quota * generation)).
        """
        policy = self.model.policy("reuse_quota")
        if policy is None:
            return np.zeros(len(live))
        firms, links = self.model.firms, self.links
        s, k = links.supplier[live], links.stream[live]
        fine = policy.fine_per_unit(self.model.catalogue)[k]
        quota = policy.params.quota
        gen_before, del_before = self.year_generated[s, k], self.year_delivered[s, k]
        out = firms.delivered_out[s, k]
        avoided = fine * (np.minimum(del_before + out, quota * (gen_before + firms.generated[s, k]))
                          - np.minimum(del_before, quota * gen_before))
        return np.where(out > 0, avoided * delivered / np.where(out > 0, out, 1.0), 0.0)

    def _compensate(self, live: np.ndarray) -> None:
        """First-loss cover: evaluate first links once, after evaluation_months (risk fund)."""
        fund = self.model.policy("risk_compensation_fund")
        links = self.links
        if fund is None:
            return
        p = fund.params
        due = live[links.first[live] & ~links.compensated[live] & (links.months[live] >= p.evaluation_months)]
        self.compensate(due)

    def compensate(self, due: np.ndarray) -> None:
        """Pay the risk fund's cover on links ``due`` for evaluation (see the policy module)."""
        fund = self.model.policy("risk_compensation_fund")
        if fund is None or not len(due):
            return
        links, firms, p = self.links, self.model.firms, fund.params
        links.compensated[due] = True
        for side in ("supplier", "receiver"):
            expected = getattr(links, f"expected_{side}")[due] * links.months[due]
            realised = getattr(links, f"gross_gain_{side}")[due]
            short = np.where(realised < p.threshold * expected, expected - realised, 0.0)
            paid = fund.within_budget(p.cover_share * short)
            fund.pay("risk_compensation", firms.account[getattr(links, side)[due]], paid)
            links.book_compensation(due, side, paid)
            self.gains[side] += float(paid.sum())
            self.gains["government"] -= float(paid.sum())

    def _dissolve(self, live: np.ndarray) -> None:
        """End links that expired or stopped paying a side (that side pays the exit penalty)."""
        model, links, spec = self.model, self.links, self.spec
        firms = model.firms
        self._close_and_evaluate(live[links.end[live] <= model.steps], "expired")
        still = live[links.active[live]]
        quits_s = links.bad_months_supplier[still] >= spec.patience_months
        quits_r = links.bad_months_receiver[still] >= spec.patience_months
        leaving = still[quits_s | quits_r]
        if not len(leaving):
            return
        q_s = quits_s[quits_s | quits_r]
        payer = np.where(q_s, links.supplier[leaving], links.receiver[leaving])
        payee = np.where(q_s, links.receiver[leaving], links.supplier[leaving])
        partner_gain = np.where(q_s, links.expected_receiver[leaving], links.expected_supplier[leaving])
        penalty = spec.exit_penalty_months * np.maximum(partner_gain, 0.0)
        model.ledger.transfer("contract_penalty", firms.account[payer], firms.account[payee], penalty)
        self._close_and_evaluate(leaving, "unprofitable")

    def _close_and_evaluate(self, ending: np.ndarray, reason: str) -> None:
        self.links.close(ending, self.model.steps, reason)
        self.compensate(ending[self.links.first[ending] & ~self.links.compensated[ending]])

    def firms_exited(self, rows: np.ndarray) -> None:
        """Exit listener: end every active link of the leaving firms."""
        links = self.links
        live = links.live
        gone = np.isin(links.supplier[live], rows) | np.isin(links.receiver[live], rows)
        if gone.any():
            self._close_and_evaluate(live[gone], "exit")

    # -- phase 4: discovery, matching and formation ------------------------------------------
    def discover(self) -> None:
        """Chance encounters and referrals through partners.

        Each live firm meets, with probability ``encounters_per_month`` (one draw per whole
        encounter above 1), the occupant of another plot drawn with weight exp(-dist/decay);
        a vacant plot means no encounter. Each month a partner's partner becomes known with
        probability ``referral_rate``.
        """
        model, spec = self.model, self.spec
        self._grow()
        rows = model.firms.live
        n = len(rows)
        if n < 2:
            return
        plots = model.firms.plot[rows]
        rng = model.draws("discovery")
        n_firms = model.firms.n
        meets = rng.random(n_firms)[rows] < min(spec.encounters_per_month, 1.0)
        draws = max(1, int(np.ceil(spec.encounters_per_month)))
        u = np.array([rng.random(n_firms)[rows] for _ in range(draws)])  # (draws, n), in draw order (as np.stack)
        met = np.full((draws, n), -1)
        n_plots = len(model.plot_xy)
        if n_plots * n_plots <= ENCOUNTER_CACHE_CELLS:  # every plot's row kept: one search of them all
            met[:] = model.plot_occupant[np.minimum(self._cached_picks(plots, u), n_plots - 1)]
        else:
            chunk = max(1, ENCOUNTER_CHUNK_CELLS // max(n_plots, 1))
            for lo in range(0, n, chunk):
                part = slice(lo, lo + chunk)
                cum = self._weights_for(plots[part])
                # inverse-CDF draw within each row: the number of cumulative weights <= u
                pick = (cum[None, :, :] <= (u[:, part] + plots[part])[:, :, None]).sum(axis=2)
                met[:, part] = model.plot_occupant[np.minimum(pick, n_plots - 1)]
        for d in range(draws):
            ok = meets & (met[d] >= 0)  # meeting a vacant plot is meeting nobody
            a, b = rows[ok], met[d][ok]
            self.known[a, b] = True
            self.known[b, a] = True
        live = self.links.live
        if len(live) and spec.referral_rate > 0:
            row, col = two_step_pairs(self.links.supplier[live], self.links.receiver[live])
            keep = (row != col) & (rng.random(len(row)) < spec.referral_rate)
            self.known[row[keep], col[keep]] = True
            self.known[col[keep], row[keep]] = True

    def _cached_picks(self, plots: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For each draw u[d, i] of the firm on plot plots[i]: the number of its row's cumulative
        weights <= u + plots[i] (:meth:`discover`'s inverse-CDF pick), from the cache of every
        plot's row.

        A binary search of each draw's own row, all draws a step at a time: the count grows by
        2^b where the weight at the count + 2^b is still <= the value (b from the highest bit of
        the row's length down; the row never decreases, so the weights <= the value are a prefix of
        it). Each step reads one weight per draw, all at once, where one search of the whole flat
        cache per draw waits on each read in turn (a 1,000-firm park's cache is 9 MB)."""
        self._weights_for(plots[:1])  # fills the cache
        weights = self._plot_weights
        n_plots = weights.shape[1]
        flat, value = weights.reshape(-1), u + plots
        before = plots * n_plots - 1  # flat index of a row's weight number c (1-based): before + c
        pick = np.zeros(value.shape, dtype=np.int64)
        step = 1 << (n_plots.bit_length() - 1)
        while step:
            probe = pick + step
            pick += step * ((probe <= n_plots) & (flat[before + np.minimum(probe, n_plots)] <= value))
            step >>= 1
        return pick

    def _weights_for(self, plots: np.ndarray) -> np.ndarray:
        """:meth:`_encounter_weights` of ``plots``, from a cache of every plot's row where the park
        is small enough (``ENCOUNTER_CACHE_CELLS``); the rows are the same either way."""
        n_plots = len(self.model.plot_xy)
        if n_plots * n_plots > ENCOUNTER_CACHE_CELLS:
            return self._encounter_weights(plots)
        if self._plot_weights is None:
            self._plot_weights = self._encounter_weights(np.arange(n_plots))
        return self._plot_weights[plots]

    def _encounter_weights(self, plots: np.ndarray) -> np.ndarray:
        """Row-normalised cumulative encounter weights exp(-dist/decay) from ``plots`` (m,) to
        every plot, (m, plots), row i shifted by +plots[i] (see :meth:`discover`).

        :meth:`discover` asks for the plots of the firms drawing this month only, in chunks of at
        most ``ENCOUNTER_CHUNK_CELLS`` cells, so in a large park memory grows with firms x plots,
        not plots squared (a small park caches every row: :meth:`_weights_for`).
        """
        xy = self.model.plot_xy
        dist = np.hypot(xy[plots, None, 0] - xy[None, :, 0], xy[plots, None, 1] - xy[None, :, 1])
        weight = np.exp(-dist / self.spec.distance_decay_km)
        weight[np.arange(len(plots)), plots] = 0.0  # no encounter with one's own plot
        cum = np.cumsum(weight, axis=1)
        cum /= np.maximum(cum[:, -1:], 1e-300)
        return cum + plots[:, None]

    def match(self) -> None:
        """Phase 4: discover, then match every stream's open supply and demand and form links."""
        self.formed_this_step = 0
        self.bargaining.new_month()
        platform = self.model.policy("platform")
        if platform is None:
            self.discover()
        else:
            self._grow()
        matcher = match_max_surplus if platform is not None else deferred_acceptance
        fee = platform.params.fee if platform else 0.0
        # each firm's carbon value per tonne once for the month's matching: forming links moves money, not
        # allowances, prices or coverage, so it is the value each stream's pair_values would ask for
        self._carbon_values = self.model.carbon_market.value_per_tonne(np.arange(self.model.firms.n))
        self._month_policies = {name: self.model.policy(name) for name in MONTH_POLICIES}
        # and each firm's margin once for its loan applications (CreditMarket.margins_held), for the same reason
        try:
            with self.model.credit.margins_held():
                for k, sup, rec, supply, demand, surplus, cells, values in self.candidates(platform is not None):
                    flows = matcher(surplus, supply, demand)
                    i, j = (flows >= self.spec.min_quantity).nonzero()
                    if not i.size:
                        continue
                    # the matched pairs' rows, quantities and values as Python numbers, taken at once (a
                    # matched pair is one that can form: its place among the candidates' pairs is found)
                    at = cells.searchsorted(i * rec.shape[0] + j)
                    names = list(values)
                    columns = np.empty((len(names), at.shape[0]))  # every component is a float array over the pairs
                    for c, name in enumerate(names):
                        columns[c] = values[name][at]
                    rows = columns.T.tolist()  # each pair's values
                    pairs = zip(sup[i].tolist(), rec[j].tolist(), flows[i, j].tolist(), rows, strict=True)
                    for s, r, q, row in pairs:
                        formed = self.form(k, s, r, q, dict(zip(names, row, strict=True)), fee)
                        if platform is not None:
                            self.platform_proposed += 1
                            self.platform_formed += formed
        finally:
            self._carbon_values = self._month_policies = None

    def open_quantities(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Live firms (n,) and their uncontracted supply and need (n, streams).

        Quantities are ``contract_share`` x what a firm supplies or needs in normal operation
        (:meth:`normal_supply`, :meth:`normal_generation`), minus what its active links already
        commit: contracts are sized below expected supply and need, so ordinary month-to-month
        swings seldom leave a link short (rationing absorbs the rest).
        """
        rows = self.model.firms.live
        committed_out, committed_in = self.committed()
        share = self.spec.contract_share
        generated, needed = self.normal_generation(rows)
        supply = share * self.normal_supply(rows, generated, committed_in[rows]) - committed_out[rows]
        demand = share * needed - committed_in[rows]
        return rows, supply, demand

    def normal_supply(self, rows: np.ndarray, generated: np.ndarray | None = None,
                      committed_in: np.ndarray | None = None) -> np.ndarray:
        """Units/month firms ``rows`` supply in normal operation, (n, streams): their generation at
        normal output (:meth:`normal_generation`) plus the heat they pass on when their incoming
        links deliver in full, cascade x committed intake (``agents/heat_cascade.py``). Cascaded
        heat swings with those deliveries, so it is contracted at ``contract_share`` like the rest.
        ``generated`` and ``committed_in`` (:meth:`committed`'s intake of ``rows``) where the caller has them."""
        if generated is None:
            generated, _ = self.normal_generation(rows)
        if committed_in is None:
            committed_in = self.committed()[1][rows]
        return generated + self.model.heat_cascade.supply(committed_in)

    def normal_generation(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(generation, need) of firms ``rows`` at normal output (capacity x size x base
        utilisation x yield or need), units/month, (n, streams) each."""
        model, firms = self.model, self.model.firms
        normal = (model.sector_capacity[firms.sector[rows]] * firms.size[rows]
                  * model.scenario.economy.base_utilisation)
        s = firms.sector[rows]
        return normal[:, None] * model.yield_matrix[s], normal[:, None] * model.need_matrix[s]

    def committed(self) -> tuple[np.ndarray, np.ndarray]:
        """Units/month committed by active links, (firm rows, streams): out of each supplier, into
        each receiver."""
        firms, links = self.model.firms, self.links
        n_k, live = len(self.piped), links.live
        cell = links.stream[live]
        committed_out = np.bincount(links.supplier[live] * n_k + cell, links.quantity[live],
                                    minlength=firms.n * n_k).reshape(firms.n, n_k)
        committed_in = np.bincount(links.receiver[live] * n_k + cell, links.quantity[live],
                                   minlength=firms.n * n_k).reshape(firms.n, n_k)
        return committed_out, committed_in

    def quota_shares(self, rows: np.ndarray, supply: np.ndarray) -> np.ndarray:
        """Share of each firm's open supply (n, streams) that would avoid a reuse-quota fine: the
        units below quota x normal generation not yet committed, / open supply, within [0, 1]."""
        policy = self.model.policy("reuse_quota")
        if policy is None:
            return np.ones_like(supply)
        generated, _ = self.normal_generation(rows)
        below = policy.params.quota * generated - self.committed()[0][rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(np.where(supply > 0, below / supply, 0.0), 0.0, 1.0)

    def candidates(self, visible_all: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                               np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
        """For each stream k with open supply and demand, in order: (k, suppliers, receivers,
        their open supply and demand, the (S, R) surplus per unit (NaN where a pair cannot form),
        the pairs that can form as flat indices into (S, R) (ascending), and the components of
        their surplus, arrays over those pairs).

        A generator: stream k's candidates are computed after the links of the streams before
        it have formed (they make pairs known and use subsidy budgets). Links of one stream do
        not change another's open quantities, so those are computed once for the month. A stream
        with no pair that is known (without the platform), feasible and of positive surplus is
        skipped: neither matcher would match anything in it. Values are computed for the pairs
        that can form only (a few in a hundred in a large park): each is the number the (S, R)
        arrays of :meth:`pair_values` hold for the pair.
        """
        rows, supply_all, demand_all = self.open_quantities()
        floor, unit = self.spec.min_quantity, self.unit_values()
        quota_share = self.quota_shares(rows, supply_all)
        firms, links = self.model.firms, self.links
        fee = self.model.policy("platform").params.fee if visible_all else 0.0
        live, n = links.live, firms.n
        # the month's active links by stream: stream k's supplier and receiver rows are linked_s[lo:hi] and
        # linked_r[lo:hi], lo, hi = bounds[k], bounds[k + 1] (links formed while the generator runs are of
        # streams already done)
        by_stream = links.stream[live].argsort(kind="stable")
        linked_s, linked_r = links.supplier[live[by_stream]], links.receiver[live[by_stream]]
        bounds = links.stream[live[by_stream]].searchsorted(np.arange(len(self.piped) + 1)).tolist()
        barred = self.bargaining.barred  # by stream: the barred pairs' supplier and receiver rows (lists)
        tables = self._filled_pair_tables()  # (distance, annuity) of every pair of firm rows, or None
        at_s, at_r = np.full(n, -1), np.full(n, -1)  # a firm row's place among the stream's suppliers, receivers
        places = np.arange(n)
        supply_open, demand_open = supply_all >= floor, demand_all >= floor
        either = supply_open.any(axis=0) & demand_open.any(axis=0)
        for k in np.flatnonzero(either).tolist():
            s_open, r_open = supply_open[:, k], demand_open[:, k]
            sup, supply, rec, demand = rows[s_open], supply_all[s_open, k], rows[r_open], demand_all[r_open, k]
            n_sup, n_rec = sup.shape[0], rec.shape[0]
            if visible_all:
                feasible = sup[:, None] != rec[None, :]
            else:
                feasible = self.known[sup][:, rec]  # the pairs that know each other, a firm never with itself
                if not feasible.any():
                    continue
                feasible &= sup[:, None] != rec[None, :]
            # a linked pair extends its contract only at renewal; a barred pair waits
            lo, hi = bounds[k], bounds[k + 1]
            out_s, out_r = linked_s[lo:hi], linked_r[lo:hi]
            if k in barred:
                bars = barred[k]
                out_s, out_r = np.concatenate((out_s, bars[0])), np.concatenate((out_r, bars[1]))
            if out_s.shape[0]:
                at_s[sup], at_r[rec] = places[:n_sup], places[:n_rec]
                i, j = at_s[out_s], at_r[out_r]
                at_s[sup], at_r[rec] = -1, -1
                both_open = (i >= 0) & (j >= 0)
                feasible[i[both_open], j[both_open]] = False
            # and a pair within the stream's distance (the surplus's distance is this one: pair_values is given it)
            cells = feasible.reshape(-1).nonzero()[0]  # (np.flatnonzero without its layers)
            i, j = np.divmod(cells, n_rec)
            dist = self.pair_distance(sup[i], rec[j], pairs=True) if tables is None else tables[0][sup[i], rec[j]]
            near = dist <= self.stream["max_distance"][k]
            cells, i, j, dist = cells[near], i[near], j[near], dist[near]
            if not cells.size:
                continue  # no pair can form, whatever its surplus: skipped before its values are computed
            sup_i, rec_j = sup[i], rec[j]  # the pairs' firm rows
            values = self.pair_values(k, sup, rec, unit, quota_share[s_open, k], dist=dist, pairs=(i, j))
            annuity = self.pair_annuity(sup_i, rec_j, pairs=True) if tables is None else tables[1][sup_i, rec_j]
            capex_month = (values["capex"] - self._capex_subsidy_share(values["capex"])) * annuity
            q = np.minimum(supply[i], demand[j])
            surplus = values["a_s"] + values["a_r"] + values["subsidy"] + values["topup"] - (capex_month + fee) / q
            # a receiver qualifies a source it has not traded with (trials, tests, certification)
            qualification = self.stream["qualification_cost"][k] * ~self.familiar[sup_i, rec_j]
            surplus = surplus - qualification * annuity / q
            if not (surplus > 0).any():
                continue
            values["capex_month"] = capex_month
            values["qualification"] = qualification
            table = np.empty((n_sup, n_rec))
            table[...] = np.nan
            table.reshape(-1)[cells] = surplus
            yield k, sup, rec, supply, demand, table, cells, values

    def pair_annuity(self, sup: np.ndarray, rec: np.ndarray, pairs: bool = False) -> np.ndarray:
        """(S, R) monthly annuity factor over ``contract_months`` at each pair's mean hurdle rate
        (r_s + r_r) / 2 (:func:`annuity_factor`), from :meth:`_pair_table` (hurdle rates never change);
        with ``pairs``, that of the pairs (sup[p], rec[p]) only, (P,)."""
        rate, months = self.model.firms.discount_rate, self.spec.contract_months
        return self._pair_table(("annuity", months), sup, rec,
                                lambda a, b: annuity_factor((rate[a] + rate[b]) / 2, months), pairs)

    def _filled_pair_tables(self) -> tuple[np.ndarray, np.ndarray] | None:
        """In a park of up to ``PAIR_FILL_CELLS`` pairs of firm rows, the (distance, annuity) tables of
        :meth:`_pair_table`, every pair of the firm rows computed (filled as firms enter), to be indexed
        [sup, rec] directly: the values :meth:`pair_distance` and :meth:`pair_annuity` give, without their
        calls; else None (the tables are not all filled: ask those methods)."""
        n = self.model.firms.n
        if n * n > PAIR_FILL_CELLS:
            return None
        tables = self._pair_tables
        distance, annuity = tables.get(("distance",)), tables.get(("annuity", self.spec.contract_months))
        if distance is None or annuity is None or distance[1] < n or annuity[1] < n:  # firms have entered
            none = np.zeros(0, dtype=np.int64)
            self.pair_distance(none, none, pairs=True)  # fills the tables of the park's firm rows
            self.pair_annuity(none, none, pairs=True)
            distance, annuity = tables[("distance",)], tables[("annuity", self.spec.contract_months)]
        return distance[0], annuity[0]

    def pair_distance(self, sup: np.ndarray, rec: np.ndarray, pairs: bool = False) -> np.ndarray:
        """(S, R) distance between the plots of suppliers ``sup`` and receivers ``rec``, km, from
        :meth:`_pair_table` (a firm never moves); with ``pairs``, that of the pairs (sup[p], rec[p]) only, (P,)."""
        x, y = self.model.firms.x, self.model.firms.y
        return self._pair_table(("distance",), sup, rec, lambda a, b: np.hypot(x[a] - x[b], y[a] - y[b]), pairs)

    def _pair_table(self, key: tuple, sup: np.ndarray, rec: np.ndarray, compute, pairs: bool = False) -> np.ndarray:
        """``compute(a, b)`` (an elementwise function of firm row arrays a and b that broadcast together)
        of ``sup`` x ``rec``, (S, R), or with ``pairs`` of the pairs (sup[p], rec[p]) only, (P,).

        In a park of up to ``PAIR_FILL_CELLS`` pairs of firm rows every pair's value is kept under ``key``,
        computed as firms enter, and looked up. Room for a quarter more rows is kept, so the table is seldom
        copied. A larger park computes the values asked for each time: the candidates' pairs are a few in
        a hundred, and computing them costs less than keeping a table of which pairs are done, looking
        them up and copying the table as the park grows (docs/architecture.md, "Speed without changing a
        number"). Each element is the same value either way."""
        n = self.model.firms.n
        if n * n > PAIR_FILL_CELLS:
            return compute(sup, rec) if pairs else compute(sup[:, None], rec[None, :])
        held = self._pair_tables.get(key)
        table, filled = held if held is not None else (np.empty((0, 0)), 0)
        if filled < n:
            if n > len(table):
                grown = np.empty((max(n + n // 4, 64),) * 2)
                grown[:filled, :filled] = table[:filled, :filled]
                table = grown
            new = np.ones((n, n), dtype=bool)  # the pairs with a new row
            new[:filled, :filled] = False
            new_a, new_b = new.nonzero()
            table[new_a, new_b] = compute(new_a, new_b)
            self._pair_tables[key] = (table, n)
        return table[sup, rec] if pairs else table[sup[:, None], rec[None, :]]

    def pv_factors(self, row: int, delay: int) -> tuple[float, float]:
        """(A, D) of firm ``row``'s present value of a link's monthly gain in :meth:`form`, pv = gain / A x D:
        A the annuity factor over ``contract_months`` at its hurdle rate plus ``partner_exit_rate``
        (:func:`annuity_factor`), D = (1 + rate / 12)^-delay the discount over the negotiation's delay."""
        rate = self.model.firms.discount_rate[row] + self.spec.partner_exit_rate
        return float(annuity_factor(rate, self.spec.contract_months)), float((1.0 + rate / 12.0) ** -delay)

    def form(self, k: int, s: int, r: int, q: float, v: dict[str, float], fee: float) -> bool:
        """Price a matched pair, negotiate, check both sides' NPV and financing, and sign.

        Under ``posted_price`` with the fund in force and a stream with a disposal fee the price
        is fixed in advance (no negotiation); otherwise, including after the fund's schedule
        ends, the pair bargains under the nash rule (``posted_price``) or the scenario's rule,
        with the friction of :mod:`ecopark.markets.bargaining`. A side negotiates only if the
        present value of its operating gains exceeds its half of the negotiation cost (and, for the
        receiver of a supplier it has not traded with, the stream's ``qualification_cost``); after
        an agreement the link forms if that value exceeds what financing its capex costs (plus the
        qualification) and it can pay its part (else the pair is barred for ``retry_months``).
        The present value weights the contract's gains by trust in the supplier (on a first link,
        by the risk fund's :meth:`~ecopark.policies.risk_compensation_fund.RiskCompensationFund.reliability`),
        discounts at the side's hurdle rate plus ``partner_exit_rate`` (the partner may leave the
        park) and starts after the negotiation's delay.
        """
        model, spec, firms = self.model, self.spec, self.model.firms
        built = (s, r, k) in self.built
        capex = 0.0 if built else float(v["capex"])
        capex_month = 0.0 if built else float(v["capex_month"])
        held = self._month_policies
        if held is not None:
            fund, cover = held["posted_price_rule"], held["risk_compensation_fund"]
        else:
            fund, cover = model.policy("posted_price_rule"), model.policy("risk_compensation_fund")
        disposal_cost = float(self.stream["disposal_cost"][k])
        rule = spec.sharing_rule
        if rule == "posted_price" and fund is None:
            rule = "nash"  # the fund's schedule has ended: the pair bargains
        haggle = spec.negotiation and not (rule == "posted_price" and disposal_cost > 0)
        terms = share_surplus(
            rule, q, float(v["a_s"]), float(v["a_r"]), float(v["subsidy"]), capex, capex_month, fee,
            spec.bargaining_power, spec.commission, disposal_cost, fund.params.share if fund else 0.0,
        )
        talks = self.bargaining.friction(s, r, float(v["dist"]), fee > 0) if haggle else None
        delay, half_cost = (talks.months, talks.cost / 2) if talks else (0, 0.0)
        months = spec.contract_months
        agents = model.firm_agents
        first = not (self.linked[s] and self.linked[r])
        reliability = float(self.trust[s])
        if cover is not None and first:  # a first link counts on the fund's cover of a shortfall
            reliability = cover.reliability(reliability)
        sides = ((s, reliability * terms.operating_supplier, terms.capex_supplier),
                 (r, reliability * terms.operating_receiver, terms.capex_receiver))

        # the receiver's one-off cost of qualifying a supplier it has not traded with
        qualification = {s: 0.0, r: float(v["qualification"]) if "qualification" in v else 0.0}

        # each side's PV of operating gains, first delivery after the delay; the partner may leave the park
        # (partner_exit_rate a year): gains discounted at rate + exit rate
        present = [0.0, 0.0]
        factors = self._pv_factors
        for side, (row, cash_flow, _) in enumerate(sides):
            try:
                annuity, discount = factors[row, delay]
            except KeyError:  # (a firm's hurdle rate never changes: computed once a run per row and delay)
                annuity, discount = factors[row, delay] = self.pv_factors(row, delay)
            pv = cash_flow / annuity * discount
            # a side negotiates only if the link's operating value covers its half of the negotiation cost
            if pv - half_cost - qualification[row] <= 0:
                return False
            present[side] = pv
        if talks is not None:
            surplus = float(v["a_s"] + v["a_r"] + v["subsidy"] + v["topup"]) - (capex_month + fee) / q
            if not self.bargaining.negotiate(k, s, r, talks, surplus, float(v["a_s"]),
                                             float(self.stream["virgin_price"][k])):
                return False
        # each side asks the banks once (a refusal counts) and values its capex at what financing costs
        plans = [agents[row].financing(amount, "link", cash_flow, record=True) if amount > 0 else None
                 for row, cash_flow, amount in sides]
        for (row, cash_flow, amount), plan, pv in zip(sides, plans, present, strict=True):
            cost = agents[row].financing_cost(amount, "link", cash_flow, plan) if plan else 0.0
            own_cash = (plan[2] if plan else 0.0) + qualification[row]
            if pv - cost - qualification[row] <= 0 or (own_cash > 0 and agents[row].cash < own_cash):
                if talks is not None:
                    self.bargaining.bar(k, s, r)
                return False
        invested = False
        for (row, cash_flow, amount), plan in zip(sides, plans, strict=True):
            if amount > 0:
                # the plan asked above holds until a side invests (its loan, subsidy and bank balances move)
                agents[row].invest(amount, "link", cash_flow, record=False, plan=None if invested else plan)
                invested = True
        if qualification[r] > 0:  # one transfer of plain numbers (the ledger's quickest path)
            model.ledger.transfer("qualification", int(firms.account[r]), model.outside, qualification[r])
        if not built:
            self.built.add((s, r, k))
        self.bargaining.traded(s, r)
        self.familiar[s, r] = self.familiar[r, s] = True
        self.linked[s] = self.linked[r] = True
        start = model.steps + delay
        self.links.add(
            supplier=s, receiver=r, stream=k, quantity=q, price=terms.price, topup=terms.topup,
            distance=float(v["dist"]), start=start, end=start + months, active=True, first=first,
            via_platform=fee > 0, fee=fee, beta=0.5 if rule == "equal" else spec.bargaining_power,
            commission=spec.commission if rule == "operator_commission" else 0.0, capex=capex,
            expected_supplier=terms.operating_supplier, expected_receiver=terms.operating_receiver,
            end_reason=ACTIVE,
            annuity_supplier=terms.operating_supplier - terms.gain_supplier,
            annuity_receiver=terms.operating_receiver - terms.gain_receiver,
            on_infrastructure=model.infrastructure.since[k] >= 0,  # priced with it (adjust_pair)
            negotiation_cost=2 * half_cost,
        )
        self.known[s, r] = self.known[r, s] = True
        self.formed_this_step += 1
        return True

    # -- year end and reporting --------------------------------------------------------------
    def assess_quota(self) -> None:
        """Accumulate the year's generation and reuse; at year end fine shortfalls (reuse_quota)."""
        firms = self.model.firms
        self._grow()
        self.year_generated[: firms.n] += firms.generated[: firms.n]
        self.year_delivered[: firms.n] += firms.delivered_out[: firms.n]
        if self.model.steps % 12:
            return
        quota = self.model.policy("reuse_quota")
        if quota:
            rows = firms.live
            quota.assess(firms.account[rows], self.year_generated[rows], self.year_delivered[rows])
        self.year_generated[:] = 0.0
        self.year_delivered[:] = 0.0

    def link_table(self) -> pd.DataFrame:
        """Active links this month: supplier, receiver (FirmTable rows), stream, flow, surplus (yuan)."""
        live = self.links.live
        links = self.links
        surplus = (links.gain_supplier[live] + links.gain_receiver[live] + links.gain_operator[live]) / np.maximum(
            links.months[live], 1)
        return pd.DataFrame({
            "supplier": links.supplier[live], "receiver": links.receiver[live],
            "stream": [self.model.catalogue.stream_keys[k] for k in links.stream[live]],
            "flow": links.delivered[live], "surplus": surplus,
        })
