"""Random valid scenarios, run under the invariant monitor: the fuzz of ``tests/test_fuzz.py``.

:func:`random_overrides` draws a scenario from the schema itself: a preset shrunk to a few
firms, then a handful of keys, each drawn within its declared range (``param(lo=, hi=)``):
mostly near the key's default (default x exp(N(0, 1)), clipped to the range), sometimes
anywhere in the range (log-uniform over wide ranges) and sometimes at an end of it. A few
policy instruments are switched on with parameters drawn the same way. :func:`fuzz_run`
runs one such scenario month by month under :class:`~ecopark.invariants.InvariantMonitor`
and returns how it ended:

* ``"ok"``: completed with every invariant holding,
* ``"refused"``: raised a :class:`~ecopark.schema.ConfigError` (a combination the schema
  rejects, or a run whose money outgrows the ledger),
* ``"violated"``: an invariant broke (the message says which, and in which month),
* ``"crashed"``: any other exception.

Besides the ledger, allowance and mass invariants of the monitor, each run is checked for
(issue 29) capacity utilisation within [0, 1] and output prices above zero every month
(:func:`month_violations`), memory per firm within :data:`MEMORY_PER_FIRM_MB` (peak resident
memory of the run over the firms and vacant plots it holds), and, at the end, the totals of
the saved CSV tables equal to the metrics (:func:`output_violations`: the run saved and
read back with ``RunResult.save``/``load``) and every share metric (unit "share" or "index 0-1",
:func:`share_metrics`) within [0, 1]; a failure is ``"violated"``.

``benchmarks/fuzz.py`` runs many of them and prints the counts.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecopark.invariants import InvariantMonitor
from ecopark.schema import ConfigError

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: Outcomes of :func:`fuzz_run`.
OUTCOMES = ("ok", "refused", "violated", "crashed")
#: Units of metrics that are shares, bounded to [0, 1] by definition.
SHARE_UNITS = ("share", "index 0-1")
#: Most peak memory a run may take per firm or vacant plot it holds (MB), above a floor of
#: :data:`MEMORY_FLOOR_MB` for the interpreter's own growth: memory must be linear in plots and firms.
MEMORY_PER_FIRM_MB = 2.0
MEMORY_FLOOR_MB = 150.0
#: Relative tolerance of a CSV total against its metric (the CSV holds 17 significant digits).
CSV_RTOL = 1e-9


def _sections() -> list[tuple[str, type]]:
    from ecopark.scenario import BankSpec, ByproductMarketSpec, CreditSpec, EconomySpec, OperatorSpec

    return [("economy", EconomySpec), ("operator", OperatorSpec), ("banks[0]", BankSpec),
            ("byproduct_market", ByproductMarketSpec), ("credit", CreditSpec)]


def _draw(field: dataclasses.Field, tp: Any, rng: np.random.Generator) -> Any:
    """A value of one scalar field within its declared range (None when it is not drawable)."""
    meta = field.metadata
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    tp = args[0] if args and typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
    if tp is bool:
        return bool(rng.random() < 0.5)
    if tp is str and meta.get("choices"):
        return str(rng.choice(meta["choices"]))
    if tp not in (int, float) or meta.get("lo") is None or meta.get("hi") is None:
        return None
    lo, hi = float(meta["lo"]), float(meta["hi"])
    default = field.default if isinstance(field.default, (int, float)) else (lo + hi) / 2
    u = rng.random()
    if u < 0.1:
        value = lo if rng.random() < 0.5 else hi
    elif u < 0.35:
        if hi / max(lo, 1e-12) > 1e3:  # a wide range: log-uniform from 1e-6 of its top
            value = math.exp(rng.uniform(math.log(max(lo, hi * 1e-6)), math.log(hi)))
        else:
            value = rng.uniform(lo, hi)
    else:
        value = (default or (hi - lo) * 0.1) * math.exp(rng.standard_normal())
    value = min(max(value, lo), hi)
    return round(value) if tp is int else float(value)


def random_overrides(rng: np.random.Generator, keys: int = 6, policies: int = 3) -> dict[str, Any]:
    """Dotted overrides: ``keys`` scenario keys and up to ``policies`` instruments drawn at random."""
    from ecopark.policies import REGISTRY

    out: dict[str, Any] = {}
    candidates = [(f"{path}.{f.name}", f, typing.get_type_hints(cls)[f.name])
                  for path, cls in _sections() for f in dataclasses.fields(cls)]
    for i in rng.permutation(len(candidates)):
        key, field, tp = candidates[i]
        value = _draw(field, tp, rng)
        if value is not None:
            out[key] = value
        if len(out) >= keys:
            break
    names = sorted(REGISTRY)
    for name in rng.choice(names, size=int(rng.integers(0, policies + 1)), replace=False):
        cls = REGISTRY[str(name)].Params
        hints = typing.get_type_hints(cls)
        out[f"policies.{name}.enabled"] = True
        for f in dataclasses.fields(cls):
            if f.name in ("enabled", "start", "end") or rng.random() < 0.5:
                continue
            value = _draw(f, hints[f.name], rng)
            if value is not None:
                out[f"policies.{name}.{f.name}"] = value
    return out


def share_metrics() -> list[str]:
    """The run metrics that are shares (their unit in :data:`SHARE_UNITS`), bounded to [0, 1]."""
    from ecopark.metrics import RUN_METRICS

    return [name for name, metric in RUN_METRICS.items() if metric.unit in SHARE_UNITS]


def month_violations(model: ParkModel) -> list[str]:
    """This month's utilisation outside [0, 1] or output prices not above zero, of the live firms."""
    from ecopark.agents.pricing import output_prices

    rows = model.firms.live
    out = []
    util = model.firms.utilisation[rows]
    if len(rows) and not ((util >= 0) & (util <= 1 + 1e-12)).all():
        out.append(f"utilisation outside [0, 1]: {util.min():.6g} to {util.max():.6g}")
    price = output_prices(model, rows)[0]
    if len(rows) and not (np.isfinite(price) & (price > 0)).all():
        out.append(f"output price not above zero: lowest {price.min():.6g} yuan/unit")
    return out


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=CSV_RTOL, abs_tol=0.01)


