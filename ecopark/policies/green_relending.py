"""Central-bank relending for green loans (DOMAIN.md section 4: 60% of principal at 1.75%).

While in force, a share of the principal of every new green loan is funded by the
central bank (part of ``outside``) at ``rate`` instead of deposits at the credit market's
``funding_rate``, for the loan's life. Banks pass the lower funding cost on in the rate
they offer (``CreditMarket.rates``). Its cost to the state is implicit (not a ledger
payment): the metric ``relending_funding_saving`` adds up the interest banks saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class GreenRelendingParams(PolicyParams):
    share: float = param(0.6, lo=0, hi=1, doc="share of a green loan's principal relent (DOMAIN 4: 60%)")
    rate: float = param(0.0175, lo=0, hi=0.5, unit="1/year", doc="relending rate (DOMAIN 4: 1.75%)")


@register
class GreenRelending(Policy):
    """funding rate of a green loan = (1 - share) * funding_rate + share * rate."""

    name = "green_relending"
    Params = GreenRelendingParams
