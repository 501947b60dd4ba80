"""First-loss risk compensation for first symbiosis links (Qinzhou, DOMAIN.md section 4).

A link that is the first of its supplier or of its receiver is evaluated once, after
``evaluation_months`` months or when it ends earlier. A party whose realised gain over that
time fell below ``threshold`` times its expected gain is paid ``cover_share`` of the
shortfall (expected - realised), within the fund's budget.

Firms count on the cover when they decide: a side of a prospective first link whose supplier is
trusted at T (so it expects T x the contract's gain) expects T + cover_share x (1 - T) of it with
the fund when T < threshold, else T (:meth:`RiskCompensationFund.reliability`). So the fund tips
links with untried or unreliable suppliers, those at the margin, and leaves sure ones alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class RiskCompensationFundParams(PolicyParams):
    cover_share: float = param(0.5, lo=0, hi=1, doc="share of the shortfall the fund pays")
    threshold: float = param(0.8, lo=0, hi=1, doc="realised/expected gain below which the fund pays")
    evaluation_months: int = param(12, lo=1, hi=240, unit="months", doc="when a first link is evaluated")


@register
class RiskCompensationFund(Policy):
    """compensation = cover_share * (expected - realised) if realised < threshold * expected."""

    name = "risk_compensation_fund"
    Params = RiskCompensationFundParams

    def reliability(self, trust: float) -> float:
        """Share of a first link's contracted gain a side expects with the fund's cover, given trust T
        in the supplier: T + cover_share x (1 - T) if T < threshold (realised T x expected, short of
        the threshold, is made up by cover_share of the shortfall), else T; T if the budget is spent."""
        p = self.params
        return trust + p.cover_share * (1.0 - trust) if trust < p.threshold and self.remaining > 0 else trust
