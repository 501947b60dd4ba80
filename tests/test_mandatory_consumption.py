"""Mandatory consumption ratios and green procurement (policies/mandatory_consumption.py): a receiver
below its mandatory share of waste-based inputs pays the fine; premium and fine enter receivers'
valuation of links, so links form that would not without them."""

import numpy as np
import pytest

import ecopark
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario
from ecopark.schema import ConfigError

MC = "policies.mandatory_consumption"
# A cement plant next to a smelter, no way to meet each other (no platform, no encounters): no links.
ALONE = {"park.firms": {"aluminium": 1, "building_materials": 2}, "park.vacant_plots": 0, "economy.entry_rate": 0.0,
         "byproduct_market.encounters_per_month": 0.0, "policies.cap_and_trade.enabled": False}
# Refineries and greenhouses with the platform: captured CO2 links are marginal (purification capex
# on small greenhouse quantities), so most pairs do not pay without a consumption ratio on CO2.
CO2 = {"park.firms": {"refining": 2, "greenhouse": 6}, "park.size_km": 8.0, "park.vacant_plots": 0,
       "economy.entry_rate": 0.0, "policies.platform.enabled": True, "policies.cap_and_trade.enabled": False}
CO2_RATIO = {f"{MC}.sectors": ["greenhouse"], f"{MC}.streams": ["co2"], f"{MC}.share": 0.5, f"{MC}.fine": 600.0}


def test_a_receiver_below_its_share_pays_the_fine_at_year_end():
    """With no waste-based input at all, each cement plant pays fine x share x its year's covered need."""
    model = ParkModel(load_scenario("generic", {**ALONE, f"{MC}.share": 0.3, f"{MC}.fine": 50.0}), seed=3)
    rows = model.firms.live[model.firms.sector[model.firms.live] == model.catalogue.sector_keys.index(
        "building_materials")]
    streams = np.isin(model.catalogue.stream_keys, ["fly_ash", "slag", "red_mud"])
    need = np.zeros(len(rows))
    for step in range(1, 13):
        model.step()
        need += model.firms.needs[rows][:, streams].sum(axis=1)
        if step < 12:
            assert model.ledger.flow("consumption_ratio_fine") == 0
    assert model.firms.delivered_in[rows].sum() == 0
    paid = model.ledger.paid(model.firms.account[rows], "consumption_ratio_fine")
    np.testing.assert_allclose(paid, 50.0 * 0.3 * need, atol=0.01)
    assert model.ledger.received(model.government.account, "consumption_ratio_fine") == pytest.approx(paid.sum())
    assert model.ledger.total() == 0


def test_no_fine_without_the_policy_or_at_a_zero_share():
    for extra in ({f"{MC}.enabled": False}, {f"{MC}.share": 0.0}):
        r = ecopark.run("generic", steps=12, seed=3, overrides={**ALONE, **extra})
        assert r.metrics["consumption_ratio_fines"] == 0


def test_the_ratio_enters_receivers_link_valuation_and_links_form():
    """Paired seeds: CO2 links to greenhouses with a 50% ratio and a 600 yuan/t fine vs without
    (without the receivers' qualification and off-spec costs, which on seed 0 keep even the ratio's
    links short of paying: tests/test_link_risk.py)."""
    diffs = []
    plain = {**CO2, "byproduct_market.quality_risk": False}
    for seed in range(4):
        base = ecopark.run("generic", steps=12, seed=seed, overrides=plain)
        ratio = ecopark.run("generic", steps=12, seed=seed, overrides={**plain, **CO2_RATIO})
        diffs.append((ratio.links["stream"] == "co2").sum() - (base.links["stream"] == "co2").sum())
        assert (ratio.links["expected_receiver"] > 0).all()
    assert min(diffs) > 0, diffs


def test_green_procurement_pays_the_premium_on_recycled_content():
    """premium x output price / covered need per unit of output, per tonne used, paid monthly by government."""
    over = {**CO2, **CO2_RATIO, f"{MC}.premium": 0.05}
    model = ParkModel(load_scenario("generic", over), seed=1)
    for _ in range(6):
        model.step()
    rows = model.firms.live
    cat = model.catalogue
    k = cat.stream_keys.index("co2")
    s = cat.sector_keys.index("greenhouse")
    greenhouses = rows[model.firms.sector[rows] == s]
    used = model.firms.delivered_in[greenhouses, k]
    assert used.sum() > 0
    per_t = 0.05 * model.sector_price[s] / model.need_matrix[s, k]
    expected = used * per_t
    paid = model.ledger.flow("green_procurement_premium", step=6)
    assert paid == pytest.approx(expected.sum(), abs=0.01 * len(greenhouses))
    # the premium is recycled-content-proportional: 5% of the price on the share of output with waste input
    content = used / model.firms.needs[greenhouses, k]
    np.testing.assert_allclose(expected, 0.05 * model.sector_price[s] * model.firms.output[greenhouses] * content)


def test_bad_keys_are_rejected():
    with pytest.raises(ConfigError, match="streams"):
        load_scenario("generic", {f"{MC}.streams": ["waste_heat"]})
    with pytest.raises(ConfigError, match="sectors"):
        load_scenario("generic", {f"{MC}.sectors": ["shipbuilding"]})
