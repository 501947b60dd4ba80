"""The browser view: ``solara run ecopark/viz/app.py`` or ``ecopark viz``.

Mesa's SolaraViz frame (controls, Play/Step/Reset, step counter) around the park map, the
live charts of :data:`ecopark.viz.components.CHARTS` and a plain-words explainer.
"""

from __future__ import annotations

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from ecopark.scenario import presets
from ecopark.viz.components import (
    CHARTS,
    EXPLAINER,
    Chart,
    SteerableParkModel,
    chart_option,
    model_params,
    park_map_option,
)


@solara.component
def Explainer(model: SteerableParkModel):
    """The 'what am I looking at' panel, plus the message of a rejected control setting."""
    update_counter.get()
    if model.config_error:
        solara.Error(f"Setting not applied (the preset's value is used instead): {model.config_error}")
    solara.Markdown(EXPLAINER)


@solara.component
def ParkMap(model: SteerableParkModel):
    """The park map, redrawn each step (hover a dot or a line to see what it is)."""
    update_counter.get()
    solara.FigureEcharts(option=park_map_option(model), attributes={"style": "height: 380px; width: 100%"})


def _chart_component(chart: Chart):
    @solara.component
    def ChartView(model: SteerableParkModel):
        update_counter.get()
        solara.FigureEcharts(option=chart_option(model, chart), attributes={"style": "height: 320px; width: 100%"})

    return ChartView


components = [Explainer, ParkMap, *(_chart_component(c) for c in CHARTS)]

page = SolaraViz(
    SteerableParkModel(),
    components=components,
    model_params=model_params(presets()),
    name="ecopark: an eco-industrial park",
)
