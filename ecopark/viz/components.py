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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, read_scenario_data
from ecopark.schema import ConfigError
from ecopark.viz.numbers import magnitude

#: Colours of sectors and streams, one per catalogue entry in catalogue order (Tableau's and
#: ColorBrewer's qualitative palettes, adjusted): every two colours of a palette differ by a
#: CIE76 colour difference of at least 25 (tests/test_viz_components.py checks it), so the
#: two heat streams (red, light orange) and the 13 industries are told apart. No industry is
#: grey: grey, hollow squares are vacant plots.
SECTOR_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#393b79",
                  "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a",
                  # the case library's sectors (issue 26): each as far in CIE L*a*b* from all above as a grid allows
                  "#0000ff", "#ff22ff", "#00ff00", "#004422", "#0066ff", "#ff0077", "#888844", "#ff22bb", "#ff8888",
                  "#bb66ff", "#009977")
STREAM_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#666666",
                  "#e6ab02", "#1b9e77", "#a6cee3", "#b2df8a", "#fdbf6f",
                  "#0000ff", "#ff22ff", "#00ff00", "#0066ff", "#ddff00", "#ff0077", "#777711")
#: Colour and symbol of a vacant plot on the map (no industry has either).
VACANT_COLOUR, VACANT_SYMBOL = "#aaaaaa", "emptyRect"


# -- controls ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """One control of the page: a UI parameter ``name`` bound to the scenario key ``key``.

    ``unit`` is shown after the value beside the slider ("25 yuan per tonne"); ``percent``
    shows a share (0-1) as a percentage. ``help`` is the plain-words explanation shown when
    the pointer rests on the control and listed in the "What am I looking at?" panel;
    ``choices`` explains each value of a drop-down (shown under it for the chosen one).
    """

    name: str
    key: str
    label: str
    widget: dict[str, Any]
    unit: str = ""
    percent: bool = False
    help: str = ""
    choices: dict[str, str] = field(default_factory=dict)

    def describe(self, value: Any) -> str:
        """The value as the page shows it, with its unit: "15 %", "25 yuan per tonne", "on";
        basis points also in percentage points ("40 basis points = 0.4 percentage points")."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, str):
            return value
        if self.percent:
            return f"{100 * float(value):g} %"
        if self.unit == "basis points":
            return f"{float(value):g} basis points = {float(value) / 100:g} percentage points"
        return f"{float(value):g} {self.unit}".strip()


