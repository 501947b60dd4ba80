"""Plots of a sweep folder: outcome vs parameter with confidence bands, and 2-D heatmaps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ecopark.experiments.batch import load_results
from ecopark.experiments.filenames import safe_filename
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError


def mean_ci(values: pd.Series) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (normal approximation, 1.96 s/sqrt(n))."""
    n = values.count()
    half = 1.96 * values.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
    return float(values.mean()), float(half)


def plot_results(folder: str | Path, outcomes: list[str] | None = None, fmt: str = "png") -> list[Path]:
    """Draw, for each outcome, its mean vs each parameter (95% CI band over replications and
    the other parameters, one line per value of a second parameter when there is one), and a
    heatmap of its mean over the first two parameters. Returns the files written."""
    if fmt not in ("png", "svg"):
        raise ConfigError("format", f"{fmt!r}; allowed: 'png', 'svg'")
    folder = Path(folder)
    runs, _, manifest = load_results(folder)
    runs = runs[runs["status"] == "ok"]
    params = [f"param:{p}" for p in manifest["parameters"]]
    available = [c for c in runs.columns if c in RUN_METRICS]
    outcomes = outcomes or available
    for i, name in enumerate(outcomes):
        if name not in available:
            raise ConfigError(f"outcomes[{i}]", f"{name!r} is not in this sweep; allowed: {', '.join(available)}")
    written = []
    for outcome in outcomes:
        for p in params:
            others = [q for q in params if q != p and runs[q].nunique() <= 6]
            hue = others[0] if others else None
            fig, ax = plt.subplots(figsize=(6, 4))
            levels = sorted(runs[p].unique())
            numeric = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in levels)
            for label, group in (runs.groupby(hue) if hue else [(None, runs)]):
                stats = group.groupby(p)[outcome].apply(mean_ci)
                x = np.array(stats.index, dtype=float) if numeric else np.array([levels.index(v) for v in stats.index])
                mean = np.array([m for m, _ in stats])
                half = np.array([h for _, h in stats])
                ax.plot(x, mean, marker="o", label=f"{hue[6:]} = {label}" if hue else "mean")
                ax.fill_between(x, mean - half, mean + half, alpha=0.25)
            if not numeric:
                ax.set_xticks(range(len(levels)), [str(v) for v in levels])
            metric = RUN_METRICS[outcome]
            ax.set(xlabel=p[6:], ylabel=f"{outcome} ({metric.unit})", title=f"{outcome} vs {p[6:]} (95% CI)")
            ax.legend(fontsize=8)
            fig.tight_layout()
            path = folder / safe_filename(f"plot-{outcome}-vs-{p[6:]}.{fmt}")
            fig.savefig(path, dpi=90)
            plt.close(fig)
            written.append(path)
        if len(params) >= 2:
            a, b = params[:2]
            table = runs.groupby([a, b])[outcome].mean().unstack(b)
            fig, ax = plt.subplots(figsize=(6, 4.5))
            image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(table.shape[1]), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.columns])
            ax.set_yticks(range(table.shape[0]), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.index])
            ax.set(xlabel=b[6:], ylabel=a[6:], title=f"mean {outcome}")
            fig.colorbar(image, ax=ax, label=RUN_METRICS[outcome].unit)
            fig.tight_layout()
            path = folder / safe_filename(f"heatmap-{outcome}.{fmt}")
            fig.savefig(path, dpi=90)
            plt.close(fig)
            written.append(path)
    return written
