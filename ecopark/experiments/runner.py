"""One run of a scenario: ``run(scenario, steps, seed) -> RunResult``."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecopark import __version__
from ecopark.agents.enterprise import FIRM_VARIABLES
from ecopark.metrics import RUN_METRICS, compute_run_metrics
from ecopark.model import ParkModel, check_seed
from ecopark.scenario import Scenario, load_scenario
from ecopark.schema import ConfigError

#: The tables of a run, each saved as ``<name>.csv``.
TABLES = ("timeseries", "firms", "streams", "links", "loans", "ledger")
#: Most months one run may last (the largest ``park.horizon``).
MAX_STEPS = 2400
#: Units of run metrics that count whole things: their values are integers (``firms_final`` 62, not 62.0).
COUNT_UNITS = ("firms", "links", "chains", "units", "projects", "orders", "negotiations", "loans")
#: Columns a saved table must have (the rest depend on the run: ledger kinds, policies).
REQUIRED_COLUMNS = {"firms": ("firm", "sector"), "streams": ("stream", "unit", "generated"),
                    "ledger": ("kind", "payer", "payee", "amount_yuan"), "links": ("supplier", "receiver", "stream"),
                    "loans": ("borrower", "bank", "purpose")}


def metric_units(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """{metric: {"unit": ..., "definition": ...}} of run metrics ``names`` (``docs/metrics.md``)."""
    return {n: {"unit": RUN_METRICS[n].unit, "definition": RUN_METRICS[n].formula} for n in names if n in RUN_METRICS}


def typed_metrics(values: Mapping[str, float]) -> dict[str, float | int]:
    """Run metric values with counts (units in :data:`COUNT_UNITS`) as integers, the rest as floats."""
    out: dict[str, float | int] = {}
    for name, value in values.items():
        count = name in RUN_METRICS and RUN_METRICS[name].unit in COUNT_UNITS
        out[name] = round(float(value)) if count and math.isfinite(value) else float(value)
    return out


@dataclass
class RunResult:
    """Everything a run produces, as pandas tables and plain data.

    Attributes:
        timeseries: one row per step, one column per step metric (``docs/metrics.md``).
        firms: one row per firm ever in the park: identity, position, state at the end,
            cumulative money by ledger kind (yuan), emissions (tCO2e), byproducts (units).
        streams: one row per byproduct stream: generated, delivered, recycled in-plant, disposed
            and sold-outside totals, reuse rate by mass and value of delivered reuse (yuan at
            the virgin price).
        links: one row per link ever formed (``markets/contracts.py: LINK_FIELDS``).
        loans: one row per loan ever made (``markets/credit.py: LOAN_FIELDS``).
        ledger: money moved over the run by kind, payer party and payee party (yuan).
        metrics: scalar outcomes (``docs/metrics.md``); counts (firms, links, loans, ...) as
            integers, the rest as floats.
        config: the resolved scenario, steps, seed and ecopark version.
        units: each metric's unit and definition, ``{"firms_final": {"unit": "firms",
            "definition": "Firms in the park at the end of the run."}, ...}``; also
            :meth:`metric_table` and the ``units`` table of ``metrics.json``.
    """

    timeseries: pd.DataFrame
    firms: pd.DataFrame
    streams: pd.DataFrame
    links: pd.DataFrame
    loans: pd.DataFrame
    ledger: pd.DataFrame
    metrics: dict[str, float | int]
    config: dict[str, Any] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.units = {**metric_units(self.metrics), **self.units}

    def metric_table(self) -> pd.DataFrame:
        """The metrics as a table: metric, value, unit, definition (one row per metric)."""
        return pd.DataFrame([{"metric": n, "value": v, "unit": self.units.get(n, {}).get("unit", ""),
                              "definition": self.units.get(n, {}).get("definition", "")}
                             for n, v in self.metrics.items()])

    def save(self, out: str | Path) -> list[Path]:
        """Write the tables as CSV and metrics/config as JSON into folder ``out``.

        ``metrics.json`` holds ``{"values": {metric: value}, "units": {metric: {"unit",
        "definition"}}}``: each value with its unit and definition beside it."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in TABLES:
            path = out / f"{name}.csv"
            getattr(self, name).to_csv(path, index=name == "timeseries")
            paths.append(path)
        documents = {"metrics": {"values": self.metrics, "units": {n: self.units[n] for n in self.metrics
                                                                    if n in self.units}},
                     "config": self.config}
        for name, document in documents.items():
            path = out / f"{name}.json"
            path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
            paths.append(path)
        return paths

    @classmethod
    def load(cls, out: str | Path) -> RunResult:
        """Read back what :meth:`save` wrote into folder ``out`` (``RunResult.load(out)``).

        Tables come back as written (the time series indexed by ``step`` from 1); a table
        saved with no rows comes back empty. Raises ``FileNotFoundError`` naming the first
        missing file when ``out`` is not a saved run, and :class:`ConfigError` naming the
        file when one is damaged: not JSON or CSV, rows of the wrong length, a time series
        with other steps than the run's, missing columns, an empty ledger, a configuration
        or metrics of the wrong shape. ``metrics.json`` of ecopark before 0.1 (values only)
        is read too.
        """
        out = Path(out)
        for name in (*TABLES, "metrics", "config"):
            path = out / (f"{name}.json" if name in ("metrics", "config") else f"{name}.csv")
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: {out} is not a folder written by RunResult.save")
        config = _read_json(out / "config.json")
        if not isinstance(config, dict) or not isinstance(config.get("scenario"), dict) \
                or not isinstance(config.get("steps"), int) or isinstance(config.get("steps"), bool) \
                or config["steps"] < 1:
            raise _damaged(out / "config.json", "expected a table with the scenario and a whole number of steps")
        document = _read_json(out / "metrics.json")
        values = document.get("values") if isinstance(document, dict) and "values" in document else document
        units = document.get("units", {}) if isinstance(document, dict) and "values" in document else {}
        if not isinstance(values, dict) or not isinstance(units, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values()):
            raise _damaged(out / "metrics.json", "expected a table of metric names and numbers")
        tables = {name: _read_table(out / f"{name}.csv", name) for name in TABLES}
        steps = tables["timeseries"].index
        if len(steps) != config["steps"] or not (steps == np.arange(1, config["steps"] + 1)).all():
            raise _damaged(out / "timeseries.csv", f"expected one row for each of the run's {config['steps']} "
                                                   f"steps, found {len(steps)}")
        if tables["ledger"].empty:
            raise _damaged(out / "ledger.csv", "no money moved: every run moves money (at least the firms' equity)")
        return cls(**tables, metrics=typed_metrics(values), config=config, units=units)


