"""Local offset quota (Liaocheng "canal carbon chain", DOMAIN.md section 4).

Covered firms must use local offset credits from the park carbon pool for ``share`` of
their annual emissions. At each carbon-market session, firms with unmet quota buy the
pool's credits at the session price; at year end each tonne of quota not met costs
``penalty``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecopark.ledger import MAX_YUAN_PER_UNIT
from ecopark.policies.base import Policy, PolicyParams, register
from ecopark.schema import param


@dataclass(frozen=True)
class OffsetQuotaParams(PolicyParams):
    share: float = param(0.02, lo=0, hi=1, doc="share of a covered firm's emissions to cover with local credits")
    penalty: float = param(100.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                           doc="charge per tonne of quota not met")


@register
class OffsetQuota(Policy):
    """fine_f = penalty * max(share * emissions_f - local credits bought_f, 0) per year."""

    name = "offset_quota"
    Params = OffsetQuotaParams
