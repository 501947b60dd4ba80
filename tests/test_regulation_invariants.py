"""Money, allowances and byproduct mass stay balanced in every preset with in-plant recycling,
intensity targets (tight enough to order upgrades and exits) and mandatory consumption with
green procurement all in force."""

import numpy as np
import pytest

import ecopark
from ecopark.scenario import load_scenario, presets

ALL_ON = {
    "recycling.enabled": True,
    "policies.intensity_target.enabled": True, "policies.intensity_target.reduction": 0.1,
    "policies.intensity_target.miss_years": 1,
    "policies.intensity_target.credit_trading": False,  # orders and exits, not credits (tests/test_intensity_target.py)
    "policies.mandatory_consumption.enabled": True, "policies.mandatory_consumption.premium": 0.05,
    "policies.mandatory_consumption.streams": ["fly_ash", "slag", "red_mud", "co2", "spent_acid"],
    "policies.mandatory_consumption.sectors": ["building_materials", "greenhouse", "food_feed", "chlor_alkali"],
}


@pytest.mark.parametrize("preset", presets())
def test_invariants_hold_with_every_17b_mechanism_on(preset):
    result = ecopark.run(preset, steps=36, seed=7, overrides=ALL_ON)
    ts, s, m = result.timeseries, result.streams, result.metrics
    assert (ts["money_total"] == 0).all()
    assert (ts["allowance_balance_total"] == 0).all()
    np.testing.assert_allclose(s["generated"], s["delivered"] + s["recycled"] + s["disposed"], rtol=1e-12, atol=1e-6)
    assert (s["sold_outside"] <= s["disposed"] + 1e-6).all()
    assert (s[["delivered", "recycled", "disposed", "sold_outside"]] >= 0).all().all()
    # the mechanisms acted: a 10% yearly cut is missed by someone, and some receiver is short or paid
    assert m["intensity_orders_total"] > 0
    assert m["intensity_upgrades_total"] + m["intensity_forced_exits_total"] <= m["intensity_orders_total"]
    assert m["consumption_ratio_fines"] + m["green_procurement_paid"] > 0
    assert ts["intensity_forced_exits"].sum() <= ts["exits"].sum()
    # every yuan of the new kinds went between the parties the kinds name
    ledger = result.ledger.set_index("kind")
    for kind, payer, payee in (("consumption_ratio_fine", "enterprise", "government"),
                               ("green_procurement_premium", "government", "enterprise"),
                               ("recycling_opex", "enterprise", "outside"),
                               ("recycling_revenue", "outside", "enterprise"),
                               ("recapitalisation", "outside", "enterprise")):
        if kind in ledger.index:
            rows = ledger.loc[[kind]]
            assert set(rows["payer"]) == {payer} and set(rows["payee"]) == {payee}, kind


def test_liaocheng_encodes_mandatory_consumption_and_intensity_targets():
    liaocheng = load_scenario("liaocheng")
    consumption = liaocheng.policies["mandatory_consumption"]
    assert consumption.enabled and {"red_mud", "slag"} <= set(consumption.streams)
    assert consumption.sectors == ["building_materials"] and consumption.share > 0 and consumption.premium > 0
    target = liaocheng.policies["intensity_target"]
    assert target.enabled and target.reduction == 0.03 and {"aluminium", "copper"} <= set(target.covered_sectors)
