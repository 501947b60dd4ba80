"""Coverage test of a calibration's intervals (simulation-based calibration).

Do the intervals ``ecopark calibrate`` reports contain the truth as often as they claim?
K parameter sets (the *truths*) are drawn from the spec's free ranges (a Latin hypercube
on the search scale, fixed by ``seed``); for each, synthetic observed moments are simulated
at the truth on seeds the calibration does not use (``recovery.synthetic_targets``: master
seed ``observed_seed + i``, each target's se the noise of the observed mean plus that of the
simulated one), the spec is calibrated to them (``recovery.parameter_recovery``), and the
truth is checked against each parameter's interval. Per parameter the test reports:

* **coverage**: the share of the K intervals containing the truth, with its 95% Wilson
  interval, beside the nominal level (``region.level``): a share well below nominal means
  the intervals are too short (the search bounded them, or the distance is not the
  likelihood the acceptance rule assumes); well above, too long;
* **recovery error**: |calibrated - truth| as a share of the range (on the search scale),
  mean and largest;
* the intervals' mean share of the range, how many were bounded by the search, and how
  many parameters were identified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ecopark.experiments.batch import _write_atomic
from ecopark.experiments.calibration_spec import CalibrationSpec, load_calibration
from ecopark.schema import ConfigError, to_dict


def spec_mapping(spec: str | Path | Mapping[str, Any] | CalibrationSpec) -> dict[str, Any]:
    """A calibration spec as the plain mapping recovery works on (targets' observed values are replaced)."""
    if isinstance(spec, Mapping):
        return dict(spec)
    loaded = load_calibration(spec)
    data = to_dict(loaded)
    data.pop("source", None)
    data["scenario"] = _scenario_path(loaded)
    for group in ("targets", "holdout"):
        data[group] = [{k: v for k, v in t.items() if v is not None} for t in data[group]]
    return data


def _scenario_path(spec: CalibrationSpec) -> str:
    """The spec's scenario: a preset name, or a file resolved against the spec file's folder."""
    candidate = Path(spec.source).parent / spec.scenario if spec.source != "<dict>" else Path(spec.scenario)
    return str(candidate) if candidate.is_file() else spec.scenario


def draw_truths(spec: CalibrationSpec, k: int, seed: int) -> list[dict[str, float]]:
    """K parameter sets from the free ranges: a Latin hypercube on each parameter's search scale."""
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(len(spec.free), seed=seed).random(k)
    return [spec.values(u) for u in unit]


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial share."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def coverage_test(spec: str | Path | Mapping[str, Any] | CalibrationSpec, k: int, out: str | Path,
                  seed: int = 1, observed_seed: int = 10_000, observed_runs: int = 8, workers: int = 1,
                  progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Calibrate ``spec`` to synthetic targets at ``k`` drawn truths; (per truth and parameter, summary).

    Truth i's observed moments come from ``observed_runs`` runs with master seed
    ``observed_seed + i`` (never the spec's seed); its calibration is written to
    ``out/truth-NNN`` (resumable). Writes ``coverage.csv`` and ``coverage-summary.csv`` in ``out``.
    """
    from ecopark.experiments.recovery import parameter_recovery

    data = spec_mapping(spec)
    loaded = load_calibration({**data, "targets": [{**t, "observed": 0.0, "se": 1.0, "tolerance": None}
                                                   for t in data["targets"]]})
    if k < 1:
        raise ConfigError("coverage", f"needs at least one truth, got {k}")
    if loaded.seed in range(observed_seed, observed_seed + k):
        raise ConfigError("seed", f"the spec's seed {loaded.seed} is one of the observed seeds "
                                  f"{observed_seed}-{observed_seed + k - 1}; the calibration must not use them")
    out = Path(out)
    rows = []
    for i, truth in enumerate(draw_truths(loaded, k, seed)):
        table = parameter_recovery(data, truth, out / f"truth-{i:03d}", observed_seed=observed_seed + i,
                                   observed_runs=observed_runs, workers=workers, progress=progress)
        params = pd.read_csv(out / f"truth-{i:03d}" / "parameters.csv").set_index("parameter")
        for r in table.itertuples():
            free = loaded.free[r.parameter]
            rows.append({"truth_id": i, "parameter": r.parameter, "truth": r.truth, "calibrated": r.calibrated,
                         "interval_low": r.interval_low, "interval_high": r.interval_high,
                         "covered": bool(r.recovered),
                         "error_share": abs(free.position(r.calibrated) - free.position(r.truth)),
                         "interval_share": r.interval_share_of_range, "identified": bool(r.identified),
                         "bounded_by_search": bool(params.loc[r.parameter, "bounded_by_search"]),
                         "runs": r.runs, "distance": r.distance})
    detail = pd.DataFrame(rows)
    summary = summarise_coverage(detail, loaded.interval_level)
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "coverage.csv", lambda p: detail.to_csv(p, index=False))
    _write_atomic(out / "coverage-summary.csv", lambda p: summary.to_csv(p, index=False))
    return detail, summary


def summarise_coverage(detail: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per parameter (and all together): coverage with its Wilson interval, recovery errors, interval shares."""
    rows = []
    groups = [*detail.groupby("parameter", sort=False), ("all parameters", detail)]
    for name, part in groups:
        hits, n = int(part["covered"].sum()), len(part)
        lo, hi = wilson(hits, n)
        rows.append({"parameter": name, "truths": n, "nominal": level, "covered": hits, "coverage": hits / n,
                     "coverage_low": lo, "coverage_high": hi,
                     "error_mean": float(part["error_share"].mean()), "error_max": float(part["error_share"].max()),
                     "interval_share_mean": float(part["interval_share"].mean()),
                     "bounded_by_search": int(part["bounded_by_search"].sum()),
                     "identified": int(part["identified"].sum())})
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> list[str]:
    """The summary as a markdown table."""
    lines = ["| parameter | truths | covered | coverage [95% Wilson] | nominal | recovery error mean (max), "
             "share of range | interval share of range | bounded by the search | identified |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        name = r.parameter if r.parameter == "all parameters" else f"`{r.parameter}`"
        lines.append(f"| {name} | {r.truths} | {r.covered} | {r.coverage:.0%} [{r.coverage_low:.0%}, "
                     f"{r.coverage_high:.0%}] | {r.nominal:.0%} | {r.error_mean:.3f} ({r.error_max:.3f}) | "
                     f"{r.interval_share_mean:.2f} | {r.bounded_by_search} | {r.identified} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopark.experiments.coverage``: the validation report's coverage section
    (``ecopark/validation/recovery.py``), printed."""
    import argparse

    from ecopark.validation.recovery import COVERAGE_QUICK_TRUTHS, coverage_section

    parser = argparse.ArgumentParser(prog="python -m ecopark.experiments.coverage",
                                     description="Coverage test of the calibration intervals on the validation "
                                                 "report's small spec (docs/validation.md, section 6).")
    parser.add_argument("--quick", action="store_true", help=f"{COVERAGE_QUICK_TRUTHS} truths, 12-month runs")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--out", default=None, help="keep the calibrations in this folder (resumable)")
    args = parser.parse_args(argv)
    print("\n".join(coverage_section(args.quick, args.workers, args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
