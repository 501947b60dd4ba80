"""Browser-view responsiveness: one step of the default park plus redrawing map and charts.

Target (issue 7): under 300 ms per step + redraw. Prints the median and max over a 120-month run
(the charts grow with the months shown). The browser's own drawing is not included: ECharts
draws a chart of this size in a few milliseconds on the client.
Run: ``.venv/bin/python benchmarks/bench_viz.py [--steps 120]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from ecopark.viz.components import CHARTS, SteerableParkModel, chart_option, park_map_option


def step_and_redraw(model: SteerableParkModel) -> float:
    """Seconds for one model step, building every component's ECharts option and encoding it
    as JSON (what the server sends; the browser draws it)."""
    t0 = time.perf_counter()
    model.step()
    for option in [park_map_option(model), *(chart_option(model, c) for c in CHARTS)]:
        json.dumps(option)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> list[dict]:
    """Print the figures; return table rows (benchmark, measured, target, met)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args(argv)
    steps, rows = args.steps, []
    for label, kwargs in (("default park", {}), ("default park, platform on", {"platform_enabled": True})):
        model = SteerableParkModel(**kwargs)
        times = [step_and_redraw(model) for _ in range(steps)]
        median, worst = 1000 * statistics.median(times), 1000 * max(times)
        print(f"viz step+redraw, {label}, months 1-{steps}: median {median:.1f} ms, "
              f"max {worst:.1f} ms (target < 300 ms)")
        rows.append({"benchmark": f"viz step + redraw, {label}, months 1-{steps}",
                     "measured": f"median {median:.1f} ms, max {worst:.1f} ms", "target": "< 300 ms (every step)",
                     "met": worst < 300})
    return rows


if __name__ == "__main__":
    main()
