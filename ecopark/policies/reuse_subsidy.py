"""Reuse subsidy: government pays the receiver per unit of byproduct reused through a link."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecopark.catalogue import Catalogue, load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_keys, register
from ecopark.schema import param


@dataclass(frozen=True)
class ReuseSubsidyParams(PolicyParams):
    rate: float = param(20.0, lo=0, hi=100000, unit="yuan/unit", doc="subsidy per unit reused, every stream")
    by_stream: dict[str, float] = param({}, lo=0, hi=100000, unit="yuan/unit",
                                        doc="rates for named streams, replacing `rate`")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_keys(f"{path}.by_stream", self.by_stream, load_catalogue().stream_keys, "stream")


@register
class ReuseSubsidy(Policy):
    """subsidy_l = delivered_l * rate_k, paid by government to the receiver, within budget."""

    name = "reuse_subsidy"
    Params = ReuseSubsidyParams

    def rates(self, catalogue: Catalogue) -> np.ndarray:
        """Subsidy per unit of each stream (yuan/unit), in stream order."""
        return np.array([self.params.by_stream.get(k, self.params.rate) for k in catalogue.stream_keys])
