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

``benchmarks/fuzz.py`` runs many of them and prints the counts.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

import numpy as np

from ecopark.invariants import InvariantMonitor
from ecopark.schema import ConfigError

#: Outcomes of :func:`fuzz_run`.
OUTCOMES = ("ok", "refused", "violated", "crashed")


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


def fuzz_run(preset: str, overrides: dict[str, Any], seed: int, steps: int, firms: int = 12) -> tuple[str, str]:
    """Run ``preset`` shrunk to about ``firms`` firms with ``overrides`` for ``steps`` months under
    the invariant monitor; returns (outcome, message), outcome one of :data:`OUTCOMES`."""
    from ecopark.model import ParkModel
    from ecopark.scenario import load_scenario, scale_park

    try:
        scenario = load_scenario(scale_park(load_scenario(preset), firms), overrides)
        model = ParkModel(scenario, seed=seed)
        monitor = InvariantMonitor(model)
        for month in range(1, steps + 1):
            model.step()
            broken = monitor.violations()
            if broken:
                return "violated", f"month {month}: {'; '.join(broken)}"
    except ConfigError as exc:
        return "refused", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a fuzz counts every crash
        return "crashed", f"{type(exc).__name__}: {exc}"
    return "ok", ""
