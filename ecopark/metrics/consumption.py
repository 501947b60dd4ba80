"""Mandatory consumption ratios and green procurement (policies/mandatory_consumption.py)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@lru_cache(maxsize=1)
def _default_consumption_masks() -> tuple[np.ndarray, np.ndarray]:
    from ecopark.catalogue import load_catalogue
    from ecopark.policies.mandatory_consumption import MandatoryConsumptionParams

    cat, params = load_catalogue(), MandatoryConsumptionParams()
    return np.isin(cat.sector_keys, params.sectors), np.isin(cat.stream_keys, params.streams)


def _consumption_masks(model: ParkModel) -> tuple[np.ndarray, np.ndarray]:
    """(sector mask, stream mask) of the scenario's mandatory_consumption, or of its defaults."""
    policy = model.government.policies.get("mandatory_consumption")
    return _default_consumption_masks() if policy is None else (policy.sector_mask, policy.stream_mask)


@step_metric("share")
def waste_input_content(model: ParkModel) -> float:
    """For live receivers in the sectors under mandatory_consumption (its defaults if the scenario has
    none: building materials; fly ash, slag, red mud): t of the covered streams delivered through
    links / t of them needed, this month (0 if none needed)."""
    sectors, streams = _consumption_masks(model)
    rows = _live(model)
    rows = rows[sectors[model.firms.sector[rows]]]
    need = model.firms.needs[rows][:, streams].sum()
    return float(model.firms.delivered_in[rows][:, streams].sum() / need) if need > 0 else 0.0


@run_metric("share", steps=("waste_input_content",))
def waste_input_content_mean(model: ParkModel) -> float:
    """Mean over steps of `waste_input_content`."""
    values = _over_steps(model, "waste_input_content")
    return float(np.mean(values)) if len(values) else 0.0


@run_metric("yuan")
def consumption_ratio_fines(model: ParkModel) -> float:
    """Fines receivers paid over the run for waste-based inputs below their mandatory share."""
    return model.ledger.flow("consumption_ratio_fine")


@run_metric("yuan")
def green_procurement_paid(model: ParkModel) -> float:
    """Green-procurement premiums government paid over the run on products with recycled content."""
    return model.ledger.flow("green_procurement_premium")
