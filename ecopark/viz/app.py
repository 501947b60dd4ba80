"""The browser view: ``ecopark viz`` (or ``solara run ecopark/viz/app.py``).

Built around the park map, the live charts of :data:`ecopark.viz.components.CHARTS` and a
"What am I looking at?" panel that explains every term the page uses. Mesa's
``update_counter`` redraws the components after each month.

Each browser session (a tab, a student's laptop) gets its own model: :func:`Page` creates
it in the session's own state (``solara.use_memo``), and ``update_counter`` is a Solara
reactive variable, which Solara keeps per session. Stepping in one tab never moves
another.

:func:`RunControls` (Reset, Play/Pause, Step) replaces Mesa's ``ModelController``, whose
play loop runs past the scenario's horizon and on after its tab has gone. Here:

- Play stops at the horizon and Step is disabled there ("Month 120 of 120, the end").
- Play stops as soon as no page of the session is connected (:func:`session_alive`: the
  tab was closed, reloaded or lost its connection), so a closed tab steps no more.
- A session whose pages are all gone is closed by Solara after :data:`SESSION_GRACE`
  (Solara's default keeps it 24 hours): its model and memory are freed. A tab that comes
  back within that time (a network blip) finds its park where it was.
- While playing, a page that nobody has touched for :data:`IDLE_PLAY_MINUTES` pauses
  (a forgotten tab does not keep a core busy).

Served by Solara, the page's static front-end is compressed once per server rather than
once per visitor (:mod:`ecopark.viz.serving`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from typing import Any

# Two warnings Solara and Mesa print to the server console that a class need not see:
# Mesa's SolaraViz ComponentsView (not used here) trips Solara's hook check when
# mesa.visualization is imported, and Solara warns on every plain-http visit to 127.0.0.1
# that it falls back to same-site cookies (the right cookies for a page served on this
# machine). Filters installed before the imports that trigger them.
warnings.filterwarnings("ignore", message=r".*ComponentsView: `use_state` found despite early return",
                        category=UserWarning)
warnings.filterwarnings("ignore", message=r"Cookies with samesite=none require https", category=UserWarning)

import solara  # noqa: E402
import solara.server.settings  # noqa: E402
from mesa.visualization.utils import force_update, update_counter  # noqa: E402

from ecopark.scenario import presets  # noqa: E402
from ecopark.viz import serving  # noqa: E402
from ecopark.viz.components import (  # noqa: E402
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
#: How long Solara keeps a session whose pages are all gone before freeing it (its model).
SESSION_GRACE = "60s"
#: Minutes of no clicks on a page after which Play pauses by itself.
IDLE_PLAY_MINUTES = 10.0

# A session of a closed tab is freed after SESSION_GRACE instead of Solara's 24 h (the
# environment variable SOLARA_KERNEL_CULL_TIMEOUT, if set, wins); no "runs on Solara"
# banner over the charts; the browser tab's title names the app.
if "SOLARA_KERNEL_CULL_TIMEOUT" not in os.environ:
    solara.server.settings.kernel.cull_timeout = SESSION_GRACE
solara.server.settings.theme.show_banner = False
solara.server.settings.theme.title = "ecopark"
if "solara.server.starlette" in sys.modules:  # served by Solara (not rendered in a test)
    # the page's static files are gzipped once per server, not once per visitor
    serving.install(sys.modules["solara.server.starlette"].app)

#: Map and charts share one grid of three columns: at 1280x800 the map (two columns) and
#: four charts are in view without scrolling.
CSS = """
.ecopark-control { margin-bottom: 10px; }
.ecopark-control .v-input__slot { margin-bottom: 0; }
.ecopark-control .v-messages { display: none; }
.ecopark-grid { display: grid !important; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 6px;
                width: 100%; }
