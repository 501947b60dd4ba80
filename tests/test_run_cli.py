import json
from pathlib import Path

import ecopark
from ecopark import cli, metrics
from ecopark.reference import REFERENCE_DOCS


def test_run_result_tables_and_config(default_run):
    r = default_run
    assert list(r.timeseries.index) == list(range(1, 37))
    assert set(metrics.STEP_METRICS) <= set(r.timeseries.columns)
    assert set(r.metrics) == set(metrics.RUN_METRICS)
    assert {"firm", "sector", "x", "y", "cash", "received_sale", "paid_purchase"} <= set(r.firms.columns)
    assert r.config["seed"] == 3 and r.config["steps"] == 36
    assert r.config["ecopark_version"] == ecopark.__version__
    assert r.config["scenario"]["policies"]["landfill_tax"]["rate"] == 25.0
    # the per-firm cash column is the ledger: firms' cash plus everything else sums to zero
    assert abs(r.firms["cash"].sum() - r.timeseries["firm_cash"].iloc[-1]) < 1.0


def test_cli_run_prints_summary_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--steps", "6", "--seed", "2", "--set", "policies.landfill_tax.rate=40",
                     "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fiscal_cost" in text and "largest money flows" in text and "firms_final" in text
    assert "landfill_tax_total" not in text and "ecopark run --all" in text  # one screen; the rest a flag away
    assert len(text.splitlines()) <= 40
    assert cli.main(["run", "--steps", "2", "--all"]) == 0
    full = capsys.readouterr().out
    assert all(name in full for name in metrics.RUN_METRICS)
    for name in ("timeseries.csv", "firms.csv", "streams.csv", "ledger.csv", "metrics.json", "config.json",
                 "report.png"):
        assert (out / name).stat().st_size > 0, name
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 2 and config["scenario"]["policies"]["landfill_tax"]["rate"] == 40.0
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_reference_docs_are_generated_from_the_code():
    for name, make in REFERENCE_DOCS.items():
        doc = Path(__file__).parents[1] / "docs" / name
        assert doc.read_text() == make(), f"run `make docs` to regenerate docs/{name}"
    assert all(m.formula for m in (*metrics.STEP_METRICS.values(), *metrics.RUN_METRICS.values()))
