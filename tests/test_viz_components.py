"""Every browser-view component built against a real model, without a browser."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import solara

from ecopark.scenario import presets
from ecopark.viz import components as vc


@pytest.fixture(scope="module")
def model():
    m = vc.SteerableParkModel(seed=3)
    for _ in range(4):
        m.step()
    return m


def test_park_map_shows_every_live_firm_sized_by_output(model):
    option = vc.park_map_option(model)
    json.dumps(option, allow_nan=False)  # what the browser receives is valid JSON
    firm_series = [s for s in option["series"] if s["type"] == "scatter" and s["name"] != "vacant plot"]
    points = [p for s in firm_series for p in s["data"]]
    assert len(points) == len(model.firms.live)
    sectors = {model.catalogue.sector_keys[s] for s in model.firms.sector[model.firms.live]}
    assert {s["name"] for s in firm_series} == sectors  # one legend entry per sector
    sizes = np.array([p["symbolSize"] for p in points])
    output = np.array([model.firms.output[int(p["name"].split()[1])] for p in points])
    assert sizes.max() > sizes.min()
    assert np.all(np.diff(sizes[np.argsort(output)]) >= -1e-9)  # bigger output, bigger dot
    xy = np.array([p["value"] for p in points])
    rows = [int(p["name"].split()[1]) for p in points]
    assert np.allclose(xy, np.c_[model.firms.x[rows], model.firms.y[rows]])
    assert option["tooltip"]["trigger"] == "item" and "output" in points[0]["name"]


def test_park_map_shrinks_dots_in_a_large_park():
    """200 firms: the largest dot is 6 + 24 sqrt(60/200) px, not the 30 px of a 60-firm park."""
    from ecopark.scenario import load_scenario, read_scenario_data

    raw, _ = read_scenario_data("generic")
    counts = raw["park"]["firms"]
    scale = 200 / sum(counts.values())
    overrides = {f"park.firms.{k}": max(1, round(v * scale)) for k, v in counts.items()}
    big = vc.ParkModel(load_scenario("generic", overrides), seed=0)
    big.step()
    sizes = [p["symbolSize"] for s in vc.park_map_option(big)["series"]
             if s["type"] == "scatter" and s["name"] != "vacant plot" for p in s["data"]]
    n = len(big.firms.live)
    assert n >= 190
    assert max(sizes) == pytest.approx(6 + 24 * np.sqrt(60 / n), abs=0.1)


def test_park_map_draws_links_by_stream_with_width_by_flow(model):
    stream = next(iter(model.catalogue.streams))
    live = model.firms.live

    class Market:
        def link_table(self):
            return pd.DataFrame({"supplier": live[:2], "receiver": live[2:4], "stream": [stream, stream],
                                 "flow": [1.0, 10.0], "surplus": [5.0, 50.0]})

    model.byproduct_market = Market()
    try:
        option = vc.park_map_option(model)
    finally:
        del model.byproduct_market
    lines = [s for s in option["series"] if s["type"] == "lines"]
    assert [s["name"] for s in lines] == [f"link: {stream}"]
    widths = [d["lineStyle"]["width"] for d in lines[0]["data"]]
    assert len(widths) == 2 and widths[1] > widths[0]
    first = lines[0]["data"][0]["coords"]
    assert first == [[model.firms.x[live[0]], model.firms.y[live[0]]], [model.firms.x[live[2]], model.firms.y[live[2]]]]


def test_park_map_of_a_real_run_has_link_lines():
    m = vc.SteerableParkModel(seed=1, platform_enabled=True)
    for _ in range(12):
        m.step()
    lines = [s for s in vc.park_map_option(m)["series"] if s["type"] == "lines"]
    assert sum(len(s["data"]) for s in lines) == len(m.byproduct_market.link_table()) > 0


def test_every_chart_draws_collected_series_and_notes_missing_ones(model):
    collected = model.datacollector.model_vars
    for chart in vc.CHARTS:
        option = vc.chart_option(model, chart)
        json.dumps(option, allow_nan=False)
        present = [c for c in chart.all_columns if c in collected]
        assert [s["name"] for s in option["series"]] == [chart.all_columns[c] for c in present]
        assert ("not collected" in option["title"]["subtext"]) == (len(present) < len(chart.all_columns))
        assert option["title"]["text"] and all(axis["name"] for axis in option["yAxis"])
        assert len(option["yAxis"]) == (2 if chart.right else 1)
        assert all(s.get("stack") == ("total" if chart.stacked else None) for s in option["series"])
    emissions_chart = next(c for c in vc.CHARTS if "emissions" in c.columns)
    series = vc.chart_option(model, emissions_chart)["series"][0]
    assert [v for _, v in series["data"]] == pytest.approx(list(collected["emissions"]))
    assert [m for m, _ in series["data"]] == list(range(1, len(collected["emissions"]) + 1))


def test_levers_become_scenario_overrides():
    m = vc.SteerableParkModel(capex_subsidy_share=0.3, landfill_tax_rate=80.0)
    assert m.config_error is None
    assert m.scenario.policies["capex_subsidy"].share == pytest.approx(0.3)
    assert m.scenario.policies["landfill_tax"].rate == pytest.approx(80.0)


def test_levers_follow_the_preset_and_do_not_create_instruments_at_rest():
    m = vc.SteerableParkModel(**{lever.name: lever.widget["value"] for lever in vc.LEVERS})
    assert m.config_error is None
    assert "carbon_tax" not in m.scenario.policies  # the slider at 0 adds no tax of 0
    assert m.scenario.policies["cap_and_trade"].cap_decline == pytest.approx(0.02)
    m = vc.SteerableParkModel(cap_decline=0.0, carbon_tax_rate=50.0)
    assert m.scenario.policies["cap_and_trade"].cap_decline == 0.0  # shown value is the value used
    assert m.scenario.policies["carbon_tax"].rate == pytest.approx(50.0)


def test_rejected_lever_is_reported_not_raised():
    m = vc.SteerableParkModel(capex_subsidy_share=5.0)  # outside the schema's range
    assert m.config_error and "capex_subsidy" in m.config_error
    m.step()  # the preset model still runs


def test_model_params_cover_every_lever():
    params = vc.model_params(presets())
    assert {lever.name for lever in vc.LEVERS} | {"scenario", "seed"} == set(params)


def test_solara_components_render(model):
    from ecopark.viz import app

    for comp in app.components:
        _box, rc = solara.render(comp(model), handle_error=False)
        assert rc is not None


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_viz_cli_serves_the_app_and_warns_on_open_host(monkeypatch, capsys, host, warned):
    import os

    from ecopark import cli

    calls = []
    monkeypatch.setattr(os, "execv", lambda path, cmd: calls.append(cmd))  # `ecopark viz` execs the server
    assert cli.main(["viz", "--host", host, "--port", "9999"]) == 0
    cmd = calls[0]
    assert cmd[1:3] == ["run", str(Path(cli.__file__).parent / "viz" / "app.py")]
    assert cmd[cmd.index("--host") + 1] == host and cmd[cmd.index("--port") + 1] == "9999"
    assert ("warning" in capsys.readouterr().err) == warned
