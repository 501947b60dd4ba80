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

**Additionality.** A link avoids emissions only against what the supplier would otherwise
do with the units, stream by stream and firm by firm (:func:`additional_share`): units of a
stream sold outside the park (disposal cost < 0: bran and meal to feed traders, scrap to
scrap dealers) would be reused anyway, and units the supplier's own in-plant recycling
units would have recycled are recycled anyway; only units that would be disposed of (or
vented) count. So a delivery of x units of stream k by supplier s credits

    L = x * co2_k * a_sk,   a_sk = [d_k >= 0] * (1 - r_sk)

with r_sk the share of the delivered units the supplier's own units lose
(``InPlantRecycling``: (min(C, G) - min(C, max(G - D, 0))) / D realised; min(C / open, 1)
planned). The same share scales the carbon value a link is priced and settled with
(``ByproductMarket.pair_values``, ``_settle``), so pool credits, offsets against covered
firms' obligations and the carbon value in link gains all stand on additional tonnes.
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
    """Share of BAU emissions left for technologies to abate this month: 1 - L_f / b_f (1 if b_f = 0; b_f finite)."""
    firms = model.firms
    bau = firms.emissions_bau[rows]
    positive = bau > 0
    # clip(L, 0, b) as min(max(L, 0), b): the same where b > 0 (they differ only in the sign of a zero, which
    # 1 - L / b drops); b where b > 0 else 1 as the divisor: no division by 0 to silence
    return np.where(positive, 1.0 - np.minimum(np.maximum(firms.link_avoided[rows], 0.0), bau)
                    / np.where(positive, bau, 1.0), 1.0)


def _sold_outside(model: ParkModel, streams: np.ndarray | int) -> np.ndarray:
    """Whether the counterfactual of each stream is a sale outside the park (disposal cost < 0)."""
    return model.stream_disposal_cost[streams] < 0


def additional_share(model: ParkModel, suppliers: np.ndarray, streams: np.ndarray) -> np.ndarray:
    """a_sk of this month's deliveries of links (suppliers[i], streams[i]) (module docstring): 0 for a
    stream sold outside, else 1 - the share of the delivered units the supplier's own in-plant
    recycling units lost (they would have recycled them). Call after ``delivered_out`` is booked."""
    suppliers, streams = np.asarray(suppliers), np.asarray(streams)
    firms = model.firms
    cap = model.recycling.capacity(suppliers)[np.arange(len(suppliers)), streams]
    gen, out = firms.generated[suppliers, streams], firms.delivered_out[suppliers, streams]
    lost = np.minimum(cap, gen) - np.minimum(cap, np.maximum(gen - out, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        recycled = np.where(out > 0, np.clip(lost / out, 0.0, 1.0), 0.0)
    return np.where(_sold_outside(model, streams), 0.0, 1.0 - recycled)


def additional_share_planned(model: ParkModel, k: int, suppliers: np.ndarray) -> np.ndarray:
    """a_sk a new link of stream k expects from each of ``suppliers``: 0 for a stream sold outside,
    else 1 - min(C_sk / open_sk, 1), with C the capacity of the supplier's own recycling units and
    open its normal generation not delivered through links this month (as
    ``InPlantRecycling.forgone_planned``)."""
    if _sold_outside(model, k):
        return np.zeros(len(suppliers))
    cap = model.recycling.capacity(suppliers)[:, k]
    if not cap.any():
        return np.ones(len(suppliers))
    firms = model.firms
    s = firms.sector[suppliers]
    normal = (model.sector_capacity[s] * firms.size[suppliers] * model.scenario.economy.base_utilisation
              * model.yield_matrix[s, k])
    open_supply = np.maximum(normal - firms.delivered_out[suppliers, k], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        recycled = np.where(open_supply > 0, np.minimum(cap / open_supply, 1.0), 1.0)
    return 1.0 - np.where(cap > 0, recycled, 0.0)
