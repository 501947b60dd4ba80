"""Policy instruments, one module per instrument family, found by name in REGISTRY."""

from ecopark.policies import capex_subsidy, landfill_tax
from ecopark.policies.base import REGISTRY, Policy, PolicyParams, register

__all__ = ["REGISTRY", "Policy", "PolicyParams", "capex_subsidy", "landfill_tax", "register"]
