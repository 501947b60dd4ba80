import pytest

from ecopark import ConfigError, cli
from ecopark.scenario import apply_overrides, load_scenario, parse_scenario, presets, read_scenario_data


def generic_data():
    return read_scenario_data("generic")[0]


def test_generic_preset_loads_with_typed_values():
    assert "generic" in presets()
    sc = load_scenario("generic")
    assert sc.park.horizon == 120
    assert sum(sc.park.firms.values()) == 58
    assert sc.policies["landfill_tax"].rate == 25.0
    assert sc.economy.discount_rate == (0.06, 0.279297673231)  # upper end calibrated (calibrations/generic.toml)


def test_dotted_overrides_set_values_and_create_tables():
    sc = load_scenario("generic", ["policies.landfill_tax.rate=80", "banks[0].capital=1e9",
                                   "policies.landfill_tax.by_stream.red_mud=5"])
    assert sc.policies["landfill_tax"].rate == 80.0
    assert sc.policies["landfill_tax"].by_stream == {"red_mud": 5.0}
    assert sc.banks[0].capital == 1e9
    sc = load_scenario("generic", {"policies.landfill_tax.enabled": False})
    assert sc.policies["landfill_tax"].enabled is False


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        (["parkk.size_km=3"], "parkk", "unknown section"),
        (["park.sise_km=3"], "park.sise_km", "unknown key"),
        (["park.size_km=\"big\""], "park.size_km", "expected float"),
        (["park.size_km=-1"], "park.size_km", "out of range"),
        (["economy.exit_after_months=2.5"], "economy.exit_after_months", "whole number"),
        (["park.firms.steelworks=3"], "park.firms.steelworks", "unknown sector"),
        (["policies.carbon_magic.rate=3"], "policies.carbon_magic", "unknown policy"),
        (["policies.landfill_tax.rate=-5"], "policies.landfill_tax.rate", "allowed: a number from 0"),
        (["policies.landfill_tax.start=10", "policies.landfill_tax.end=5"], "policies.landfill_tax.end", "before"),
        (["policies.landfill_tax.by_stream.gold=5"], "policies.landfill_tax.by_stream.gold", "unknown stream"),
        (["policies.capex_subsidy.share=1.5"], "policies.capex_subsidy.share", "from 0 to 1"),
        (["policies.capex_subsidy.purposes=[\"bribes\"]"], "policies.capex_subsidy.purposes[0]", "one of"),
        (["economy.discount_rate=[0.2, 0.1]"], "economy.discount_rate", "exceeds"),
        (["policies.landfill_tax.enabled=3"], "policies.landfill_tax.enabled", "true or false"),
        (["banks[3].capital=1"], "banks[3].capital", "no entry"),
        (["novalue"], "novalue", "section.key=value"),
    ],
)
def test_malformed_scenarios_name_the_key(overrides, key, fragment):
    with pytest.raises(ConfigError) as err:
        load_scenario("generic", overrides)
    assert err.value.key == key
    assert fragment in str(err.value)


def test_a_park_without_firms_and_bad_files_are_rejected(tmp_path):
    data = apply_overrides(generic_data(), {"park.firms": {}})
    with pytest.raises(ConfigError, match=r"park\.firms: the park needs at least one firm"):
        parse_scenario(data)
    bad = tmp_path / "bad.toml"
    bad.write_text("[park\nname=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="neither a preset"):
        load_scenario(tmp_path / "missing.toml")


def test_cli_reports_config_errors_with_status_2_and_no_traceback(capsys):
    status = cli.main(["run", "--steps", "2", "--set", "policies.landfill_tax.rate=-5"])
    err = capsys.readouterr().err
    assert status == 2
    assert "policies.landfill_tax.rate" in err and "Traceback" not in err
    assert cli.main(["run", "--steps", "0"]) == 2
    assert "steps" in capsys.readouterr().err
