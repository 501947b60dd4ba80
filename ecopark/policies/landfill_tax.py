"""Landfill tax: a per-unit tax on byproducts a firm sends to landfill."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecopark.catalogue import Catalogue, load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_keys, register
from ecopark.schema import param


@dataclass(frozen=True)
class LandfillTaxParams(PolicyParams):
    rate: float = param(25.0, lo=0, hi=10000, unit="yuan/t",
                        doc="tax per unit disposed of every landfilled stream")
    by_stream: dict[str, float] = param({}, lo=0, hi=100000, unit="yuan/unit",
                                        doc="rates for named streams, landfilled or not, replacing `rate`")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_keys(f"{path}.by_stream", self.by_stream, load_catalogue().stream_keys, "stream")


@register
class LandfillTax(Policy):
    """tax_fk = disposed_fk * rate_k, paid by firm f to government.

    rate_k = by_stream[k] if given, else ``rate`` for landfilled streams, else 0.
    """

    name = "landfill_tax"
    Params = LandfillTaxParams

    def rates(self, catalogue: Catalogue) -> np.ndarray:
        """Tax per unit of each stream, in ``catalogue.stream_keys`` order (yuan/unit)."""
        p = self.params
        return self.stream_table("rates", catalogue, lambda: [
            p.by_stream.get(k, p.rate if s.landfilled else 0.0) for k, s in catalogue.streams.items()])

    def charge(self, accounts: np.ndarray, disposed: np.ndarray) -> float:
        """Book the tax on ``disposed`` (firms x streams); returns the total collected."""
        tax = disposed @ self.rates(self.model.catalogue)
        return self.model.ledger.transfer("landfill_tax", accounts, self.model.government.account, tax)
