"""The operator as investor: shared infrastructure (heat network, hydrogen pipeline, central treatment).

Kinds and their figures are data (``ecopark/data/infrastructure.toml``); the scenario's
``[operator.infrastructure]`` lists the kinds the operator may build and how it finances them.

**Decision** (:meth:`Infrastructure.review`, every ``review_months`` from month 1): for each
kind not yet built the operator values it at its hurdle rate h over the kind's lifetime T::

    capex  C = capex_fixed + capex_per_km * trunk_km_per_km * park side
    R      = expected_uptake * sum_k tariff_k * max(min(S_k, D_k) - Q_k, 0)   expected fees, yuan/month
             (S_k, D_k: the live firms' supply and need of served stream k at normal output,
              supply including the heat passed on by the firms that need stream k's source;
              Q_k: the quantity active links already carry on their own pipes and trucks)
    net    = (R - opex) * (1 - ppp_share if R > opex else 1)        the operator's share
    NPV    = net / A(h, T) - [E + L * A(r, n) / A(h, n)]
    with   subsidy G = capex_subsidy quote for purpose ``infrastructure``, PPP P = ppp_share * C,
           loan L = loan_share * (C - G - P) (within the bank's capital room) at
           r = funding_rate + margin - green discount over n = loan_tenor_months,
           equity E = C - G - P - L,

and builds it when NPV > 0 and its cash covers E. Money: ``infrastructure_capex`` to outside,
``capex_subsidy`` from government, ``ppp_investment`` from the partner (outside),
``bank_funding`` (outside -> bank) and ``infrastructure_loan`` (bank -> operator).

**Use** (:meth:`adjust_pair`, :meth:`haulage`): the mains run across the park, so every firm
can connect; a link of a served stream formed after the kind is built uses it: the pair's
link capex falls by ``link_capex_saving`` and its transport cost by ``transport_saving``;
the receiver pays the operator a connection fee
``connection_share * tariff_k`` per unit of the contracted quantity each month and a
throughput fee ``(1 - connection_share) * tariff_k`` per unit delivered, both from the
link's first delivery (nothing while it is still under negotiation). Links formed before
keep their own pipes and trucks, even when their negotiation ends after the build.

**Running** (:meth:`step`, monthly): opex to outside; the loan's annuity (interest and
principal to the bank, which repays its funders and pays them ``funding_rate``); the PPP
partner's share of the month's fees less opex (``ppp_distribution``, if positive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.catalogue import load_infrastructure
from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.credit import loan_cost_factor

if TYPE_CHECKING:
    from ecopark.catalogue import InfrastructureKind
    from ecopark.model import ParkModel


@dataclass
class Project:
    """A built piece of infrastructure and its financing (money in yuan)."""

    kind: InfrastructureKind
    built: int  # step
    capex: float
    subsidy: float
    ppp: float
    loan: float
    equity: float
    loan_rate: float  # 1/year
    loan_payment: float  # yuan/month
    loan_outstanding: float
    loan_months_left: int
    expected_fees: float  # yuan/month at the decision
    fees: float = 0.0  # cumulative connection and throughput fees
    opex_paid: float = 0.0


class Infrastructure:
    """The operator's shared infrastructure: decision, financing, fees and running costs."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.operator.infrastructure
        self.kinds = {k: load_infrastructure()[k] for k in self.spec.kinds}
        keys = model.catalogue.stream_keys
        n = len(keys)
        self.projects: list[Project] = []
        # per stream: step from which links use the infrastructure (-1: none), savings and tariff
        self.since = np.full(n, -1)
        self.capex_saving = np.zeros(n)
        self.transport_saving = np.zeros(n)
        self.tariff = np.zeros(n)
        self.owner = np.full(n, -1)  # index into self.projects
        self.month_fees = np.zeros(0)  # per project, this month's connection and throughput fees

    # -- decision --------------------------------------------------------------------------
    def capex(self, kind: InfrastructureKind) -> float:
        """C = capex_fixed + capex_per_km * trunk_km_per_km * park side (yuan)."""
        return kind.capex_fixed + kind.capex_per_km * kind.trunk_km_per_km * self.model.scenario.park.size_km

    def expected_fees(self, kind: InfrastructureKind) -> float:
        """R = expected_uptake * sum_k tariff_k * max(min(S_k, D_k) - Q_k, 0), yuan/month (module docstring)."""
        model = self.model
        firms = model.firms
        rows = firms.live
        s = firms.sector[rows]
        normal = model.sector_capacity[s] * firms.size[rows] * model.scenario.economy.base_utilisation
        need = normal @ model.need_matrix[s]
        supply = normal @ model.yield_matrix[s] + model.heat_cascade.supply(need)
        links = model.byproduct_market.links
        live = links.live
        carried = np.bincount(links.stream[live], links.quantity[live], minlength=len(supply))
        keys = model.catalogue.stream_keys
        idx = [keys.index(k) for k in kind.streams]
        tariff = np.array([kind.tariff[k] for k in kind.streams]) * self.spec.tariff_scale
        open_flow = np.maximum(np.minimum(supply[idx], need[idx]) - carried[idx], 0.0)
        return float(self.spec.expected_uptake * (tariff * open_flow).sum())

    def loan_rate(self) -> float:
        """r = max(funding_rate + the first bank's margin - green discount, 0) (1/year), floored at 0
        as the credit market floors its rates (markets/credit.py)."""
        credit = self.model.scenario.credit
        return max(credit.funding_rate + (self.model.banks[0].spec.margin_bp - credit.green_discount_bp) / 1e4, 0.0)

    def financing(self, capex: float) -> tuple[float, float, float, float]:
        """(subsidy, PPP share, loan, equity) of an investment of ``capex`` yuan now."""
        model, spec = self.model, self.spec
        policy = model.policy("capex_subsidy")
        subsidy = policy.quote(capex, "infrastructure") if policy else 0.0
        ppp = spec.ppp_share * capex
        loan = 0.0
        if model.scenario.credit.enabled:
            loan = float(max(0.0, min(spec.loan_share * (capex - subsidy - ppp), model.credit.capital_room(0))))
        return subsidy, ppp, loan, capex - subsidy - ppp - loan

    def npv(self, kind: InfrastructureKind, fees: float | None = None) -> tuple[float, float]:
        """(NPV to the operator in yuan, expected fees R in yuan/month) of building ``kind`` now;
        ``fees``: R if the caller has it (green power, agents/electricity.py), else :meth:`expected_fees`."""
        spec = self.spec
        fees = self.expected_fees(kind) if fees is None else fees
        margin = fees - kind.opex
        net = margin * (1.0 - spec.ppp_share) if margin > 0 else margin
        hurdle = spec.hurdle_rate
        value = net / float(annuity_factor(hurdle, int(kind.lifetime)))
        _, _, loan, equity = self.financing(self.capex(kind))
        cost = equity + loan * float(loan_cost_factor(self.loan_rate(), hurdle, spec.loan_tenor_months))
        return value - cost, fees

    def review(self) -> None:
        """Build each kind not yet built whose NPV is positive and whose equity the operator has."""
        model = self.model
        built = {p.kind.key for p in self.projects} & set(self.kinds)  # not green power's PV blocks
        if (model.steps - 1) % self.spec.review_months or len(built) == len(self.kinds):
            return
        for key, kind in self.kinds.items():
            if key in built:
                continue
            value, fees = self.npv(kind)
            _, _, _, equity = self.financing(self.capex(kind))
            if value > 0 and model.ledger.balance(model.operator.account) >= equity:
                self.build(kind, fees)

    def build(self, kind: InfrastructureKind, expected_fees: float) -> Project:
        """Finance and build ``kind``: subsidy, PPP, loan, then the operator's cash."""
        model, spec = self.model, self.spec
        ledger, op, outside = model.ledger, model.operator.account, model.outside
        capex = self.capex(kind)
        subsidy, ppp, loan, _ = self.financing(capex)
        if subsidy > 0:
            subsidy = model.policy("capex_subsidy").grant(op, capex, "infrastructure")
        ledger.transfer("ppp_investment", outside, op, ppp)
        rate = self.loan_rate()
        payment = 0.0
        if loan > 0:
            bank = model.banks[0].account
            ledger.transfer("bank_funding", outside, bank, loan)
            ledger.transfer("infrastructure_loan", bank, op, loan)
            payment = loan * float(annuity_factor(rate, spec.loan_tenor_months))
        ledger.transfer("infrastructure_capex", op, outside, capex)
        project = Project(kind=kind, built=model.steps, capex=capex, subsidy=subsidy, ppp=ppp, loan=loan,
                          equity=capex - subsidy - ppp - loan, loan_rate=rate, loan_payment=payment,
                          loan_outstanding=loan, loan_months_left=spec.loan_tenor_months if loan > 0 else 0,
                          expected_fees=expected_fees)
        self.projects.append(project)
        self.month_fees = np.r_[self.month_fees, 0.0]
        keys = model.catalogue.stream_keys
        for stream in kind.streams:
            k = keys.index(stream)
            self.since[k] = model.steps
            self.capex_saving[k] = kind.link_capex_saving
            self.transport_saving[k] = kind.transport_saving
            self.tariff[k] = kind.tariff[stream] * spec.tariff_scale
            self.owner[k] = len(self.projects) - 1
        return project

    # -- use by links ----------------------------------------------------------------------
    def adjust_pair(self, k: int, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A pair's surplus components for stream k if a link formed now would use infrastructure:
        capex * (1 - link_capex_saving); a_r + trans_k * dist * transport_saving - tariff_k."""
        if self.since[k] < 0:
            return values
        transport = self.model.byproduct_market.stream["transport_cost"][k]
        values["capex"] = values["capex"] * (1.0 - self.capex_saving[k])
        values["a_r"] = values["a_r"] + transport * values["dist"] * self.transport_saving[k] - self.tariff[k]
        return values

    def haulage(self, live: np.ndarray, delivered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Book this month's cost of moving the ``delivered`` units of links ``live``; returns
        (cost, fees) per link (yuan): cost = transport to outside, times (1 - transport_saving) for
        links that use infrastructure, plus fees = the operator's connection and throughput fees."""
        model = self.model
        links, firms, ledger = model.byproduct_market.links, model.firms, model.ledger
        k = links.stream[live]
        acc_r = firms.account[links.receiver[live]]
        transport = delivered * model.byproduct_market.stream["transport_cost"][k] * links.distance[live]
        if not self.projects:
            ledger.transfer("transport", acc_r, model.outside, transport)
            return transport, np.zeros(len(live))
        on = links.on_infrastructure[live]  # formed after the build (a delayed start does not count)
        transport = transport * np.where(on, 1.0 - self.transport_saving[k], 1.0)
        ledger.transfer("transport", acc_r, model.outside, transport)
        share = self.spec.connection_share
        connection = np.where(on, share * self.tariff[k] * links.quantity[live], 0.0)
        throughput = np.where(on, (1.0 - share) * self.tariff[k] * delivered, 0.0)
        op = model.operator.account
        ledger.transfer("infrastructure_connection", acc_r, op, connection)
        ledger.transfer("infrastructure_throughput", acc_r, op, throughput)
        fees = connection + throughput
        np.add.at(self.month_fees, self.owner[k[on]], fees[on])
        return transport + fees, fees

    # -- running ---------------------------------------------------------------------------
    def step(self) -> None:
        """After deliveries: pay opex, service the loans and pay the PPP partner; then review
        (so that links formed this month can use what is built)."""
        model = self.model
        ledger, op, outside = model.ledger, model.operator.account, model.outside
        fees = self.month_fees
        funding = model.scenario.credit.funding_rate
        projects = self.projects
        # each kind's payments of every project booked at once (the same bookings as project by project), the
        # amounts built by comprehensions in project order (min and max written out: the same picks, fewer calls)
        opex = [p.kind.opex for p in projects]
        ppp = [(p.ppp / p.capex if p.capex > 0 else 0.0) * (0.0 if 0.0 > fee - o else fee - o)
               for p, o, fee in zip(projects, opex, fees, strict=True)]
        for p, o, fee in zip(projects, opex, fees, strict=True):
            p.opex_paid += o
            p.fees += fee
        lending = [p for p in projects if p.loan_months_left > 0]
        bank = model.banks[0].account if lending else None
        interest = [p.loan_outstanding * p.loan_rate / 12.0 for p in lending]
        principal = [p.loan_outstanding if p.loan_months_left == 1 else (
            p.loan_outstanding if p.loan_outstanding < p.loan_payment - i else p.loan_payment - i)
            for p, i in zip(lending, interest, strict=True)]
        funded = [p.loan_outstanding * funding / 12.0 for p in lending]
        for p, paid_back in zip(lending, principal, strict=True):
            p.loan_outstanding -= paid_back
            p.loan_months_left -= 1
        paid = (("infrastructure_opex", op, outside, opex), ("infrastructure_loan_interest", op, bank, interest),
                ("infrastructure_loan_repayment", op, bank, principal), ("funding_interest", bank, outside, funded),
                ("bank_funding_repayment", bank, outside, principal), ("ppp_distribution", op, outside, ppp))
        for kind, payer, payee, amounts in paid:
            if amounts:
                ledger.transfer(kind, payer, payee, np.array(amounts, dtype=float))
        self.month_fees[:] = 0.0
        self.review()

    # -- outcomes --------------------------------------------------------------------------
    def payback_years(self) -> float:
        """Simple payback of everything built: sum of capex / (12 x realised mean monthly fees
        less opex since each was built), years; 0 if nothing was built, 100 if fees do not
        cover opex."""
        if not self.projects:
            return 0.0
        months = np.array([max(self.model.steps - p.built + 1, 1) for p in self.projects])
        net = sum((p.fees - p.opex_paid) / m for p, m in zip(self.projects, months, strict=True))
        capex = sum(p.capex for p in self.projects)
        return float(min(capex / (12.0 * net), 100.0)) if net > 0 else 100.0
