"""Capital-expenditure subsidy: government pays a share of green investments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecopark.ledger import MAX_YUAN
from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param

PURPOSES = ("link", "abatement", "infrastructure", "recycling")


@dataclass(frozen=True)
class CapexSubsidyParams(PolicyParams):
    share: float = param(0.15, lo=0, hi=1, unit="share of capex",
                         doc="share of the investment paid by government (DOMAIN 4: 15%)")
    cap_per_project: float = param(3.0e8, lo=0, hi=MAX_YUAN, unit="yuan",
                                   doc="most paid on one project (DOMAIN 4: 300 million)")
    purposes: list[str] = param(list(PURPOSES), choices=PURPOSES, doc="which investments qualify")


@register
class CapexSubsidy(Policy):
    """subsidy = min(share * capex, cap_per_project), within the remaining budget."""

    name = "capex_subsidy"
    Params = CapexSubsidyParams

    def amounts(self, capex: np.ndarray, purpose: str) -> np.ndarray:
        """min(share * capex, cap_per_project, remaining budget) for each project in ``capex``
        (yuan), 0 outside the policy's months: what firms count on when they value investments
        of ``purpose``, each project on its own (the quote it would get now, :meth:`quote`)."""
        p = self.params
        if purpose not in p.purposes or not self.active(self.model.steps):
            return np.zeros_like(capex)
        return np.minimum(np.minimum(p.share * capex, p.cap_per_project), self.remaining)

    def quote(self, capex: float, purpose: str) -> float:
        """Subsidy a project of ``capex`` yuan would get now (yuan), without paying it."""
        p = self.params
        if purpose not in p.purposes or not self.active(self.model.steps):
            return 0.0
        # min(share * capex, cap, remaining) written out (the same pick as min(): a later value only if smaller)
        amount, room = p.share * capex, self.remaining
        if p.cap_per_project < amount:
            amount = p.cap_per_project
        return float(room if room < amount else amount)

    def grant(self, account: int, capex: float, purpose: str) -> float:
        """Pay the subsidy for a project to the investing firm's account; returns yuan paid."""
        return self.pay("capex_subsidy", account, self.quote(capex, purpose))
