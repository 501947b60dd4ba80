"""Typed, validated configuration objects built from plain TOML data.

Every configuration section of ecopark (scenario, policies, later sweep specs) is a frozen
dataclass whose fields are declared with :func:`param`, which records the allowed range,
the unit and a one-line description. :func:`build` turns a mapping read from TOML into
such a dataclass and rejects, with a :class:`ConfigError` naming the dotted key, the
value and what is allowed:

* unknown keys,
* values of the wrong type,
* numbers outside their range and strings outside their choices,
* numbers that are not finite (inf, NaN): no parameter takes them; "no limit" is written by
  omitting an optional key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class RunsFailed(RuntimeError):
    """Runs an analysis needs every one of failed (a sensitivity design): the finished runs are
    kept in the output folder and the message names the first error."""


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    values: tuple[int, ...] | None = None,
    names: str = "",
    unit: str = "",
    doc: str = "",
) -> Any:
    """Declare a configuration field with its default, allowed range, unit and meaning.

    ``values``: the only numbers allowed (e.g. the divisors of 12), checked by :func:`build`
    and documented as "one of ...". ``names``: for a list of names checked against the
    catalogue by the section's ``validate`` (e.g. "sectors"), documented as "list of names of
    sectors (catalogue keys)"."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "values": values, "names": names, "unit": unit, "doc": doc}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def allowed(meta: Mapping[str, Any]) -> str:
    """Human-readable description of a field's allowed values."""
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    if meta.get("values"):
        return "one of " + ", ".join(str(v) for v in meta["values"]) + unit
    if lo is not None and hi is not None:
        return f"a number from {lo} to {hi}{unit}"
    if lo is not None:
        return f"a number >= {lo}{unit}"
    if hi is not None:
        return f"a number <= {hi}{unit}"
    return f"a number{unit}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_number(value: Any, tp: type, key: str, meta: Mapping[str, Any]) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        got = f"{value!r} ({type(value).__name__})"
        raise ConfigError(key, f"expected {_type_name(tp)}, got {got}; allowed: {allowed(meta)}")
    if isinstance(value, float) and not math.isfinite(value):  # inf, -inf, NaN
        raise ConfigError(key, f"got {value!r}; allowed: {allowed(meta)} (finite)")
    if isinstance(value, int) and abs(value) > 2**63:  # beyond what any range here or numpy holds
        raise ConfigError(key, f"value {value} is out of range; allowed: {allowed(meta)}")
    if tp is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(key, f"expected a whole number, got {value!r}; allowed: {allowed(meta)}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(key, f"value {value!r} is out of range; allowed: {allowed(meta)}")
    if meta.get("values") and value not in meta["values"]:
        raise ConfigError(key, f"value {value!r} is not allowed; allowed: {allowed(meta)}")
    return int(value) if tp is int else float(value)


def coerce(value: Any, tp: Any, key: str, meta: Mapping[str, Any]) -> Any:
    """Check and convert one value against a type annotation and field metadata.

    numpy scalars and arrays (``np.int64(3)``, ``np.float32(0.5)``, ``np.bool_``, an array for a
    list) count as the Python values they hold, so that values drawn with numpy can be set."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return coerce(value, args[0], key, meta)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {value!r}")
        return build(tp, value, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if tp in (int, float):
        return _check_number(value, tp, key, meta)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(key, f"value {value!r} is not allowed; allowed: {allowed(meta)}")
        return value
    if origin is dict:
        _, vtp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {value!r}")
        out = {}
        for k, v in value.items():
            if meta.get("choices") and k not in meta["choices"]:
                raise ConfigError(f"{key}.{k}", f"unknown name {k!r}; allowed: {allowed(meta)}")
            out[k] = coerce(v, vtp, f"{key}.{k}", {**meta, "choices": None})
        return out
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis and len(value) != len(args):
            raise ConfigError(key, f"expected a list of {len(args)} values, got {value!r}")
        item_tp = args[0] if args else Any
        return origin(coerce(v, item_tp, f"{key}[{i}]", meta) for i, v in enumerate(value))
    if tp is Any:
        return value
    raise TypeError(f"unsupported configuration type {tp!r} at {key}")


def build(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys and bad values raise ConfigError."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{path}." if path else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}",
            f"unknown key; allowed keys here: {', '.join(sorted(fields))}",
        )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], f"{prefix}{name}", f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{name}", "missing required key")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(path)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data (TOML/JSON-ready) form of a configuration object."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def describe(cls: type, path: str = "") -> list[tuple[str, str, str, str]]:
    """Rows (key, default, allowed, meaning) documenting every field of ``cls``."""
    rows = []
    prefix = f"{path}." if path else ""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, f"{prefix}{f.name}"))
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "required"
        )
        origin = typing.get_origin(tp)
        if tp is bool:
            kind = "true/false"
        elif tp is str and not f.metadata.get("choices"):
            kind = "text"
        elif origin is dict:
            kind = f"table of name = {allowed({**f.metadata, 'choices': None})}"
        elif origin in (list, tuple) and typing.get_args(tp)[:1] == (str,) and not f.metadata.get("choices"):
            names = f.metadata.get("names")
            kind = f"list of names of {names} (catalogue keys)" if names else "list of text"
        elif origin in (list, tuple):
            kind = "list of " + allowed(f.metadata).replace("a number", "numbers", 1)
        else:
            kind = allowed(f.metadata)
        if int in (tp, *typing.get_args(tp)) and kind.startswith("a number"):  # int or int | None
            kind = "a whole number" + kind.removeprefix("a number")
        rows.append((f"{prefix}{f.name}", repr(default), kind, f.metadata.get("doc", "")))
    return rows
