"""Pieces of the browser view, each a plain function of a model (testable without a browser).

The map and the charts are ECharts options (plain dicts) that the browser draws
(``solara.FigureEcharts``; the ECharts script ships with ``solara-assets``, so the page
works offline). Building an option takes about a millisecond, so a step plus redraw costs
little more than the step itself, and hovering a dot or a line names what it is.

- :func:`park_map_option`: firms at their plots (km), coloured by sector, dot area
  proportional to this month's output; byproduct links drawn supplier -> receiver,
  coloured by stream, line width proportional to flow.
- :data:`CHARTS` and :func:`chart_option`: the live charts, one declared table of
  (title, y-axis units, DataCollector columns, stacked?, right-axis columns); a chart whose
  columns the model does not collect yet says "not collected in this scenario".
- :class:`SteerableParkModel`: builds a :class:`ParkModel` from the page's controls; the
  lever table :data:`LEVERS` maps each control to a dotted scenario key. A ``ConfigError``
  (unknown key, value out of range, inconsistent choice) is caught and kept as
  ``model.config_error`` so the page shows the message instead of crashing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, read_scenario_data
from ecopark.schema import ConfigError
from ecopark.viz.numbers import magnitude

#: Colours of sectors and streams (ECharts' and Tableau's qualitative palettes).
SECTOR_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
STREAM_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                  "#a6cee3", "#fb9a99", "#cab2d6", "#b2df8a")


# -- controls ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """One control of the page: a UI parameter ``name`` bound to the scenario key ``key``.

    ``unit`` is shown after the value beside the slider ("25 yuan per tonne"); ``percent``
    shows a share (0-1) as a percentage.
    """

    name: str
    key: str
    label: str
    widget: dict[str, Any]
    unit: str = ""
    percent: bool = False

    def describe(self, value: Any) -> str:
        """The value as the page shows it, with its unit: "15 %", "25 yuan per tonne", "on"."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str):
            return value
        if self.percent:
            return f"{100 * float(value):g} %"
        return f"{float(value):g} {self.unit}".strip()


