"""In-plant recycling: a firm recycles part of one of its byproduct streams itself.

Technologies come from ``ecopark/data/recycling.toml``, one or more per stream, each for the
sector's typical firm (money scales with the firm's size s_f). Unit j of stream k at firm f,
whose normal generation is g_fk = capacity_s x s_f x base_utilisation x yield_sk, can recycle

    cap_fj = share_j * g_fk                                   units/month

and each unit recycled is worth to the firm

    u_j = d_k + tax_k + recovery_value_j - unit_cost_j        yuan/unit

(d the disposal cost it no longer pays, or the salvage it forgoes when d < 0; tax the landfill
tax in force; the recovered material sold or used in place of purchases; the running cost).

**Adoption** (:meth:`InPlantRecycling.decide`, after the byproduct market each month): on the
quantity it could recycle now, x_fj = min(cap_fj, open_fk), with open_fk the firm's normal
generation not committed to links (``ByproductMarket.open_quantities``),
the unit's expected monthly cash flow and net present value at the firm's hurdle rate r_f are

    m_fj   = u_j * x_fj - fixed_opex_j * s_f
    NPV_fj = m_fj / A(r_f, life_j) - financing_cost(capex_j * s_f)

with A the monthly annuity factor and financing_cost what paying the capex costs the firm in
present value (capex subsidy, green loan, cash: ``Enterprise.financing_cost``). Each firm
adopts at most one unit a month, its largest positive NPV, if it can finance it
(``Enterprise.invest``, purpose ``recycling``). Vectorised screens pick the candidates first
(the NPV with capex valued at ``CreditMarket.capex_factor``, and cash for the equity share).

**Operation** (:meth:`InPlantRecycling.operate`, phase 3, after link deliveries and before
disposal): links deliver first (they are contracts); the firm's units then take what is left,

    recycled_fk = min(sum_j cap_fj, max(generated_fk - delivered_out_fk, 0))

shared among its units of stream k in proportion to their capacity; it pays unit_cost x
recycled + fixed_opex x s_f (``recycling_opex``) and receives recovery_value x recycled
(``recycling_revenue``) from outside, and disposes of the rest. Units retire after their
lifetime. Mass balance per stream: generated = delivered + recycled + disposed.

**Links and own units.** The firm still offers its whole supply on the byproduct market; a
link that takes units its own plant would have recycled costs it recovery_value - unit_cost
per unit (the disposal cost and tax it avoids either way). The byproduct market counts that
in the supplier's value of a link: planning, ``forgone_planned`` (the unit margin times the
share of its open supply the units would recycle) is taken off a_s in
``ByproductMarket.pair_values``; realised, ``forgone_realised`` (the unit margin times the
units lost per unit delivered this month) is taken off the supplier's monthly gain. So a
link takes supply from a sunk plant only when it pays the supplier more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.catalogue import load_recycling
from ecopark.markets.byproduct import annuity_factor

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class InPlantRecycling:
    """Every firm's in-plant recycling units (firms x technologies), their operation and adoption."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.recycling
        techs = load_recycling()
        keys = model.catalogue.stream_keys
        self.names = [t.name for t in techs]
        self.stream = np.array([keys.index(t.stream) for t in techs], dtype=np.int64)
        for field in ("share", "capex", "fixed_opex", "unit_cost", "recovery_value", "lifetime"):
            setattr(self, field, np.array([getattr(t, field) for t in techs], dtype=float))
        self.one_hot = np.zeros((len(techs), len(keys)))  # technology -> its stream
        self.one_hot[np.arange(len(techs)), self.stream] = 1.0
        self.installed_at = np.full((0, len(techs)), -1, dtype=np.int64)  # step installed, -1 = none
        self.adopted_this_step = 0
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None  # (firms, capacity, unit margin)

    def _grow(self) -> None:
        n = self.model.firms.n
        if n > len(self.installed_at):
            pad = np.full((n - len(self.installed_at), len(self.names)), -1, dtype=np.int64)
            self.installed_at = np.vstack([self.installed_at, pad])

    # -- quantities -----------------------------------------------------------------------------
    def unit_capacity(self, rows: np.ndarray) -> np.ndarray:
        """cap_fj (rows x technologies, units/month): what unit j could recycle at firm f."""
        model, firms = self.model, self.model.firms
        s = firms.sector[rows]
        normal = model.sector_capacity[s] * firms.size[rows] * model.scenario.economy.base_utilisation
        return normal[:, None] * model.yield_matrix[s][:, self.stream] * self.share[None, :]

    def installed(self, rows: np.ndarray) -> np.ndarray:
        """(rows x technologies) bool: unit in operation."""
        self._grow()
        return self.installed_at[rows] >= 0

    def capacity(self, rows: np.ndarray) -> np.ndarray:
        """(rows x streams) units/month the firms' installed units can recycle."""
        if not len(self.names) or not self.spec.enabled:
            return np.zeros((len(rows), len(self.model.catalogue.stream_keys)))
        return self._installed_state()[0][rows]

    def unit_value(self) -> np.ndarray:
        """u_j = d_k + tax_k + recovery_value_j - unit_cost_j (yuan/unit) per technology."""
        model = self.model
        tax = model.policy("landfill_tax")
        avoided = model.stream_disposal_cost + (tax.rates(model.catalogue) if tax else 0.0)
        return avoided[self.stream] + self.recovery_value - self.unit_cost

    def unit_margin(self, rows: np.ndarray) -> np.ndarray:
        """(rows x streams) yuan per unit: recovery_value - unit_cost of the firms' installed units of
        each stream, capacity-weighted (0 where none): what a unit recycled earns beyond the disposal
        cost and landfill tax it avoids, hence what a supplier forgoes per unit a link takes from it."""
        return self._installed_state()[1][rows]

    def _installed_state(self) -> tuple[np.ndarray, np.ndarray]:
        """(capacity, unit margin), (firms x streams) for every firm row, recomputed when units change."""
        n = self.model.firms.n
        if self._cache is None or self._cache[0] != n:
            self._grow()
            rows = np.arange(n)
            cap = self.unit_capacity(rows) * (self.installed_at[:n] >= 0)
            total = cap @ self.one_hot
            with np.errstate(divide="ignore", invalid="ignore"):
                margin = np.where(total > 0, (cap * (self.recovery_value - self.unit_cost)) @ self.one_hot / total, 0.0)
            self._cache = (n, total, margin)
        return self._cache[1], self._cache[2]

    def forgone_planned(self, k: int, suppliers: np.ndarray) -> np.ndarray:
        """Yuan per unit of stream k a new link is expected to cost each supplier in idled own units:
        unit_margin_sk x clip(C_sk / open_sk, 0, 1), with C the units' capacity and open the firm's
        normal generation not delivered through links this month (the share of its open supply
        the units would otherwise recycle)."""
        if not self.spec.enabled or not (self.stream == k).any():
            return np.zeros(len(suppliers))
        cap = self.capacity(suppliers)[:, k]
        if not cap.any():
            return np.zeros(len(suppliers))
        model, firms = self.model, self.model.firms
        s = firms.sector[suppliers]
        normal = (model.sector_capacity[s] * firms.size[suppliers] * model.scenario.economy.base_utilisation
                  * model.yield_matrix[s, k])
        open_supply = np.maximum(normal - firms.delivered_out[suppliers, k], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(open_supply > 0, np.minimum(cap / open_supply, 1.0), 1.0)
        return self.unit_margin(suppliers)[:, k] * share * (cap > 0)

    def forgone_realised(self, suppliers: np.ndarray, streams: np.ndarray) -> np.ndarray:
        """Yuan per unit delivered this month through links (suppliers[i], streams[i]) that the supplier's
        own units lost: unit_margin x (min(C, G) - min(C, max(G - D, 0))) / D, with G generated and D
        delivered through links this month (links deliver first, the units take what is left)."""
        if not self.spec.enabled or not len(suppliers):
            return np.zeros(len(suppliers))
        cap = self.capacity(suppliers)[np.arange(len(suppliers)), streams]
        if not cap.any():
            return np.zeros(len(suppliers))
        firms = self.model.firms
        gen, out = firms.generated[suppliers, streams], firms.delivered_out[suppliers, streams]
        lost = np.minimum(cap, gen) - np.minimum(cap, np.maximum(gen - out, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_unit = np.where(out > 0, lost / out, 0.0)
        return self.unit_margin(suppliers)[np.arange(len(suppliers)), streams] * per_unit

    # -- phase 3 --------------------------------------------------------------------------------
    def operate(self) -> None:
        """Recycle what links did not take, book the units' costs and revenue, retire old units."""
        model, firms = self.model, self.model.firms
        self._grow()
        rows = firms.live
        firms.recycled[rows] = 0.0
        if not len(rows) or not self.spec.enabled:
            return
        at = self.installed_at[rows]
        retire = (at >= 0) & (model.steps - at >= self.lifetime)
        if retire.any():
            self.installed_at[rows[np.nonzero(retire)[0]], np.nonzero(retire)[1]] = -1
            self._cache = None
        on = self.installed(rows)
        if not on.any():
            return
        users = rows[on.any(axis=1)]
        on = self.installed(users)
        cap = self.unit_capacity(users) * on
        cap_stream = cap @ self.one_hot
        left = np.maximum(firms.generated[users] - firms.delivered_out[users], 0.0)
        recycled = np.minimum(cap_stream, left)
        firms.recycled[users] = recycled
        with np.errstate(divide="ignore", invalid="ignore"):
            used = np.where(cap_stream > 0, recycled / cap_stream, 0.0)[:, self.stream]
        per_unit = cap * used  # units recycled by each unit this month
        accounts = firms.account[users]
        opex = per_unit @ self.unit_cost + (on * self.fixed_opex).sum(axis=1) * firms.size[users]
        model.ledger.transfer("recycling_opex", accounts, model.outside, opex)
        model.ledger.transfer("recycling_revenue", model.outside, accounts, per_unit @ self.recovery_value)

    # -- after the byproduct market -------------------------------------------------------------
    def decide(self) -> None:
        """Each firm adopts the unit with the largest positive NPV it can finance (module docstring)."""
        model, firms = self.model, self.model.firms
        self.adopted_this_step = 0
        if not self.spec.enabled or not len(self.names):
            return
        rows, supply, _ = model.byproduct_market.open_quantities()
        if not len(rows):
            return
        size = firms.size[rows]
        x = np.minimum(self.unit_capacity(rows), np.maximum(supply[:, self.stream], 0.0))
        monthly = self.unit_value()[None, :] * x - self.fixed_opex[None, :] * size[:, None]
        annuity = annuity_factor(firms.discount_rate[rows][:, None], self.lifetime[None, :])
        capex = self.capex[None, :] * size[:, None]
        subsidy = model.policy("capex_subsidy")
        net = capex - (subsidy.amounts(capex, "recycling") if subsidy else 0.0)
        credit = model.scenario.credit
        equity_share = 1.0 - credit.loan_to_value if credit.enabled else 1.0
        screen = np.where(~self.installed(rows) & (x > 0), monthly / annuity - net * equity_share, -np.inf)
        best = np.argmax(screen, axis=1)
        pick = np.arange(len(rows))
        maybe = np.flatnonzero(screen[pick, best] > 0)
        if not len(maybe):
            return
        # second screen: capex valued at what financing costs (CreditMarket.capex_factor), cash for the equity
        phi = model.credit.capex_factor(rows[maybe], "recycling")
        j = best[maybe]
        value = monthly[maybe, j] / annuity[maybe, j] - net[maybe, j] * phi
        maybe = maybe[(value > 0) & (model.firm_cash(rows[maybe]) >= net[maybe, j] * equity_share)]
        for i in maybe:
            row, j = int(rows[i]), int(best[i])
            agent, cash_flow, cost = model.firm_agents[row], float(monthly[i, j]), float(capex[i, j])
            plan = agent.financing(cost, "recycling", cash_flow)
            npv = cash_flow / float(annuity[i, j]) - agent.financing_cost(cost, "recycling", cash_flow, plan)
            if npv > 0 and agent.cash >= plan[2] and agent.invest(cost, "recycling", cash_flow):
                self.installed_at[row, j] = model.steps
                self.adopted_this_step += 1
                self._cache = None
