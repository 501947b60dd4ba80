"""Mandatory consumption ratios and green procurement: receivers in named sectors must use a
minimum share of waste-based inputs, and public buyers pay a premium for recycled content.

Liaocheng (seeds 002, 3.1): "the government fosters a local market for red-mud and fly-ash
building materials through mandatory consumption ratios, green procurement ..."; DOMAIN 4:
mandatory consumption ratios for solid-waste products, green procurement. Unlike
``reuse_quota`` (on generators), this instrument is on consumers.

For a receiver f in a covered sector s, over the covered streams K (all in tonnes), its
waste-based content is c_f = used_f / need_f with used_f = sum_{k in K} delivered_in_fk (what
links delivered) and need_f = sum_{k in K} need_fk (its substitutable input needs).

* **Ratio and fine** (year end, 12 steps): fine_f = fine x max(share x need_f - used_f, 0) over
  the compliance year, paid to government (``consumption_ratio_fine``).
* **Green procurement** (monthly): public buyers pay a premium on the recycled-content part of
  the firm's output, premium_f = premium x output_price_s x q_f x c_f, which is
  premium x output_price_s / sum_{k in K} need_sk per tonne used (``green_procurement_premium``,
  from government, within the policy's budget).

Receivers value both in their links (``ByproductMarket.pair_values`` and the monthly realised
gain): a tonne of a covered stream is worth to receiver f, on top of the virgin input it
replaces, the premium per tonne plus the fine it avoids. Planning a new link
(:meth:`MandatoryConsumption.planned_value`), the fine counts on the share of its remaining need
still below the ratio, clip((share x need_f - used_f) / (need_f - used_f), 0, 1); on the month's
deliveries (:meth:`MandatoryConsumption.realised_value`), on the share of them within the
ratio, min(1, share x need_f / used_f).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.catalogue import load_catalogue
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import ConfigError, param

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@dataclass(frozen=True)
class MandatoryConsumptionParams(PolicyParams):
    sectors: list[str] = param(["building_materials"], names="sectors",
                               doc="receiver sectors under the ratio (consumers)")
    streams: list[str] = param(["fly_ash", "slag", "red_mud"], names="streams in t",
                               doc="waste-based inputs that count (streams in t)")
    share: float = param(0.3, lo=0, hi=1,
                         doc="minimum share of the covered input needs met by waste-based inputs each year")
    fine: float = param(50.0, lo=0, hi=100000, unit="yuan/t", doc="fine per tonne of waste-based input short")
    premium: float = param(0.0, lo=0, hi=1, unit="share of output price",
                           doc="green procurement: price premium on the recycled-content part of output")

    def validate(self, path: str) -> None:
        super().validate(path)
        cat = load_catalogue()
        check_names(f"{path}.sectors", self.sectors, cat.sector_keys, "sector")
        check_names(f"{path}.streams", self.streams, cat.stream_keys, "stream")
        for i, key in enumerate(self.streams):
            if cat.streams[key].unit != "t":
                raise ConfigError(f"{path}.streams[{i}]", f"{key!r} is not measured in t; allowed: streams in t")


@register
class MandatoryConsumption(Policy):
    """Consumption ratio fines and green-procurement premiums on receivers (module docstring)."""

    name = "mandatory_consumption"
    Params = MandatoryConsumptionParams

    def __init__(self, params: MandatoryConsumptionParams, model: ParkModel) -> None:
        super().__init__(params, model)
        cat = model.catalogue
        self.stream_mask = np.isin(np.arange(len(cat.stream_keys)), [cat.stream_keys.index(k) for k in params.streams])
        self.sector_mask = np.isin(np.arange(len(cat.sector_keys)), [cat.sector_keys.index(k) for k in params.sectors])
        need = model.need_matrix[:, self.stream_mask].sum(axis=1)  # t per output unit, per sector
        with np.errstate(divide="ignore", invalid="ignore"):
            premium = np.where(need > 0, params.premium * model.sector_price / need, 0.0)
        self.premium_per_t = np.where(self.sector_mask, premium, 0.0)  # yuan per t used, per sector
        self.year_used = np.zeros(0)  # t of covered inputs received this compliance year, per firm row
        self.year_need = np.zeros(0)  # t of covered inputs needed this compliance year

    def _grow(self) -> None:
        extra = self.model.firms.n - len(self.year_used)
        if extra > 0:
            self.year_used = np.r_[self.year_used, np.zeros(extra)]
            self.year_need = np.r_[self.year_need, np.zeros(extra)]

    def _position(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(used, need) of covered inputs this month, t, for firm rows."""
        firms = self.model.firms
        return (firms.delivered_in[rows][:, self.stream_mask].sum(axis=1),
                firms.needs[rows][:, self.stream_mask].sum(axis=1))

    def _values(self, rows: np.ndarray, streams, fine_share: np.ndarray) -> np.ndarray:
        covered = self.sector_mask[self.model.firms.sector[rows]] & self.stream_mask[streams]
        premium = self.premium_per_t[self.model.firms.sector[rows]] if self.remaining > 0 else 0.0
        return np.where(covered, premium + self.params.fine * fine_share, 0.0)

    def planned_value(self, k: int, receivers: np.ndarray) -> np.ndarray:
        """Yuan per t of stream k a new link would be worth to each receiver (premium + fine avoided)."""
        used, need = self._position(receivers)
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(need > used, (self.params.share * need - used) / (need - used), 0.0)
        return self._values(receivers, k, np.clip(room, 0.0, 1.0))

    def realised_value(self, receivers: np.ndarray, streams: np.ndarray) -> np.ndarray:
        """Yuan per t delivered this month through links (receivers[i], streams[i]) worth to the receiver."""
        used, need = self._position(receivers)
        with np.errstate(divide="ignore", invalid="ignore"):
            within = np.where(used > 0, np.minimum(1.0, self.params.share * need / used), 0.0)
        return self._values(receivers, streams, within)

    def regulate(self) -> None:
        """Phase 8 hook: pay the month's premium; at year end fine shortfalls."""
        model, firms = self.model, self.model.firms
        self._grow()
        rows = firms.live
        rows = rows[self.sector_mask[firms.sector[rows]]]
        used, need = self._position(rows)
        self.year_used[rows] += used
        self.year_need[rows] += need
        if self.params.premium > 0:
            self.pay("green_procurement_premium", firms.account[rows], used * self.premium_per_t[firms.sector[rows]])
        if model.steps % 12:
            return
        short = np.maximum(self.params.share * self.year_need[rows] - self.year_used[rows], 0.0)
        model.ledger.transfer("consumption_ratio_fine", firms.account[rows], model.government.account,
                              self.params.fine * short)
        self.year_used[rows] = self.year_need[rows] = 0.0
