"""Bargaining friction: what it costs, how long it takes and how often a negotiation fails.

A matched pair that must haggle over the transfer price (every sharing rule except the
posted price with the fund in force, for a stream with a disposal fee) negotiates once per
attempt (:meth:`Bargaining.negotiate`). With w = 1 + markup x (1 - familiar) (``familiar``:
the two firms have traded before), g = 1 - relief x T (T the receiver's trust in the
supplier) and the platform's savings pi_c, pi_i (0 without the platform)::

    cost    C     = (c0 + c_km * dist) * w * g * (1 - pi_c)        yuan, half paid by each side
    time    M     = round(m0 * w * g)                             months before the first delivery
    spread  sigma = sigma0 * w * g * (1 - pi_i)
    agree   iff   u > o_k * sigma * (max(a_s, 0) * xi_s + v_k * xi_r),   xi_s, xi_r ~ Exp(1)

u is the pair's surplus per unit (the one the market matched on), a_s the supplier's private
valuation (the disposal cost per unit it avoids, its contractor's fee and taxes; a salvage
price is a public market price and hides nothing) and v_k the receiver's (the virgin price it
saves, under its own supply contracts). o_k is the stream's ``price_opacity`` (catalogue,
ecopark/data/streams.toml): how much of its value is private. Where the replaced input has
a public commodity price (scrap copper against the Shanghai copper price, soybean meal
against the Dalian futures) there is little to hide (o_k 0.1-0.15); a bespoke stream (heat,
hydrogen, slag, red mud) is valued from each side's own costs and trials (o_k = 1). Each side
overstates its reservation value by an amount the other cannot verify,
sigma x its valuation x xi; when the two overstatements exceed the surplus the offers do not
cross and the negotiation breaks down (a demand-exaggeration reading of bilateral bargaining
under two-sided private information, where breakdown happens even though trade pays:
Myerson and Satterthwaite 1983, J. Econ. Theory 29; Chatterjee and Samuelson 1983, Oper.
Res. 31). The cost is paid whether or not they agree; a pair that broke down, or agreed
terms that one side's financing then could not carry, negotiates again only after
``retry_months``. xi are drawn each month per firm and stream from the
model's ``bargaining`` generator, so scenarios compared on the same seed share them.

The posted-price rule removes haggling: a price fixed in advance has no negotiation cost,
no delay and no breakdown.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

#: Streams per block of the monthly overstatement draws: the draws come in blocks of this many
#: catalogue streams (firms x BLOCK x 2 each), so streams appended to the catalogue leave the
#: draws of the earlier streams, and so the runs of parks that do not use them, unchanged.
DRAW_BLOCK = 13

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class Negotiation(NamedTuple):
    """The friction a pair faces before it negotiates (known to both in advance). A named tuple: immutable,
    and quicker to build than a frozen dataclass (one per matched pair that haggles)."""

    cost: float  # yuan, both sides together, paid at the attempt
    months: int  # months from agreement to the first delivery
    spread: float  # sigma: overstatement scale, share of each side's valuation


class Bargaining:
    """Negotiation cost, time and breakdown of proposed links; pairs barred after a breakdown."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.byproduct_market
        self.partners: set[tuple[int, int]] = set()  # (low row, high row) that have traded
        # by stream: the barred pairs' supplier rows, receiver rows and last barred step, as lists
        # (a bar appends to them; ByproductMarket.candidates reads them)
        self.barred: dict[int, tuple[list[int], list[int], list[int]]] = {}
        self._xi = np.zeros((0, 0, 2))
        self.opacity = model.catalogue.stream_array("price_opacity")
        self.attempts_by_stream = np.zeros(len(self.opacity), dtype=np.int64)
        self.breakdowns_by_stream = np.zeros(len(self.opacity), dtype=np.int64)
        self.attempts = 0
        self.breakdowns = 0

    def new_month(self) -> None:
        """Draw this month's overstatement factors xi (firm rows x streams x (as supplier,
        as receiver)) and forget bars that have expired."""
        model = self.model
        n_k = len(model.catalogue.streams)
        rng = model.draws("bargaining")
        blocks = [rng.exponential(size=(model.firms.n, DRAW_BLOCK, 2)) for _ in range(-(-n_k // DRAW_BLOCK))]
        self._xi = np.concatenate(blocks, axis=1)[:, :n_k] if blocks else np.zeros((model.firms.n, 0, 2))
        steps = model.steps
        for k, (sup, rec, until) in list(self.barred.items()):
            # bars are appended in time order (until never decreases along a list): the expired ones come first
            if until[0] >= steps:  # none expired (the search would find 0)
                continue
            if until[-1] < steps:  # all expired (the search would find them all)
                del self.barred[k]
                continue
            gone = bisect.bisect_left(until, steps)
            self.barred[k] = (sup[gone:], rec[gone:], until[gone:])

    def friction(self, s: int, r: int, dist: float, via_platform: bool) -> Negotiation:
        """The cost, time and spread a negotiation between supplier s and receiver r faces."""
        spec = self.spec
        familiar = ((r, s) if r < s else (s, r)) in self.partners  # (min, max) without the calls
        w = 1.0 + spec.unfamiliarity_markup * (not familiar)
        g = 1.0 - spec.trust_relief * float(self.model.byproduct_market.trust[s])
        cost = (spec.negotiation_cost + spec.negotiation_cost_per_km * dist) * w * g
        spread = spec.valuation_uncertainty * w * g
        if via_platform:
            cost *= 1.0 - spec.platform_cost_saving
            spread *= 1.0 - spec.platform_information
        return Negotiation(cost, round(spec.negotiation_months * w * g), spread)

    def negotiate(self, k: int, s: int, r: int, terms: Negotiation, surplus: float,
                  supplier_value: float, receiver_value: float) -> bool:
        """Hold one negotiation: both sides pay half its cost (``negotiation``); returns whether
        they agree (else the pair is barred for ``retry_months``). ``surplus`` is yuan/unit,
        the valuations are yuan/unit (a_s and v_k)."""
        model = self.model
        if terms.cost > 0:  # each side's half as one transfer of plain numbers (the ledger's quickest path)
            account, half = model.firms.account, terms.cost / 2
            model.ledger.transfer("negotiation", int(account[s]), model.outside, half)
            model.ledger.transfer("negotiation", int(account[r]), model.outside, half)
        self.attempts += 1
        self.attempts_by_stream[k] += 1
        xi_s, xi_r = self._xi[s, k, 0], self._xi[r, k, 1]
        spread = self.opacity[k] * terms.spread
        # max(value, 0.0) written out: the same pick without the calls
        supplier_value = 0.0 if 0.0 > supplier_value else supplier_value
        receiver_value = 0.0 if 0.0 > receiver_value else receiver_value
        if surplus > spread * (supplier_value * xi_s + receiver_value * xi_r):
            return True
        self.breakdowns += 1
        self.breakdowns_by_stream[k] += 1
        self.bar(k, s, r)
        return False

    def bar(self, k: int, s: int, r: int) -> None:
        """Bar the pair from negotiating over stream k again for ``retry_months`` (after a breakdown,
        or after an agreement their financing could not carry)."""
        if k not in self.barred:
            self.barred[k] = ([], [], [])
        sup, rec, until = self.barred[k]
        sup += (int(s),)  # (appended in place, as list.append)
        rec += (int(r),)
        until += (self.model.steps + self.spec.retry_months,)

    def traded(self, s: int, r: int) -> None:
        """Record that s and r have agreed a link (they are familiar from now on)."""
        self.partners.add((r, s) if r < s else (s, r))
