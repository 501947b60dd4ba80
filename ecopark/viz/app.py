"""The browser view: ``ecopark viz`` (or ``solara run ecopark/viz/app.py``).

Built from Mesa's SolaraViz pieces (its ``ModelController``: Reset, Play, Step; its
``update_counter``, which redraws the components after each step) around the park map,
the live charts of :data:`ecopark.viz.components.CHARTS` and a plain-words explainer.

Each browser session (a tab, a student's laptop) gets its own model: :func:`Page` creates
it in the session's own state (``solara.use_memo``), and ``update_counter`` is a Solara
reactive variable, which Solara keeps per session. Stepping in one tab never moves
another.

Of SolaraViz's controls the page keeps Play speed (one month every N milliseconds) and
leaves out what a class does not need: "Render Interval" (the page redraws every month),
"Use Threads" (stepping runs in the session's own task) and the "Page 0" tab of its
draggable grid (everything is on one page).
"""

from __future__ import annotations

from typing import Any

import solara
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import update_counter

from ecopark.scenario import presets
from ecopark.viz.components import (
    CHARTS,
    EXPLAINER,
    LEVERS,
    Chart,
    SteerableParkModel,
    chart_option,
    lever_values,
    model_params,
    park_map_option,
)

#: Milliseconds between months while playing (the Play speed slider's start).
PLAY_INTERVAL_MS = 300

SLIDER_CSS = """
.ecopark-control { margin-bottom: 10px; }
.ecopark-control .v-input__slot { margin-bottom: 0; }
.ecopark-control .v-messages { display: none; }
"""


@solara.component
def Explainer(model: SteerableParkModel):
    """The 'what am I looking at' panel, plus the message of a rejected control setting.

    Plain HTML (``solara.Markdown`` would fetch a maths typesetter from a CDN the page
    does not ship, and log two 404s in the console).
    """
    update_counter.get()
    if model.config_error:
        solara.Error(f"Setting not applied (the preset's value is used instead): {model.config_error}")
    solara.HTML(tag="div", unsafe_innerHTML=EXPLAINER, style={"font-size": "15px", "line-height": "1.5"})


@solara.component
def MonthCounter(model: SteerableParkModel):
    """'Month N of H': the months simulated so far, as the map and the charts count them."""
    update_counter.get()
    horizon = model.scenario.park.horizon
    hint = "<div style='color: #666'>press Step to run the first month</div>" if not model.steps else ""
    solara.HTML(tag="div", unsafe_innerHTML=f"<b>Month {model.steps} of {horizon}</b>{hint}",
                style={"font-size": "18px", "margin-top": "16px"})


@solara.component
def ParkMap(model: SteerableParkModel):
    """The park map, redrawn each month (hover a dot or a line to see what it is)."""
    update_counter.get()
    solara.FigureEcharts(option=park_map_option(model), attributes={"style": "height: 470px; width: 100%"})


def _chart_component(chart: Chart):
    @solara.component
    def ChartView(model: SteerableParkModel):
        update_counter.get()
        solara.FigureEcharts(option=chart_option(model, chart), attributes={"style": "height: 330px; width: 100%"})

    return ChartView


#: One view per chart of :data:`CHARTS`, and everything the main area shows, in order.
CHART_VIEWS = [_chart_component(c) for c in CHARTS]
components = [Explainer, ParkMap, *CHART_VIEWS]

LEVER_BY_NAME = {lever.name: lever for lever in LEVERS}


def _describe(name: str, value: Any) -> str:
    """A control's value as shown beside its label, with its unit."""
    return LEVER_BY_NAME[name].describe(value) if name in LEVER_BY_NAME else str(value)


@solara.component
def Control(name: str, spec: dict[str, Any], value: Any, on_value):
    """One control: its label and current value with unit on one line, the widget below at
    the card's full width (a label inside a slider would squeeze its track)."""
    kind = spec["type"]
    with solara.Column(gap="0px", classes=["ecopark-control"]):
        if kind == "Checkbox":
            solara.Checkbox(label=spec["label"], value=bool(value), on_value=on_value)
            return
        if kind == "Select":
            solara.Select(spec["label"], value=value, values=spec["values"], on_value=on_value)
            return
        solara.HTML(tag="div", unsafe_innerHTML=f"{spec['label']}: <b>{_describe(name, value)}</b>",
                    style={"font-size": "14px"})
        slider = solara.SliderInt if kind == "SliderInt" else solara.SliderFloat
        slider("", value=value, min=spec["min"], max=spec["max"], step=spec["step"], on_value=on_value,
               thumb_label=False)


@solara.component
def Page():
    """The whole page, with a model of this browser session's own."""
    params = solara.use_memo(lambda: model_params(presets()), [])
    initial = solara.use_memo(SteerableParkModel, [])
    model = solara.use_reactive(initial)
    settings = solara.use_reactive({name: spec["value"] for name, spec in params.items()})
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)  # redraw every month (Mesa's slider is left out)
    use_threads = solara.use_reactive(False)  # step in the session's own task (Mesa's checkbox is left out)

    def set_value(name: str, value: Any) -> None:
        if name == "scenario":  # a preset brings its own lever values
            settings.value = {**settings.value, "scenario": value, **lever_values(value)}
        else:
            settings.value = {**settings.value, name: value}

    solara.Style(SLIDER_CSS)
    with solara.AppBar():
        solara.AppBarTitle("ecopark: an eco-industrial park")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            ModelController(model, model_parameters=settings, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads)
            MonthCounter(model.value)
            solara.HTML(tag="div", unsafe_innerHTML=f"Play speed: one month every <b>{play_interval.value} ms</b>",
                        style={"font-size": "14px", "margin-top": "12px"})
            solara.SliderInt("", value=play_interval, min=50, max=1500, step=50, thumb_label=False)
        with solara.Card("Settings", subtitle="Changes apply when you press Reset"):
            for name, spec in params.items():
                Control(name, spec, settings.value[name], lambda v, name=name: set_value(name, v))
    with solara.Column():
        Explainer(model.value)
        ParkMap(model.value)
        for pair in range(0, len(CHART_VIEWS), 2):  # two charts a row
            with solara.Columns([1, 1]):
                for chart_view in CHART_VIEWS[pair: pair + 2]:
                    chart_view(model.value)