.ecopark-wide { grid-column: span 2; }
.ecopark-explainer summary { cursor: pointer; }
.ecopark-explainer dt { font-weight: bold; margin-top: 6px; }
.ecopark-explainer dd { margin-left: 16px; }
"""
#: Height in pixels of the map and of each chart.
FIGURE_HEIGHT = 318


def _current_context() -> Any:
    """The Solara session (virtual kernel context) being rendered, or None outside a server."""
    try:
        from solara.server import kernel_context

        return kernel_context.get_current_context()
    except Exception:  # solara.render() in tests: no server session
        return None


def session_alive(context: Any) -> bool:
    """Whether the session ``context`` still has a connected page (None: no server, always)."""
    if context is None:
        return True
    from solara.server.kernel_context import PageStatus

    return not context.closed_event.is_set() and PageStatus.CONNECTED in list(context.page_status.values())


@solara.component
def RunControls(model: solara.Reactive[SteerableParkModel], model_parameters: solara.Reactive[dict[str, Any]],
                play_interval: solara.Reactive[int]):
    """Reset, Play/Pause and Step for this session's model.

    Play steps one month every ``play_interval`` ms in a thread of the session's own and
    stops at the horizon, when no page of the session is connected, or after
    :data:`IDLE_PLAY_MINUTES` without a click; Step is disabled while playing and at the
    horizon.
    """
    playing = solara.use_reactive(False)
    error = solara.use_reactive(None)
    context = solara.use_memo(_current_context, [])
    last_click = solara.use_memo(lambda: [time.monotonic()], [])
    stop = solara.use_memo(threading.Event, [])
    finished = model.value.finished

    def touched() -> None:
        last_click[0] = time.monotonic()

    def play() -> None:
        if not playing.value:
            return
        stop.clear()
        try:
            while (not stop.wait(play_interval.value / 1000) and playing.value and session_alive(context)
                   and not model.value.finished
                   and time.monotonic() - last_click[0] < 60 * IDLE_PLAY_MINUTES):
                model.value.step()
                force_update()
        except Exception as exc:  # shown on the page; the session lives on
            error.value = f"error in step: {exc}"
        if session_alive(context):
            playing.value = False

    solara.lab.use_task(play, dependencies=[playing.value], prefer_threaded=True)
    solara.use_effect(lambda: stop.set, [])  # the component goes (session closed): end the loop

    def do_step() -> None:
        touched()
        if not model.value.finished:
            model.value.step()
            force_update()

    def do_play_pause() -> None:
        touched()
        if playing.value:
            stop.set()
        playing.value = not playing.value

    def do_reset() -> None:
        touched()
        stop.set()
        playing.value = False
        error.value = None
        model.value = SteerableParkModel(**model_parameters.value)
        force_update()

    with solara.Row(justify="space-between"):
        solara.Button(label="Reset", color="primary", on_click=do_reset)
        solara.Button(label="\u275a\u275a" if playing.value else "\u25b6", color="primary", on_click=do_play_pause,
                      disabled=finished and not playing.value)
        solara.Button(label="Step", color="primary", on_click=do_step, disabled=playing.value or finished)
    if error.value:
        solara.Error(error.value)


@solara.component
def Explainer(model: SteerableParkModel):
    """The 'What am I looking at?' panel (closed: one line; open: the park, the charts and
    every term explained), plus the message of a rejected control setting.

    Plain HTML (``solara.Markdown`` would fetch a maths typesetter from a CDN the page
    does not ship, and log two 404s in the console).
    """
    update_counter.get()
    if model.config_error:
        solara.Error(f"Setting not applied (the preset's value is used instead): {model.config_error}")
    solara.HTML(tag="div", unsafe_innerHTML=EXPLAINER, classes=["ecopark-explainer"],
                style={"font-size": "14px", "line-height": "1.45"})


@solara.component
def MonthCounter(model: SteerableParkModel):
    """'Month N of H': the months simulated so far, as the map and the charts count them."""
    update_counter.get()
    horizon = model.horizon
    if not model.steps:
        hint = "<div style='color: #666'>press Step to run the first month</div>"
    elif model.finished:
        hint = "<div style='color: #666'>the end of this run: press Reset to start again</div>"
    else:
        hint = ""
    solara.HTML(tag="div", unsafe_innerHTML=f"<b>Month {model.steps} of {horizon}</b>{hint}",
                style={"font-size": "18px", "margin-top": "16px"})


@solara.component
def ParkMap(model: SteerableParkModel):
    """The park map, redrawn each month (hover a dot or a line to see what it is)."""
    update_counter.get()
    solara.FigureEcharts(option=park_map_option(model),
                         attributes={"style": f"height: {FIGURE_HEIGHT}px; width: 100%"})


def _chart_component(chart: Chart):
    @solara.component
    def ChartView(model: SteerableParkModel):
        update_counter.get()
        solara.FigureEcharts(option=chart_option(model, chart),
                             attributes={"style": f"height: {FIGURE_HEIGHT}px; width: 100%"})

    return ChartView


#: One view per chart of :data:`CHARTS`, and everything the main area shows, in order.
CHART_VIEWS = [_chart_component(c) for c in CHARTS]
components = [Explainer, ParkMap, *CHART_VIEWS]

LEVER_BY_NAME = {lever.name: lever for lever in LEVERS}


def _describe(name: str, value: Any) -> str:
    """A control's value as shown beside its label, with its unit."""
    return LEVER_BY_NAME[name].describe(value) if name in LEVER_BY_NAME else str(value)


