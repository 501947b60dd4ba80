"""Reuse subsidy: government pays the receiver per unit of byproduct reused through a link.

``rate`` is per tonne and applies to the material streams (unit t) only; heat streams (unit GJ)
get ``rate_per_gj``. Before, one ``rate`` per "unit" applied to every stream, so 100 yuan/t of
slag (half its 200 yuan/t value) came with 100 yuan/GJ of heat (above the 60 yuan/GJ boiler heat
it replaces): the subsidy's extra links were heat links, which add no tonnes (docs/byproduct.md,
"Why a reuse subsidy added links but not tonnes"). China's awards for saved energy are paid
per tonne of coal equivalent saved (240 yuan/tce in the east, 300 in the centre and west:
Ministry of Finance and NDRC 2011, energy-saving technical renovation awards), about 8-10
yuan/GJ; the default is 0 (no heat subsidy unless asked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecopark.catalogue import Catalogue, load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_keys, register
from ecopark.schema import param


@dataclass(frozen=True)
class ReuseSubsidyParams(PolicyParams):
    rate: float = param(20.0, lo=0, hi=100000, unit="yuan/t", doc="subsidy per tonne reused, streams in tonnes")
    rate_per_gj: float = param(0.0, lo=0, hi=100000, unit="yuan/GJ",
                               doc="subsidy per GJ of heat reused, streams in GJ (energy-saving awards: about 8-10)")
    by_stream: dict[str, float] = param({}, lo=0, hi=100000, unit="yuan/unit",
                                        doc="rates for named streams, replacing `rate`")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_keys(f"{path}.by_stream", self.by_stream, load_catalogue().stream_keys, "stream")


@register
class ReuseSubsidy(Policy):
    """subsidy_l = delivered_l * rate_k, paid by government to the receiver, within budget.

    rate_k = by_stream[k] if given, else ``rate`` for a stream in tonnes, ``rate_per_gj`` for
    one in GJ (0 for any other unit).
    """

    name = "reuse_subsidy"
    Params = ReuseSubsidyParams

    def rates(self, catalogue: Catalogue) -> np.ndarray:
        """Subsidy per unit of each stream (yuan/unit), in stream order."""
        p = self.params
        default = {"t": p.rate, "GJ": p.rate_per_gj}
        return self.stream_table("rates", catalogue, lambda: [
            p.by_stream.get(k, default.get(s.unit, 0.0)) for k, s in catalogue.streams.items()])
