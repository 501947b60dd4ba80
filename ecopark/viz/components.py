"""Pieces of the browser view, each a plain function of a model (testable without a browser).

- :func:`park_map_figure`: firms at their plots (km), coloured by sector, marker area
  proportional to this month's output; byproduct links (when the model has a byproduct
  market) drawn supplier -> receiver, coloured by stream, line width proportional to flow.
- :data:`CHARTS` and :func:`chart_figure`: the live charts, one declared table of
  (title, y-axis units, DataCollector columns, stacked?); a chart whose columns the model
  does not collect yet shows a "not collected in this scenario" note.
- :func:`steerable_model`: builds a :class:`ParkModel` from the page's controls; the lever
  table :data:`LEVERS` maps each control to a dotted scenario key. A ``ConfigError``
  (unknown key, value out of range, inconsistent choice) is caught and kept as
  ``model.config_error`` so the page shows the message instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, read_scenario_data
from ecopark.schema import ConfigError


# -- controls ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Lever:
    """One control of the page: a UI parameter ``name`` bound to the scenario key ``key``."""

    name: str
    key: str
    label: str
    widget: dict[str, Any]


#: The policy levers shown in the page, in one place (dotted scenario keys). Each widget
#: starts at the value of the ``generic`` preset.
LEVERS: tuple[Lever, ...] = (
    Lever("capex_subsidy_share", "policies.capex_subsidy.share", "Capex subsidy (share of link investment)",
          {"type": "SliderFloat", "value": 0.15, "min": 0.0, "max": 0.6, "step": 0.05}),
    Lever("landfill_tax_rate", "policies.landfill_tax.rate", "Landfill tax (yuan per tonne)",
          {"type": "SliderFloat", "value": 25.0, "min": 0.0, "max": 300.0, "step": 10.0}),
    Lever("carbon_tax_rate", "policies.carbon_tax.rate", "Carbon tax (yuan per tCO2e, 0 = off)",
          {"type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 300.0, "step": 10.0}),
    Lever("cap_decline", "policies.cap_and_trade.cap_decline", "Carbon cap: tighter each year by (share)",
          {"type": "SliderFloat", "value": 0.02, "min": 0.0, "max": 0.1, "step": 0.005}),
    Lever("platform_enabled", "policies.platform.enabled", "Matching platform on",
          {"type": "Checkbox", "value": False}),
    Lever("sharing_rule", "byproduct_market.sharing_rule", "Revenue-sharing rule",
          {"type": "Select", "value": "nash",
           "values": ["nash", "equal", "posted_price", "capex_share", "operator_commission"]}),
    Lever("green_discount_bp", "credit.green_discount_bp", "Green loan discount (basis points)",
          {"type": "SliderFloat", "value": 0.0, "min": 0.0, "max": 100.0, "step": 5.0}),
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
    """SolaraViz ``model_params``: preset, seed and every lever of :data:`LEVERS`."""
    params: dict[str, Any] = {
        "scenario": {"type": "Select", "value": "generic", "values": presets, "label": "Scenario preset"},
        "seed": {"type": "SliderInt", "value": 0, "min": 0, "max": 99, "step": 1, "label": "Random seed"},
    }
    for lever in LEVERS:
        params[lever.name] = {**lever.widget, "label": lever.label}
    return params


#: Resolution of the page's figures (dots per inch): low enough that a redraw stays fast.
FIGURE_DPI = 72


# -- park map -------------------------------------------------------------------------
def park_map_figure(model: ParkModel, ax: plt.Axes | None = None) -> Figure:
    """Map of the park: firms (marker area ~ output) by sector, links by stream (width ~ flow)."""
    if ax is None:
        fig = Figure(figsize=(6.4, 4.4), dpi=FIGURE_DPI)
        ax = fig.add_subplot()
        fig.subplots_adjust(left=0.08, right=0.72, top=0.92, bottom=0.1)
    else:
        fig = ax.figure
    firms, cat = model.firms, model.catalogue
    rows = firms.live
    size_km = model.scenario.park.size_km
    sector_colours = plt.get_cmap("tab20")
    stream_colours = plt.get_cmap("Dark2")
    links = _link_table(model)
    handles: list[Line2D] = []
    if links is not None and len(links):
        flow = links["flow"].to_numpy(float)
        widths = 0.5 + 4.0 * flow / max(flow.max(), 1e-12)
        streams = list(cat.streams)
        for (sup, rec, stream, w) in zip(links["supplier"], links["receiver"], links["stream"], widths, strict=True):
            k = streams.index(stream) if stream in streams else int(stream)
            ax.plot([firms.x[sup], firms.x[rec]], [firms.y[sup], firms.y[rec]], color=stream_colours(k % 8),
                    lw=w, alpha=0.7, zorder=1)
        for k in sorted({streams.index(s) if s in streams else int(s) for s in links["stream"]}):
            handles.append(Line2D([], [], color=stream_colours(k % 8), lw=2, label=f"link: {streams[k]}"))
    output = firms.output[rows]
    area = 15.0 + 185.0 * output / max(float(output.max()) if len(rows) else 0.0, 1e-12)
    sectors = firms.sector[rows]
    for s in np.unique(sectors):
        mask = sectors == s
        ax.scatter(firms.x[rows][mask], firms.y[rows][mask], s=area[mask], color=sector_colours(int(s) % 20),
                   edgecolors="black", linewidths=0.3, alpha=0.85, zorder=2)
        handles.append(Line2D([], [], marker="o", ls="", color=sector_colours(int(s) % 20),
                              label=cat.sector_keys[s]))
    vacant = model.vacant_plots()
    if len(vacant):
        ax.scatter(model.plot_xy[vacant, 0], model.plot_xy[vacant, 1], marker="x", s=12, color="0.6", zorder=1)
        handles.append(Line2D([], [], marker="x", ls="", color="0.6", label="vacant plot"))
    ax.set_xlim(0, size_km)
    ax.set_ylim(0, size_km)
    ax.set_aspect("equal")
    ax.set_xlabel("km")
    ax.set_ylabel("km")
    ax.set_title(f"Park map, month {model.steps}: {len(rows)} firms (dot size = output)")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


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


def chart_figure(model: ParkModel, chart: Chart) -> Figure:
    """The chart drawn from ``model.datacollector``; a note for columns not collected."""
    fig = Figure(figsize=(5.0, 3.0), dpi=FIGURE_DPI)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.16, right=0.84 if chart.right else 0.97, top=0.9, bottom=0.16)
    ax.set_title(chart.title, fontsize=10)
    data = model.datacollector.model_vars
    missing = [c for c in chart.all_columns if c not in data]
    handles = []
    pairs = [(ax, chart.columns)] + ([(ax.twinx(), chart.right)] if chart.right else [])
    for axis, columns in pairs:
        if axis is not ax:
            axis.set_ylabel(chart.right_label, fontsize=8)
        present = [c for c in columns if c in data]
        if not present:
            continue
        months = np.arange(1, len(data[present[0]]) + 1)
        values = [np.asarray(data[c], dtype=float) for c in present]
        labels = [columns[c] for c in present]
        if chart.stacked:
            handles += axis.stackplot(months, *values, labels=labels, alpha=0.8)
        else:
            style = "--" if axis is not ax else "-"
            offset = len(chart.columns) if axis is not ax else 0
            for i, (v, label) in enumerate(zip(values, labels, strict=True)):
                handles += axis.plot(months, v, style, color=f"C{offset + i}", label=label)
    if handles:
        ax.legend(handles=handles, fontsize=7, loc="best")
    if missing:
        ax.text(0.5, 0.08 if handles else 0.5,
                "not collected in this scenario: " + ", ".join(chart.all_columns[c] for c in missing),
                transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.4")
    ax.set_xlabel("month")
    ax.set_ylabel(chart.ylabel, fontsize=8)
    return fig


EXPLAINER = """\
**What am I looking at?** An eco-industrial park: factories of different industries on
neighbouring plots. Each dot on the map is a firm, its colour is its industry and its size
how much it produced this month. Firms make waste and byproducts (ash, slag, heat, CO2...).
Normally these go to landfill at a cost; a *link* (a line on the map) means one firm's
byproduct is sold to a neighbour who uses it instead of buying raw material, so both save
money and emissions. The levers on the left are the government's and the banks' tools:
subsidies for link investment, a landfill tax, a carbon price, a matching platform, how the
gains of a link are shared, and cheaper "green" loans. Press **Step** to advance one month,
**Play** to run, **Reset** to start again with new settings. The charts below show what
happens over time.
"""
