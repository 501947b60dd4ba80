"""Outcome definitions: one documented function per metric, the only place each is defined.

The metrics live in one module per area; each metric's unit is in its decorator and its formula
in its docstring, and ``docs/metrics.md`` is generated from them (:func:`markdown`), naming the
module that defines each:

==================  ==========================================================================
``registry``        ``Metric``, ``STEP_METRICS``, ``RUN_METRICS``, the decorators, ``steps_needed``,
                    ``compute_run_metrics``, ``markdown``
``park``            firms, output, emissions, byproduct mass, fiscal flows, money; the operator's
                    income by line (``operator_income``)
``exchange``        byproduct links: adoption, gains and their split, match efficiency, negotiation
``carbon``          allowance prices and sessions, the cap, abatement, carbon revenues, the pool
``credit``          loans, rates, defaults, NPL ratios, banks, credit policies, secured lending
``operator``        the operator's infrastructure and services
``heat``            the heat cascade
``recycling``       in-plant recycling and the resource recycling rate
``intensity``       intensity targets and forced exits
``consumption``     mandatory consumption ratios and green procurement
``targets``         DOMAIN 5's platform success rate and cluster margin (``operating_accounts``)
``energy``          electricity, green power, water, value added, the export carbon cost
``decomposition``   the emission identity's run totals and ``emission_decomposition``
``finance``         firm finance and exits
==================  ==========================================================================

The registries list the metrics area by area in the order of ``registry.AREAS`` (the order of
the DataCollector's columns and of ``RunResult.metrics``). Every metric is also an attribute of this package
(``ecopark.metrics.total_sales``, ``from ecopark.metrics import total_sales``), as are the
helpers other modules use.
"""

from __future__ import annotations

from ecopark.metrics import (  # noqa: F401  (each registers its metrics)
    carbon,
    consumption,
    credit,
    decomposition,
    energy,
    exchange,
    finance,
    heat,
    intensity,
    operator,
    park,
    recycling,
    targets,
)
from ecopark.metrics.decomposition import DECOMPOSITION_PARTS, emission_decomposition
from ecopark.metrics.energy import INTERMEDIATE_KINDS
from ecopark.metrics.exchange import BEST_PARTNERS, PAIR_BLOCK, match_surplus
from ecopark.metrics.park import OPERATOR_FINANCING, OPERATOR_INCOME, operator_income
from ecopark.metrics.registry import (
    RUN_METRICS,
    STEP_METRICS,
    Metric,
    compute_run_metrics,
    markdown,
    order_by_area,
    run_metric,
    step_metric,
    steps_needed,
)
from ecopark.metrics.targets import OPERATING_IN, OPERATING_OUT, operating_accounts

order_by_area()
# every metric by its name: ecopark.metrics.<name> is the function its module defines
globals().update({m.name: m.func for m in (*STEP_METRICS.values(), *RUN_METRICS.values())})

__all__ = ["BEST_PARTNERS", "DECOMPOSITION_PARTS", "INTERMEDIATE_KINDS", "OPERATING_IN", "OPERATING_OUT",
           "OPERATOR_FINANCING", "OPERATOR_INCOME", "PAIR_BLOCK", "RUN_METRICS", "STEP_METRICS", "Metric",
           "compute_run_metrics", "emission_decomposition", "markdown", "match_surplus", "operating_accounts",
           "operator_income", "run_metric", "step_metric", "steps_needed", *RUN_METRICS, *STEP_METRICS]