def _damaged(path: Path, why: str) -> ConfigError:
    return ConfigError("out", f"{path} is damaged: {why}")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise _damaged(path, f"not readable JSON ({exc})") from None


def _read_table(path: Path, name: str) -> pd.DataFrame:
    """A saved table, checked whole: every row as long as the header, the required columns present."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            if header is None:
                raise _damaged(path, "empty (a table saved with no rows still has its header line)")
            width = len(header)
            for i, row in enumerate(rows, start=2):
                if len(row) != width:
                    raise _damaged(path, f"line {i} has {len(row)} fields, the header {width} (truncated or edited?)")
        if header in ([], [""]):  # a table with no columns, as pandas writes it
            return pd.DataFrame()
        table = pd.read_csv(path, index_col="step" if name == "timeseries" else None)
    except ConfigError:
        raise
    except (ValueError, OSError, csv.Error, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise _damaged(path, f"not a readable CSV table ({type(exc).__name__})") from None
    missing = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in table.columns]
    if missing:
        raise _damaged(path, f"no column {missing[0]!r}")
    return table


def firm_table(model: ParkModel) -> pd.DataFrame:
    """Per-firm table of a finished model (see :class:`RunResult`)."""
    firms, cat, ledger = model.firms, model.catalogue, model.ledger
    rows = np.arange(firms.n)
    table = pd.DataFrame({name: getattr(firms, name)[rows] for name in FIRM_VARIABLES})
    table.insert(0, "firm", [model.firm_agents[r].unique_id for r in rows])
    table["sector"] = [cat.sector_keys[s] for s in firms.sector[rows]]
    table["cash"] = ledger.balance(firms.account[rows])
    table["debt"] = model.credit.debt(rows)
    accounts = firms.account[rows]
    for kind in ledger.kinds:
        received, paid = ledger.received(accounts, kind), ledger.paid(accounts, kind)
        if received.any():
            table[f"received_{kind}"] = received
        if paid.any():
            table[f"paid_{kind}"] = paid
    return table.drop(columns=["account"])


def stream_table(model: ParkModel) -> pd.DataFrame:
    """Per-stream totals over the run: generated = delivered + recycled + disposed, and
    sold_outside, the part of disposed sold to outside buyers (units of the stream)."""
    cat = model.catalogue
    table = pd.DataFrame({
        "stream": cat.stream_keys,
        "unit": [s.unit for s in cat.streams.values()],
        **{k: v.copy() for k, v in model.stream_totals.items()},
    })
    table["reuse_rate"] = (table["delivered"] / table["generated"]).where(table["generated"] > 0, 0.0)
    table["reused_value"] = table["delivered"] * model.stream_virgin_price
    return table


def simulate(
    scenario: Scenario | str | Path = "generic",
    steps: int | None = None,
    seed: int = 0,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    step_metrics: Iterable[str] | None = None,
) -> ParkModel:
    """The model after ``steps`` months (default: the scenario's horizon) of ``scenario`` with ``seed``,
    having recorded ``step_metrics`` (default: all)."""
    check_seed(seed)
    scenario = load_scenario(scenario, overrides)
    steps = scenario.park.horizon if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ConfigError("steps", f"got {steps!r}; allowed: a whole number from 1 to {MAX_STEPS}")
    model = ParkModel(scenario, seed=seed, step_metrics=step_metrics)
    for _ in range(steps):
        model.step()
    return model


def timeseries(model: ParkModel) -> pd.DataFrame:
    """The step metrics of a finished model, one row per month (``step`` from 1)."""
    table = model.datacollector.get_model_vars_dataframe()
    table.index = pd.RangeIndex(1, model.steps + 1, name="step")
    return table


def run(
    scenario: Scenario | str | Path = "generic",
    steps: int | None = None,
    seed: int = 0,
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> RunResult:
    """Run one scenario for ``steps`` months and return everything it produced.

    Args:
        scenario: a preset name (``ecopark.presets()``: "generic", "liaocheng", ...), a
            path to a scenario TOML file, or a :class:`Scenario`.
        steps: months to simulate (default: the scenario's horizon, ``park.horizon``).
        seed: random seed, a whole number >= 0; the same seed gives the same numbers.
        overrides: scenario values to change, by dotted key, as a mapping
            ``{"policies.landfill_tax.rate": 80}`` or as strings ``["policies.landfill_tax.rate=80"]``;
            every key and its range are listed in ``docs/scenario.md``.

    Returns:
        A :class:`RunResult`: ``timeseries`` (one row per month, the step metrics of
        ``docs/metrics.md``), ``firms``, ``streams``, ``links``, ``loans``, ``ledger``
        (money in yuan, emissions in tCO2e, byproducts in each stream's unit), ``metrics``
        (scalar outcomes with the units of ``docs/metrics.md``) and ``config``.
        ``result.save(folder)`` writes it; ``RunResult.load(folder)`` reads it back.

    Raises:
        ConfigError: an unknown preset or key, a value out of its range, or ``steps`` < 1;
            the message names the key and what is allowed.

    Example:
        >>> result = run("generic", steps=12, seed=1, overrides={"policies.landfill_tax.rate": 80})
        >>> result.metrics["adoption_rate_final"]  # share of firms in a link at the end (0-1)
    """
    return result_of(simulate(scenario, steps, seed, overrides), seed)


def result_of(model: ParkModel, seed: int) -> RunResult:
    """The :class:`RunResult` of a finished model (run with ``seed``)."""
    scenario, steps = model.scenario, model.steps
    return RunResult(
        timeseries=timeseries(model),
        firms=firm_table(model),
        streams=stream_table(model),
        links=model.byproduct_market.links.frame(model.catalogue.stream_keys),
        loans=model.credit.loans.frame(),
        ledger=model.ledger.summary(),
        metrics=typed_metrics(compute_run_metrics(model)),
        config={
            "scenario": scenario.to_dict(),
            "scenario_source": scenario.source,
            "steps": int(steps),
            "seed": int(seed),
            "ecopark_version": __version__,
        },
    )