def output_violations(model: ParkModel, seed: int) -> list[str]:
    """Violations of a finished run's outputs: share metrics outside [0, 1]; the run is saved and
    read back, and the totals of its CSV tables must equal its metrics."""
    from ecopark.experiments.runner import RunResult, result_of

    result = result_of(model, seed)
    m = result.metrics
    shares = [f"{name} = {m[name]:.6g} outside [0, 1]" for name in share_metrics()
              if not (0.0 <= m[name] <= 1.0)]
    with tempfile.TemporaryDirectory() as folder:
        result.save(folder)
        saved = RunResult.load(folder)
    firms, ledger, streams, ts = saved.firms, saved.ledger, saved.streams, saved.timeseries

    def kind(name: str) -> float:
        return float(ledger.loc[ledger["kind"] == name, "amount_yuan"].sum())

    mass = streams["unit"] == "t"
    generated = streams.loc[mass, "generated"].sum()
    checks = {
        "total_sales": firms["received_sale"].sum() if "received_sale" in firms else 0.0,
        "landfill_tax_total": kind("landfill_tax"),
        "loans_disbursed": kind("loan_disbursement"),
        "subsidies_paid": ledger.loc[ledger["payer"] == "government", "amount_yuan"].sum(),
        "fiscal_cost": (ledger.loc[ledger["payer"] == "government", "amount_yuan"].sum()
                        - ledger.loc[ledger["payee"] == "government", "amount_yuan"].sum()),
        "firms_final": int(firms["alive"].sum()),
        "total_exits": int((firms["exited"] >= 0).sum()),
        "total_entries": int((firms["entered"] > 0).sum()),
        "links_formed_total": len(saved.links),
        "total_emissions": ts["emissions"].sum() if "emissions" in ts else m["total_emissions"],
        "reuse_rate_mass_total": streams.loc[mass, "delivered"].sum() / generated if generated > 0 else 0.0,
    }
    violations = shares + [f"CSV total of {name} {float(value):.10g} != metric {m[name]:.10g}"
                           for name, value in checks.items() if not _close(float(value), float(m[name]))]
    if saved.metrics != m:
        violations.append("metrics.json read back differs from the run's metrics")
    return violations


def _rss_peak_mb() -> float | None:
    """Peak resident memory of this process since the last :func:`_reset_rss_peak` (MB), if Linux says."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_rss_peak() -> float | None:
    """Reset the peak to the current resident memory (Linux ``clear_refs`` 5); returns it (MB)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return _rss_peak_mb()


def fuzz_run(preset: str, overrides: dict[str, Any], seed: int, steps: int, firms: int = 12) -> tuple[str, str]:
    """Run ``preset`` shrunk to about ``firms`` firms with ``overrides`` for ``steps`` months under
    the invariant monitor and the checks of the module docstring; returns (outcome, message),
    outcome one of :data:`OUTCOMES`."""
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    try:
        scenario = load_scenario(scale_park(load_scenario(preset), firms), overrides)
        base = _reset_rss_peak()
        model = ParkModel(scenario, seed=seed)
        monitor = InvariantMonitor(model)
        for month in range(1, steps + 1):
            model.step()
            broken = monitor.violations() + month_violations(model)
            if broken:
                return "violated", f"month {month}: {'; '.join(broken)}"
        peak = _rss_peak_mb()
        if base is not None and peak is not None:
            holders = model.firms.n + scenario.park.vacant_plots
            allowed = MEMORY_FLOOR_MB + MEMORY_PER_FIRM_MB * holders
            if peak - base > allowed:
                return "violated", (f"memory: {peak - base:.0f} MB for {holders} firms and vacant plots "
                                    f"(allowed {allowed:.0f} MB)")
        broken = output_violations(model, seed)
        if broken:
            return "violated", f"outputs: {'; '.join(broken)}"
    except ConfigError as exc:
        return "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a fuzz counts every crash
        return "crashed", f"{type(exc).__name__}: {exc}"
    return "ok", ""
