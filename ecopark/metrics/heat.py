"""The heat cascade: low-grade heat passed on and chains of three firms (agents/heat_cascade.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@step_metric("GJ/month")
def heat_passed_on(model: ParkModel) -> float:
    """Low-grade heat generated this month by firms passing on heat they received (heat cascade)."""
    return float(model.heat_cascade.passed_on.sum())


@run_metric("GJ", steps=("heat_passed_on",))
def heat_passed_on_total(model: ParkModel) -> float:
    """Sum over steps of `heat_passed_on`."""
    return float(sum(_over_steps(model, "heat_passed_on")))


@run_metric("chains")
def heat_cascade_chains_final(model: ParkModel) -> float:
    """Distinct firm triples (a, b, c) with active links a -> b in a stream with a cascade yield and
    b -> c in the stream it cascades into (e.g. smelter -waste heat-> greenhouse -low-grade heat->
    livestock house) in the last month: exchange chains of three firms."""
    links, cascade = model.byproduct_market.links, model.heat_cascade.matrix
    live = links.live
    s, r, k = links.supplier[live], links.receiver[live], links.stream[live]
    into = cascade[k].any(axis=1)  # links whose stream leaves heat to pass on
    out = cascade[:, k].any(axis=0)  # links carrying passed-on heat
    a, b, i = s[into], r[into], k[into]
    b2, c, j = s[out], r[out], k[out]
    ai, ci = np.nonzero((b[:, None] == b2[None, :]) & (cascade[i][:, j] > 0) & (a[:, None] != c[None, :]))
    return float(len({(int(a[x]), int(b[x]), int(c[y])) for x, y in zip(ai, ci, strict=True)}))
