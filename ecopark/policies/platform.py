"""The operator's symbiosis matching platform ("industrial metabolism map", DOMAIN.md 1).

With the platform in force every feasible supplier-receiver pair is visible and the market
uses the surplus-maximising match; each link it matches pays ``fee`` per month to the
operator, split equally between the two firms. Without it, firms know only the partners
they have discovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class PlatformParams(PolicyParams):
    fee: float = param(5000.0, lo=0, hi=1e8, unit="yuan/link/month", doc="platform fee per matched link")


@register
class Platform(Policy):
    """All pairs visible; links matched by maximum total surplus; fee per link per month."""

    name = "platform"
    Params = PlatformParams
