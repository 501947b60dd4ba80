"""The validation section on the calibrated presets: fit and holdout side by side, the binding
constraint of a figure out of reach, and the cross-park relation (ecopark/experiments/preset_fit.py)."""

import numpy as np
import pytest

import ecopark
from ecopark.experiments import preset_fit
from ecopark.model import ParkModel


def test_every_preset_has_a_shipped_spec_and_the_platform_target_where_the_platform_is_on():
    for preset in preset_fit.CALIBRATED_PRESETS:
        spec = preset_fit.shipped_spec(preset)
        platform = ecopark.load_scenario(preset).policies.get("platform")
        platform_on = platform is not None and platform.enabled
        metrics = {t.metric for t in spec.targets}
        assert ("platform_success_rate" in metrics) == platform_on, preset


def test_the_chain_ceiling_bounds_the_chains_a_park_forms():
    for preset in ("qinzhou", "liaocheng"):
        ceiling = preset_fit.chain_ceiling(preset)
        model = ParkModel(ecopark.load_scenario(preset, {"policies.platform.enabled": True}), seed=0)
        for _ in range(24):
            model.step()
        chains = ecopark.metrics.exchange_chains_final(model)
        assert 0 < chains <= ceiling, (preset, chains, ceiling)
    # a sector added never lowers it; a lone firm cannot supply its own sector
    base = ecopark.load_scenario("qinzhou")
    more = ecopark.load_scenario("qinzhou", {"park.firms.greenhouse": 2})
    assert preset_fit.chain_ceiling(more) > preset_fit.chain_ceiling(base)
    assert preset_fit.chain_ceiling(ecopark.load_scenario("generic", {"park.firms": {"data_centre": 1}})) == 0


def test_the_relation_recovers_a_known_slope_pooled_and_within_parks():
    rng = np.random.default_rng(0)
    runs = []
    for preset, level in (("a", 0.0), ("b", 0.3), ("c", 0.6)):
        x = level + rng.uniform(0, 0.1, 30)
        y = 0.05 + 0.5 * level + 0.23 * (x - level) + rng.normal(0, 1e-4, 30)  # mix 0.5, within 0.23
        runs += [{"preset": preset, preset_fit.EXCHANGE_RATE: a, preset_fit.PROFIT_MARGIN: b}
                 for a, b in zip(x, y, strict=True)]
    rel = preset_fit.relation(runs)
    assert rel["within"][0] == pytest.approx(0.23, abs=0.01) and rel["within"][1] < 0.01
    assert rel["pooled"][0] == pytest.approx(0.5, abs=0.03)
    assert rel["pooled"][2] == 90


def test_section_shows_fit_and_holdout_side_by_side_and_what_binds():
    from ecopark.validation.calibrated import section  # the report text of validation section 8

    lines = section(quick=True, workers=1, presets=("qinzhou",))
    text = "\n".join(lines)
    spec = preset_fit.shipped_spec("qinzhou")
    for target in spec.targets:
        assert f"| `qinzhou` | fitted | {target.label} (`{target.metric}`)" in text
    for target in spec.holdout:
        assert f"| `qinzhou` | holdout | {target.label} (`{target.metric}`)" in text
    chains = next(line for line in lines if "`exchange_chains_final`" in line)
    assert "**no**" in chains and f"at most {preset_fit.chain_ceiling('qinzhou')} chains" in chains
    assert "| pooled across presets | 0.23 |" in text and "| within presets | 0.23 |" in text


def test_a_free_parameter_at_the_edge_of_its_range_is_named():
    from ecopark.experiments.calibration_spec import load_calibration

    def spec(low, high):
        return load_calibration({"scenario": "qinzhou", "free": {"economy.firm_shock_sd": [low, high]},
                                 "targets": [{"metric": "exchange_chains_final", "observed": 5, "tolerance": 1}]})
    value = ecopark.load_scenario("qinzhou").economy.firm_shock_sd
    assert preset_fit.at_range_edge(spec(value / 2, value * 2)) == []  # a third of the way up
    assert preset_fit.at_range_edge(spec(value / 2, value * 1.01)) == [
        f"`economy.firm_shock_sd` = {value:.4g} [{value / 2:g}, {value * 1.01:g}]"]
