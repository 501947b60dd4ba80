"""The browser view as a class meets it (issue 29): the run ends at the horizon, a session
whose page is gone stops playing, labelled regime changes, zero-based share axes, distinct
colours and every term explained. Without a browser; tests/test_viz_e2e.py drives Chromium."""

from __future__ import annotations

import itertools
import re
import threading
import time
from types import SimpleNamespace

import ipyvuetify as v
import numpy as np
import pytest
import solara
import solara.server.settings
from solara.server.kernel_context import PageStatus

from ecopark.catalogue import load_catalogue
from ecopark.viz import app
from ecopark.viz import components as vc


@pytest.fixture(scope="module")
def two_years():
    """The default park after 26 months (two new caps, months 13 and 25)."""
    m = vc.SteerableParkModel(seed=1)
    for _ in range(26):
        m.step()
    return m


def _lab(colour: str) -> np.ndarray:
    """CIE L*a*b* of an sRGB hex colour (D65)."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 216 / 24389))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _min_difference(colours) -> float:
    return min(float(np.linalg.norm(_lab(a) - _lab(b))) for a, b in itertools.combinations(colours, 2))


def test_every_sector_and_stream_has_a_colour_of_its_own():
    """One colour per catalogue entry, no two alike (CIE76 difference >= 25); the two heat
    streams were one colour (the palette wrapped round) and cement was vacant-plot grey."""
    cat = load_catalogue()
    assert len(vc.SECTOR_COLOURS) >= len(cat.sector_keys) and len(vc.STREAM_COLOURS) >= len(cat.streams)
    assert _min_difference(vc.SECTOR_COLOURS[: len(cat.sector_keys)]) >= 25
    assert _min_difference(vc.STREAM_COLOURS[: len(cat.streams)]) >= 25
    streams = list(cat.streams)
    heat = [vc.STREAM_COLOURS[streams.index(s)] for s in ("waste_heat", "low_grade_heat")]
    assert heat[0] != heat[1]
    cement = vc.SECTOR_COLOURS[cat.sector_keys.index("building_materials")]
    assert np.linalg.norm(_lab(cement) - _lab(vc.VACANT_COLOUR)) >= 25


def test_vacant_plots_are_hollow_squares_unlike_any_firm(two_years):
    option = vc.park_map_option(two_years)
    vacant = [s for s in option["series"] if s["name"] == "vacant plot"]
    firms = [s for s in option["series"] if s["type"] == "scatter" and s["name"] != "vacant plot"]
    assert vacant and vacant[0]["symbol"] == "emptyRect"
    assert all(s.get("symbol", "circle") == "circle" for s in firms)
    assert all(s["color"] != vacant[0]["color"] for s in firms)
    legend = option["legend"][0]["textStyle"]
    assert legend["overflow"] == "break" and legend["width"] > 100  # long names wrap, none is cut off


def _chart(name: str) -> vc.Chart:
    return next(c for c in vc.CHARTS if name in c.all_columns)


def test_carbon_price_chart_labels_the_floor_and_the_penalty(two_years):
    cap = two_years.policy("cap_and_trade").params
    option = vc.chart_option(two_years, _chart("carbon_price"))
    lines = option["series"][0]["markLine"]["data"]
    assert [(m["yAxis"], m["name"]) for m in lines] == [(cap.reserve_price, f"floor {cap.reserve_price:g}"),
                                                       (cap.penalty, f"penalty {cap.penalty:g}")]
    assert option["yAxis"][0]["max"] >= cap.penalty  # the penalty line is inside the plot
    assert option["yAxis"][0]["scale"] is False  # and the axis starts at 0


def test_carbon_tax_alone_is_labelled_as_the_tax():
    m = SimpleNamespace(policy=lambda name: SimpleNamespace(params=SimpleNamespace(rate=80.0))
                        if name == "carbon_tax" else None)
    assert vc.carbon_price_marks(m) == [{"yAxis": 80.0, "name": "tax 80"}]


def test_emissions_chart_marks_each_new_cap(two_years):
    option = vc.chart_option(two_years, _chart("emissions_cap"))
    lines = option["series"][0]["markLine"]["data"]
    assert [(m["xAxis"], m["name"]) for m in lines] == [("13", "y2"), ("25", "y3")]
    assert set(m["xAxis"] for m in lines) <= set(option["xAxis"]["data"])  # on the month axis
    cap = two_years.datacollector.model_vars["emissions_cap"]
    assert cap[11] != cap[12] and cap[12] == cap[23]  # the cap moves exactly at a marked month


def test_share_axes_run_from_zero_to_one_and_every_axis_includes_zero(two_years):
    for chart in vc.CHARTS:
        option = vc.chart_option(two_years, chart)
        assert all(axis["scale"] is False for axis in option["yAxis"]), chart.title
    adoption = vc.chart_option(two_years, _chart("adoption_rate"))["yAxis"][0]
    assert (adoption["min"], adoption["max"]) == (0, 1)


def test_bad_loans_are_shown_in_yuan_not_as_a_share_of_a_tiny_book(two_years):
    """One working-capital loan falling behind made "bad-loan share, other" jump to 1.0."""
    chart = _chart("loans_outstanding")
    assert set(chart.all_columns) == {"loans_outstanding", "npl_outstanding_green", "npl_outstanding_other"}
    assert not chart.right and chart.ylabel == "yuan"
    data = two_years.datacollector.model_vars
    assert all(bad <= owed + 1e-6 for bad, owed in zip(data["npl_outstanding_other"], data["loans_outstanding"],
                                                        strict=True))


def test_every_chart_setting_and_term_is_explained_on_the_page():
    html = vc.EXPLAINER
    assert html.startswith("<details>") and "What am I looking at?" in html
    for chart in vc.CHARTS:
        assert chart.help and chart.title in html
    for lever in vc.LEVERS:
        assert lever.help and lever.help in html
        for value in lever.widget.get("values", []):  # a drop-down explains each of its values
            assert lever.choices[value].startswith(f"{value}:") and lever.choices[value] in html
    for term in ("nash", "basis point", "floor and penalty", "capex", "CO2e", "bad loan", "surplus",
                 "cap and allowance", "business as usual", "seed"):
        assert f"<dt>{term}</dt>" in html, term
    green = next(lever for lever in vc.LEVERS if lever.unit == "basis points")
    assert green.describe(40.0) == "40 basis points = 0.4 percentage points"
    cap = next(lever for lever in vc.LEVERS if lever.name == "cap_decline")
    assert "arrive, leave" in cap.help  # why the cap line moves other than by the slider


def test_the_run_ends_at_the_horizon():
    m = vc.SteerableParkModel()
    m.steps = m.horizon - 1  # the month before the last
    assert not m.finished and m.running
    m.step()
    assert m.steps == m.horizon and m.finished and m.running is False


def _buttons(model: vc.SteerableParkModel) -> dict[str, bool]:
    """The run controls rendered for ``model``: label -> disabled."""
    _box, rc = solara.render(app.RunControls(solara.reactive(model), solara.reactive({}), solara.reactive(300)),
                            handle_error=False)
    found = {b.children[0]: b.disabled for b in rc.find(v.Btn).widgets}
    rc.close()
    return found


def test_step_and_play_are_disabled_at_the_horizon():
    m = vc.SteerableParkModel()
    assert _buttons(m) == {"Reset": False, "\u25b6": False, "Step": False}
    m.steps = m.horizon
    assert _buttons(m) == {"Reset": False, "\u25b6": True, "Step": True}


def test_a_session_without_a_connected_page_is_not_alive():
    closed = threading.Event()
    session = SimpleNamespace(closed_event=closed, page_status={"tab": PageStatus.CONNECTED})
    assert app.session_alive(session) and app.session_alive(None)
    session.page_status["tab"] = PageStatus.DISCONNECTED  # the tab was closed or lost its connection
    assert not app.session_alive(session)
    session.page_status["tab"] = PageStatus.CONNECTED
    closed.set()  # Solara closed the session
    assert not app.session_alive(session)


def test_sessions_are_freed_soon_after_their_tab_and_no_banner_covers_the_charts():
    """Solara keeps a session whose pages are gone for 24 h by default."""
    assert solara.util.parse_timedelta(solara.server.settings.kernel.cull_timeout) == \
        solara.util.parse_timedelta(app.SESSION_GRACE) <= 120
    assert solara.server.settings.theme.show_banner is False


def test_the_page_fits_a_laptop_screen():
    """Three figures a row of FIGURE_HEIGHT px (map two wide): with the one-line explainer
    two rows fit the 736 px under the app bar of a 1280x800 screen."""
    assert re.search(r"grid-template-columns: repeat\(3", app.CSS) and "span 2" in app.CSS
    assert 40 + 2 * (app.FIGURE_HEIGHT + 6) <= 736 - 24


def test_play_loop_stops_when_the_session_has_no_connected_page(monkeypatch):
    """RunControls' play task ends within a few play intervals once the session's page goes."""
    session = SimpleNamespace(closed_event=threading.Event(), page_status={"tab": PageStatus.CONNECTED})
    monkeypatch.setattr(app, "_current_context", lambda: session)
    model = solara.reactive(vc.SteerableParkModel())
    _box, rc = solara.render(app.RunControls(model, solara.reactive({}), solara.reactive(50)), handle_error=False)
    play = next(b for b in rc.find(v.Btn).widgets if b.children == ["\u25b6"])
    play.click()
    deadline = time.monotonic() + 30
    while model.value.steps < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model.value.steps >= 2  # playing
    session.page_status["tab"] = PageStatus.DISCONNECTED
    time.sleep(0.5)
    stopped_at = model.value.steps
    time.sleep(1.0)
    assert model.value.steps == stopped_at  # no month stepped after the page went
    rc.close()


def _asgi_get(app, path: str, headers: list[tuple[bytes, bytes]], method: str = "GET") -> list[dict]:
    """The messages ``app`` sends for one request."""
    import asyncio

    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": b"", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_static_files_are_compressed_once_per_server_not_once_per_visitor():
    """Solara gzipped echarts.js (3.2 MB) afresh for every visitor: about 1 s of CPU each."""
    import gzip

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.gzip import GZipMiddleware

    from ecopark.viz import serving

    calls: list[str] = []
    body = b"var echarts = 1;\n" * 4000

    async def files(scope, receive, send):
        calls.append(scope["path"])
        status = 404 if scope["path"].endswith("missing.js") else 200
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/javascript"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    cached = serving.CachedStaticGZip(files, minimum_size=1000)
    gz = [(b"accept-encoding", b"gzip, deflate")]
    first = _asgi_get(cached, "/_solara/cdn/echarts.js", gz)
    second = _asgi_get(cached, "/_solara/cdn/echarts.js", gz)
    assert calls == ["/_solara/cdn/echarts.js"] and first == second  # the second visitor gets the stored bytes
    assert gzip.decompress(b"".join(m.get("body", b"") for m in second)) == body
    assert b"".join(m.get("body", b"") for m in _asgi_get(cached, "/_solara/cdn/echarts.js", [])) == body
    assert len(calls) == 2  # a client without gzip has an entry of its own
    for path, headers, method in (("/", gz, "GET"),  # the page sets a session cookie
                                  ("/static/x.js", [*gz, (b"if-none-match", b'"abc"')], "GET"),
                                  ("/static/x.js", gz, "POST"), ("/static/missing.js", gz, "GET")):
        before = len(calls)
        _asgi_get(cached, path, headers, method)
        _asgi_get(cached, path, headers, method)
        assert len(calls) == before + 2, path  # answered afresh each time

    app_ = Starlette(middleware=[Middleware(GZipMiddleware, minimum_size=1000)])
    assert serving.install(app_) and app_.user_middleware[0].cls is serving.CachedStaticGZip
    assert app_.user_middleware[0].kwargs == {"minimum_size": 1000, "compresslevel": 6}
    assert app_.middleware_stack is None


def test_visitors_arriving_together_share_one_compression():
    """Two requests for a file not yet cached: the second waits for the first's bytes."""
    import asyncio

    from ecopark.viz import serving

    calls: list[str] = []
    body = b"x" * 50_000

    async def slow_files(scope, receive, send):
        calls.append(scope["path"])
        await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/css")]})
        await send({"type": "http.response.body", "body": body})

    cached = serving.CachedStaticGZip(slow_files)

    async def visit() -> bytes:
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/static/main.css", "query_string": b"",
                 "headers": [(b"accept-encoding", b"gzip")]}
        await cached(scope, receive, send)
        return b"".join(m.get("body", b"") for m in sent)

    async def class_arrives() -> list[bytes]:
        return await asyncio.gather(*(visit() for _ in range(5)))

    answers = asyncio.run(class_arrives())
    assert calls == ["/static/main.css"] and len(set(answers)) == 1 and len(answers[0]) < len(body)
