"""The operator's supply lines to firms: capacity it builds by NPV and sells to the firms that value it.

Shared by green power (agents/electricity.py) and reclaimed water (agents/water.py). A line sells
a good firms otherwise buy from outside at their own price p_f (yuan/unit). Firm f wants
w_f = coverable_share x u_f of its use u_f and buys when (v_f - p) x w_f > contract_fee, with v_f
its value per unit (the outside price plus, for green power, the carbon costs it avoids) and p
the line's price. When this month's output Y = capacity x output_per_capacity is short, the firms
with the highest v_f are served first (:meth:`OperatorSupply.sell`).

**Investment** (:meth:`OperatorSupply.invest`, on the infrastructure review months): willing
demand D = expected_uptake x sum of w_f over the willing firms; it sizes
K = min((D - Y) / output_per_capacity, potential - capacity) and builds when the NPV at the
operator's hurdle rate of R = p x K x output_per_capacity a month less opex is positive, after
scaling K down (three tries, by cash / equity) until its cash covers the equity. The build is an
infrastructure project (agents/infrastructure.py: capex, subsidy, PPP, loan, opex, loan service
and PPP distribution are booked there) and the line's sales are the project's fees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ecopark.catalogue import InfrastructureKind

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class OperatorSupply:
    """One supply line; subclasses set the class names and :meth:`value_per_unit`, :meth:`potential`."""

    key: ClassVar[str]  # infrastructure kind key of its builds
    label: ClassVar[str]  # name of its builds
    sale_kind: ClassVar[str]  # ledger kind of sales (firm -> operator)
    fee_kind: ClassVar[str]  # ledger kind of the contract fee (firm -> operator)

    def __init__(self, model: ParkModel, spec: Any, capex_per_capacity: float, opex_per_capacity: float,
                 output_per_capacity: float, lifetime: float, coverable_share: float) -> None:
        self.model = model
        self.spec = spec  # enabled, price, contract_fee, expected_uptake
        self.capex_per_capacity = capex_per_capacity  # yuan per unit of capacity
        self.opex_per_capacity = opex_per_capacity  # yuan per unit of capacity per month
        self.output_per_capacity = output_per_capacity  # units sold per unit of capacity per month
        self.lifetime = lifetime  # months
        self.coverable_share = coverable_share
        self.capacity = 0.0
        self.projects: list[int] = []  # indices into model.infrastructure.projects
        self.project_capacity: list[float] = []

    def potential(self) -> float:
        """Most capacity the park can take (units of capacity)."""
        raise NotImplementedError

    def value_per_unit(self, rows: np.ndarray) -> np.ndarray:
        """v_f: what a unit of the line's good is worth to each firm of ``rows`` (yuan/unit)."""
        raise NotImplementedError

    def willing(self, rows: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(v_f, w_f, buys_f) of ``rows`` with use ``use`` (units/month)."""
        value = self.value_per_unit(rows)
        want = self.coverable_share * use
        buys = ((value - self.spec.price) * want > self.spec.contract_fee) & (want > 0)
        return value, want, buys

    def supply(self) -> float:
        """This month's output Y = capacity x output_per_capacity (units)."""
        return self.capacity * self.output_per_capacity

    def sell(self, rows: np.ndarray, use: np.ndarray) -> np.ndarray:
        """Serve the willing firms of ``rows``, highest v_f first, up to Y; book the sales and fees to
        the operator and count the sales as the projects' fees; returns each firm's units bought."""
        taken = np.zeros(len(rows))
        supply = self.supply()
        if supply <= 0:
            return taken
        value, want, buys = self.willing(rows, use)
        # (the array methods: the same sort, sums and clip as numpy's functions, without their wrapper layers)
        order = buys.nonzero()[0][(-value[buys]).argsort(kind="stable")]
        wanted = want[order]
        taken[order] = (supply - (wanted.cumsum() - wanted)).clip(0.0, wanted)
        model = self.model
        accounts, op = model.firms.account[rows], model.operator.account
        sales = model.ledger.transfer(self.sale_kind, accounts, op, self.spec.price * taken)
        model.ledger.transfer(self.fee_kind, accounts, op, np.where(taken > 0, self.spec.contract_fee, 0.0))
        model.infrastructure.month_fees[self.projects] += sales * np.array(self.project_capacity) / self.capacity
        return taken

    def kind(self, capacity: float) -> InfrastructureKind:
        """``capacity`` of the line as an infrastructure kind (capex, opex and life from the data)."""
        return InfrastructureKind(
            key=self.key, name=self.label, streams=(), capex_fixed=capacity * self.capex_per_capacity,
            capex_per_km=0.0, trunk_km_per_km=0.0, opex=capacity * self.opex_per_capacity, lifetime=self.lifetime,
            link_capex_saving=0.0, transport_saving=0.0, tariff={})

    def invest(self, use: np.ndarray) -> None:
        """On the infrastructure review months: build capacity for the unmet willing demand of the live
        firms (``use``: their use this month) when its NPV is positive and the operator has the equity."""
        model = self.model
        infra = model.infrastructure
        if not self.spec.enabled or (model.steps - 1) % infra.spec.review_months:
            return
        rows = model.firms.live
        _, want, buys = self.willing(rows, use)
        demand = self.spec.expected_uptake * want[buys].sum()
        size = min(max(demand - self.supply(), 0.0) / self.output_per_capacity, self.potential() - self.capacity)
        cash = model.ledger.balance(model.operator.account)
        for _ in range(3):  # scale the build down to the equity the operator's cash covers
            if size <= 0:
                return
            kind = self.kind(size)
            _, _, _, equity = infra.financing(infra.capex(kind))
            if equity <= cash:
                break
            size *= 0.99 * cash / equity
        fees = self.spec.price * size * self.output_per_capacity
        value, _ = infra.npv(kind, fees)
        if value > 0 and cash >= equity:
            infra.build(kind, fees)
            self.projects.append(len(infra.projects) - 1)
            self.project_capacity.append(size)
            self.capacity += size
