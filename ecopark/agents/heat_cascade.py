"""Heat cascade: a firm that receives steam or medium-grade heat passes on the low-grade heat left.

Heat comes in grades, each a stream of the catalogue: process steam (high temperature, t),
``waste_heat`` (medium grade, GJ) and ``low_grade_heat`` (GJ). After use, each unit of
stream i a firm received through links leaves ``cascade_ij`` units of stream j (the
``cascade`` yields of ``ecopark/data/streams.toml``: 0.6 GJ of low-grade heat per t of steam,
0.3 GJ per GJ of medium-grade heat). The firm generates it like a byproduct of its own: it can
deliver it to a greenhouse, a livestock house or a digester through a link of stream j, or
release it (disposal at the stream's cost, 0 for heat), so a smelter's heat can reach a
second greenhouse through the first (a chain of three firms).

    generated_fj(t) += sum_i delivered_in_fi(t-1) * cascade_ij     (:meth:`HeatCascade.pass_on`)
    normal supply_fj += sum_i committed_in_fi * cascade_ij        (:meth:`HeatCascade.supply`)

Heat received in month t-1 is passed on in month t (a one-month lag, so that each month's
link deliveries clear in one pass); links of stream j are sized, like every link, on normal
operation: the receiver's committed intake of stream i, of which ``contract_share`` is
offered, like own generation (``ByproductMarket.normal_supply``). Byproduct balance per stream still
holds: generated (own production + passed on) = delivered + recycled + disposed.
``park.heat_cascade = false`` switches the cascade off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class HeatCascade:
    """The catalogue's cascade yields applied to what firms receive through links."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        cat = model.catalogue
        self.matrix = cat.cascade_matrix() if model.scenario.park.heat_cascade else np.zeros(
            (len(cat.streams), len(cat.streams)))
        self.pending = np.zeros((0, len(cat.streams)))  # (firms, streams) to pass on next month
        self.passed_on = np.zeros(len(cat.streams))  # this month, units per stream

    def supply(self, received: np.ndarray) -> np.ndarray:
        """Units per stream passed on for ``received`` (firms x streams) units received."""
        return received @ self.matrix

    def remember(self) -> None:
        """End of phase 3: what firms received this month, to pass on next month."""
        firms = self.model.firms
        self.pending = self.supply(firms.delivered_in[: firms.n])

    def pass_on(self) -> None:
        """Phase 2 (after production): live firms generate the heat passed on from last month."""
        firms = self.model.firms
        rows = firms.live
        rows = rows[rows < len(self.pending)]  # firms that entered this month received nothing
        passed = self.pending[rows]
        firms.generated[rows] += passed
        self.passed_on = passed.sum(axis=0)
