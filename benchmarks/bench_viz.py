"""Browser-view responsiveness: one step of the default park plus redrawing map and charts.

Target (issue 7): under 300 ms per step + redraw. Prints the median and max of 20 steps.
Run: ``.venv/bin/python benchmarks/bench_viz.py``.
"""

from __future__ import annotations

import io
import statistics
import time

from ecopark.viz.components import CHARTS, SteerableParkModel, chart_figure, park_map_figure


def step_and_redraw(model: SteerableParkModel) -> float:
    """Seconds for one model step and rendering every component to PNG (as the page does)."""
    t0 = time.perf_counter()
    model.step()
    for fig in [park_map_figure(model), *(chart_figure(model, c) for c in CHARTS)]:
        fig.savefig(io.BytesIO(), format="png")
    return time.perf_counter() - t0


def main() -> None:
    model = SteerableParkModel()
    step_and_redraw(model)  # warm-up
    times = [step_and_redraw(model) for _ in range(20)]
    print(f"viz step+redraw, default park: median {1000 * statistics.median(times):.0f} ms, "
          f"max {1000 * max(times):.0f} ms (target < 300 ms)")


if __name__ == "__main__":
    main()
