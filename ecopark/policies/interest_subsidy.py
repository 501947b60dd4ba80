"""Interest subsidy on green loans: government pays part of the interest to the bank.

While in force, on every green loan (link or abatement capex) the government pays the
lending bank ``rate_bp`` basis points a year of the outstanding principal, monthly, out of
the month's interest, within the budget; the borrower pays the rest of the interest.
Firms count the subsidy when they value green investments (``CreditMarket.capex_factor``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class InterestSubsidyParams(PolicyParams):
    rate_bp: float = param(50.0, lo=0, hi=2000, unit="bp/year", doc="interest paid by government on green loans")


@register
class InterestSubsidy(Policy):
    """subsidy_l = min(B_l * rate_bp / 1e4 / 12, interest_l) per month on green loans, within budget."""

    name = "interest_subsidy"
    Params = InterestSubsidyParams
