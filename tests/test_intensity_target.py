"""Intensity targets and dynamic exit (policies/intensity_target.py): a covered firm that misses its
yearly target ``miss_years`` years running is ordered to upgrade or leave."""

import numpy as np
import pytest

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario
from ecopark.schema import ConfigError

# Two cement plants, no links, no carbon price, no entry: nothing cuts their intensity unless ordered.
# Their own demand as volatile as before generic's calibration (0.05): at the calibrated 0.13 one plant
# has a bad year before its order, values staying below the upgrade's cost and leaves (a forced exit:
# the rule at work, but not the profitable plants these tests follow).
QUIET = {"park.vacant_plots": 0, "economy.entry_rate": 0.0, "byproduct_market.encounters_per_month": 0.0,
         "policies.cap_and_trade.enabled": False, "economy.common_shock_sd": 0.0, "economy.firm_shock_sd": 0.05}


def _run(firms: dict, months: int, **target) -> ParkModel:
    over = {**QUIET, "park.firms": firms, **{f"policies.intensity_target.{k}": v for k, v in target.items()}}
    if not target:
        over["policies.intensity_target.enabled"] = True
    model = ParkModel(load_scenario("generic", over), seed=2)
    for _ in range(months):
        model.step()
    return model


def test_a_firm_missing_its_target_two_years_running_is_ordered_to_upgrade():
    """Base year 1 (step 12), targets missed in years 2 and 3: ordered at step 36, not before; a
    profitable cement plant makes the cheapest upgrade that reaches next year's target (clinker
    substitution, 12% >= the 8.7% next year asks) and stays."""
    model = _run({"building_materials": 2}, 35, reduction=0.03, miss_years=2)
    policy = model.government.policies["intensity_target"]
    portfolio = model.abatement
    rows = model.firms.live
    assert policy.orders_total == 0 and not portfolio.installed[rows].any()
    assert (policy.misses[rows] == 1).all() and (policy.years[rows] == 1).all()
    model.step()  # step 36: second miss
    assert policy.orders_total == 2 and policy.upgrades_total == 2 and policy.forced_exits_total == 0
    installed = portfolio.installed[rows]
    names = np.array(portfolio.names)
    assert [list(names[i]) for i in installed] == [["clinker substitution and kiln efficiency"]] * 2
    assert (model.firms.alive[rows]).all() and (policy.misses[rows] == 0).all()
    assert model.ledger.total() == 0


def test_when_staying_is_worth_less_than_the_upgrade_the_firm_leaves():
    """Owners who value staying over one month only (horizon_months = 1) would rather close."""
    model = _run({"building_materials": 2}, 36, reduction=0.03, miss_years=2, horizon_months=1)
    policy = model.government.policies["intensity_target"]
    assert policy.orders_total == 2 and policy.forced_exits_total == 2 and policy.upgrades_total == 0
    assert len(model.firms.live) == 0
    assert model.datacollector.model_vars["intensity_forced_exits"][-1] == 2
    assert model.datacollector.model_vars["exits"][-1] == 2
    assert model.ledger.total() == 0


def test_a_firm_whose_menu_cannot_reach_the_target_is_ordered_out():
    """A copper smelter's only technology abates 15%; a 30% cut in one year is out of its reach."""
    model = _run({"copper": 2}, 24, reduction=0.3, miss_years=1)
    policy = model.government.policies["intensity_target"]
    assert policy.orders_total == 2 and policy.forced_exits_total == 2
    assert not model.firms.alive[:2].any()


def test_without_the_policy_nobody_is_ordered_and_intensity_stays():
    model = _run({"building_materials": 2}, 36, enabled=False)
    rows = model.firms.live
    assert len(rows) == 2 and not model.abatement.installed[rows].any()
    assert sum(model.datacollector.model_vars["intensity_orders"]) == 0
    assert model.datacollector.model_vars["emission_intensity_index"][-1] == pytest.approx(1.0)


def test_upgraded_firms_meet_next_years_target():
    model = _run({"building_materials": 2}, 48, reduction=0.03, miss_years=2)
    policy = model.government.policies["intensity_target"]
    assert policy.upgrades_total == 2
    rows = model.firms.live
    assert (policy.misses[rows] == 0).all()  # year 4 assessed at step 48: met
    assert policy.met == 2 and policy.assessments == 6


def test_bad_keys_are_rejected():
    with pytest.raises(ConfigError, match="covered_sectors"):
        load_scenario("generic", {"policies.intensity_target.covered_sectors": ["shipbuilding"]})
    with pytest.raises(ConfigError, match="reduction"):
        load_scenario("generic", {"policies.intensity_target.reduction": 0.9})
