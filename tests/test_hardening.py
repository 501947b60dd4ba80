"""Issue 19, silent corruption and crashes: one regression test per numbered item, and the fuzz."""

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
import pytest

import ecopark
from ecopark import cli
from ecopark.experiments import load_spec, sweep
from ecopark.experiments.sensitivity import sensitivity
from ecopark.fuzz import fuzz_run, random_overrides
from ecopark.invariants import InvariantMonitor
from ecopark.ledger import LEDGER_LIMIT, Ledger, LedgerOverflowError
from ecopark.model import MIN_COST_FACTOR, ParkModel
from ecopark.scenario import load_scenario, presets, scale_park
from ecopark.schema import ConfigError

runner_module = importlib.import_module("ecopark.experiments.runner")
batch_module = importlib.import_module("ecopark.experiments.batch")
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}


def _small(preset: str = "generic", firms: int = 10, **overrides):
    return load_scenario(scale_park(load_scenario(preset), firms), overrides)


# -- 1. the ledger never wraps around ------------------------------------------------------------
def test_ledger_refuses_a_transfer_that_would_overflow_int64():
    ledger = Ledger()
    out, firm = ledger.open_account("outside", "outside"), ledger.open_account("firm", "enterprise")
    ledger.transfer("sale", out, firm, 1e16)
    with pytest.raises(LedgerOverflowError, match="ledger"):
        ledger.transfer("sale", out, [firm, firm, firm, firm, firm], 1e16)  # 6e18 fen in all: beyond 2**62
    assert ledger.balance(firm) == 1e16 and ledger.total() == 0  # nothing booked by the refused call
    assert isinstance(LedgerOverflowError("ledger", "x"), ConfigError)


@pytest.mark.parametrize("setting", ["operator.rent=1e20", "operator.rent=inf", "operator.rent=nan",
                                     "operator.initial_cash=1e308", "banks[0].capital=-inf",
                                     "policies.cap_and_trade.penalty=1e20",
                                     "policies.cap_and_trade.external_price=inf"])
