"""Issue 29: outputs that carry their units, and bad inputs that stop with one line (exit 2 / ConfigError)."""

from __future__ import annotations

import json
import shutil
import socket

import numpy as np
import pandas as pd
import pytest

import ecopark
from ecopark.cli import main
from ecopark.experiments.batch import sweep
from ecopark.experiments.runner import COUNT_UNITS, TABLES
from ecopark.metrics import RUN_METRICS
from ecopark.schema import ConfigError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 3-month run of the generic park, saved."""
    result = ecopark.run("generic", steps=3, seed=1)
    out = tmp_path_factory.mktemp("run")
    result.save(out)
    return result, out


# -- units that travel -----------------------------------------------------------------------------
def test_metrics_json_carries_each_unit_and_definition_beside_the_values(saved):
    result, out = saved
    document = json.loads((out / "metrics.json").read_text())
    values, units = document["values"], document["units"]
    assert set(values) == set(units) == set(RUN_METRICS)
    for name, metric in RUN_METRICS.items():
        assert units[name] == {"unit": metric.unit, "definition": metric.formula}
        assert metric.formula, name  # every metric has a definition to carry
    assert result.units == units and ecopark.RunResult.load(out).units == units
    table = result.metric_table()
    assert list(table.columns) == ["metric", "value", "unit", "definition"] and len(table) == len(RUN_METRICS)


def test_counts_are_integers_in_the_result_and_in_metrics_json(saved):
    result, out = saved
    values = json.loads((out / "metrics.json").read_text())["values"]
    counts = [n for n, m in RUN_METRICS.items() if m.unit in COUNT_UNITS]
    assert "firms_final" in counts and len(counts) >= 10
    for name in counts:
        assert type(result.metrics[name]) is int and type(values[name]) is int, name
    assert type(result.metrics["fiscal_cost"]) is float
    assert ecopark.RunResult.load(out).metrics == result.metrics


def test_metrics_json_of_the_earlier_layout_still_loads(saved, tmp_path):
    result, out = saved
    shutil.copytree(out, tmp_path / "old")
    (tmp_path / "old" / "metrics.json").write_text(json.dumps({k: float(v) for k, v in result.metrics.items()}))
    loaded = ecopark.RunResult.load(tmp_path / "old")
    assert loaded.metrics == result.metrics and loaded.units["firms_final"]["unit"] == "firms"


# -- RunResult.load on damaged folders ---------------------------------------------------------------
def _truncate_timeseries(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))


def _ragged(path):
    lines = path.read_text().splitlines()
    assert len(lines) > 1, "the run formed no link"
    lines[1] = lines[1].rsplit(",", 1)[0]  # one field short: pandas alone would fill it with NaN
    path.write_text("\n".join(lines) + "\n")


DAMAGE = {
    "metrics not JSON": ("metrics.json", "{not json"),
    "metrics a list": ("metrics.json", "[1]"),
    "metrics a word": ("metrics.json", '{"values": {"firms_final": "many"}, "units": {}}'),
    "config not JSON": ("config.json", '{"scenario": '),
    "config a list": ("config.json", "[1]"),
    "config no steps": ("config.json", '{"scenario": {}}'),
    "timeseries truncated": ("timeseries.csv", _truncate_timeseries),
    "timeseries garbage": ("timeseries.csv", "step,a\n1,2,3,4,5\n\x00\x01"),
    "links ragged": ("links.csv", _ragged),
    "ledger empty file": ("ledger.csv", ""),
    "ledger no rows": ("ledger.csv", "kind,payer,payee,amount_yuan\n"),
    "firms wrong columns": ("firms.csv", "a,b\n1,2\n"),
    "streams not UTF-8": ("streams.csv", b"stream,unit\n\xff\xfe,t\n"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_run_result_load_refuses_every_damaged_file_naming_it(saved, tmp_path, case):
    _, out = saved
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    name, damage = DAMAGE[case]
    path = folder / name
    if callable(damage):
        damage(path)
    elif isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage)
    with pytest.raises(ConfigError, match=name.replace(".", r"\.")):
        ecopark.RunResult.load(folder)


# -- the Python API: wrong types, numpy numbers --------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "key"), [
    ({"scenario": 123}, "scenario"), ({"scenario": None}, "scenario"),
    ({"overrides": [5]}, r"overrides\[0\]"), ({"overrides": 5}, "overrides"),
    ({"overrides": "operator.rent=5"}, "overrides"), ({"overrides": {5: 1}}, "overrides"),
])
def test_run_with_arguments_of_the_wrong_type_raises_config_error(kwargs, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        ecopark.run(**{"steps": 1, **kwargs})


def test_numpy_numbers_are_accepted_as_overrides():
    plain = ecopark.run("generic", steps=2, seed=4, overrides={
        "policies.landfill_tax.rate": 80.0, "credit.project_tenor_months": 60, "park.heat_cascade": False,
        "economy.discount_rate": [0.05, 0.1]})
    drawn = ecopark.run("generic", steps=np.int64(2), seed=4, overrides={
        "policies.landfill_tax.rate": np.float32(80.0), "credit.project_tenor_months": np.int64(60),
        "park.heat_cascade": np.bool_(False), "economy.discount_rate": np.array([0.05, 0.1])})
    assert drawn.config == plain.config and drawn.metrics == plain.metrics
    assert type(drawn.config["scenario"]["credit"]["project_tenor_months"]) is int


# -- the command line: each bad input exits 2 with one line --------------------------------------------
def _one_line_exit_2(argv, capsys) -> str:
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, (status, err)
    return lines[0]


def test_run_out_empty_or_too_long_exits_2(tmp_path, capsys):
    assert "empty" in _one_line_exit_2(["run", "--steps", "1", "--out", ""], capsys)
    line = _one_line_exit_2(["run", "--steps", "1", "--out", tmp_path / ("x" * 300)], capsys)
    assert line.startswith("ecopark: error: out:") and "too long" in line


def test_calibrate_bad_out_workers_and_scheduler_exit_2(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for argv in (["--out", a_file], ["--out", "/proc/ecopark-calibration"], ["--out", tmp_path / "c",
                                                                             "--workers", "0"],
                 ["--out", tmp_path / "c", "--workers", "-1"], ["--out", tmp_path / "c", "--scheduler", "bogus"],
                 ["--out", tmp_path / "c", "--seed", "-3"]):
        _one_line_exit_2(["calibrate", "generic", *argv], capsys)
    assert not (tmp_path / "c" / "parts").exists()  # refused before anything ran


def test_calibrate_help_shows_an_example_and_the_seed_default(capsys):
    assert main(["calibrate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "ecopark calibrate yueyang --out" in text
    assert "--seed" in text and "default: the spec's seed" in text and "(default: 1)" in text  # --workers


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = {"scenario": "generic", "steps": 2, "replications": 2, "seed": 1,
            "outcomes": ["links_formed_total", "fiscal_cost"], "format": "csv",
            "grid": {"policies.landfill_tax.rate": [10.0, 40.0]}}
    sweep(spec, out, progress=False)
    return out


CRAFTED = {
    "manifest not JSON": lambda f: (f / "manifest.json").write_text("{nope"),
    "manifest empty": lambda f: (f / "manifest.json").write_text(""),
    "manifest a list": lambda f: (f / "manifest.json").write_text("[1, 2]"),
    "manifest no spec": lambda f: (f / "manifest.json").write_text('{"format": "csv"}'),
    "runs missing": lambda f: (f / "runs.csv").unlink(),
    "runs garbage": lambda f: (f / "runs.csv").write_bytes(b"\x00\xff\x00garbage\n\x01"),
    "runs no status": lambda f: pd.read_csv(f / "runs.csv").drop(columns="status").to_csv(f / "runs.csv"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_plot_on_a_crafted_folder_exits_2(sweep_folder, tmp_path, capsys, case):
    folder = tmp_path / "crafted"
    shutil.copytree(sweep_folder, folder)
    CRAFTED[case](folder)
    assert _one_line_exit_2(["plot", folder], capsys).startswith("ecopark: error: folder:")


def test_plot_cost_must_be_a_metric_in_yuan(sweep_folder, capsys):
    line = _one_line_exit_2(["plot", sweep_folder, "--cost", "links_formed_total"], capsys)
    assert "not yuan" in line and "fiscal_cost" in line


def test_viz_on_a_busy_port_exits_2_with_one_line(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = _one_line_exit_2(["viz", "--port", port], capsys)
    assert f"127.0.0.1:{port}" in line and "--port" in line


def _readme_row(first_cell: str) -> str:
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    return next(line for line in readme.splitlines() if line.startswith(f"| {first_cell} |"))


def test_readme_output_tables_list_the_values_the_data_holds():
    """README's `--out` table names every loan purpose, status and collateral kind, and every link end reason."""
    from ecopark.markets.contracts import END_REASONS
    from ecopark.markets.credit import COLLATERAL_KINDS, PURPOSES, STATUSES

    loans = _readme_row("`loans.csv`")
    for value in (*PURPOSES, *STATUSES, *COLLATERAL_KINDS):
        assert value.replace("_", " ") in loans, value
    links = _readme_row("`links.csv`")
    for value in END_REASONS:
        assert value in links, value
    for name in (*TABLES, "metrics", "config"):
        _readme_row(f"`{name}.{'json' if name in ('metrics', 'config') else 'csv'}`")
