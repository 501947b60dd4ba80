"""Sweeps: spec validation, seeds, parallel = serial, failures, kill-and-resume, Dask, SALib, EMA."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecopark.experiments import load_results, load_spec, run, sweep
from ecopark.experiments.spec import derive_seed
from ecopark.metrics import RUN_METRICS, compute_run_metrics
from ecopark.schema import ConfigError

runner_module = importlib.import_module("ecopark.experiments.runner")

SMALL = {
    "scenario": "generic",
    "steps": 12,
    "replications": 2,
    "seed": 7,
    "outcomes": ["links_formed_total", "fiscal_cost", "adoption_rate_final"],
    "timeseries": ["links_active"],
    "grid": {"policies.capex_subsidy.share": [0.0, 0.3], "policies.platform.enabled": [False, True]},
}


def _table(folder: Path) -> pd.DataFrame:
    runs, _, _ = load_results(folder)
    return runs.sort_values("run").reset_index(drop=True)


def test_grid_size_seeds_and_parameters_are_as_specified(tmp_path):
    spec = load_spec(SMALL)
    runs = spec.runs()
    assert len(runs) == 2 * 2 * 2
    assert [r["seed"] for r in runs] == [derive_seed(7, r["replication"]) for r in runs]
    reps = {r["replication"] for r in runs}
    assert len({r["seed"] for r in runs}) == len(reps) > 1  # one seed per replication, shared by the points
    table = sweep(spec, tmp_path, progress=False)
    assert list(table["run"]) == list(range(8))
    assert (table.groupby("point").size() == 2).all()
    assert set(zip(table["param:policies.capex_subsidy.share"], table["param:policies.platform.enabled"],
                   strict=True)) == {(0.0, False), (0.0, True), (0.3, False), (0.3, True)}
    # a row equals a single run with the same seed and overrides
    row = table.iloc[5]
    single = run("generic", steps=12, seed=int(row["seed"]), overrides=runs[5]["params"])
    assert row["links_formed_total"] == single.metrics["links_formed_total"]
    assert row["fiscal_cost"] == pytest.approx(single.metrics["fiscal_cost"])
    _, ts, manifest = load_results(tmp_path)
    assert len(ts) == 8 * 12 and set(ts.columns) >= {"run", "step", "links_active"}
    assert manifest["completed"] == 8 and manifest["failed"] == 0
    assert manifest["spec"]["seed"] == 7 and manifest["ecopark_version"] and manifest["finished"]


def test_a_sweep_records_only_the_step_metrics_its_outcomes_need(tmp_path, monkeypatch):
    outcomes = ["emissions_avoided", "surplus_share_operator", "fiscal_cost", "npl_ratio_mean"]
    spec = load_spec({**SMALL, "outcomes": outcomes, "grid": {}, "replications": 1})
    full = run("generic", steps=12, seed=spec.runs()[0]["seed"])  # records every step metric
    recorded = []

    def spy(*args, **kwargs):
        recorded.append(list(kwargs["step_metrics"]))
        return simulate(*args, **kwargs)

    simulate = runner_module.simulate
    monkeypatch.setattr(runner_module, "simulate", spy)
    row = sweep(spec, tmp_path, progress=False).iloc[0]
    assert recorded == [["emissions", "emissions_bau", "surplus_supplier", "surplus_receiver", "surplus_operator",
                         "npl_ratio", "links_active"]]
    assert {name: row[name] for name in outcomes} == pytest.approx({name: full.metrics[name] for name in outcomes})


def test_each_run_metric_declares_every_step_metric_it_reads():
    model = runner_module.simulate("generic", steps=24, seed=5, overrides={"policies.platform.enabled": True})
    full = compute_run_metrics(model)
    every = model.datacollector.model_vars
    for name, metric in RUN_METRICS.items():
        model.datacollector.model_vars = {step: every[step] for step in metric.steps}
        assert compute_run_metrics(model, [name]) == {name: full[name]}, name


def test_latin_hypercube_sample_crossed_with_grid():
    spec = load_spec({**SMALL, "grid": {"policies.platform.enabled": [False, True]}, "replications": 1,
                      "sample": {"method": "lhs", "n": 5, "ranges": {"policies.landfill_tax.rate": [0.0, 100.0]}}})
    points = spec.points()
    assert len(points) == 10
    rates = np.array([p["policies.landfill_tax.rate"] for p in points[:5]])
    assert np.all((rates >= 0) & (rates <= 100))
    assert sorted(np.floor(rates / 20).astype(int)) == [0, 1, 2, 3, 4]  # one per stratum


def test_one_and_two_workers_give_identical_tables(tmp_path):
    one = sweep(SMALL, tmp_path / "one", workers=1, progress=False)
    two = sweep(SMALL, tmp_path / "two", workers=2, progress=False)
    pd.testing.assert_frame_equal(one, two)
    pd.testing.assert_frame_equal(load_results(tmp_path / "one")[1], load_results(tmp_path / "two")[1])


def test_failing_run_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    spec = load_spec(SMALL)
    bad = spec.runs()[3]  # replications share seeds across points: fail one point's replication

    real = runner_module.simulate

    def flaky(scenario, steps, seed, overrides, step_metrics):
        if seed == bad["seed"] and overrides == bad["params"]:
            raise ValueError("boom in a run")
        return real(scenario, steps=steps, seed=seed, overrides=overrides, step_metrics=step_metrics)

    monkeypatch.setattr(runner_module, "simulate", flaky)
    table = sweep(spec, tmp_path, progress=False)
    assert len(table) == 8
    failed = table[table["status"] == "failed"]
    assert list(failed["run"]) == [3] and "boom in a run" in failed["error"].iloc[0]
    assert (table.loc[table["run"] != 3, "status"] == "ok").all()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["failed"] == 1 and manifest["failures"][0]["run"] == 3
    # running again retries nothing (the failure is a result) and keeps every run once
    again = sweep(spec, tmp_path, progress=False)
    assert len(again) == 8 and list(again["run"]) == list(range(8))


def test_sweep_killed_with_sigkill_resumes_each_run_exactly_once(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(
        'scenario = "generic"\nsteps = 24\nreplications = 6\nseed = 3\n'
        'outcomes = ["links_formed_total", "fiscal_cost"]\ntimeseries = ["links_active"]\n'
        '[grid]\n"policies.landfill_tax.rate" = [0.0, 50.0]\n')
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ecopark", "sweep", str(spec_file), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((out / "parts").glob("run-*.json"))) < 3:
        assert time.monotonic() < deadline and proc.poll() is None, "the sweep did not start"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("run-*.json")}
    assert 3 <= len(before) < 12
    assert not (out / "runs.parquet").exists()

    assert subprocess.run(cmd, capture_output=True).returncode == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "parts").glob("run-*.json")}
    assert len(after) == 12
    assert all(after[name] == mtime for name, mtime in before.items())  # finished runs were not redone
    runs, ts, manifest = load_results(out)
    assert sorted(runs["run"]) == list(range(12)) and manifest["resumed"] == 1
    assert ts.groupby("run").size().eq(24).all() and ts["run"].nunique() == 12
    reference = sweep(spec_file, tmp_path / "reference", progress=False)
    pd.testing.assert_frame_equal(runs.sort_values("run").reset_index(drop=True), reference)


@pytest.mark.parametrize(("change", "key"), [
    ({"grid": {"policies.landfill_tax.rat": [1.0]}}, 'grid."policies.landfill_tax.rat"'),
    ({"grid": {"policies.capex_subsidy.share": [0.2, 1.5]}}, 'grid."policies.capex_subsidy.share"'),
    ({"steps": 0}, "steps"),
    ({"outcomes": ["links_formed_total", "happiness"]}, "outcomes[1]"),
    ({"timeseries": ["nope"]}, "timeseries[0]"),
    ({"format": "xlsx"}, "format"),
    ({"sample": {"method": "lhs", "n": 4, "ranges": {"policies.landfill_tax.rate": [50.0, 10.0]}}},
     'sample.ranges."policies.landfill_tax.rate"'),
    ({"replicates": 3}, "replicates"),
])
def test_bad_specs_name_the_key(change, key):
    with pytest.raises(ConfigError) as err:
        load_spec({**SMALL, **change})
    assert key in str(err.value)


def test_bad_spec_on_the_command_line_exits_2_without_traceback(tmp_path):
    spec_file = tmp_path / "bad.toml"
    spec_file.write_text('steps = 12\n[grid]\n"policies.capex_subsidy.share" = [2.0]\n')
    done = subprocess.run([sys.executable, "-m", "ecopark", "sweep", str(spec_file), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "policies.capex_subsidy.share" in done.stderr and "Traceback" not in done.stderr


def test_resuming_into_a_folder_of_another_spec_is_refused(tmp_path):
    sweep({**SMALL, "replications": 1}, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="another spec"):
        sweep({**SMALL, "replications": 1, "steps": 6}, tmp_path, progress=False)


def test_csv_format_on_request(tmp_path):
    sweep({**SMALL, "replications": 1, "format": "csv"}, tmp_path, progress=False)
    assert (tmp_path / "runs.csv").exists() and (tmp_path / "timeseries.csv").exists()
    runs, ts, _ = load_results(tmp_path)
    assert len(runs) == 4 and len(ts) == 48


def test_dask_local_cluster_matches_local_results(tmp_path):
    pytest.importorskip("distributed")
    spec = {**SMALL, "replications": 1}
    local = sweep(spec, tmp_path / "local", progress=False)
    dask = sweep(spec, tmp_path / "dask", workers=2, backend="dask", progress=False)
    pd.testing.assert_frame_equal(local, dask)
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["backend"] == "dask"


def test_dask_with_an_existing_scheduler_address(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = {**SMALL, "replications": 1, "grid": {"policies.platform.enabled": [False, True]}}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        table = sweep(spec, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert (table["status"] == "ok").all()
    pd.testing.assert_frame_equal(table, sweep(spec, tmp_path / "local", progress=False))


def test_plots_draw_outcome_vs_parameter_and_heatmap(tmp_path):
    from ecopark.experiments.plots import plot_results

    sweep(SMALL, tmp_path, progress=False)
    written = plot_results(tmp_path, ["links_formed_total"], fmt="svg")
    names = {p.name for p in written}
    assert {"plot-links_formed_total-vs-policies.capex_subsidy.share.svg",
            "plot-links_formed_total-vs-policies.platform.enabled.svg",
            "heatmap-links_formed_total.svg", "figures.md"} <= names
    assert written[-1].name == "figures.md"  # the index of what was written, last
    assert all(p.stat().st_size > 1000 for p in written[:-1])
    with pytest.raises(ConfigError, match="outcomes"):
        plot_results(tmp_path, ["not_an_outcome"])


def test_sobol_and_morris_indices_rank_the_parameter_that_matters(tmp_path):
    pytest.importorskip("SALib")
    from ecopark.experiments.sensitivity import sensitivity

    spec = {"scenario": "generic", "steps": 12, "seed": 1, "replications": 1,
            "sample": {"n": 8, "ranges": {"policies.landfill_tax.rate": [0.0, 400.0],
                                          "operator.initial_cash": [4.0e7, 6.0e7]}}}
    sobol = sensitivity(spec, "landfill_tax_total", tmp_path / "sobol", method="sobol", n=8, progress=False)
    assert list(sobol["parameter"]) == ["policies.landfill_tax.rate", "operator.initial_cash"]
    assert sobol["runs"].iloc[0] == 8 * (2 + 2)
    assert sobol["ST"].iloc[0] > 0.8 and sobol["ST"].iloc[1] < 0.1  # the tax rate drives tax revenue
    assert {"S1_conf", "ST_conf"} <= set(sobol.columns)
    morris = sensitivity(spec, "landfill_tax_total", tmp_path / "morris", method="morris", n=4,
                         progress=False)
    assert morris["mu_star"].iloc[0] > 100 * max(morris["mu_star"].iloc[1], 1e-9)
    assert (tmp_path / "morris" / "indices.csv").exists()


def test_ema_workbench_experiment_runs(tmp_path):
    ema = pytest.importorskip("ema_workbench")
    from ecopark.experiments.ema import ema_model

    model = ema_model({"economy.common_shock_sd": (0.0, 0.05)}, {"policies.landfill_tax.rate": (0.0, 200.0)},
                      ["landfill_tax_total", "links_formed_total"], steps=6)
    np.random.seed(7)  # the workbench samples with numpy's global generator
    experiments, outcomes = ema.perform_experiments(model, scenarios=3, policies=2)
    assert len(experiments) == 6 and {"economy__common_shock_sd", "policies__landfill_tax__rate"} <= set(
        experiments.columns)
    revenue = outcomes["landfill_tax_total"]
    rates = experiments["policies__landfill_tax__rate"].to_numpy()
    assert np.corrcoef(rates, revenue)[0, 1] > 0.9
