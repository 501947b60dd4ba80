"""Government cover of green-loan losses: a share of each written-off green loan.

When a borrower defaults, the bank writes off the outstanding principal less what it
recovers from collateral; for green loans the government pays the bank ``share`` of that
loss, within the budget (first come, first served).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class GreenLoanLossCoverParams(PolicyParams):
    share: float = param(0.5, lo=0, hi=1, doc="share of a green loan's loss government pays")


@register
class GreenLoanLossCover(Policy):
    """cover_l = share * (written off_l - recovered_l) for green loans, within budget."""

    name = "green_loan_loss_cover"
    Params = GreenLoanLossCoverParams
