"""Calibration: spec validation, resume after a kill, 1 = 2 workers, recovery, identifiability, outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecopark.experiments import calibrate, load_calibration
from ecopark.experiments import calibration as calibration_module
from ecopark.experiments.calibration import distance_of
from ecopark.experiments.recovery import parameter_recovery
from ecopark.scenario import load_scenario
from ecopark.schema import ConfigError

#: A park of 13 firms in the farm and food sectors: a 12-month run takes a few hundredths of a second.
TINY_PARK = {"park.firms": {"grain_oil": 2, "food_feed": 3, "livestock": 3, "biogas": 2, "greenhouse": 3},
             "park.size_km": 3.0, "park.vacant_plots": 1}
ENCOUNTERS = "byproduct_market.encounters_per_month"
#: Without a slump (economy.shock_start omitted) its depth changes nothing: no target can identify it.
INERT = "economy.shock_depth"
SPEC = {
    "scenario": "generic", "steps": 12, "replications": 2, "seed": 5, "fixed": TINY_PARK,
    "free": {ENCOUNTERS: {"low": 0.05, "high": 2.0, "log": True}, INERT: {"low": 0.0, "high": 0.5}},
    "search": {"n": 10, "population": 5, "iterations": 2},
    "targets": [{"metric": "adoption_rate", "window": 6, "observed": 0.4, "tolerance": 0.05},
                {"metric": "links_formed_total", "observed": 6.0, "se": 1.0}],
    "holdout": [{"metric": "reuse_rate_mass_total", "observed": 5.0, "tolerance": 0.1, "name": "out of reach"}],
}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibration")
    return calibrate(SPEC, out, workers=1, progress=False)


@pytest.mark.parametrize(("change", "key"), [
    ({"free": {"byproduct_market.encounters_per_mont": [0.1, 1.0]}}, 'free."byproduct_market.encounters_per_mont"'),
    ({"free": {ENCOUNTERS: [0.1, 80.0]}}, f'free."{ENCOUNTERS}"'),
    ({"free": {ENCOUNTERS: {"low": 0.0, "high": 1.0, "log": True}}}, f'free."{ENCOUNTERS}".low'),
    ({"free": {"byproduct_market.contract_months": [12, 60]}}, 'free."byproduct_market.contract_months".integer'),
    ({"targets": [{"metric": "happiness", "observed": 1.0, "se": 1.0}]}, "targets[0].metric"),
    ({"targets": [{"metric": "adoption_rate", "observed": 0.5}]}, "targets[0].tolerance"),
    ({"targets": [{"metric": "links_formed_total", "window": 6, "observed": 5.0, "se": 1.0}]}, "targets[0].window"),
    ({"targets": [{"metric": "adoption_rate", "aggregate": "median", "observed": 0.5, "se": 1.0}]},
     "targets[0].aggregate"),
    ({"holdout": [{"metric": "adoption_rate", "window": 24, "observed": 0.5, "se": 1.0}]}, "holdout[0].window"),
    ({"search": {"n": 4, "population": 5}}, "search.population"),
    ({"replications": 0}, "replications"),
    ({"fixed": {"park.size_km": -1.0}}, "fixed.park.size_km"),
    ({"targets": []}, "targets"),
])
def test_bad_specs_name_the_key(change, key):
    with pytest.raises(ConfigError) as err:
        load_calibration({**SPEC, **change})
    assert key in str(err.value)


def test_bad_spec_on_the_command_line_exits_2_naming_the_key(tmp_path):
    spec_file = tmp_path / "bad.toml"
    spec_file.write_text('steps = 12\n[free]\n"byproduct_market.initial_trust" = [0.2, 1.5]\n'
                         '[[targets]]\nmetric = "adoption_rate"\nobserved = 0.5\nse = 0.1\n')
    done = subprocess.run([sys.executable, "-m", "ecopark", "calibrate", str(spec_file), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert 'free."byproduct_market.initial_trust"' in done.stderr and "Traceback" not in done.stderr


def test_the_distance_is_the_weighted_sum_of_squared_standardised_differences():
    spec = load_calibration({**SPEC, "targets": [
        {"metric": "adoption_rate", "observed": 0.4, "tolerance": 0.05, "weight": 2.0},
        {"metric": "links_formed_total", "observed": 6.0, "se": 1.0}]})
    labels = [t.label for t in spec.targets]
    assert distance_of(spec.targets, dict(zip(labels, [0.5, 3.0], strict=True))) == pytest.approx(2 * 4 + 9)


def test_every_candidate_is_run_with_the_same_seeds(serial):
    """Common random numbers: replication k of every candidate ran with the same seed."""
    parts = [json.loads(p.read_text()) for p in (serial.folder / "parts").glob("run-*.json")]
    seeds = pd.DataFrame(parts).groupby("replication")["seed"].nunique()
    assert list(seeds) == [1, 1]
    assert len(parts) == 2 * len(serial.points)


def test_one_and_two_workers_give_the_same_calibration(serial, tmp_path):
    parallel = calibrate(SPEC, tmp_path, workers=2, progress=False)
    pd.testing.assert_frame_equal(parallel.points, serial.points)
    assert parallel.best == serial.best
    pd.testing.assert_frame_equal(parallel.parameters, serial.parameters)


def test_dask_backend_gives_the_same_calibration(serial, tmp_path):
    pytest.importorskip("distributed")
    dask = calibrate(SPEC, tmp_path, workers=2, backend="dask", progress=False)
    pd.testing.assert_frame_equal(dask.points, serial.points)
    assert json.loads((tmp_path / "manifest.json").read_text())["backend"] == "dask"


def test_killed_calibration_resumes_and_evaluates_no_run_twice(serial, tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(_toml(SPEC))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ecopark", "calibrate", str(spec_file), "--out", str(out), "--workers", "2",
           "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((out / "parts").glob("run-*.json"))) < 8:
        assert time.monotonic() < deadline and proc.poll() is None, "the calibration did not start"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("run-*.json")}
    assert 8 <= len(before) < 2 * len(serial.points)
    assert not (out / "report.md").exists()

    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("run-*.json")}
    assert all(after[name] == mtime for name, mtime in before.items())  # finished runs were not redone
    executed = [int(line) for line in (out / "evaluations.log").read_text().split()]
    assert len(executed) == len(set(executed)) == len(after) == 2 * len(serial.points)  # each run once
    registry = json.loads((out / "points.json").read_text())
    assert len({json.dumps(p["params"], sort_keys=True) for p in registry}) == len(registry)
    resumed = pd.read_csv(out / "points.csv")
    pd.testing.assert_frame_equal(resumed, serial.points, check_dtype=False)
    assert json.loads((out / "manifest.json").read_text())["resumed"] == 1


def _toml(spec: dict) -> str:
    from ecopark.experiments.calibration_report import toml_text

    return toml_text({k: v for k, v in spec.items() if k not in ("targets", "holdout")}) + "".join(
        f"\n[[{group}]]\n" + toml_text(t) for group in ("targets", "holdout") for t in spec[group])


def test_identifiability_flags_the_parameter_no_target_depends_on(serial):
    params = serial.parameters.set_index("parameter")
    assert params.loc[ENCOUNTERS, "identified"]
    assert not params.loc[INERT, "identified"]
    ident = serial.identifiability.set_index(["target", "parameter"])
    assert (ident.xs(INERT, level="parameter")["identifies"] == False).all()  # noqa: E712
    assert abs(ident.loc[("links_formed_total", ENCOUNTERS), "response"]) > 3
    report = (serial.folder / "report.md").read_text()
    assert f"not identified by any fitted target: `{INERT}`" in report


def test_calibration_improves_the_fit_and_reports_what_it_cannot_reach(serial):
    targets = serial.targets.set_index("target")
    fitted = targets[targets["role"] == "fitted"]
    assert serial.distance < serial.points["distance"].iloc[0]  # better than the base park
    assert (fitted["z_after"].abs() <= fitted["z_before"].abs()).all()
    assert serial.distance <= serial.threshold and serial.points["accepted"].sum() >= 1
    assert not targets.loc["out of reach", "reachable"]
    report = (serial.folder / "report.md").read_text()
    assert "**out of reach** (holdout): observed 5 lies outside every simulated value" in report
    for name in ("fit.png", "distance.png", "parameters.png", "manifest.json", "points.csv"):
        assert (serial.folder / name).stat().st_size > 0


def test_calibrated_scenario_loads_with_the_fitted_values_and_names_the_fit(serial):
    path = serial.folder / "calibrated.toml"
    scenario = load_scenario(path)
    assert scenario.byproduct_market.encounters_per_month == pytest.approx(serial.best[ENCOUNTERS])
    assert scenario.park.firms == TINY_PARK["park.firms"]
    text = path.read_text()
    assert "links_formed_total" in text and "Distance" in text and f"{INERT}" in text
    assert tomllib.loads(text)["economy"]["shock_depth"] == pytest.approx(serial.best[INERT])


def test_parameter_recovery_on_synthetic_targets(tmp_path):
    spec = {**SPEC, "free": {ENCOUNTERS: SPEC["free"][ENCOUNTERS]}, "holdout": [],
            "targets": [{"metric": "adoption_rate", "window": 6}, {"metric": "links_formed_total"}]}
    table = parameter_recovery(spec, {ENCOUNTERS: 0.4}, tmp_path, observed_seed=11, observed_runs=4)
    row = table.iloc[0]
    assert row["recovered"]  # the truth lies in the accepted interval
    assert row["interval_share_of_range"] < 0.6  # ... and the interval is informative
    assert abs(np.log(row["calibrated"] / 0.4)) < np.log(2.5)


def test_shipped_calibration_specs_are_valid():
    from importlib import resources

    from ecopark.scenario import presets

    for name in presets():
        spec = load_calibration(str(resources.files("ecopark.calibrations").joinpath(f"{name}.toml")))
        assert spec.scenario == name and spec.targets and spec.holdout


# -- issue 29: calibrate workers die with the parent; a dead worker's run is retried ----------------
def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_calibrate_workers_exit_when_the_parent_is_killed(tmp_path):
    spec = {**SPEC, "steps": 600, "search": {"n": 40, "population": 5, "iterations": 2}}
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(_toml(spec))
    proc = subprocess.Popen([sys.executable, "-m", "ecopark", "calibrate", str(spec_file), "--out",
                             str(tmp_path / "out"), "--workers", "2", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, "the workers did not start"
        time.sleep(0.05)
        workers = _children(proc.pid)
    proc.kill()  # SIGKILL: no clean-up code runs in the parent
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    orphans = [w for w in workers if _alive(w)]
    for w in orphans:  # leave nothing running when the test fails
        os.kill(w, signal.SIGKILL)
    assert not orphans


_REAL_MOMENT_TASK = calibration_module.moment_task


def _lethal_moment_task(sweep, targets, task):
    """A worker killed as by the OOM killer: run 0 the first time, run 1 every time."""
    marker = Path(os.environ["ECOPARK_TEST_MARKER"])
    if task["run"] == 0 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if task["run"] == 1:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    return _REAL_MOMENT_TASK(sweep, targets, task)


def test_a_dead_calibrate_worker_is_retried_once_then_its_run_recorded_as_failed(serial, tmp_path, monkeypatch):
    monkeypatch.setenv("ECOPARK_TEST_MARKER", str(tmp_path / "died-once"))
    monkeypatch.setattr(calibration_module, "moment_task", _lethal_moment_task)
    result = calibrate(SPEC, tmp_path / "out", workers=2, progress=False)
    parts = tmp_path / "out" / "parts"
    run0 = json.loads((parts / "run-000000.json").read_text())
    run1 = json.loads((parts / "run-000001.json").read_text())
    assert run0["status"] == "ok" and (tmp_path / "died-once").exists()  # retried alone, and it finished
    assert run1["status"] == "failed" and run1["error"].startswith("worker died")
    base = result.points[result.points["point"] == 0].iloc[0]
    assert base["distance"] == calibration_module.FAILED_DISTANCE  # the base point lost a replication
    assert len(result.points) == len(serial.points)  # the search carried on to the end


def test_every_calibration_figure_has_units_on_its_axes(serial, tmp_path, monkeypatch):
    """Issue 29: fit.png had no units. Each panel's x axis names the target's unit (a step metric
    summed over months loses "/month"); the distance axes say it is dimensionless."""
    import matplotlib.figure

    from ecopark.experiments.calibration_report import plots, target_unit

    saved = {}
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, path, **kw: saved.__setitem__(
        Path(path).name, [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes if ax.get_visible()]))
    spec = load_calibration(SPEC)
    plots(spec, serial, tmp_path)
    assert set(saved) == {"fit.png", "distance.png", "parameters.png"}
    assert [x for x, _ in saved["fit.png"]] == ["share", "links", "share"]  # adoption_rate, links, reuse rate
    assert all(x for labels in saved.values() for x, _ in labels)
    assert all("dimensionless" in y for name in ("distance.png", "parameters.png") for _, y in saved[name])
    assert target_unit("byproduct_generated_t", "sum") == "t" and target_unit("byproduct_generated_t") == "t/month"
