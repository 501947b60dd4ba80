"""Mandatory reuse quota: a share of named streams must be reused, or a fine is paid.

At the end of every compliance year (12 steps) each firm generating a quota stream pays
``fine`` per unit by which its reuse fell short: fine_f = fine * max(quota * generated_fk -
delivered_fk, 0) over the year. Firms anticipate it: in link evaluation the fine is an
avoided cost per unit for the supplier, like a disposal cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecopark.catalogue import Catalogue, load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import param


@dataclass(frozen=True)
class ReuseQuotaParams(PolicyParams):
    quota: float = param(0.5, lo=0, hi=1, doc="share of each quota stream that must be reused each year")
    streams: list[str] = param(["fly_ash", "slag", "red_mud"], names="streams", doc="streams under the quota")
    fine: float = param(50.0, lo=0, hi=100000, unit="yuan/unit", doc="fine per unit short of the quota")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_names(f"{path}.streams", self.streams, load_catalogue().stream_keys, "stream")


@register
class ReuseQuota(Policy):
    """fine_f = fine * sum_k max(quota * generated_fk - delivered_fk, 0) over the year."""

    name = "reuse_quota"
    Params = ReuseQuotaParams

    def fine_per_unit(self, catalogue: Catalogue) -> np.ndarray:
        """Fine avoided per unit reused of each stream (yuan/unit), in stream order."""
        p = self.params
        return self.stream_table("fine_per_unit", catalogue, lambda: [
            p.fine if k in p.streams else 0.0 for k in catalogue.stream_keys])

    def assess(self, accounts: np.ndarray, generated: np.ndarray, delivered: np.ndarray) -> float:
        """Fine firms for the year's shortfall (firms x streams arrays); returns yuan collected."""
        mask = self.fine_per_unit(self.model.catalogue) > 0
        short = np.maximum(self.params.quota * generated[:, mask] - delivered[:, mask], 0.0).sum(axis=1)
        return self.model.ledger.transfer("reuse_quota_fine", accounts, self.model.government.account,
                                          short * self.params.fine)