#: The policy levers shown in the page, in one place (dotted scenario keys). Each widget
#: starts at the value of the ``generic`` preset; choosing another preset moves every lever
#: to that preset's value (:func:`lever_values`). Slider steps divide every preset's value.
LEVERS: tuple[Lever, ...] = (
    Lever("capex_subsidy_share", "policies.capex_subsidy.share", "Capex subsidy (share of link investment)",
          {"type": "SliderFloat", "value": 0.15, "min": 0.0, "max": 0.6, "step": 0.05}, percent=True),
    Lever("landfill_tax_rate", "policies.landfill_tax.rate", "Landfill tax",
          {"type": "SliderFloat", "value": 25.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="yuan per tonne"),
    Lever("carbon_tax_rate", "policies.carbon_tax.rate", "Carbon tax (0 = off)",
          {"type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="yuan per tCO2e"),
    Lever("cap_decline", "policies.cap_and_trade.cap_decline", "Carbon cap: tighter each year by",
          {"type": "SliderFloat", "value": 0.02, "min": 0.0, "max": 0.1, "step": 0.005}, percent=True),
    Lever("platform_enabled", "policies.platform.enabled", "Matching platform on",
          {"type": "Checkbox", "value": False}),
    Lever("sharing_rule", "byproduct_market.sharing_rule", "Revenue-sharing rule",
          {"type": "Select", "value": "nash",
           "values": ["nash", "equal", "posted_price", "capex_share", "operator_commission"]}),
    Lever("green_discount_bp", "credit.green_discount_bp", "Green loan discount",
          {"type": "SliderFloat", "value": 40.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="basis points"),
)


def _preset_has(raw: dict[str, Any], key: str) -> bool:
    """Whether the preset's own TOML data sets the section that holds ``key``.

    For ``policies.X.param`` that is the table ``[policies.X]``; for other keys the
    top-level section (``[credit]``, ``[byproduct_market]``).
    """
    parts = key.split(".")
    node: Any = raw
    for part in parts[: 2 if parts[0] == "policies" else 1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def lever_overrides(values: dict[str, Any], scenario: str = "generic") -> dict[str, Any]:
    """Dotted-key overrides from the page's lever values.

    A lever applies when the preset has its instrument (so what the page shows is what
    runs), or when it was moved from its starting value (which switches the instrument on
    in a preset that lacks it). A lever at its starting value for an instrument the preset
    does not have adds nothing: a carbon tax slider at 0 does not create a tax of 0.
    """
    raw, _ = read_scenario_data(scenario)
    out = {}
    for lever in LEVERS:
        if lever.name not in values:
            continue
        value = values[lever.name]
        if value != lever.widget["value"] or _preset_has(raw, lever.key):
            out[lever.key] = value
    return out


class SteerableParkModel(ParkModel):
    """A ParkModel built from the page's controls (keyword arguments only, as SolaraViz needs).

    If the chosen lever values are rejected by the scenario schema, the model is built
    from the preset alone and ``config_error`` holds the message to show.
    """

    def __init__(self, scenario: str = "generic", seed: int = 0, **kwargs: Any) -> None:
        # Mesa's SolaraViz accepts a var-keyword parameter only under the name ``kwargs``.
        self.config_error: str | None = None
        try:
            chosen = load_scenario(scenario, lever_overrides(kwargs, scenario))
        except ConfigError as exc:
            self.config_error = str(exc)
            chosen = load_scenario(scenario)
        super().__init__(chosen, seed=int(seed))


def model_params(presets: list[str]) -> dict[str, Any]:
    """The page's controls: preset, seed and every lever of :data:`LEVERS` (widget, label, unit)."""
    params: dict[str, Any] = {
        "scenario": {"type": "Select", "value": "generic", "values": presets, "label": "Scenario preset"},
        "seed": {"type": "SliderInt", "value": 0, "min": 0, "max": 99, "step": 1, "label": "Random seed"},
    }
    for lever in LEVERS:
        params[lever.name] = {**lever.widget, "label": lever.label}
    return params


def _scenario_value(scenario: Any, key: str) -> Any:
    """The value of dotted ``key`` in a resolved scenario (attributes and dict entries)."""
    node = scenario
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def lever_values(scenario: str = "generic") -> dict[str, Any]:
    """Each lever's value in preset ``scenario``: the preset's own value where it has the
    instrument, else the lever's resting value (the instrument stays off). A value beyond
    the slider's range is kept (the slider then sits at its end; the value shown is exact)."""
    raw, _ = read_scenario_data(scenario)
    resolved = load_scenario(scenario)
    out = {}
    for lever in LEVERS:
        if _preset_has(raw, lever.key):
            value = _scenario_value(resolved, lever.key)
            out[lever.name] = type(lever.widget["value"])(value)
        else:
            out[lever.name] = lever.widget["value"]
    return out


def _number(value: float) -> float | None:
    """A JSON-safe number: NaN and infinities become None (a gap in the chart)."""
    value = float(value)
    return value if math.isfinite(value) else None


# -- park map -------------------------------------------------------------------------
#: Where the map's two legend columns (industries, links) start, as a share of the figure's
#: width: each lists every entry in a column of its own, with no paging.
MAP_LEGEND_LEFT = ("54%", "77%")

def park_map_option(model: ParkModel) -> dict[str, Any]:
    """ECharts option of the park map: firms by sector (dot area ~ output), links by stream (width ~ flow).

    Dot diameter in pixels: ``6 + k sqrt(output / max output)`` (area proportional to
    output) with ``k = 24 min(1, sqrt(60 / firms))``, so a park of 200 firms keeps its dots
    apart; line width: ``1 + 5 flow / max flow``. Hovering a dot names the firm, its
    sector and output; hovering a line names the stream, the partners and the flow.
    """
    firms, cat = model.firms, model.catalogue
    rows = firms.live
    size_km = model.scenario.park.size_km
    series: list[dict[str, Any]] = []
    links = _link_table(model)
    if links is not None and len(links):
        flow = links["flow"].to_numpy(float)
        widths = 1.0 + 5.0 * flow / max(float(flow.max()), 1e-12)
        streams = list(cat.streams)
        for stream in sorted(set(links["stream"]), key=streams.index):
            mask = (links["stream"] == stream).to_numpy()
            unit = cat.streams[stream].unit
            data = [{"coords": [[_number(firms.x[s]), _number(firms.y[s])], [_number(firms.x[r]), _number(firms.y[r])]],
                     "name": f"firm {s} -> firm {r}: {f:,.1f} {unit}/month",
                     "lineStyle": {"width": round(float(w), 2)}}
                    for s, r, f, w in zip(links["supplier"][mask], links["receiver"][mask], flow[mask], widths[mask],
                                          strict=True)]
            series.append({"type": "lines", "coordinateSystem": "cartesian2d", "name": cat.streams[stream].name,
                           "data": data, "z": 1, "lineStyle": {"opacity": 0.7},
                           "color": STREAM_COLOURS[streams.index(stream) % len(STREAM_COLOURS)]})
    output = firms.output[rows]
    spread = 24.0 * min(1.0, math.sqrt(60.0 / max(len(rows), 1)))
    diameter = 6.0 + spread * np.sqrt(output / max(float(output.max()) if len(rows) else 0.0, 1e-12))
    sectors = firms.sector[rows]
    for s in np.unique(sectors):
        sector = cat.sectors[cat.sector_keys[s]]
        mask = sectors == s
        data = [{"value": [_number(firms.x[r]), _number(firms.y[r])], "symbolSize": round(float(d), 1),
                 "name": f"firm {r} ({sector.name}): output {q:,.0f} {sector.output_unit}/month"}
                for r, q, d in zip(rows[mask], output[mask], diameter[mask], strict=True)]
        series.append({"type": "scatter", "name": sector.name, "data": data, "z": 2,
                       "color": SECTOR_COLOURS[int(s) % len(SECTOR_COLOURS)],
                       "itemStyle": {"borderColor": "#333", "borderWidth": 0.5, "opacity": 0.85}})
    vacant = model.vacant_plots()
    if len(vacant):
        series.append({"type": "scatter", "name": "vacant plot", "symbol": "diamond", "symbolSize": 6,
                       "color": "#bbbbbb", "z": 0,
                       "data": [[_number(x), _number(y)] for x, y in model.plot_xy[vacant]]})
    axis = {"type": "value", "min": 0, "max": size_km, "name": "km", "nameGap": 22, "nameLocation": "middle"}
    firm_names = [s["name"] for s in series if s["type"] == "scatter"]
    link_names = [s["name"] for s in series if s["type"] == "lines"]
    legend = {"type": "plain", "orient": "vertical", "top": 48, "itemGap": 6, "itemWidth": 14, "itemHeight": 10,
              "textStyle": {"fontSize": 11}}
    heading = {"type": "text", "top": 30, "style": {"fontSize": 11, "fontWeight": "bold", "fill": "#444"}}
    return {
        "animation": False,
        "title": {"text": f"Park map, month {model.steps}: {len(rows)} firms (dot size = output this month)",
                  "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "item", "formatter": "{a}<br/>{b}"},
        "legend": [{**legend, "data": firm_names, "left": MAP_LEGEND_LEFT[0]},
                   {**legend, "data": link_names, "left": MAP_LEGEND_LEFT[1]}],
        "graphic": [{**heading, "left": MAP_LEGEND_LEFT[0], "style": {**heading["style"],
                                                                              "text": "Industry (dot colour)"}},
                    {**heading, "left": MAP_LEGEND_LEFT[1],
                     "style": {**heading["style"], "text": "Byproduct link (line colour)" if link_names else ""}}],
        "grid": {"left": 45, "right": "48%", "top": 40, "bottom": 40},
        "xAxis": axis,
        "yAxis": {**axis, "nameGap": 30},
        "series": series,
    }


def _link_table(model: ParkModel):
    """The active links (supplier, receiver, stream, flow, surplus) or None without a market."""
    market = getattr(model, "byproduct_market", None)
    return None if market is None else market.link_table()


# -- live charts ------------------------------------------------------------------------
@dataclass(frozen=True)
class Chart:
    """A live chart: title, y-axis label with units, DataCollector columns (label per column).

    ``right`` columns are drawn dashed against a second y axis labelled ``right_label``, for
    a series whose units differ (a count beside a share, a ratio beside yuan).
    """

    title: str
    ylabel: str
    columns: dict[str, str]
    stacked: bool = False
    right: dict[str, str] = field(default_factory=dict)
    right_label: str = ""

    @property
    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **self.right}


CHARTS: tuple[Chart, ...] = (
    Chart("Firms taking part in exchange, and active links", "share of firms in a link (0-1)",
          {"adoption_rate": "share of firms in a link"},
          right={"links_active": "active links"}, right_label="number of links"),
    Chart("Carbon price", "yuan per tonne CO2e", {"carbon_price": "carbon price"}),
    Chart("Emissions: actual vs cap vs business as usual", "tonnes CO2e per month",
          {"emissions": "actual", "emissions_cap": "cap", "emissions_bau": "business as usual"}),
    Chart("Bank loans and bad loans", "yuan outstanding", {"loans_outstanding": "loans outstanding"},
          right={"npl_ratio_green": "bad-loan share, green", "npl_ratio_other": "bad-loan share, other"},
          right_label="non-performing share (0-1)"),
    Chart("Who gains from links (surplus split)", "yuan per month",
          {"surplus_supplier": "suppliers", "surplus_receiver": "receivers", "surplus_operator": "park operator",
           "surplus_government": "government"}, stacked=True),
    Chart("Government spending on subsidies", "yuan per month", {"fiscal_spending": "fiscal spending"}),
)


#: Shown in the middle of a chart that has no month to draw yet.
EMPTY_HINT = "Press Step (or \u25b6 to play) to run the first month"


def _empty_hint(model: ParkModel) -> list[dict[str, Any]]:
    """ECharts ``graphic`` of the hint on an empty chart (nothing before the first month)."""
    if model.steps:
        return []
    return [{"type": "text", "left": "center", "top": "middle", "z": 100,
             "style": {"text": EMPTY_HINT, "fontSize": 13, "fill": "#777"}}]


def _value_axis(name: str, values: list[float], right: bool = False) -> tuple[dict[str, Any], float]:
    """A y axis titled ``name`` above its top end (clear of the tick labels), with tick labels
    abbreviated ("250 M") when the series run into thousands or more; returns the axis and
    the divisor applied to the data (1e6 for "M")."""
    finite = [abs(v) for v in values if v is not None]
    divisor, suffix = magnitude(max(finite, default=0.0))
    axis = {"type": "value", "name": name, "nameLocation": "end", "nameGap": 12,
            "nameTextStyle": {"align": "right" if right else "left", "color": "#555"},
            "scale": True, "axisLabel": {"formatter": f"{{value}} {suffix}" if suffix else "{value}"}}
    if right:
        axis["splitLine"] = {"show": False}
    return axis, divisor


def chart_option(model: ParkModel, chart: Chart) -> dict[str, Any]:
    """ECharts option of ``chart`` from ``model.datacollector`` (x = month 1, 2, ... as categories).

    The x axis is a category axis of months, so a stacked chart stacks its series' values
    month by month (on a numeric x axis ECharts would stack the months instead). Values of
    a thousand or more are divided by their magnitude (k, M, bn) and the tick labels say so;
    before the first month the chart shows :data:`EMPTY_HINT`.
    """
    data = model.datacollector.model_vars
    missing = [label for c, label in chart.all_columns.items() if c not in data]
    months = list(range(1, model.steps + 1))
    series, y_axes = [], []
    for axis_index, (columns, name) in enumerate(((chart.columns, chart.ylabel), (chart.right, chart.right_label))):
        if axis_index and not chart.right:
            break
        values = {c: [_number(v) for v in data[c]] for c in columns if c in data}
        axis, divisor = _value_axis(name, [v for vs in values.values() for v in vs], right=bool(axis_index))
        y_axes.append(axis)
        for column, points in values.items():
            item: dict[str, Any] = {
                "type": "line", "name": columns[column], "showSymbol": False, "yAxisIndex": axis_index,
                "data": [None if v is None else float(f"{v / divisor:.4g}") for v in points]}
            if chart.stacked:
                item.update(stack="total", areaStyle={})
            if axis_index:
                item["lineStyle"] = {"type": "dashed"}
            series.append(item)
    return {
        "animation": False,
        "title": {"text": chart.title, "textStyle": {"fontSize": 13},
                  "subtext": "not collected in this scenario: " + ", ".join(missing) if missing else ""},
        "tooltip": {"trigger": "axis"},
        "legend": {"bottom": 0, "textStyle": {"fontSize": 10}},
        "grid": {"left": 60, "right": 60 if chart.right else 25, "top": 80 if missing else 65, "bottom": 60},
        "xAxis": {"type": "category", "data": months, "boundaryGap": False, "name": "month",
                  "nameLocation": "middle", "nameGap": 25},
        "yAxis": y_axes,
        "series": series,
        "graphic": _empty_hint(model),
    }


#: The "what am I looking at" text (HTML: the page shows it without a Markdown renderer).
EXPLAINER = """\
<b>What am I looking at?</b> An eco-industrial park: factories of different industries on
neighbouring plots. Each dot on the map is a firm, its colour is its industry and its size
how much it produced this month. Firms make waste and byproducts (ash, slag, heat, CO2...).
Normally these go to landfill at a cost; a <i>link</i> (a line on the map) means one firm's
byproduct is sold to a neighbour who uses it instead of buying raw material, so both save
money and emissions. The settings on the left are the government's and the banks' tools:
subsidies for link investment, a landfill tax, a carbon price, a matching platform, how the
gains of a link are shared, and cheaper "green" loans. Press <b>Step</b> to advance one
month, <b>&#9654;</b> to play month after month, <b>Reset</b> to start again with the
settings you chose. The charts below show what happens month by month.
"""
