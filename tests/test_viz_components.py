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
from ecopark.viz.numbers import abbreviate, magnitude


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
    cat = model.catalogue
    sectors = {cat.sectors[cat.sector_keys[s]].name for s in model.firms.sector[model.firms.live]}
    assert {s["name"] for s in firm_series} == sectors  # one legend entry per sector, in words
    legends = option["legend"]
    assert all(legend["type"] == "plain" for legend in legends)  # every entry shown, no paging
    assert set(legends[0]["data"]) == sectors | {"vacant plot"} & {s["name"] for s in option["series"]}
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
    assert [s["name"] for s in lines] == [model.catalogue.streams[stream].name]
    assert option["legend"][1]["data"] == [model.catalogue.streams[stream].name]
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
    option = vc.chart_option(model, emissions_chart)
    drawn = [v for c in emissions_chart.all_columns if c in collected for v in collected[c] if v is not None]
    divisor, suffix = magnitude(max(abs(v) for v in drawn))  # one axis for every series of the chart
    assert option["yAxis"][0]["axisLabel"]["formatter"] == f"{{value}} {suffix}"  # e.g. "1.02 M"
    assert [v * divisor for v in option["series"][0]["data"]] == pytest.approx(list(collected["emissions"]),
                                                                                rel=1e-3)
    assert option["xAxis"]["data"] == [str(m) for m in range(1, len(collected["emissions"]) + 1)]


def test_stacked_surplus_chart_stacks_values_on_a_month_axis(model):
    """ECharts stacks a numeric x axis (months laid end to end): the months are categories."""
    chart = next(c for c in vc.CHARTS if c.stacked)
    option = vc.chart_option(model, chart)
    assert option["xAxis"]["type"] == "category" and option["xAxis"]["data"] == ["1", "2", "3", "4"]
    assert all(len(s["data"]) == 4 and not isinstance(s["data"][0], list) for s in option["series"])
    assert all(axis["nameLocation"] == "end" for axis in option["yAxis"])  # titles clear of tick labels


def test_empty_charts_say_press_step():
    fresh = vc.SteerableParkModel()
    for chart in vc.CHARTS:
        assert vc.chart_option(fresh, chart)["graphic"][0]["style"]["text"] == vc.EMPTY_HINT
    assert vc.chart_option(fresh, vc.CHARTS[0])["series"][0]["data"] == []


def test_large_numbers_are_abbreviated():
    assert abbreviate(2.5e8, "yuan", digits=0) == "250 M yuan"
    assert abbreviate(-3.2e9, "yuan") == "-3.20 bn yuan"
    assert abbreviate(999.0) == "999.00"
    assert magnitude(12_000) == (1e3, "k")


def test_levers_show_value_and_unit_and_reach_every_preset_value():
    landfill = next(lever for lever in vc.LEVERS if lever.name == "landfill_tax_rate")
    assert landfill.describe(25.0) == "25 yuan per tonne"
    assert vc.LEVERS[0].describe(0.15) == "15 %"
    for preset in presets():
        for lever in vc.LEVERS:
            value, widget = vc.lever_values(preset)[lever.name], lever.widget
            if widget["type"] == "SliderFloat":  # the slider can stand exactly on the preset's value
                ticks = (value - widget["min"]) / widget["step"]
                assert abs(ticks - round(ticks)) < 1e-9, (preset, lever.name, value)
    assert vc.lever_values("liaocheng")["cap_decline"] == pytest.approx(0.01)  # the preset's, not generic's
    assert vc.lever_values("qinzhou")["platform_enabled"] is True


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


def test_each_page_session_builds_its_own_model():
    """Two renders of the page (two browser sessions) hold two different models."""
    from ecopark.viz import app

    built = []
    original = app.SteerableParkModel

    class Recording(original):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            built.append(self)

    app.SteerableParkModel = Recording
    try:
        for _ in range(2):
            solara.render(app.Page(), handle_error=False)
    finally:
        app.SteerableParkModel = original
    assert len(built) == 2 and built[0] is not built[1]


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


def test_report_groups_small_money_kinds_and_keeps_one_unit_per_byproduct_panel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    import ecopark
    from ecopark.viz import report

    result = ecopark.run("generic", steps=3, seed=1)
    figures = []
    monkeypatch.setattr(plt.Figure, "savefig", lambda self, *a, **k: figures.append(self))
    report.write_report(result, tmp_path / "report.png")
    axes = figures[0].axes
    money = next(ax for ax in axes if ax.get_title().startswith("Money moved"))
    labels = [t.get_text() for t in money.get_yticklabels()]
    kinds = result.ledger["kind"].nunique()
    assert len(labels) == min(kinds, report.TOP_MONEY_KINDS + 1)
    assert kinds <= report.TOP_MONEY_KINDS or labels[0].startswith("other (")
    units = set(result.streams.loc[result.streams["generated"] > 0, "unit"])
    byproduct_axes = [ax for ax in axes if "over the run" in ax.get_xlabel() and "yuan" not in ax.get_xlabel()]
    assert {ax.get_xlabel().removesuffix(" over the run") for ax in byproduct_axes} == units


def test_viz_cli_starts_solara_without_its_version_check(monkeypatch):
    """Solara's start-up check advises 'pip install' of a newer Solara, which breaks the offline pins."""
    import os
    import subprocess

    from ecopark import cli

    commands = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, *a, **k: commands.append(list(cmd)) or 0)
    for name in ("execv", "execvp"):
        monkeypatch.setattr(os, name, lambda path, cmd, *a: commands.append(list(cmd)))
    cli.main(["viz", "--port", "9999"])
    assert commands and "--no-check-version" in commands[0]
