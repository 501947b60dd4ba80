"""Emissions accounting of a month: link reductions first, technologies on what is left.

For firm f in a month, with business-as-usual emissions b_f (output x sector intensity),
link-avoided emissions L_f credited to it by byproduct reuse (``markets/byproduct.py``)
and installed abatement share S_f (``agents/abatement.py``)::

    L_f = min(L_f, b_f)                   a link cannot avoid more than the firm emits
    A_f = S_f x (b_f - L_f)               technologies abate the emissions links leave
    e_f = b_f - L_f - A_f  (>= 0)         emissions of the month

so L_f + A_f <= b_f in every firm-month: no tonne is avoided twice, and reductions
credited to the carbon pool (``CarbonMarket.collect_pool_credits``: L_f + A_f of firms
outside the cap) never exceed what the firm would have emitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel


def settle_emissions(model: ParkModel, rows: np.ndarray) -> None:
    """Set ``link_avoided``, ``abated`` and ``emissions`` (tCO2e/month) of ``rows`` by the rule above."""
    firms = model.firms
    bau = firms.emissions_bau[rows]
    avoided = np.clip(firms.link_avoided[rows], 0.0, bau)
    firms.link_avoided[rows] = avoided
    firms.abated[rows] = model.abatement.installed_share(rows) * (bau - avoided)
    firms.emissions[rows] = np.maximum(bau - avoided - firms.abated[rows], 0.0)


def net_share(model: ParkModel, rows: np.ndarray) -> np.ndarray:
    """Share of BAU emissions left for technologies to abate this month: 1 - L_f / b_f (1 if b_f = 0)."""
    firms = model.firms
    bau = firms.emissions_bau[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bau > 0, 1.0 - np.clip(firms.link_avoided[rows], 0.0, bau) / bau, 1.0)
