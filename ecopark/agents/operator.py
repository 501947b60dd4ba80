"""The park operator: landlord today, service provider and ecosystem architect tomorrow."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class ParkOperator(mesa.Agent):
    """Collects plot rent and pays its own running cost; its revenue mix is an outcome.

    Each month: rent = ``operator.rent`` from every firm in the park (yuan/firm/month);
    running cost = ``operator.operating_cost`` paid to outside (yuan/month).
    """

    def __init__(self, model: ParkModel) -> None:
        super().__init__(model)
        spec = model.scenario.operator
        self.account = model.ledger.open_account("operator", "operator")
        model.ledger.transfer("equity", model.outside, self.account, spec.initial_cash)

    def collect_rent(self) -> float:
        """Book this month's rent from every live firm; returns yuan collected."""
        model = self.model
        spec = model.scenario.operator
        accounts = model.firms.account[model.firms.live]
        rent = model.ledger.transfer("rent", accounts, self.account, spec.rent)
        model.ledger.transfer("operating_cost", self.account, model.outside, spec.operating_cost)
        return rent
