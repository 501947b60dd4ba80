"""Government: holds the policy instruments, collects taxes and pays subsidies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from ecopark.policies import REGISTRY, Policy

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class Government(mesa.Agent):
    """Holds one instance of every instrument the scenario names.

    Its ledger balance is the net fiscal position of the park's policies: taxes and
    auction revenue in, subsidies out (it may go negative: the state borrows elsewhere).
    """

    def __init__(self, model: ParkModel) -> None:
        super().__init__(model)
        self.account = model.ledger.open_account("government", "government")
        self.policies: dict[str, Policy] = {
            name: REGISTRY[name](params, model) for name, params in model.scenario.policies.items()
        }

    def update_policies(self) -> None:
        """Phase 1: let each active instrument update its schedule-dependent state."""
        for policy in self.policies.values():
            if policy.active(self.model.steps):
                policy.update()

    def regulate(self) -> None:
        """Phase 8: let each active instrument assess firms on the month's final figures
        (intensity targets, mandatory consumption ratios)."""
        for policy in self.policies.values():
            if policy.active(self.model.steps):
                policy.regulate()
