"""Classroom load test of the browser view: N students at once, and what a closed tab costs.

Serves ``ecopark viz`` on a free port of 127.0.0.1 (loopback only) and drives it with
Debian's headless Chromium through Playwright (never ``playwright install``): one browser,
one context per student (a laptop of its own, so a Solara session of its own). Measures:

1. **first render**: all N pages opened at once; seconds from navigation until a page
   shows its seven figures (median and max over the pages);
2. **server memory per session**: (server RSS with the N pages open and stepped once -
   RSS before the first page) / N;
3. **click-to-chart**: every page presses Step at once; seconds until all its month-axis
   charts draw month 1 (median and max);
4. **server CPU per session**: CPU seconds the server used for the N first renders and
   steps, / N; and the server's CPU share while the N pages sit idle;
5. **closed tab**: a page plays at the fastest speed (one month every 50 ms), its tab is
   closed after a few months, and the server's CPU share and RSS change over the next
   ``--watch`` seconds (before the fix the dead session kept stepping: 40-70 % of a core).

Every wait has a timeout and every loop a bound. ``--tree DIR`` serves another checkout of
ecopark (e.g. an older commit, for a before/after comparison).
Run: ``.venv/bin/python benchmarks/bench_viz_sessions.py [--sessions 30] [--watch 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Clock ticks per second of /proc/PID/stat's CPU times.
TICKS = os.sysconf("SC_CLK_TCK")
#: True once every month-axis chart on the page draws at least one month (the map has no month axis).
CHARTS_DRAWN = """() => {
 const find = v => v && (v.chart ? v.chart : v.$children.map(find).find(c => c));
 const charts = Array.from(document.querySelectorAll('.solara-echarts')).map(el => find(el.__vue__)).filter(c => c);
 const timed = charts.map(c => c.getOption().xAxis[0]).filter(a => a.type === 'category');
 return timed.length >= 6 && timed.every(a => a.data.length >= 1);
}"""
FIGURES_SHOWN = "document.querySelectorAll('canvas').length >= 7"
#: True once the page's month counter ("Month N of H") reads at least the argument.
MONTH_AT_LEAST = "(n) => { const m = document.body.innerText.match(/Month (\\d+) of/); return m && +m[1] >= n; }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def server_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(tree: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """``python -m ecopark viz`` from ``tree`` on a free loopback port; waits (30 s at most) until it answers."""
    port = _free_port()
    with open(log_path, "w") as log:  # the server writes to its own copy of the file descriptor
        proc = subprocess.Popen([sys.executable, "-m", "ecopark", "viz", "--port", str(port)], cwd=tree,
                                env={**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"},
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("the server did not start:\n" + log_path.read_text())


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


async def _open(browser, url: str) -> tuple[object, float]:
    """A page in a context of its own; the seconds until it shows its figures."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    t0 = time.monotonic()
    await page.goto(url, timeout=900_000)
    await page.wait_for_function(FIGURES_SHOWN, timeout=900_000)
    return page, time.monotonic() - t0


async def _step_once(page) -> float:
    """Press Step; the seconds until every month-axis chart draws month 1."""
    t0 = time.monotonic()
    await page.get_by_role("button", name="Step", exact=True).click(timeout=600_000)
    await page.wait_for_function(CHARTS_DRAWN, timeout=600_000, polling=50)
    return time.monotonic() - t0


async def load_test(browser, url: str, pid: int, sessions: int, idle: float) -> dict[str, float]:
    """Figures 1-4 of the module docstring for ``sessions`` pages opened at once."""
    rss0, cpu0 = server_rss_mb(pid), server_cpu_seconds(pid)
    opened = await asyncio.gather(*(_open(browser, url) for _ in range(sessions)))
    pages, renders = [p for p, _ in opened], [t for _, t in opened]
    clicks = await asyncio.gather(*(_step_once(p) for p in pages))
    cpu1 = server_cpu_seconds(pid)
    await asyncio.sleep(idle)
    cpu_idle = (server_cpu_seconds(pid) - cpu1) / idle
    rss1 = server_rss_mb(pid)
    for page in pages:
        await page.context.close()
    return {"sessions": sessions, "first_render_median_s": statistics.median(renders),
            "first_render_max_s": max(renders), "click_to_chart_median_s": statistics.median(clicks),
            "click_to_chart_max_s": max(clicks), "server_cpu_s_per_session": (cpu1 - cpu0) / sessions,
            "server_cpu_share_idle": cpu_idle, "server_mb_per_session": (rss1 - rss0) / sessions}


async def closed_tab(browser, url: str, pid: int, watch: float, months: int = 5) -> dict[str, float]:
    """Figure 5: play at 50 ms a month, close the tab after ``months`` months, watch the server."""
    page, _ = await _open(browser, url)
    speed = page.locator(".v-slider").first  # the Run card's play speed, the page's first slider
    box = await speed.bounding_box()
    await page.mouse.click(box["x"] + 1, box["y"] + box["height"] / 2)  # its left end: 50 ms
    await page.get_by_role("button", name="\u25b6", exact=True).click()
    await page.wait_for_function(MONTH_AT_LEAST, arg=months, timeout=60_000, polling=50)
    await page.context.close()
    await asyncio.sleep(2.0)
    rss0, cpu0 = server_rss_mb(pid), server_cpu_seconds(pid)
    await asyncio.sleep(watch)
    return {"closed_tab_cpu_share": (server_cpu_seconds(pid) - cpu0) / watch,
            "closed_tab_rss_change_mb": server_rss_mb(pid) - rss0, "watched_s": watch}


async def measure(tree: Path, sessions: int, watch: float, idle: float) -> dict[str, float]:
    """Both measurements, each against a fresh server of ``tree``."""
    from playwright.async_api import async_playwright

    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, run in (("closed tab", lambda u, p: closed_tab(browser, u, p, watch)),
                              ("load", lambda u, p: load_test(browser, u, p, sessions, idle))):
                proc, url = start_server(tree, Path(tmp) / f"{name}.log")
                try:
                    results.update(await run(url, proc.pid))
                finally:
                    stop_server(proc)
            await browser.close()
    return results


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30, help="pages opened at once (default 30)")
    parser.add_argument("--watch", type=float, default=30.0, help="seconds to watch the server after a tab closes")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds the N pages sit idle")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the ecopark checkout to serve (default: this one)")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is not installed (apt-get install chromium)")
    results = asyncio.run(measure(args.tree.resolve(), args.sessions, args.watch, args.idle))
    for key, value in results.items():
        print(f"{key}: {value:.3g}")
    return results


if __name__ == "__main__":
    main()
