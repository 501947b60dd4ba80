"""Intensity targets and dynamic exit (policies/intensity_target.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


def _intensity_policy(model: ParkModel):
    return model.government.policies.get("intensity_target")


@step_metric("index")
def emission_intensity_index(model: ParkModel) -> float:
    """Emissions / business-as-usual emissions this month, summed over live firms in the sectors the
    scenario's intensity_target covers (all live firms without one): the covered firms' emission
    intensity relative to their sectors' catalogue intensity (1 = no cut; 0 if no output)."""
    rows = _live(model)
    policy = _intensity_policy(model)
    if policy is not None:
        rows = rows[policy.covered(rows)]
    bau = model.firms.emissions_bau[rows].sum()
    return float(model.firms.emissions[rows].sum() / bau) if bau > 0 else 0.0


@step_metric("orders/month")
def intensity_orders(model: ParkModel) -> float:
    """Firms ordered this month to upgrade or leave for missing their intensity target
    `miss_years` years running (0 without intensity_target)."""
    policy = _intensity_policy(model)
    return float(policy.orders) if policy is not None and policy.active(model.steps) else 0.0


@step_metric("firms/month")
def intensity_forced_exits(model: ParkModel) -> float:
    """Ordered firms that left the park this month (they could not reach the target with their
    abatement menu, or staying was worth less than the upgrade); also counted in `exits`."""
    policy = _intensity_policy(model)
    return float(policy.forced_exits) if policy is not None and policy.active(model.steps) else 0.0


@step_metric("yuan/tCO2e")
def intensity_credit_price(model: ParkModel) -> float:
    """Clearing price of intensity credits at the last yearly assessment (``IntensityTarget.trade_credits``:
    uniform-price call auction of surpluses, asks 0, against shortfalls); 0 before any trade, without
    the target or without ``credit_trading``."""
    policy = _intensity_policy(model)
    price = getattr(policy, "credit_price", float("nan")) if policy is not None else float("nan")
    return float(price) if np.isfinite(price) else 0.0


@run_metric("tCO2e")
def intensity_credits_traded(model: ParkModel) -> float:
    """Intensity credits traded over the run: sum over assessments of the surplus tonnes sold to firms
    short of their target (``IntensityTarget.credits_traded``; 0 without the target)."""
    policy = _intensity_policy(model)
    return float(getattr(policy, "credits_traded", 0.0)) if policy is not None else 0.0


@run_metric("orders")
def intensity_orders_total(model: ParkModel) -> float:
    """Orders to upgrade or leave over the run."""
    policy = _intensity_policy(model)
    return float(policy.orders_total) if policy is not None else 0.0


@run_metric("firms")
def intensity_upgrades_total(model: ParkModel) -> float:
    """Ordered firms that made the required abatement investment over the run."""
    policy = _intensity_policy(model)
    return float(policy.upgrades_total) if policy is not None else 0.0


@run_metric("firms")
def intensity_forced_exits_total(model: ParkModel) -> float:
    """Ordered firms that left the park over the run."""
    policy = _intensity_policy(model)
    return float(policy.forced_exits_total) if policy is not None else 0.0


@run_metric("share")
def intensity_target_met_share(model: ParkModel) -> float:
    """Yearly assessments in which a covered firm's intensity was at or below its target / all
    assessments after base years (0 if none)."""
    policy = _intensity_policy(model)
    return policy.met / policy.assessments if policy is not None and policy.assessments else 0.0


@run_metric("index", steps=("emission_intensity_index",))
def emission_intensity_index_final(model: ParkModel) -> float:
    """Mean of `emission_intensity_index` over the last 12 recorded months."""
    values = _over_steps(model, "emission_intensity_index")[-12:]
    return float(np.mean(values)) if len(values) else 0.0
