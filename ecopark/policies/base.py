"""What every policy instrument shares: a schedule, an optional budget, and a registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ecopark.ledger import MAX_YUAN
from ecopark.schema import ConfigError, param

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: name -> Policy subclass; filled by :func:`register`.
REGISTRY: dict[str, type[Policy]] = {}


@dataclass(frozen=True)
class PolicyParams:
    """Parameters every instrument has. Steps are months counted from 1."""

    enabled: bool = param(True, doc="switch the instrument on or off")
    start: int = param(1, lo=1, hi=2400, unit="month", doc="first step in which it applies")
    end: int | None = param(None, lo=1, hi=2400, unit="month", doc="last step in which it applies (omit: no end)")
    budget: float | None = param(None, lo=0, hi=MAX_YUAN, unit="yuan", doc="total it may pay out (omit: no limit)")

    def validate(self, path: str) -> None:
        if self.end is not None and self.end < self.start:
            raise ConfigError(f"{path}.end", f"value {self.end} is before start {self.start}; allowed: >= start")


def check_names(path: str, names: list[str], allowed_names: tuple[str, ...], what: str) -> None:
    """Raise ConfigError naming ``path[i]`` if an entry of ``names`` is not in ``allowed_names``."""
    for i, name in enumerate(names):
        if name not in allowed_names:
            raise ConfigError(f"{path}[{i}]", f"unknown {what} {name!r}; allowed: {', '.join(allowed_names)}")


def check_keys(path: str, keys: dict[str, object], allowed_names: tuple[str, ...], what: str) -> None:
    """Raise ConfigError naming ``path.key`` if a key of the table ``keys`` is not in ``allowed_names``."""
    for key in keys:
        if key not in allowed_names:
            raise ConfigError(f"{path}.{key}", f"unknown {what}; allowed: {', '.join(allowed_names)}")


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator adding an instrument to :data:`REGISTRY` under ``cls.name``."""
    REGISTRY[cls.name] = cls
    return cls


class Policy:
    """An instrument held by the government: active on a schedule, paying from a budget.

    Subclasses set ``name`` and ``Params`` and implement the hooks their mechanism needs.
    """

    name: ClassVar[str]
    Params: ClassVar[type[PolicyParams]]

    def __init__(self, params: PolicyParams, model: ParkModel) -> None:
        self.params = params
        self.model = model
        self.spent = 0.0  # yuan paid out so far
        # per-stream tables computed from (params, catalogue): name -> (params, catalogue, read-only array)
        self._stream_tables: dict[str, tuple[PolicyParams, object, np.ndarray]] = {}

    def stream_table(self, name: str, catalogue: object, compute: Callable[[], list[float]]) -> np.ndarray:
        """The per-stream array ``compute()`` builds from ``self.params`` and ``catalogue``, kept under
        ``name`` while both are the same objects (a run asks for the same table every month): the same
        numbers as building it each time. Read-only, so no caller can change what the next one gets."""
        held = self._stream_tables.get(name)
        if held is not None and held[0] is self.params and held[1] is catalogue:
            return held[2]
        table = np.array(compute())
        table.flags.writeable = False
        self._stream_tables[name] = (self.params, catalogue, table)
        return table

    def active(self, step: int) -> bool:
        """Whether the instrument applies in ``step``."""
        p = self.params
        return p.enabled and p.start <= step and (p.end is None or step <= p.end)

    @property
    def remaining(self) -> float:
        """Budget left, in yuan (infinite without a budget)."""
        budget = self.params.budget
        if budget is None:
            return np.inf
        left = budget - self.spent
        return 0.0 if 0.0 > left else left  # max(left, 0.0) written out (the same pick, no call)

    def within_budget(self, claims: np.ndarray) -> np.ndarray:
        """Amounts that can be paid on ``claims`` in order, first come first served."""
        claims = np.asarray(claims, dtype=float)
        if self.params.budget is None:
            return claims
        before = np.concatenate([[0.0], np.cumsum(claims)[:-1]])
        return np.clip(self.remaining - before, 0.0, claims)

    def update(self) -> None:
        """Phase 1 hook: update schedule-dependent state for this month (default: nothing)."""

    def regulate(self) -> None:
        """Phase 8 hook, after the carbon market and before dividends and exit: assess firms on
        the month's final figures (default: nothing)."""

    def pay(self, kind: str, payees, claims) -> float:
        """Pay ``claims`` (yuan) from the government to ``payees`` within budget; returns total."""
        if np.ndim(claims) == 0 and np.ndim(payees) == 0:  # one payment: :meth:`within_budget` of one claim,
            claim = float(claims)  # min(remaining, claim) (NaN stays NaN), without arrays
            amount = claim if self.params.budget is None or not self.remaining < claim else self.remaining
            paid = self.model.ledger.transfer(kind, self.model.government.account, payees, amount)
            self.spent += paid
            return paid
        amounts = self.within_budget(np.atleast_1d(claims))
        paid = self.model.ledger.transfer(kind, self.model.government.account, np.atleast_1d(payees), amounts)
        self.spent += paid
        return paid