#: The policy levers shown in the page, in one place (dotted scenario keys). Each widget
#: starts at the value of the ``generic`` preset; choosing another preset moves every lever
#: to that preset's value (:func:`lever_values`). Slider steps divide every preset's value.
LEVERS: tuple[Lever, ...] = (
    Lever("capex_subsidy_share", "policies.capex_subsidy.share", "Capex subsidy (share of link investment)",
          {"type": "SliderFloat", "value": 0.15, "min": 0.0, "max": 0.6, "step": 0.05}, percent=True,
          help="Capex is capital expenditure: the one-off cost of building a link (pipes, trucks, "
               "treatment). The state pays this share of it."),
    Lever("landfill_tax_rate", "policies.landfill_tax.rate", "Landfill tax",
          {"type": "SliderFloat", "value": 25.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="yuan per tonne",
          help="What a firm pays the state for each tonne of waste it sends to landfill instead of "
               "to a user."),
    Lever("carbon_tax_rate", "policies.carbon_tax.rate", "Carbon tax (0 = off)",
          {"type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="yuan per tCO2e",
          help="A fixed price on each tonne of CO2e (CO2 equivalent: CO2 plus other greenhouse gases "
               "counted by their warming) that a firm emits."),
    Lever("cap_decline", "policies.cap_and_trade.cap_decline", "Carbon cap: cut each year by",
          {"type": "SliderFloat", "value": 0.02, "min": 0.0, "max": 0.1, "step": 0.005}, percent=True,
          help="Each January the cap is reset to 97 % of what the capped firms then in the park "
               "would emit with no effort, less this share for every year passed. So the cap line "
               "also moves when capped firms arrive, leave or produce more."),
    Lever("platform_enabled", "policies.platform.enabled", "Matching platform on",
          {"type": "Checkbox", "value": False},
          help="A park website that shows every firm every possible byproduct partner, instead of "
               "only the neighbours it happens to meet; it charges a fee per link."),
    Lever("sharing_rule", "byproduct_market.sharing_rule", "Revenue-sharing rule",
          {"type": "Select", "value": "nash",
           "values": ["nash", "equal", "posted_price", "capex_share", "operator_commission"]},
          help="How the two firms of a link split what the link saves them (its surplus).",
          choices={"nash": "nash: the firms bargain (Nash bargaining, after the mathematician John Nash); "
                           "each ends with its bargaining power's share of the saving (half each by default)",
                   "equal": "equal: the saving is split half and half, without bargaining",
                   "posted_price": "posted_price: the price is fixed by the park (the waste's producer pays "
                                   "the user 60 % of the landfill contractor's price, a green fund adds the "
                                   "rest); other byproducts bargain as under nash",
                   "capex_share": "capex_share: as nash, and each firm pays the link's building cost in "
                                  "the same shares as it takes the saving",
                   "operator_commission": "operator_commission: as nash, and the park operator takes a "
                                          "commission on the saving every month"}),
    Lever("green_discount_bp", "credit.green_discount_bp", "Green loan discount",
          {"type": "SliderFloat", "value": 40.0, "min": 0.0, "max": 300.0, "step": 5.0}, unit="basis points",
          help="How much lower the interest rate is on a green loan (a loan to build a link or clean "
               "technology). A basis point is a hundredth of a percentage point: 100 basis points "
               "take a 4 % rate down to 3 %."),
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
        self.config_error: str | None = None
        try:
            chosen = load_scenario(scenario, lever_overrides(kwargs, scenario))
        except ConfigError as exc:
            self.config_error = str(exc)
            chosen = load_scenario(scenario)
        super().__init__(chosen, seed=int(seed))

    @property
    def horizon(self) -> int:
        """The scenario's last month (``park.horizon``): the page's run ends there."""
        return int(self.scenario.park.horizon)

    @property
    def finished(self) -> bool:
        """Whether the run has reached its horizon (Play stops, Step is disabled)."""
        return self.steps >= self.horizon

    def step(self) -> None:
        """One month; at the horizon ``running`` turns False (Mesa's convention for "done")."""
        super().step()
        if self.finished:
            self.running = False


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
#: width: each lists every entry in a column of its own, with no paging; a name wider than
#: MAP_LEGEND_TEXT_PX pixels wraps onto a second line instead of being cut off.
MAP_LEGEND_LEFT = ("42%", "71%")
MAP_LEGEND_TEXT_PX = 140

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
        series.append({"type": "scatter", "name": "vacant plot", "symbol": VACANT_SYMBOL, "symbolSize": 6,
                       "color": VACANT_COLOUR, "z": 0,
                       "data": [[_number(x), _number(y)] for x, y in model.plot_xy[vacant]]})
    axis = {"type": "value", "min": 0, "max": size_km, "name": "km", "nameGap": 22, "nameLocation": "middle"}
    firm_names = [s["name"] for s in series if s["type"] == "scatter"]
    link_names = [s["name"] for s in series if s["type"] == "lines"]
    legend = {"type": "plain", "orient": "vertical", "top": 44, "itemGap": 3, "itemWidth": 12, "itemHeight": 9,
              "textStyle": {"fontSize": 10, "width": MAP_LEGEND_TEXT_PX, "overflow": "break", "lineHeight": 11}}
    heading = {"type": "text", "top": 28, "style": {"fontSize": 11, "fontWeight": "bold", "fill": "#444"}}
    return {
        "animation": False,
        "title": {"text": f"Park map, month {model.steps}: {len(rows)} firms (dot size = output this month)",
                  "textStyle": {"fontSize": 12}},
        "tooltip": {"trigger": "item", "formatter": "{a}<br/>{b}"},
        "legend": [{**legend, "data": firm_names, "left": MAP_LEGEND_LEFT[0]},
                   {**legend, "data": link_names, "left": MAP_LEGEND_LEFT[1]}],
        "graphic": [{**heading, "left": MAP_LEGEND_LEFT[0], "style": {**heading["style"],
                                                                              "text": "Industry (dot colour)"}},
                    {**heading, "left": MAP_LEGEND_LEFT[1],
                     "style": {**heading["style"], "text": "Byproduct (line colour)" if link_names else ""}}],
        "grid": {"left": 40, "right": "60%", "top": 34, "bottom": 36},
        "xAxis": axis,
        "yAxis": {**axis, "nameGap": 24},
        "series": series,
    }


def _link_table(model: ParkModel):
    """The active links (supplier, receiver, stream, flow, surplus) or None without a market."""
    market = getattr(model, "byproduct_market", None)
    return None if market is None else market.link_table()


# -- live charts ------------------------------------------------------------------------
def carbon_price_marks(model: ParkModel) -> list[dict[str, Any]]:
    """Horizontal lines on the carbon-price chart where the price's regime changes: under
    cap-and-trade the floor (``reserve_price``: the government sells no allowance below it)
    and the penalty (``penalty``: the fine per tonne not covered, so no firm pays more); with
    a carbon tax alone, the tax rate."""
    cap = model.policy("cap_and_trade")
    if cap:
        return [{"yAxis": float(cap.params.reserve_price), "name": f"floor {cap.params.reserve_price:g}"},
                {"yAxis": float(cap.params.penalty), "name": f"penalty {cap.params.penalty:g}"}]
    tax = model.policy("carbon_tax")
    return [{"yAxis": float(tax.params.rate), "name": f"tax {tax.params.rate:g}"}] if tax else []


def new_cap_marks(model: ParkModel) -> list[dict[str, Any]]:
    """Vertical lines on the emissions chart at each January after the first (months 13, 25,
    ...; labelled y2, y3, ...) under cap-and-trade: the cap is reset there (``cap_start (1 -
    cap_decline)^year x`` the capped firms' no-effort emissions), so the cap line steps."""
    if not model.policy("cap_and_trade"):
        return []
    return [{"xAxis": str(month), "name": f"y{1 + (month - 1) // 12}"} for month in range(13, model.steps + 1, 12)]


@dataclass(frozen=True)
class Chart:
    """A live chart: title, y-axis label with units, DataCollector columns (label per column).

    ``right`` columns are drawn dashed against a second y axis labelled ``right_label``, for
    a series whose units differ (a count beside a share). ``share``: the left axis shows a
    share, drawn from 0 to 1 whatever the data. ``marks`` gives the chart's labelled
    reference lines (:func:`carbon_price_marks`); ``help`` says how to read the chart, in
    the "What am I looking at?" panel.
    """

    title: str
    ylabel: str
    columns: dict[str, str]
    stacked: bool = False
    right: dict[str, str] = field(default_factory=dict)
    right_label: str = ""
    share: bool = False
    marks: Callable[[ParkModel], list[dict[str, Any]]] | None = None
    help: str = ""

    @property
    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **self.right}


CHARTS: tuple[Chart, ...] = (
    Chart("Firms in links, and active links", "share of firms (0-1)",
          {"adoption_rate": "share of firms in a link"},
          right={"links_active": "active links"}, right_label="number of links", share=True,
          help="Solid line, left axis: the share of the park's firms in at least one link (0 = none, 1 = "
               "all). Dashed line, right axis: the number of links working this month."),
    Chart("Carbon price (auction every 3 months)", "yuan per tonne CO2e", {"carbon_price": "carbon price"},
          marks=carbon_price_marks,
          help="The price of an allowance (the right to emit one tonne of CO2e), set at an auction every "
               "three months (sessions set by the scenario). Grey lines: the <i>floor</i>, the lowest price "
               "at which the government sells allowances, and the <i>penalty</i>, the fine for each tonne "
               "not covered by an allowance (nobody pays more than the fine). The price sits on the floor "
               "when allowances are plentiful and jumps to the penalty when they run short."),
    Chart("Emissions, cap and business as usual", "tonnes CO2e per month",
          {"emissions": "actual", "emissions_cap": "cap", "emissions_bau": "business as usual"},
          marks=new_cap_marks,
          help="Tonnes of CO2e a month. <i>Business as usual</i>: what the firms would emit with no links "
               "and no clean technology; the gap down to <i>actual</i> is what the park avoids. <i>Cap</i>: "
               "the year's allowances / 12; it covers only the heavy industries, so it can sit below actual "
               "emissions without anyone breaking the rules. Grey vertical lines (y2, y3, ...): a new year, "
               "when the cap is reset (see <i>Carbon cap</i> below), so the cap line steps there."),
    Chart("Bank loans: owed and gone bad", "yuan",
          {"loans_outstanding": "owed to banks", "npl_outstanding_green": "bad: green loans",
           "npl_outstanding_other": "bad: working-capital loans"},
          help="Money firms owe to banks, and how much of it is on <i>bad loans</i> (three or more monthly "
               "payments behind), for green loans and for working-capital loans (loans for everyday running "
               "costs). Shown in yuan rather than as a share: with only one or two loans out, a share would "
               "leap from 0 to 1 as soon as one falls behind."),
    Chart("Who gains from links (surplus split)", "yuan per month",
          {"surplus_supplier": "suppliers", "surplus_receiver": "receivers", "surplus_operator": "park operator",
           "surplus_government": "government"}, stacked=True,
          help="Each month's gain from links (their <i>surplus</i>), stacked: suppliers, receivers, the park "
               "operator's fees and the government, whose band is below zero: it pays subsidies and no "
               "longer collects landfill tax on reused waste."),
    Chart("Government spending on subsidies", "yuan per month", {"fiscal_spending": "fiscal spending"},
          help="What the government spends on subsidies each month; it spikes when the state pays its share "
               "of new investments."),
)


#: Shown in the middle of a chart that has no month to draw yet.
EMPTY_HINT = "Press Step (or \u25b6 to play) to run the first month"


def _empty_hint(model: ParkModel) -> list[dict[str, Any]]:
    """ECharts ``graphic`` of the hint on an empty chart (nothing before the first month)."""
    if model.steps:
        return []
    return [{"type": "text", "left": "center", "top": "middle", "z": 100,
             "style": {"text": EMPTY_HINT, "fontSize": 12, "fill": "#777"}}]


def nice_ceiling(value: float) -> float:
    """The smallest round number >= ``value``: 660 -> 700, 41 -> 50, 0.3 -> 0.3 (one significant digit up)."""
    if value <= 0:
        return 1.0
    unit = 10.0 ** math.floor(math.log10(value))
    return float(f"{math.ceil(round(value / unit, 9)) * unit:.6g}")


def _value_axis(name: str, values: list[float], right: bool = False, share: bool = False,
                reach: float = 0.0) -> tuple[dict[str, Any], float]:
    """A y axis titled ``name`` above its top end (clear of the tick labels), starting at 0
    (or below, for negative values), with tick labels abbreviated ("250 M") when the series
    run into thousands or more; returns the axis and the divisor applied to the data (1e6 for
    "M"). A ``share`` axis runs from 0 to 1; ``reach`` raises the top to show a reference
    line at that value."""
    finite = [abs(v) for v in values if v is not None]
    divisor, suffix = magnitude(max([*finite, reach], default=0.0))
    axis: dict[str, Any] = {"type": "value", "name": name, "nameLocation": "end", "nameGap": 18,
                            "nameTextStyle": {"align": "right" if right else "left", "color": "#555", "fontSize": 11},
                            "scale": False, "axisLabel": {"formatter": f"{{value}} {suffix}" if suffix else "{value}"}}
    if share:
        axis.update(min=0, max=1)
    elif reach > max([v for v in values if v is not None], default=0.0):
        axis["max"] = nice_ceiling(1.08 * reach / divisor)
    if right:
        axis["splitLine"] = {"show": False}
    return axis, divisor


def _mark_line(marks: list[dict[str, Any]], divisor: float) -> dict[str, Any]:
    """An ECharts markLine of labelled grey reference lines (values divided like the axis): a
    horizontal line is labelled above its right end, a vertical one above the plot."""
    data = [{**m, "yAxis": m["yAxis"] / divisor, "label": {"position": "insideEndTop"}} if "yAxis" in m
            else {**m, "label": {"position": "end"}} for m in marks]
    return {"silent": True, "symbol": "none", "data": data, "animation": False,
            "lineStyle": {"color": "#888", "type": "dotted", "width": 1.5},
            "label": {"formatter": "{b}", "fontSize": 10, "color": "#444"}}


#: Width in pixels a chart's legend can fill (a chart in a third of the main area at 1280x800).
LEGEND_WIDTH_PX = 260


def _legend_rows(labels: list[str]) -> int:
    """Rows the legend of ``labels`` takes at font size 10 (about 5.6 px a character, 32 px
    of symbol and gap per entry) in :data:`LEGEND_WIDTH_PX`; the plot leaves that room."""
    rows, used = 1, 0.0
    for label in labels:
        width = 32 + 5.6 * len(label)
        if used and used + width > LEGEND_WIDTH_PX:
            rows, used = rows + 1, 0.0
        used += width
    return rows


def chart_option(model: ParkModel, chart: Chart) -> dict[str, Any]:
    """ECharts option of ``chart`` from ``model.datacollector.model_vars`` (x = months "1", "2", ... as categories).

    The x axis is a category axis of months, so a stacked chart stacks its series' values
    month by month (on a numeric x axis ECharts would stack the months instead). Every y
    axis includes 0; a share axis runs from 0 to 1. Values of a thousand or more are divided
    by their magnitude (k, M, bn) and the tick labels say so; the chart's ``marks`` are drawn
    as labelled grey lines (the axis reaches up to show them); before the first month the
    chart shows :data:`EMPTY_HINT`.
    """
    data = model.datacollector.model_vars
    missing = [label for c, label in chart.all_columns.items() if c not in data]
    months = [str(m) for m in range(1, model.steps + 1)]
    marks = chart.marks(model) if chart.marks else []
    reach = max((m["yAxis"] for m in marks if "yAxis" in m), default=0.0)
    series, y_axes = [], []
    for axis_index, (columns, name) in enumerate(((chart.columns, chart.ylabel), (chart.right, chart.right_label))):
        if axis_index and not chart.right:
            break
        values = {c: [_number(v) for v in data[c]] for c in columns if c in data}
        axis, divisor = _value_axis(name, [v for vs in values.values() for v in vs], right=bool(axis_index),
                                    share=chart.share and not axis_index, reach=0.0 if axis_index else reach)
        y_axes.append(axis)
        for column, points in values.items():
            item: dict[str, Any] = {
                "type": "line", "name": columns[column], "showSymbol": False, "yAxisIndex": axis_index,
                "data": [None if v is None else float(f"{v / divisor:.4g}") for v in points]}
            if chart.stacked:
                item.update(stack="total", areaStyle={})
            if axis_index:
                item["lineStyle"] = {"type": "dashed"}
            if marks and not axis_index and not any(s.get("markLine") for s in series):
                item["markLine"] = _mark_line(marks, divisor)
            series.append(item)
    return {
        "animation": False,
        "title": {"text": chart.title, "textStyle": {"fontSize": 12},
                  "subtext": "not collected in this scenario: " + ", ".join(missing) if missing else ""},
        "tooltip": {"trigger": "axis"},
        "legend": {"bottom": 0, "itemGap": 6, "itemWidth": 16, "textStyle": {"fontSize": 10}},
        "grid": {"left": 48, "right": 44 if chart.right else 18, "top": 76 if missing else 56,
                 "bottom": 44 + 18 * _legend_rows(list(chart.all_columns.values()))},
        "xAxis": {"type": "category", "data": months, "boundaryGap": False, "name": "month",
                  "nameLocation": "middle", "nameGap": 22},
        "yAxis": y_axes,
        "series": series,
        "graphic": _empty_hint(model),
    }


#: Words the page uses, explained in the "What am I looking at?" panel (term: meaning).
GLOSSARY: dict[str, str] = {
    "byproduct": "what a factory makes besides its product: waste heat, steam, CO2, ash, slag, acid, straw, "
                 "food residue, scrap.",
    "link": "a line on the map: one firm's byproduct goes to a neighbour who uses it instead of buying raw "
            "material or fuel. Both save money, and less goes to landfill or into the air.",
    "surplus": "what a link saves its two firms together each month; the sharing rule splits it.",
    "capex": "capital expenditure: the one-off cost of building something (a pipe, a dryer, a heat pump).",
    "CO2e": "CO2 equivalent: CO2 plus other greenhouse gases, counted by how much they warm the planet.",
    "cap and allowance": "the heavy industries (refining, chemicals, aluminium, copper, cement) need one "
                         "allowance for each tonne of CO2e they emit; the cap is how many allowances exist "
                         "this year. Firms get most of them free and buy or sell the rest at the auction.",
    "floor and penalty": "the carbon price's lowest and highest levels: the government sells no allowance "
                         "below the floor (40 yuan in the generic park), and a firm short of allowances pays "
                         "the penalty per tonne (600 yuan), so nobody bids more. A price jumping between them "
                         "means allowances went from plentiful to short.",
    "business as usual": "what the park would emit with no links and no clean technology.",
    "green loan": "a bank loan for a link or a clean technology, at a discounted interest rate.",
    "bad loan": "a loan three or more monthly payments behind (bankers say non-performing loan, NPL).",
    "basis point": "a hundredth of a percentage point: a 40 basis point discount takes a 4 % rate to 3.6 %.",
    "nash": "Nash bargaining (after the mathematician John Nash): the two firms of a link haggle, and each "
            "ends with its bargaining power's share of the saving.",
    "matching platform": "a park website that shows each firm every possible partner, not only the "
                         "neighbours it happens to meet.",
    "seed": "the number that fixes the run's luck (demand, who meets whom): the same seed and settings "
            "replay the same run.",
    "preset": "a park to start from: generic, or one modelled on a real Chinese park.",
}


def explainer_html() -> str:
    """The "What am I looking at?" panel: a one-line summary that opens (an HTML ``details``)
    onto the park in plain words, how to read each chart of :data:`CHARTS`, the settings
    (each lever's ``help``) and the :data:`GLOSSARY`."""
    charts = "".join(f"<dt>{c.title}</dt><dd>{c.help}</dd>" for c in CHARTS)
    levers = "".join(f"<dt>{lever.label}</dt><dd>{lever.help}"
                     + ("<ul>" + "".join(f"<li>{text}</li>" for text in lever.choices.values()) + "</ul>"
                        if lever.choices else "") + "</dd>" for lever in LEVERS)
    words = "".join(f"<dt>{term}</dt><dd>{text}</dd>" for term, text in GLOSSARY.items())
    return (
        "<details><summary><b>What am I looking at?</b> An eco-industrial park, month by month: "
        "click here for what the map, the charts and every word mean.</summary>"
        "<p>Factories of different industries on neighbouring plots. Each dot on the map is a firm, its "
        "colour is its industry and its size how much it produced this month; hollow grey squares are "
        "empty plots. Firms make byproducts (ash, slag, heat, CO2...). Normally these go to landfill at a "
        "cost; a <i>link</i> (a line on the map) means one firm's byproduct is sold to a neighbour who uses "
        "it instead of buying raw material, so both save money and emissions. Point at a dot or a line to "
        "see what it is. The settings on the left are the government's and the banks' tools. Press "
        "<b>Step</b> to advance one month, <b>&#9654;</b> to play month after month (it stops at the last "
        "month), <b>Reset</b> to start again with the settings you chose.</p>"
        f"<b>The charts</b><dl>{charts}</dl><b>The settings</b><dl>{levers}</dl>"
        f"<b>Words on this page</b><dl>{words}</dl></details>"
    )


#: The "what am I looking at" panel's HTML (the page shows it without a Markdown renderer).
EXPLAINER = explainer_html()
