"""Banks: hold capital and (with the credit market) lend to firms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from ecopark.model import ParkModel
    from ecopark.scenario import BankSpec


class Bank(mesa.Agent):
    """A bank with an equity capital account, endowed by its owners (outside) at the start."""

    def __init__(self, model: ParkModel, spec: BankSpec) -> None:
        super().__init__(model)
        self.spec = spec
        self.account = model.ledger.open_account(f"bank:{spec.name}", "bank")
        model.ledger.transfer("equity", model.outside, self.account, spec.capital)

    @property
    def cash(self) -> float:
        """Ledger balance in yuan."""
        return self.model.ledger.balance(self.account)