def test_money_beyond_what_the_ledger_holds_exits_2(setting, capsys):
    assert cli.main(["run", "--steps", "2", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert setting.split("=")[0] in err and len(err.strip().splitlines()) == 1


# -- 3. documented values no longer crash --------------------------------------------------------
def test_min_quantity_zero_is_outside_the_range_and_the_smallest_allowed_runs():
    with pytest.raises(ConfigError, match="min_quantity"):
        load_scenario("generic", {"byproduct_market.min_quantity": 0})
    model = ParkModel(_small(**{"byproduct_market.min_quantity": 0.01}), seed=0)
    for _ in range(4):
        model.step()
    assert model.ledger.total() == 0


def test_the_largest_cost_dispersion_runs_with_positive_costs():
    floored = 0
    for seed in range(4):  # the default park: each of these seeds drew a negative cost factor before
        model = ParkModel(load_scenario("generic", {"economy.cost_dispersion": 0.5}), seed=seed)
        model.step()
        factors = model.firms.cost_factor[: model.firms.n]
        assert (factors >= MIN_COST_FACTOR).all() and model.ledger.total() == 0
        floored += int((factors == MIN_COST_FACTOR).sum())
    assert floored > 0  # the floor is what kept these runs going


# -- 4. the risk fund never pays a firm that has left --------------------------------------------
def test_a_firm_leaving_with_a_first_link_is_compensated_before_it_is_settled():
    scenario = _small(firms=30, **{"policies.risk_compensation_fund.threshold": 1.0,
                                   "policies.risk_compensation_fund.cover_share": 1.0,
                                   "policies.risk_compensation_fund.evaluation_months": 179})
    model = ParkModel(scenario, seed=4)
    links = model.byproduct_market.links
    while not (links.first[links.live]).any():
        model.step()
    link = links.live[links.first[links.live]][0]
    links.gross_gain_supplier[link] = -1e6  # a first link that has cost its supplier: the fund owes cover
    supplier = int(links.supplier[link])
    account = model.firms.account[supplier]
    model.remove_firms(np.array([supplier]))
    assert model.ledger.received(account, "risk_compensation") > 0  # compensated while still in the park
    assert model.ledger.balance(account) == 0  # ... and that money went to its owners, not a dead account


# -- 5. loss rates are shares of principal --------------------------------------------------------
def test_loss_rates_exclude_capitalised_interest_and_stay_within_one():
    from ecopark.metrics import loss_rate_green, loss_rate_other

    model = ParkModel(_small(firms=30), seed=1)
    loans = model.credit.loans
    while not len(loans.live):
        model.step()
    row = loans.live[0]
    with loans.editing():
        loans.outstanding_fen[row] *= 3  # two years of missed instalments capitalised at a high rate
    borrower, principal, owed = loans.borrower[row], loans.principal[row], loans.funded_fen[row] / 100
    account = int(model.firms.account[borrower])
    model.ledger.transfer("capex", account, model.outside, model.ledger.balance(account))  # no cash to repay from
    model.firms.receivables[borrower] = 0.0  # nor receivables the liquidator could collect (bad debts)
    model.remove_firms(np.array([borrower]))
    assert loans.written_off[row] > principal  # written off: capitalised interest included
    rate = loss_rate_green(model) if loans.green[row] else loss_rate_other(model)
    lent = loans.principal[: loans.n][loans.green[: loans.n] == loans.green[row]].sum()
    assert rate == pytest.approx(owed / lent) and 0 <= rate <= 1


# -- 6. sweeps survive corrupted parts, dead workers, a second sweep and a killed parent -----------
SPEC = {"scenario": "generic", "steps": 2, "replications": 2, "seed": 5, "outcomes": ["fiscal_cost"],
        "timeseries": ["links_active"], "format": "csv", "grid": {"policies.landfill_tax.rate": [10.0, 30.0]}}


def test_an_unreadable_part_counts_as_missing_and_is_run_again(tmp_path):
    spec = load_spec(SPEC)
    first = sweep(spec, tmp_path, progress=False)
    (tmp_path / "parts" / "run-000001.json").write_text('{"run": 1, "point": 0, "repl')  # truncated
    ts = tmp_path / "parts" / "run-000002.ts.csv"
    ts.write_text(ts.read_text()[:-9])  # truncated mid-row
    again = sweep(spec, tmp_path, progress=False)
    assert list(again["run"]) == [0, 1, 2, 3] and (again["status"] == "ok").all()
    assert again["fiscal_cost"].tolist() == first["fiscal_cost"].tolist()
    _, series, manifest = ecopark.experiments.load_results(tmp_path)
    assert list(series.columns) == ["run", "step", "links_active"] and len(series) == 8
    assert not series.isna().any().any() and manifest["resumed"] == 1


_REAL_RUN_TASK = batch_module.run_task


def _lethal_task(spec, task, measure=None):
    """A sweep task whose worker is killed (as by the OOM killer): run 0 the first time, run 1
    every time (the first time only after run 0's death, so that run 0 has started by then)."""
    marker = Path(os.environ["ECOPARK_TEST_MARKER"])
    if task["run"] == 0 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if task["run"] == 1:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
    return _REAL_RUN_TASK(spec, task, measure)


def test_a_dead_worker_is_retried_once_then_recorded_as_failed(tmp_path, monkeypatch):
    spec = load_spec({**SPEC, "grid": {"policies.landfill_tax.rate": [10.0]}})  # runs 0 and 1, both in flight
    monkeypatch.setenv("ECOPARK_TEST_MARKER", str(tmp_path / "died-once"))
    monkeypatch.setattr(batch_module, "run_task", _lethal_task)  # workers import it from this module
    table = sweep(spec, tmp_path / "out", workers=2, progress=False)
    assert list(table["run"]) == [0, 1] and list(table["status"]) == ["ok", "failed"]
    assert table["error"].iloc[1].startswith("worker died") and (tmp_path / "died-once").exists()
    assert (tmp_path / "out" / "runs.csv").exists() and (tmp_path / "out" / "timeseries.csv").exists()


def test_a_second_sweep_into_a_locked_folder_is_refused(tmp_path):
    import fcntl

    (tmp_path / "parts").mkdir()
    with open(tmp_path / ".lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another sweep holds the folder
        with pytest.raises(ConfigError, match="in use by another sweep"):
            sweep(load_spec(SPEC), tmp_path, progress=False)
    assert len(sweep(load_spec(SPEC), tmp_path, progress=False)) == 4  # free again


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    code = ("import os, time\nfrom ecopark.experiments.batch import worker_pool\n"
            "pool = worker_pool(1)\nprint(pool.submit(os.getpid).result(), flush=True)\n"
            "pool.submit(time.sleep, 60)\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


# -- 7. integer parameters in [sample.ranges] ---------------------------------------------------
def test_sampled_whole_number_parameters_are_rounded_and_sobol_runs(tmp_path):
    ranges = {"credit.project_tenor_months": [12.0, 15.0], "policies.landfill_tax.rate": [0.0, 50.0]}
    spec = load_spec({"scenario": "generic", "steps": 1, "seed": 1,
                      "sample": {"method": "lhs", "n": 40, "ranges": ranges}})
    tenors = [p["credit.project_tenor_months"] for p in spec.points()]
    assert all(isinstance(t, int) for t in tenors) and set(tenors) == {12, 13, 14, 15}
    with pytest.raises(ConfigError, match="project_tenor_months"):
        load_spec({"scenario": "generic", "sample": {"ranges": {"credit.project_tenor_months": [12.5, 20.0]}}})
    small = {"scenario": "generic", "steps": 1, "seed": 1, "outcomes": ["fiscal_cost"],
             "sample": {"method": "sobol", "n": 2, "ranges": {"credit.project_tenor_months": [12.0, 120.0]}}}
    with pytest.warns(UserWarning, match="small"):
        table = sensitivity(small, "fiscal_cost", tmp_path, n=2, progress=False)
    assert table["runs"].iloc[0] == 2 * 3


# -- 8. bad command-line values: exit 2 and one line ------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["run", "--seed", "-1"], ["run", "--seed", "1.5"], ["run", "--steps", "2401"], ["run", "--steps", "0"],
    ["sweep", "example", "--out", "{tmp}/s", "--workers", "0"],
    ["sweep", "example", "--out", "{tmp}/s", "--scheduler", "localhost"],
    ["sensitivity", "example", "--outcome", "fiscal_cost", "--out", "{tmp}/s", "--n", "0"],
    ["run", "--scenario", "{tmp}/latin1.toml"], ["sweep", "{tmp}/latin1.toml", "--out", "{tmp}/s"],
    ["run", "--scenario", "{tmp}/unreadable.toml"],
    ["run", "--out", "{tmp}/a_file"], ["run", "--out", "{tmp}/a_file/sub"],
])
def test_bad_command_line_values_exit_2_with_one_line(argv, tmp_path, capsys, monkeypatch):
    (tmp_path / "latin1.toml").write_bytes('scenario = "caf\xe9"\n'.encode("latin-1"))
    (tmp_path / "unreadable.toml").write_text("")
    (tmp_path / "unreadable.toml").chmod(0)
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setattr(runner_module, "ParkModel", lambda *a, **k: pytest.fail("ran before checking its input"))
    if os.geteuid() == 0 and "unreadable" in str(argv):
        pytest.skip("root reads every file")
    assert cli.main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("seed", [-1, 1.5, "7", 2**64, True])
def test_the_python_api_refuses_a_bad_seed_with_a_config_error(seed):
    with pytest.raises(ConfigError, match="seed"):
        ecopark.run("generic", steps=1, seed=seed)


# -- 9. `ecopark run --out DIR | head` keeps its files -----------------------------------------------
def test_run_saves_its_files_even_when_stdout_is_closed(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "ecopark", "run", "--steps", "1", "--out", str(tmp_path / "o")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    proc.stdout.close()  # the reader (`head`) has gone before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait() == 0 and err == ""
    assert (tmp_path / "o" / "report.png").stat().st_size > 0 and (tmp_path / "o" / "metrics.json").exists()


# -- 10. plot file names cannot leave the folder --------------------------------------------------
def test_plot_file_names_from_a_crafted_folder_stay_inside_it(tmp_path):
    from ecopark.experiments.plots import plot_results

    folder = tmp_path / "sweep"
    sweep(load_spec({**SPEC, "replications": 1, "timeseries": []}), folder, progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    evil = "../../escaped/x"
    manifest["parameters"] = [evil]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    runs = (folder / "runs.csv").read_text().replace("param:policies.landfill_tax.rate", f"param:{evil}")
    (folder / "runs.csv").write_text(runs)
    paths = plot_results(folder)
    assert paths and all(p.parent == folder for p in paths)
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.parent.glob("escaped*"))


# -- 11. `ecopark viz` becomes the server ----------------------------------------------------------
def test_viz_replaces_itself_by_the_server_so_signals_reach_it(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append(argv))
    monkeypatch.setattr(subprocess, "call", lambda *a, **k: pytest.fail("a child process outlives SIGTERM"))
    cli.main(["viz", "--port", "8799"])
    assert calls and calls[0][1:3] == ["run", str(Path(cli.__file__).parent / "viz" / "app.py")]
    assert "8799" in calls[0]


# -- the fuzz: random valid scenarios keep every invariant ----------------------------------------
def test_fuzz_random_valid_scenarios_keep_the_invariants():
    rng = np.random.default_rng(19)
    outcomes = []
    for _ in range(30):
        overrides = random_overrides(rng)
        outcome, message = fuzz_run(str(rng.choice(presets())), overrides, int(rng.integers(2**31)),
                                    steps=int(rng.integers(6, 13)), firms=10)
        assert outcome in ("ok", "refused"), f"{outcome}: {message} with {overrides}"
        outcomes.append(outcome)
    assert outcomes.count("ok") >= 20


def test_the_invariant_monitor_catches_each_broken_invariant():
    model = ParkModel(_small(), seed=0)
    monitor = InvariantMonitor(model)
    model.step()
    assert monitor.violations() == []
    row = model.firms.live[0]
    model.remove_firms(np.array([row]))
    model.ledger.transfer("risk_compensation", model.government.account, model.firms.account[row], 5.0)
    model.ledger._balance[model.government.account] += LEDGER_LIMIT  # near the int64 limit, sum no longer 0
    model.stream_totals["disposed"][0] += 1.0
    account = model.carbon_market._accounts(np.array([model.firms.live[0]]))[0]
    model.allowances.transfer("trade", account, model.carbon_market.exchange, 1e9)
    found = " | ".join(monitor.violations())
    for text in ("money balances sum", "int64", "byproduct", "negative", "exited firm"):
        assert text in found, text


def test_sensitivity_with_failed_runs_stops_with_one_line_and_keeps_the_runs(tmp_path, monkeypatch, capsys):
    from ecopark import cli
    from ecopark.experiments import runner as runner_module

    def broken(scenario, steps, seed, overrides, step_metrics):
        raise ValueError("boom in a run")

    monkeypatch.setattr(runner_module, "simulate", broken)
    spec = tmp_path / "sens.toml"
    spec.write_text('scenario = "generic"\nsteps = 2\n[sample]\nn = 2\n[sample.ranges]\n'
                    '"policies.landfill_tax.rate" = [0.0, 50.0]\n')
    status = cli.main(["sensitivity", str(spec), "--outcome", "links_formed_total", "--method", "morris",
                       "--n", "2", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 1
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("ecopark: error:") and "boom in a run" in last
    assert list((tmp_path / "out").glob("parts/*")) or (tmp_path / "out" / "manifest.json").is_file()