def _help(name: str) -> str:
    """A control's plain-words explanation (its lever's ``help``), shown on hover."""
    return LEVER_BY_NAME[name].help if name in LEVER_BY_NAME else CONTROL_HELP.get(name, "")


#: Hover texts of the controls that are not levers.
CONTROL_HELP = {
    "scenario": "The park to start from: generic, or one modelled on a real Chinese park.",
    "seed": "Fixes the run's luck (demand, which firms meet): the same seed and settings replay the same run.",
}


@solara.component
def Control(name: str, spec: dict[str, Any], value: Any, on_value):
    """One control: its label and current value with unit on one line, the widget below at
    the card's full width (a label inside a slider would squeeze its track). Resting the
    pointer on it shows what it means; a drop-down also says what its chosen value does."""
    kind = spec["type"]
    hover = {"title": _help(name)}
    with solara.Column(gap="0px", classes=["ecopark-control"]):
        if kind == "Checkbox":
            solara.Checkbox(label=spec["label"], value=bool(value), on_value=on_value)
            solara.HTML(tag="div", unsafe_innerHTML=_help(name), style={"font-size": "12px", "color": "#666"})
            return
        if kind == "Select":
            solara.Select(spec["label"], value=value, values=spec["values"], on_value=on_value)
            meaning = LEVER_BY_NAME[name].choices.get(value, "") if name in LEVER_BY_NAME else _help(name)
            solara.HTML(tag="div", unsafe_innerHTML=meaning, style={"font-size": "12px", "color": "#666"},
                        attributes=hover)
            return
        solara.HTML(tag="div", unsafe_innerHTML=f"{spec['label']}: <b>{_describe(name, value)}</b>",
                    style={"font-size": "14px", "cursor": "help"}, attributes=hover)
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

    def set_value(name: str, value: Any) -> None:
        if name == "scenario":  # a preset brings its own lever values
            settings.value = {**settings.value, "scenario": value, **lever_values(value)}
        else:
            settings.value = {**settings.value, name: value}

    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle("ecopark: an eco-industrial park")
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            RunControls(model, settings, play_interval)
            MonthCounter(model.value)
            solara.HTML(tag="div", unsafe_innerHTML=f"Play speed: one month every <b>{play_interval.value} ms</b>",
                        style={"font-size": "14px", "margin-top": "12px"})
            solara.SliderInt("", value=play_interval, min=50, max=1500, step=50, thumb_label=False)
        with solara.Card("Settings", subtitle="Changes apply when you press Reset"):
            for name, spec in params.items():
                Control(name, spec, settings.value[name], lambda v, name=name: set_value(name, v))
    with solara.Column(gap="4px"):
        Explainer(model.value)
        with solara.Div(classes=["ecopark-grid"]):
            with solara.Div(classes=["ecopark-wide"]):
                ParkMap(model.value)
            for chart_view in CHART_VIEWS:
                with solara.Div():
                    chart_view(model.value)
