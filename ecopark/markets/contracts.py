"""Symbiosis contracts: the book of links and the revenue-sharing rules that price them.

A *link* is a contract between a supplier and a receiver for one byproduct stream: a
committed quantity per month, a transfer price per unit, a duration, who paid the capex,
and a record of every party's gain each month. The book keeps all links ever formed as
arrays (one row per link) so monthly deliveries and bookkeeping are vectorised.

Revenue sharing (:func:`share_surplus`), per month for committed quantity q (units/month)::

    a_s = d_k + tax_k + quota_k (+ c * co2_k if the supplier is credited)   supplier's avoided cost per unit
    a_r = v_k - proc_k - trans_k * dist (+ c * co2_k if the receiver is credited)
    S   = q * (a_s + a_r + sub_k) - K - F        joint monthly surplus
          (sub_k: reuse subsidy per unit, K: capex annuity net of capex subsidy, F: platform fee)

    nash / equal (beta = 0.5):  supplier nets beta*S, receiver (1-beta)*S;
        the receiver pays the capex, the price is p = (beta*S + F/2) / q - a_s
    capex_share:  as nash, but each side pays the capex in proportion to its gain (beta, 1-beta):
        p = (beta*S + beta*K + F/2) / q - a_s
    operator_commission:  the nash price; each month the operator takes m*S, paid beta:(1-beta)
    posted_price (Changzhou, for streams with d_k > 0): the supplier pays the receiver
        share*d_k per unit (p = -share*d_k) instead of paying a contractor d_k, and the green
        fund pays the receiver the top-up t_k = (1-share)*d_k per unit (:func:`posted_topup`);
        the receiver pays the capex. The top-up is part of the joint surplus,
        S = q (a_s + a_r + sub_k + t_k) - K - F, so it can create links.

Expected gains (``gain_*``) are net of the capex annuity each side pays; the operating gains
(``operating_*``) exclude it. Under nash/equal/capex_share the supplier's net gain is beta*S and
the receiver's (1-beta)*S; under operator_commission (1-m)*beta*S and (1-m)*(1-beta)*S.

p > 0 means the receiver pays the supplier; p < 0 means the supplier pays the receiver
(a gate fee). The platform fee F is split equally.

**A link's gain per party** (:meth:`LinkBook.book_month`; the one definition that links.csv's
``gain_*`` columns, the ``surplus_*`` step metrics, ``link_split_*``, ``share_worse_off`` and
``gini_link_gains`` all read). For side x of link l, after m months of deliveries::

    gain_x = sum over months of (o_x - A_x - N_x)  (+ risk-fund compensation received)
    o_x    = the side's realised operating gain of the month: its receipts and avoided costs
             (disposal, landfill tax, quota fine, virgin purchases, carbon value where credited,
             reuse subsidy and top-up received, mandatory-consumption value) less its payments
             (price, processing, transport, platform fee half, commission share, infrastructure
             fees, in-plant recycling margin forgone)
    A_x    = the side's capex annuity, net of the capex subsidy (``annuity_*``)
    N_x    = half the negotiation cost / contract months (the one-off cost spread over the
             contract like the capex)
    gain_operator = platform fee + commission + infrastructure fees, summed over the months

so a link's gain is not biased by how long the run lasts (the capex is not charged whole at
formation), and under nash/equal the supplier's gain is beta x (gain_supplier + gain_receiver)
when deliveries and prices are as contracted. ``gross_gain_*`` keep the cumulative o_x
(+ compensation), which the risk fund compares with the expected operating gain.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ecopark.records import RecordTable

SHARING_RULES = ("nash", "equal", "posted_price", "capex_share", "operator_commission")
END_REASONS = ("active", "expired", "unprofitable", "exit")


def posted_topup(disposal_cost, posted_share: float):
    """The green fund's top-up per unit under the posted-price rule (yuan/unit):
    t_k = (1 - share) * d_k for streams with a disposal fee (d_k > 0), else 0."""
    return (1.0 - posted_share) * np.maximum(disposal_cost, 0.0)


class Terms(NamedTuple):
    """The priced terms of one proposed link (money per month unless stated). A named tuple: immutable,
    and quicker to build than a frozen dataclass (one per matched pair)."""

    price: float  # yuan/unit, receiver -> supplier (negative: supplier pays receiver)
    topup: float  # yuan/unit the green fund pays the receiver (posted price rule)
    capex_supplier: float  # yuan the supplier invests (gross, before subsidy)
    capex_receiver: float  # yuan the receiver invests (gross, before subsidy)
    gain_supplier: float  # expected net gain per month after its capex annuity
    gain_receiver: float  # expected net gain per month after its capex annuity
    operating_supplier: float  # expected operating gain per month (capex excluded)
    operating_receiver: float  # expected operating gain per month (capex excluded)


def share_surplus(
    rule: str,
    q: float,
    a_s: float,
    a_r: float,
    subsidy: float,
    capex: float,
    capex_month: float,
    fee: float,
    beta: float,
    commission: float,
    disposal_cost: float,
    posted_share: float,
) -> Terms:
    """Price a link under a revenue-sharing rule (see the module docstring for formulas).

    ``capex`` is the gross investment (yuan) and ``capex_month`` its monthly annuity net of
    the capex subsidy; all other money arguments are yuan per unit or per month.
    """
    if rule == "equal":
        beta = 0.5
    if rule == "posted_price" and disposal_cost <= 0:
        rule = "nash"  # the Changzhou rule prices disposal fees; without one, bargain
    topup = float(posted_topup(disposal_cost, posted_share)) if rule == "posted_price" else 0.0
    total = q * (a_s + a_r + subsidy + topup) - capex_month - fee
    capex_s_share = 0.0
    if rule == "posted_price":
        price = -posted_share * disposal_cost
    elif rule == "capex_share":
        capex_s_share = beta
        price = (beta * total + beta * capex_month + fee / 2) / q - a_s
    else:  # nash, equal, operator_commission
        price = (beta * total + fee / 2) / q - a_s
    m = commission if rule == "operator_commission" else 0.0
    commission_total = m * (0.0 if 0.0 > total else total)  # max(total, 0.0) without the call
    op_s = q * (a_s + price) - fee / 2 - beta * commission_total
    op_r = q * (a_r + subsidy + topup - price) - fee / 2 - (1 - beta) * commission_total
    return Terms(
        price=price,
        topup=topup,
        capex_supplier=capex_s_share * capex,
        capex_receiver=(1 - capex_s_share) * capex,
        gain_supplier=op_s - capex_s_share * capex_month,
        gain_receiver=op_r - (1 - capex_s_share) * capex_month,
        operating_supplier=op_s,
        operating_receiver=op_r,
    )


#: Per-link arrays of the LinkBook and their meaning (units).
LINK_FIELDS: dict[str, tuple[type, str]] = {
    "supplier": (np.int64, "FirmTable row of the supplier"),
    "receiver": (np.int64, "FirmTable row of the receiver"),
    "stream": (np.int64, "index into the catalogue's streams"),
    "quantity": (float, "committed units/month"),
    "price": (float, "yuan/unit paid by receiver to supplier (negative: supplier pays)"),
    "topup": (float, "yuan/unit the green fund pays the receiver (posted price rule)"),
    "distance": (float, "km between the plots"),
    "start": (np.int64, "step the contract began"),
    "end": (np.int64, "last step of the contract"),
    "ended": (np.int64, "step the link ended (-1 while active)"),
    "end_reason": (np.int64, "index into END_REASONS"),
    "active": (bool, "the link delivers this month"),
    "first": (bool, "first link of its supplier or receiver (risk-fund eligible)"),
    "via_platform": (bool, "matched through the operator's platform (pays its fee)"),
    "fee": (float, "yuan/month platform fee (split equally)"),
    "beta": (float, "supplier's share of the surplus"),
    "commission": (float, "operator's share of the monthly surplus"),
    "capex": (float, "yuan invested at formation (gross)"),
    "expected_supplier": (float, "yuan/month expected operating gain of the supplier"),
    "expected_receiver": (float, "yuan/month expected operating gain of the receiver"),
    "delivered": (float, "units delivered this month"),
    "delivered_total": (float, "units delivered over the link's life"),
    "months": (np.int64, "months the link has delivered"),
    "bad_months_supplier": (np.int64, "consecutive months with a negative gain for the supplier"),
    "bad_months_receiver": (np.int64, "consecutive months with a negative gain for the receiver"),
    "gross_gain_supplier": (float, "yuan, cumulative gross operating gain of the supplier: before its capex annuity "
                                   "and negotiation cost (incl. risk-fund compensation)"),
    "gross_gain_receiver": (float, "yuan, cumulative gross operating gain of the receiver (as gross_gain_supplier)"),
    "gain_supplier": (float, "yuan, the supplier's link gain so far (link_gains: gross gain - capex annuity net of "
                             "capex subsidy - half the negotiation cost over the contract, per month delivered)"),
    "gain_receiver": (float, "yuan, the receiver's link gain so far (as gain_supplier)"),
    "gain_operator": (float, "yuan, cumulative platform fees, commissions and infrastructure fees of the link"),
    "gain_government": (float, "yuan, cumulative net fiscal effect (negative: cost)"),
    "compensated": (bool, "the risk-compensation fund has evaluated this link"),
    "annuity_supplier": (float, "yuan/month capex annuity (net of capex subsidy) the supplier pays"),
    "annuity_receiver": (float, "yuan/month capex annuity (net of capex subsidy) the receiver pays"),
    "negotiation_cost": (float, "yuan, the negotiation's cost, paid half by each side at formation"),
    "quota_avoided": (float, "yuan, cumulative reuse-quota fines the supplier avoided through the link"),
    "commission_paid": (float, "yuan, cumulative commission paid to the operator (operator_commission rule)"),
    "on_infrastructure": (bool, "formed after shared infrastructure for its stream was built: uses it"),
}


class LinkBook(RecordTable):
    """All links ever formed, as arrays (struct of arrays, rows never reused)."""

    FIELDS = LINK_FIELDS

    def add(self, **values) -> int:
        """Append one link (active, not yet ended); returns its index."""
        return super().add(ended=-1, **values)

    @property
    def live(self) -> np.ndarray:
        """Indices of active links."""
        return self.active[: self.n].nonzero()[0]  # (np.flatnonzero without its layers)

    def book_month(self, live: np.ndarray, operating_supplier: np.ndarray, operating_receiver: np.ndarray,
                   operator: np.ndarray, government: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Record this month's gains of links ``live`` (module docstring): the sides' operating gains
        o_x (yuan), the operator's fees and commission and the government's net (yuan); returns the
        sides' gains of the month, o_x - A_x - N_x (yuan each)."""
        months = np.maximum(self.end[live] - self.start[live], 1)
        negotiation = self.negotiation_cost[live] / 2 / months
        gain_s = operating_supplier - self.annuity_supplier[live] - negotiation
        gain_r = operating_receiver - self.annuity_receiver[live] - negotiation
        self.gross_gain_supplier[live] += operating_supplier
        self.gross_gain_receiver[live] += operating_receiver
        self.gain_supplier[live] += gain_s
        self.gain_receiver[live] += gain_r
        self.gain_operator[live] += operator
        self.gain_government[live] += government
        return gain_s, gain_r

    def book_compensation(self, links: np.ndarray, side: str, paid: np.ndarray) -> None:
        """Risk-fund compensation ``paid`` (yuan) to ``side`` of ``links``: part of both its gross and its gain."""
        getattr(self, f"gross_gain_{side}")[links] += paid
        getattr(self, f"gain_{side}")[links] += paid
        self.gain_government[links] -= paid

    def firm_gains(self, n_firms: int) -> np.ndarray:
        """Each firm row's link gain (yuan): the sum of ``gain_supplier`` over its links as supplier and
        ``gain_receiver`` over its links as receiver."""
        n = self.n
        return (np.bincount(self.supplier[:n], self.gain_supplier[:n], minlength=n_firms)
                + np.bincount(self.receiver[:n], self.gain_receiver[:n], minlength=n_firms))

    def close(self, links: np.ndarray, step: int, reason: str) -> None:
        """End ``links`` at ``step`` for ``reason`` (one of END_REASONS)."""
        links = np.asarray(links, dtype=np.int64)
        self.active[links] = False
        self.ended[links] = step
        self.end_reason[links] = END_REASONS.index(reason)

    def frame(self, stream_keys: tuple[str, ...]) -> pd.DataFrame:
        """All links as a DataFrame (stream and end reason by name)."""
        table = super().frame()
        table["stream"] = [stream_keys[k] for k in table["stream"]]
        table["end_reason"] = [END_REASONS[r] for r in table["end_reason"]]
        return table
