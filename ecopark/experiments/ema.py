"""Adapter to the EMA workbench (exploratory modelling, scenario discovery).

``ema_model`` wraps ``ecopark.run`` as an ``ema_workbench.Model``: uncertainties and levers
are dotted scenario paths with ranges, outcomes are run metrics. EMA parameter names cannot
hold dots, so ``policies.landfill_tax.rate`` becomes ``policies__landfill_tax__rate``.
Needs the optional extra: ``pip install 'ecopark[ema]'``.

    from ema_workbench import perform_experiments
    model = ema_model({"economy.common_shock_sd": (0.0, 0.1)}, {"policies.capex_subsidy.share": (0.0, 0.5)},
                      ["adoption_rate_final", "fiscal_cost"], steps=60)
    experiments, outcomes = perform_experiments(model, scenarios=50, policies=4)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ecopark.experiments.runner import run
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError


def ema_name(path: str) -> str:
    """EMA-safe parameter name of a dotted scenario path."""
    return path.replace(".", "__")


def ema_model(
    uncertainties: Mapping[str, tuple[float, float]],
    levers: Mapping[str, tuple[float, float]],
    outcomes: Sequence[str],
    scenario: str = "generic",
    steps: int = 120,
    seed: int = 0,
    name: str = "ecopark",
):
    """An ``ema_workbench.Model`` running ecopark with the given uncertainties, levers and outcomes."""
    try:
        from ema_workbench import Model, RealParameter, ScalarOutcome
    except ImportError:
        raise ConfigError("ema", "the EMA adapter needs the optional extra: pip install 'ecopark[ema]'") from None
    for i, outcome in enumerate(outcomes):
        if outcome not in RUN_METRICS:
            raise ConfigError(f"outcomes[{i}]", f"unknown run metric {outcome!r}; allowed: {', '.join(RUN_METRICS)}")
    paths = {ema_name(p): p for p in (*uncertainties, *levers)}

    def run_ecopark(**values: float) -> dict[str, float]:
        result = run(scenario, steps=steps, seed=seed, overrides={paths[k]: v for k, v in values.items()})
        return {o: result.metrics[o] for o in outcomes}

    model = Model(name, function=run_ecopark)
    model.uncertainties = [RealParameter(ema_name(p), lo, hi) for p, (lo, hi) in uncertainties.items()]
    model.levers = [RealParameter(ema_name(p), lo, hi) for p, (lo, hi) in levers.items()]
    model.outcomes = [ScalarOutcome(o) for o in outcomes]
    return model
