"""Every browser-view component built against a real model, without a browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import solara
from matplotlib.collections import PathCollection

from ecopark.scenario import presets
from ecopark.viz import components as vc


@pytest.fixture(scope="module")
def model():
    m = vc.SteerableParkModel(seed=3)
    for _ in range(4):
        m.step()
    return m


def test_park_map_shows_every_live_firm_sized_by_output(model):
    fig = vc.park_map_figure(model)
    ax = fig.axes[0]
    firm_points = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_sizes().max() > 12.5]
    offsets = np.vstack([c.get_offsets() for c in firm_points])
    assert len(offsets) == len(model.firms.live)
    sizes = np.concatenate([c.get_sizes() for c in firm_points])
    assert sizes.max() > sizes.min()  # output differs between firms, so do marker sizes
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    sectors = {model.catalogue.sector_keys[s] for s in model.firms.sector[model.firms.live]}
    assert sectors <= labels


def test_park_map_draws_links_by_stream_with_width_by_flow(model):
    stream = next(iter(model.catalogue.streams))
    live = model.firms.live

    class Market:
        def link_table(self):
            return pd.DataFrame({"supplier": live[:2], "receiver": live[2:4], "stream": [stream, stream],
                                 "flow": [1.0, 10.0], "surplus": [5.0, 50.0]})

    model.byproduct_market = Market()
    try:
        ax = vc.park_map_figure(model).axes[0]
    finally:
        del model.byproduct_market
    widths = sorted(line.get_linewidth() for line in ax.lines)
    assert len(widths) == 2 and widths[1] > widths[0]
    assert f"link: {stream}" in {t.get_text() for t in ax.get_legend().get_texts()}


def test_every_chart_draws_collected_series_and_notes_missing_ones(model):
    collected = model.datacollector.model_vars
    for chart in vc.CHARTS:
        axes = vc.chart_figure(model, chart).axes
        ax = axes[0]
        texts = " ".join(t.get_text() for t in ax.texts)
        drawn = sum(len(a.lines) + len(a.collections) for a in axes)
        present = [c for c in chart.all_columns if c in collected]
        assert drawn == len(present)
        assert ("not collected" in texts) == (len(present) < len(chart.all_columns))
        assert ax.get_title() and ax.get_ylabel()
        assert (len(axes) == 2) == bool(chart.right) and all(a.get_ylabel() for a in axes)
    emissions_chart = next(c for c in vc.CHARTS if "emissions" in c.columns)
    line = vc.chart_figure(model, emissions_chart).axes[0].lines[0]
    assert np.allclose(line.get_ydata(), collected["emissions"])


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
    import subprocess

    from ecopark import cli

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert cli.main(["viz", "--host", host, "--port", "9999"]) == 0
    cmd = calls[0]
    assert cmd[1:3] == ["run", str(Path(cli.__file__).parent / "viz" / "app.py")]
    assert cmd[cmd.index("--host") + 1] == host and cmd[cmd.index("--port") + 1] == "9999"
    assert ("warning" in capsys.readouterr().err) == warned
