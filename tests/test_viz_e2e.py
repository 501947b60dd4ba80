"""End to end: serve the app, drive it in headless Chromium (Debian's, via Playwright)."""

from __future__ import annotations

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
def server(tmp_path):
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
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=10)
    log.close()


CANVASES = "Array.from(document.querySelectorAll('canvas')).map(c => c.toDataURL())"


def _canvas_pixels(page) -> list[str]:
    """Each ECharts canvas as a data URL (the drawn pixels)."""
    return page.evaluate(CANVASES)


def test_step_slider_reset_in_browser(server, tmp_path):
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(server)
        page.get_by_text("What am I looking at?").wait_for(timeout=30_000)
        page.get_by_text("Step: 0").wait_for(timeout=30_000)
        page.wait_for_function("document.querySelectorAll('canvas').length >= 7", timeout=30_000)
        time.sleep(1.0)  # let ECharts finish its first paint
        before = _canvas_pixels(page)
        step = page.get_by_role("button", name="Step", exact=True)
        for _ in range(3):
            step.click()
            time.sleep(0.3)
        page.get_by_text("Step: 3").wait_for(timeout=20_000)
        page.wait_for_function(f"(b) => {CANVASES}.join() != b", arg=",".join(before), timeout=20_000)
        time.sleep(1.0)
        after = _canvas_pixels(page)
        assert sum(a != b for a, b in zip(before, after, strict=False)) >= 2  # map and charts redrawn
        page.screenshot(path=str(tmp_path / "stepped.png"), full_page=True)

        slider = page.locator(".v-input", has_text="Landfill tax").locator(".v-slider").first
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
        page.get_by_role("button", name="Reset", exact=True).click()
        page.get_by_text("Step: 0").wait_for(timeout=20_000)
        page.get_by_text("What am I looking at?").wait_for(timeout=20_000)
        assert page.get_by_text("Setting not applied").count() == 0  # the landfill tax lever was accepted
        page.screenshot(path=str(tmp_path / "reset.png"), full_page=True)
        browser.close()
    assert (tmp_path / "stepped.png").stat().st_size > 10_000
