"""End to end: serve the app, drive it in headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """The app served on a free loopback port: (url, server process id, server log path)."""
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ecopark", "viz", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.3)
    yield url, proc.pid, tmp_path / "server.log"
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)
    log.close()


@pytest.fixture
def server(served):
    return served[0]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kernels(url: str) -> dict:
    """Solara's count of live sessions (virtual kernels), from its /resourcez endpoint."""
    return json.load(urllib.request.urlopen(url + "resourcez", timeout=10))["kernels"]


MONTH = "() => +(document.body.innerText.match(/Month (\\d+) of/) || [0, -1])[1]"


CANVASES = "Array.from(document.querySelectorAll('canvas')).map(c => c.toDataURL())"

#: For each ECharts figure on the page: its title, the month at each end of its drawn x axis
#: (what the browser computed, not what the server sent) and, for a stacked chart, the top
#: of the stack in the last month beside the sum of its series' values that month.
CHART_DATA = """() => {
 const find = v => v && (v.chart ? v.chart : v.$children.map(find).find(c => c));
 return Array.from(document.querySelectorAll('.solara-echarts')).map(el => find(el.__vue__)).filter(c => c)
 .map(chart => {
  const model = chart.getModel(), option = chart.getOption();
  const axis = model.getComponent('xAxis', 0).axis, ext = axis.scale.getExtent();
  const month = v => axis.type === 'category' ? Number(axis.scale.getOrdinalMeta().categories[v]) : v;
  const series = option.series.filter(s => s.type === 'line');
  let top = null, sum = null;
  if (series.length && series.every(s => s.stack)) {
    const last = model.getSeriesByIndex(series.length - 1).getData(), n = last.count() - 1;
    top = last.get(last.getCalculationInfo('stackResultDimension'), n);
    sum = series.reduce((acc, s) => acc + (Array.isArray(s.data[n]) ? s.data[n][1] : s.data[n]), 0);
  }
  return {title: option.title[0].text, first: month(ext[0]), last: month(ext[1]), top: top, sum: sum};
 });
}"""


def _canvas_pixels(page) -> list[str]:
    """Each ECharts canvas as a data URL (the drawn pixels)."""
    return page.evaluate(CANVASES)


def _open(browser_context, url: str, failed: list[str] | None = None):
    page = browser_context.new_page()
    if failed is not None:  # every request the page makes that the server cannot answer
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    page.get_by_text("What am I looking at?").wait_for(timeout=30_000)
    page.get_by_text("Month 0 of 120").wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('canvas').length >= 7", timeout=30_000)
    return page


def _step(page, times: int) -> None:
    step = page.get_by_role("button", name="Step", exact=True)
    for _ in range(times):
        step.click()
        time.sleep(0.3)


