"""Browser-view responsiveness: one step of the default park plus redrawing map and charts.

Target (issue 7): under 300 ms per step + redraw. Prints the median and max over a 120-month run
(the charts grow with the months shown). The browser's own drawing is not included: ECharts
draws a chart of this size in a few milliseconds on the client.
Run: ``.venv/bin/python benchmarks/bench_viz.py``.
"""

from __future__ import annotations

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


def main() -> None:
    for label, kwargs, steps in (("default park", {}, 120), ("default park, platform on", {"platform_enabled": True},
                                                                120)):
        model = SteerableParkModel(**kwargs)
        times = [step_and_redraw(model) for _ in range(steps)]
        print(f"viz step+redraw, {label}, months 1-{steps}: median {1000 * statistics.median(times):.1f} ms, "
              f"max {1000 * max(times):.1f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
