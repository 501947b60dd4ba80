"""Calibration intervals: the region stage bounds them by the data, wide ones are not identified, coverage.

The model is replaced by a smooth synthetic response of the parameters (plus a seed's noise
where asked), so that the true likelihood-ratio interval is known in closed form and a test
runs in a second.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ecopark.experiments import calibrate, load_calibration
from ecopark.experiments import calibration as calibration_module
from ecopark.experiments import recovery as recovery_module
from ecopark.experiments.coverage import coverage_test, summarise_coverage, wilson
from ecopark.experiments.search_methods import (
    SEARCH_METHODS,
    SearchSpace,
    make,
    methods,
    pooled_correlation,
    region_cut,
    region_edges,
)

ENCOUNTERS, TRUST = "byproduct_market.encounters_per_month", "byproduct_market.initial_trust"
FREE = {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}, TRUST: [0.3, 1.0]}
SE = 0.05


_SPEC = load_calibration({"free": FREE, "targets": [{"metric": "links_formed_total", "observed": 0, "se": 1}]})


def _positions(params: dict) -> tuple[float, float]:
    return _SPEC.free[ENCOUNTERS].position(params[ENCOUNTERS]), _SPEC.free[TRUST].position(params[TRUST])


def smooth_task(trust_weight: float = 1.0, noise: float = 0.0):
    """A stand-in for one run: m1 = u_e + 0.5 u_t, m2 = trust_weight u_t (u: positions in the ranges),
    plus, with ``noise``, a seed's draw shared by both targets (correlated, as a park's are)."""
    def task(_sweep, targets, task):
        ue, ut = _positions(task["params"])
        shock = np.random.default_rng(task["seed"]).normal(0.0, noise, 2) if noise else np.zeros(2)
        values = {"m1": ue + 0.5 * ut + shock[0], "m2": trust_weight * ut + 0.8 * shock[0] + 0.6 * shock[1]}
        row = {"run": task["run"], "point": task["point"], "replication": task["replication"],
               "seed": task["seed"], "status": "ok", "error": ""}
        for target in targets:
            row[f"moment:{target.label}"] = values[target.name]
        return row
    return task


def spec_at(truth_u: tuple[float, float], trust_weight: float = 1.0, **extra) -> dict:
    return {"scenario": "generic", "steps": 12, "replications": 2, "seed": 3, "free": FREE,
            "search": {"n": 24, "population": 8, "iterations": 4}, "region": {"rounds": 10},
            "targets": [{"metric": "links_formed_total", "name": "m1", "observed": truth_u[0] + 0.5 * truth_u[1],
                         "se": SE},
                        {"metric": "adoption_rate", "name": "m2", "observed": trust_weight * truth_u[1], "se": SE}],
            **extra}


def _unit_interval(result, key: str) -> tuple[float, float]:
    spec_free = _SPEC.free[key]
    row = result.parameters.set_index("parameter").loc[key]
    return spec_free.position(row["interval_low"]), spec_free.position(row["interval_high"])


def test_search_methods_are_chosen_by_name_behind_one_interface():
    assert {"lhs", "sobol"} <= set(methods("global")) and "expand" in methods("region")
    space = SearchSpace(np.array([0.02, 0.02]))
    lhs = make("lhs", seed=4).sample_batch(10, space, np.empty((0, 2)), np.empty(0))
    assert lhs.shape == (10, 2) and (lhs >= 0).all() and (lhs <= 1).all()
    assert make("sobol", seed=4).sample_batch(10, space, np.empty((0, 2)), np.empty(0)).shape == (16, 2)
    # the region method proposes beyond the open edges only, and nothing once every edge is bounded
    points = np.array([[0.5, 0.5], [0.45, 0.5], [0.9, 0.9]])
    losses = np.array([0.0, 1.0, 50.0])
    batch = SEARCH_METHODS["expand"](seed=0).sample_batch(8, space, points, losses)
    assert len(batch) and all(((b < 0.45) | (b > 0.5)).any() for b in batch)
    closed = np.array([[0.5, 0.5], [0.49, 0.5], [0.51, 0.5], [0.5, 0.49], [0.5, 0.51]])
    assert region_edges(closed, np.array([0.0, 9, 9, 9, 9]), 3.84, space.resolution) == [("data", "data")] * 2
    assert SEARCH_METHODS["expand"](seed=0).sample_batch(8, space, closed, np.array([0.0, 9, 9, 9, 9])).size == 0


def test_interval_is_bounded_by_the_data_and_matches_the_profile_likelihood(tmp_path, monkeypatch):
    """On a smooth response the interval is the projection of the region (known in closed form),
    bounded by rejected candidates; without the region stage it is bounded by the candidates tried."""
    monkeypatch.setattr(calibration_module, "moment_task", smooth_task())
    truth = (0.37, 0.58)
    result = calibrate(spec_at(truth), tmp_path / "region", progress=False)
    c = 5.991465  # the cut: chi-square 95% with 2 targets (D_min ~ 0 at the truth)
    # projection of D = ((Δe + Δt/2)^2 + Δt^2) / SE^2 <= c: |Δt| <= sqrt(c) SE, |Δe| <= sqrt(c / 0.8) SE
    exact = {ENCOUNTERS: math.sqrt(c / 0.8) * SE, TRUST: math.sqrt(c) * SE}
    params = result.parameters.set_index("parameter")
    for key, (centre, half) in zip((ENCOUNTERS, TRUST), zip(truth, exact.values(), strict=True), strict=True):
        lo, hi = _unit_interval(result, key)
        assert lo <= centre <= hi  # covers the truth
        # within the resolution (0.02) of the exact edge, and a little more: the region is tilted (a trade-off
        # between the two), and its extreme point on an axis is found by probes drawn around the edge member
        assert centre - half - 0.005 <= lo <= centre - half + 0.04
        assert centre + half - 0.04 <= hi <= centre + half + 0.005
        assert (params.loc[key, "bound_low"], params.loc[key, "bound_high"]) == ("data", "data")
        assert not params.loc[key, "bounded_by_search"]
    assert (result.points["stage"] == "region").any()

    searched = calibrate(spec_at(truth, region={"method": "none"}), tmp_path / "none", progress=False)
    prm = searched.parameters.set_index("parameter")
    assert prm["bounded_by_search"].any()  # the candidates tried do not reach the region's edges
    widths = {k: np.subtract(*_unit_interval(searched, k)[::-1]) for k in (ENCOUNTERS, TRUST)}
    assert any(widths[k] < 2 * exact[k] - 0.05 for k in exact)  # ... so an interval is too short
    report = (tmp_path / "none" / "report.md").read_text()
    assert "bounded by the search, not the data" in report


def test_an_interval_spanning_most_of_its_range_is_not_identified(tmp_path, monkeypatch):
    """Trust moves m2 by 0.1 / 0.05 = 2 standard errors over its range: the response table says it
    identifies trust, but every trust is acceptable, so the parameter is reported not identified."""
    monkeypatch.setattr(calibration_module, "moment_task", smooth_task(trust_weight=0.1))
    result = calibrate(spec_at((0.4, 0.5), trust_weight=0.1), tmp_path, progress=False)
    params = result.parameters.set_index("parameter")
    assert params.loc[TRUST, "identified_by"]  # the response table alone would call it identified
    assert params.loc[TRUST, "interval_share_of_range"] > 0.5
    assert not params.loc[TRUST, "identified"]
    assert params.loc[ENCOUNTERS, "identified"]
    report = (tmp_path / "report.md").read_text()
    assert "its interval spans more than 50% of its range" in report


def test_region_statistic_allows_for_correlated_targets():
    """Two targets driven by one shared shock: the pooled correlation finds it, and the region's
    statistic counts that shock once, not twice."""
    rng = np.random.default_rng(0)
    blocks = []
    for _ in range(40):
        shock = rng.normal(size=(3, 1))
        blocks.append(np.hstack([shock, 0.9 * shock + 0.1 * rng.normal(size=(3, 1))]) + rng.normal(size=2))
    corr = pooled_correlation(blocks, 2)
    assert corr[0, 1] > 0.85
    assert pooled_correlation(blocks[:1], 2).tolist() == np.eye(2).tolist()  # too few degrees of freedom
    from ecopark.experiments.search_methods import region_statistic

    z = np.array([[2.0, 2.0]])
    assert region_statistic(z, corr)[0] < 0.6 * region_statistic(z, np.eye(2))[0]
    assert region_cut(np.array([1.0, 5.0, np.inf]), 0.95, 2) == pytest.approx(5.991465, rel=1e-6)  # figures' test
    assert region_cut(np.array([9.0, 15.0]), 0.95, 2) == pytest.approx(9.0 + 3.841459, rel=1e-6)  # misfit: LR


def test_coverage_test_reports_the_share_of_intervals_containing_the_truth(tmp_path, monkeypatch):
    task = smooth_task(noise=0.03)
    monkeypatch.setattr(calibration_module, "moment_task", task)
    monkeypatch.setattr(recovery_module, "moment_task", task)
    spec = {k: v for k, v in spec_at((0.5, 0.5)).items()}
    spec["targets"] = [{"metric": "links_formed_total", "name": "m1"}, {"metric": "adoption_rate", "name": "m2"}]
    detail, summary = coverage_test(spec, 6, tmp_path, observed_runs=6)
    assert len(detail) == 12 and set(detail["truth_id"]) == set(range(6))
    total = summary.set_index("parameter").loc["all parameters"]
    assert total["truths"] == 12 and total["covered"] == detail["covered"].sum()
    assert total["coverage"] >= 0.75  # nominal 95%: 12 intervals, at most 3 misses
    assert total["error_mean"] < 0.15
    assert (tmp_path / "coverage.csv").exists() and (tmp_path / "coverage-summary.csv").exists()
    with pytest.raises(Exception, match="seed"):
        coverage_test({**spec, "seed": 10_002}, 6, tmp_path / "clash")


def test_wilson_interval_and_summary():
    lo, hi = wilson(19, 20)
    assert lo == pytest.approx(0.764, abs=0.002) and hi == pytest.approx(0.991, abs=0.002)
    detail = pd.DataFrame({"truth_id": [0, 1, 0, 1], "parameter": ["a", "a", "b", "b"],
                           "covered": [True, False, True, True], "error_share": [0.1, 0.3, 0.0, 0.2],
                           "interval_share": [0.2, 0.2, 0.4, 0.4], "bounded_by_search": [False, True, False, False],
                           "identified": [True, True, False, False]})
    summary = summarise_coverage(detail, 0.95).set_index("parameter")
    assert summary.loc["a", "coverage"] == 0.5 and summary.loc["b", "coverage"] == 1.0
    assert summary.loc["all parameters", "covered"] == 3 and summary.loc["a", "bounded_by_search"] == 1


def test_coverage_from_the_command_line(tmp_path, monkeypatch, capsys):
    from ecopark.cli import main
    from ecopark.experiments.calibration_report import toml_text

    task = smooth_task(noise=0.03)
    monkeypatch.setattr(calibration_module, "moment_task", task)
    monkeypatch.setattr(recovery_module, "moment_task", task)
    spec = spec_at((0.5, 0.5))
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(toml_text({k: v for k, v in spec.items() if k != "targets"})
                         + "".join("\n[[targets]]\n" + toml_text(t) for t in spec["targets"]))
    assert main(["calibrate", str(spec_file), "--coverage", "2", "--out", str(tmp_path / "cov"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| all parameters | 4 |" in out and (tmp_path / "cov" / "coverage.md").exists()
    assert len(pd.read_csv(tmp_path / "cov" / "coverage.csv")) == 4