def test_two_sessions_step_charts_slider_reset_in_browser(server, tmp_path):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 2400})
        failed: list[str] = []
        page = _open(context, server, failed)
        time.sleep(1.0)  # let ECharts finish its first paint
        before = _canvas_pixels(page)
        _step(page, 3)
        page.get_by_text("Month 3 of 120").wait_for(timeout=20_000)
        page.wait_for_function(f"(b) => {CANVASES}.join() != b", arg=",".join(before), timeout=20_000)
        time.sleep(1.0)
        after = _canvas_pixels(page)
        assert sum(a != b for a, b in zip(before, after, strict=False)) >= 2  # map and charts redrawn
        page.screenshot(path=str(tmp_path / "stepped.png"), full_page=True)

        # every chart's drawn month axis runs from month 1 to month 3; the surplus chart
        # stacks the parties' values (not the months) and its top is their sum
        charts = [c for c in page.evaluate(CHART_DATA) if not c["title"].startswith("Park map")]
        assert len(charts) == 6
        assert all((c["first"], c["last"]) == (1, 3) for c in charts), charts
        surplus = next(c for c in charts if c["title"].startswith("Who gains"))
        assert surplus["top"] == pytest.approx(surplus["sum"], rel=1e-6, abs=1e-9)

        # a second tab of the same browser has a model of its own: it starts at month 0,
        # and stepping it leaves the first tab at month 3
        other = _open(context, server)
        _step(other, 1)
        other.get_by_text("Month 1 of 120").wait_for(timeout=20_000)
        time.sleep(0.5)
        assert page.get_by_text("Month 3 of 120").count() == 1
        assert page.get_by_text("Month 1 of 120").count() == 0
        other.get_by_role("button", name="\u25b6", exact=True).click()  # play, then pause
        other.wait_for_function(f"() => ({MONTH})() >= 4", timeout=20_000, polling=50)
        other.get_by_role("button", name="\u275a\u275a", exact=True).click()
        assert page.get_by_text("Month 3 of 120").count() == 1
        other.close()

        # every slider has a usable width and shows its value with its unit
        widths = page.evaluate("Array.from(document.querySelectorAll('.ecopark-control .v-slider'))"
                               ".map(e => e.getBoundingClientRect().width)")
        assert len(widths) >= 6 and min(widths) > 150, widths
        control = page.locator(".ecopark-control", has_text="Landfill tax")
        assert "25 yuan per tonne" in control.inner_text()  # the preset's value, exactly
        box = control.locator(".v-slider").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
        page.wait_for_function("() => !document.body.innerText.includes('Landfill tax: 25 yuan')", timeout=10_000)
        assert "yuan per tonne" in control.inner_text()
        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("Month 0 of 120").wait_for(timeout=20_000)
        page.get_by_text("What am I looking at?").wait_for(timeout=20_000)
        assert page.get_by_text("Setting not applied").count() == 0  # the landfill tax lever was accepted
        page.screenshot(path=str(tmp_path / "reset.png"), full_page=True)

        # choosing a preset moves the levers to that park's values (liaocheng's cap declines 1 % a year)
        page.locator(".v-select", has_text="Scenario preset").click()
        page.locator(".v-list-item", has_text="liaocheng").click()
        page.get_by_text("Carbon cap: cut each year by: 1 %").wait_for(timeout=10_000)
        assert failed == []  # nothing the offline page asks for is missing (Solara's katex was: two 404s)
        browser.close()
    assert (tmp_path / "stepped.png").stat().st_size > 10_000


def test_classroom_page_fits_a_laptop_stops_at_the_horizon_and_a_closed_tab_stops_stepping(served):
    """At 1280x800 the map and four charts are in view with no Solara banner; Play stops at
    month 120 with Step disabled; a tab closed while playing costs the server no more CPU and
    its session has no connected page; the server console stays free of warnings."""
    url, pid, log = served
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = _open(browser.new_context(viewport={"width": 1280, "height": 800}), url)
        boxes = page.evaluate("Array.from(document.querySelectorAll('.solara-echarts'))"
                              ".map(e => e.getBoundingClientRect()).map(r => [r.top, r.bottom, r.height])")
        assert len(boxes) == 7 and all(h > 250 for _, _, h in boxes), boxes
        assert sum(bottom <= 800 for _, bottom, _ in boxes) >= 5, boxes  # the map and four charts, unscrolled
        assert page.get_by_text("This website runs on").count() == 0
        assert page.get_by_text("penalty").count() >= 1  # explained in the panel

        speed = page.locator(".v-slider").first  # the Run card's play speed
        box = speed.bounding_box()
        page.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)
        page.get_by_text("one month every 50 ms").wait_for(timeout=10_000)
        page.get_by_role("button", name="\u25b6", exact=True).click()
        page.get_by_text("Month 120 of 120").wait_for(timeout=120_000)
        time.sleep(1.5)
        assert page.evaluate(MONTH) == 120  # Play stopped at the horizon
        assert page.get_by_role("button", name="Step", exact=True).is_disabled()
        assert page.get_by_role("button", name="\u25b6", exact=True).is_disabled()
        assert page.get_by_text("the end of this run").count() == 1

        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("Month 0 of 120").wait_for(timeout=20_000)
        page.get_by_role("button", name="\u25b6", exact=True).click()
        page.wait_for_function(f"() => ({MONTH})() >= 3", timeout=30_000, polling=50)
        page.context.close()
        time.sleep(2.0)
        cpu = _cpu_seconds(pid)
        time.sleep(8.0)
        used = _cpu_seconds(pid) - cpu
        assert used < 0.5, f"the server used {used:.2f} s of CPU in the 8 s after the tab closed"
        assert _kernels(url)["has_connected"] == 0
        browser.close()
    text = log.read_text()
    assert "arning" not in text, text  # a quiet console: no UserWarning, no "warning:"
