"""The operator's service packages ("carbon butler"): carbon accounting and energy management.

The industry report (seeds/003) describes operators' "carbon butler" packages (carbon
inventory, allowance forecasting, compliance strategy) sold to firms that must report
emissions monthly but lack a team of their own, and energy-management services that
schedule firms' energy use. ``[operator.services]`` sets the terms; each month
(:meth:`OperatorServices.step`, before production) every firm without a running
subscription decides, for each service, from last month's figures:

* **carbon accounting** (only firms under cap-and-trade or a carbon tax,
  as the carbon market reports them): subscribe when the fee is below the in-house cost,
  ``accounting_fee + accounting_fee_per_t * E_f < mrv_cost`` with E_f the firm's emissions
  last month; a covered firm without it pays ``mrv_cost`` a month to outside (in-house
  monitoring, reporting and verification, ``monitoring_cost``), with the service offered or not.
* **energy management**: subscribe when the saving exceeds the fee,
  ``energy_saving * q_f * variable_cost_s * cost_factor_f > energy_fee`` (q_f last month's
  output, cost_factor_f without the service); while subscribed the firm's variable-cost
  factor is lower by the share ``energy_saving``, so its purchases are.

A subscription lasts ``term_months``, paid monthly to the operator (``carbon_accounting_fee``,
``energy_management_fee``); at its end the firm decides again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel

CARBON_INSTRUMENTS = ("cap_and_trade", "carbon_tax")  # the offset quota applies to cap-and-trade firms


class OperatorServices:
    """Who subscribes to which service, the fees and the in-house costs they replace."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.operator.services
        self.accounting_until = np.zeros(0, dtype=np.int64)  # step a subscription runs to (incl.), per firm row
        self.energy_until = np.zeros(0, dtype=np.int64)
        self.energy_on = np.zeros(0, dtype=bool)  # the firm's variable-cost factor carries the saving
        self.net_saving = 0.0  # yuan, cumulative: subscribers' saving less the fees they paid

    def _grow(self) -> None:
        n = self.model.firms.n
        if n <= self.accounting_until.shape[0]:  # no new firm rows (most months)
            return
        pad = np.zeros(n - self.accounting_until.shape[0], dtype=np.int64)
        self.accounting_until = np.r_[self.accounting_until, pad]
        self.energy_until = np.r_[self.energy_until, pad]
        self.energy_on = np.r_[self.energy_on, pad.astype(bool)]

    def covered(self, rows: np.ndarray) -> np.ndarray:
        """Bool per row: the firm is under a carbon instrument in force (must monitor and report)."""
        model = self.model
        out = np.zeros(len(rows), dtype=bool)
        for name in CARBON_INSTRUMENTS:
            if model.policy(name) is not None:
                out |= model.carbon_market.covered(rows, name)
        return out

    def accounting_fee(self, rows: np.ndarray) -> np.ndarray:
        """accounting_fee + accounting_fee_per_t * last month's emissions (yuan/month)."""
        spec = self.spec
        return spec.accounting_fee + spec.accounting_fee_per_t * self.model.firms.emissions[rows]

    def energy_saving(self, rows: np.ndarray) -> np.ndarray:
        """energy_saving * last month's variable cost without the service (yuan/month)."""
        model, firms = self.model, self.model.firms
        cost = firms.output[rows] * model.sector_variable_cost[firms.sector[rows]] * firms.cost_factor[rows]
        return self.spec.energy_saving * np.where(self.energy_on[rows], cost / (1.0 - self.spec.energy_saving), cost)

    def step(self) -> None:
        """Decide subscriptions, then book this month's fees and in-house monitoring costs."""
        model, spec, firms = self.model, self.spec, self.model.firms
        if not spec.enabled and spec.mrv_cost == 0:
            return  # nothing to decide and nothing to pay
        self._grow()
        rows = firms.live
        now = model.steps
        covered = self.covered(rows)
        if spec.enabled:
            deciding = self.accounting_until[rows] < now
            buys = deciding & covered & (self.accounting_fee(rows) < spec.mrv_cost)
            self.accounting_until[rows[buys]] = now + spec.term_months - 1
            deciding = self.energy_until[rows] < now
            buys = deciding & (self.energy_saving(rows) > spec.energy_fee)
            on = self.energy_on[rows]
            stop, begin = rows[deciding & ~buys & on], rows[buys & ~on]
            firms.cost_factor[stop] /= 1.0 - spec.energy_saving
            firms.cost_factor[begin] *= 1.0 - spec.energy_saving
            self.energy_on[stop], self.energy_on[begin] = False, True
            self.energy_until[rows[buys]] = now + spec.term_months - 1
        accounts = firms.account[rows]
        ledger, op = model.ledger, model.operator.account
        subscribed = self.accounting_until[rows] >= now
        fee = self.accounting_fee(rows[subscribed])
        ledger.transfer("carbon_accounting_fee", accounts[subscribed], op, fee)
        ledger.transfer("monitoring_cost", accounts[covered & ~subscribed], model.outside, spec.mrv_cost)
        energy = self.energy_until[rows] >= now
        ledger.transfer("energy_management_fee", accounts[energy], op, spec.energy_fee)
        self.net_saving += float((spec.mrv_cost - fee).sum()
                                 + (self.energy_saving(rows[energy]) - spec.energy_fee).sum())

    def subscribers(self) -> tuple[int, int]:
        """(carbon accounting, energy management) subscribers in the park this month."""
        self._grow()
        rows, now = self.model.firms.live, self.model.steps
        return int((self.accounting_until[rows] >= now).sum()), int((self.energy_until[rows] >= now).sum())
