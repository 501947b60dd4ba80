"""Posted-price rule (Changzhou "hazardous waste mutual supply", DOMAIN.md section 4).

The generator pays the user ``share`` of the market disposal price per unit instead of the
full price to a disposal contractor; the park green fund pays the user the difference,
``(1 - share)`` of the disposal price. Used by links when ``byproduct_market.sharing_rule``
is ``posted_price``, for streams with a positive disposal cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class PostedPriceRuleParams(PolicyParams):
    share: float = param(0.6, lo=0, hi=1, unit="share of disposal price",
                         doc="what the generator pays the user per unit (Changzhou: 60%)")


@register
class PostedPriceRule(Policy):
    """topup_l = delivered_l * (1 - share) * disposal_cost_k, paid by the fund to the receiver."""

    name = "posted_price_rule"
    Params = PostedPriceRuleParams
