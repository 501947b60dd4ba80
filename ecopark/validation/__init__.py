"""The validation report (``docs/validation.md``): can the model's results be trusted?

Nine sections, each computed from fresh runs, each in one module of this package (named in
brackets; ``report.py`` assembles them in this order):

1. **Theory checks** (pass or fail; ``theory.py``, ``lumpy.py``, ``national.py``): the carbon
   price settles at the marginal abatement cost of a constructed frictionless park and its
   abatement costs no more than 2% above the least-cost LP solution; over nine caps and two
   heterogeneity settings the market's abatement and cost stand beside the whole-technology least
   cost (MILP) and its LP bound; a fuzz of random scenarios keeps the invariants; the platform's
   matching reaches the surplus optimum of an independent dense LP on random instances; money,
   allowances and byproduct mass are conserved in every step of a run of every preset; a loan's
   instalments sum to its principal plus the interest at its rate, to the fen.
2. **Policy directions** (``policy.py``): for each instrument, paired runs (same seeds with and without
   the change) give the mean difference of an outcome with a 95% interval, and whether its
   sign is the one economics expects.
3. **Presets vs the documents** (``presets.py``): outcomes of every preset beside the figures of DOMAIN.md
   section 5, with a plain word on where and why they differ.
4. **Ordinary vs green NPL** (``npl.py``): every preset in a demand slump with secured and risk-priced
   lending on and off, pooled NPL ratios beside the documents' figures.
5. **Resource recycling rate by kind** (``recycling.py``): cross-firm reuse, in-plant recycling and sales
   outside the park, and their sum, for every preset beside the documents' 78.4%.
6. **Parameter recovery** (``recovery.py``): calibration (``ecopark calibrate``) on synthetic targets made by
   the model at known parameter values finds them within its reported intervals; and the
   coverage test of those intervals (20 truths on a small spec: the share of 95% intervals
   containing the truth, ``ecopark.experiments.coverage``).
7. **Byproduct exchange** (``exchange.py``): sector margins beside their sourced ranges, the Changzhou
   posted-price rule with paired seeds, the dose-response of every exchange instrument in
   every preset (with the constraint that binds where an effect is null), and the sign tests
   of the published IS-ABM results on links and on cross-firm reuse.
8. **Calibrated presets** (``calibrated.py``): every preset's fitted targets and holdouts (its shipped calibration
   spec) at the calibrated preset, and the cross-park relation of exchange rate and profit margin.
9. **The case library** (``cases.py``): each case of the industry report (``ecopark/scenarios/cases/``) with its
   documented figures beside the simulated ones and what binds where they differ
   (the cases: ``ecopark/experiments/cases.py``; docs/cases.md).

    python -m ecopark.validation [--quick] [--workers N] [--out docs/validation.md]

(``make validate``). It exits with status 1 if a theory check fails. ``--quick`` uses few
seeds and short runs (the test suite runs it so). The experiments a section reads
(``ecopark/experiments/``: exchange, recovery, coverage, preset_fit, cases) stay commands of their
own; the section code, which turns their results into the report's text, is here, and
``common.py`` holds what the sections share.
"""


from ecopark.validation.lumpy import HETEROGENEITY, least_cost, least_cost_over_caps, whole_technology_options
from ecopark.validation.national import NATIONAL_ETS_2025, NATIONAL_MARKET, national_market_path
from ecopark.validation.policy import POLICY_EFFECTS, PolicyEffect
from ecopark.validation.presets import DOMAIN_FIGURES
from ecopark.validation.recycling import RECYCLING_KINDS
from ecopark.validation.report import main
from ecopark.validation.theory import (
    FRICTIONLESS,
    FRICTIONLESS_SECTORS,
    Check,
    dense_lp_optimum,
    frictionless_park,
    installed_abatement,
    mac_steps,
)

__all__ = ["DOMAIN_FIGURES", "FRICTIONLESS", "FRICTIONLESS_SECTORS", "HETEROGENEITY", "NATIONAL_ETS_2025",
           "NATIONAL_MARKET", "POLICY_EFFECTS", "RECYCLING_KINDS", "Check", "PolicyEffect", "dense_lp_optimum",
           "frictionless_park", "installed_abatement", "least_cost", "least_cost_over_caps", "mac_steps", "main",
           "national_market_path", "whole_technology_options"]
