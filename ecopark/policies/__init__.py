"""Policy instruments, one module per instrument family, found by name in REGISTRY."""

from ecopark.policies import (
    cap_and_trade,
    capex_subsidy,
    carbon_tax,
    export_carbon_cost,
    green_loan_loss_cover,
    green_relending,
    intensity_target,
    interest_subsidy,
    landfill_tax,
    mandatory_consumption,
    offset_quota,
    platform,
    posted_price_rule,
    reuse_quota,
    reuse_subsidy,
    risk_compensation_fund,
)
from ecopark.policies.base import REGISTRY, Policy, PolicyParams, register

__all__ = [
    "REGISTRY",
    "Policy",
    "PolicyParams",
    "cap_and_trade",
    "capex_subsidy",
    "carbon_tax",
    "export_carbon_cost",
    "green_loan_loss_cover",
    "green_relending",
    "intensity_target",
    "interest_subsidy",
    "landfill_tax",
    "mandatory_consumption",
    "offset_quota",
    "platform",
    "posted_price_rule",
    "register",
    "reuse_quota",
    "reuse_subsidy",
    "risk_compensation_fund",
]
