"""Fast paths of the model's queries (issue 28): each gives what the computation it replaces gives."""

import numpy as np

from ecopark.model import RANDOM_PROCESSES, ParkModel
from ecopark.scenario import load_scenario


def test_policy_found_once_a_month_is_the_instrument_active_that_month():
    # instruments starting and ending inside the run: model.policy (kept for the month) must be the instrument
    # whose own Policy.active says it applies, month by month, before and after the model steps
    model = ParkModel(load_scenario("generic", {"policies.capex_subsidy.start": 3, "policies.capex_subsidy.end": 6,
                                                "policies.landfill_tax.start": 5}), seed=1)
    names = [*model.government.policies, "no_such_instrument"]
    seen = set()
    for _ in range(9):
        for name in names:
            p = model.government.policies.get(name)
            expected = p if p is not None and p.active(model.steps) else None
            assert model.policy(name) is expected
            seen.add((name, expected is None))
        model.step()
    assert ("capex_subsidy", True) in seen and ("capex_subsidy", False) in seen
    assert ("landfill_tax", True) in seen and ("landfill_tax", False) in seen


def test_draws_are_the_generator_default_rng_seeds():
    model = ParkModel(load_scenario("generic"), seed=4)
    for step in (0, 1, 37):
        model.steps = step
        for i, process in enumerate(RANDOM_PROCESSES):
            plain = np.random.default_rng([model._draws_entropy, i, step])
            assert (model.draws(process).random(5) == plain.random(5)).all()
