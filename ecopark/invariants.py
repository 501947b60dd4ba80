"""The accounting invariants every run keeps, checked month by month.

:class:`InvariantMonitor` watches a :class:`~ecopark.model.ParkModel` and, after each
step, lists what is broken (an empty list when all holds):

* money: the ledger's balances sum to exactly 0 fen;
* allowances: the allowance ledger's balances sum to exactly 0 (issued = surrendered +
  expired + held);
* byproduct mass: for every stream, generated = delivered + recycled (in-plant) + disposed (relative 1e-9);
* no firm holds a negative number of allowances;
* no firm that has exited receives money: its balance stays 0 and what it has received,
  by every kind, stays what it was when it left;
* no balance comes near the int64 limit of the ledgers' integer units (within a factor 2).

The fuzz test (``tests/test_fuzz.py``) and ``benchmarks/fuzz.py`` run random valid
scenarios under it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.ledger import LEDGER_LIMIT

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: Relative tolerance of the byproduct mass balance (float sums over months).
MASS_TOLERANCE = 1e-9


class InvariantMonitor:
    """Checks a model's invariants after each step; see the module docstring."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self._dead_received: dict[int, np.ndarray] = {}  # firm row -> received by kind at exit (fen)

    def violations(self) -> list[str]:
        """What is broken after the step just run (empty when every invariant holds)."""
        model = self.model
        out = []
        money, allowances = model.ledger, model.allowances
        if money.total() != 0:
            out.append(f"money balances sum to {money.total()} fen, not 0")
        if allowances.total() != 0:
            out.append(f"allowance balances sum to {allowances.total()} units, not 0")
        totals = model.stream_totals
        gap = np.abs(totals["generated"] - totals["delivered"] - totals["recycled"] - totals["disposed"])
        if (gap > MASS_TOLERANCE * np.maximum(totals["generated"], 1.0)).any():
            k = int(np.argmax(gap))
            out.append(f"byproduct {model.catalogue.stream_keys[k]}: "
                       f"generated - delivered - recycled - disposed = {gap[k]:.6g}")
        held = model.carbon_market.account
        held = held[held >= 0]
        if len(held) and (allowances._balance[held] < 0).any():
            worst = float(allowances.balance(held).min())
            out.append(f"a firm holds {worst:.6g} allowances (negative)")
        for name, ledger in (("money", money), ("allowance", allowances)):
            largest = int(np.abs(ledger._balance).max()) if len(ledger._balance) else 0
            if largest >= LEDGER_LIMIT:
                out.append(f"a {name} balance of {largest} units is within a factor 2 of the int64 limit")
        out.extend(self._dead_firms())
        return out

    def _dead_firms(self) -> list[str]:
        firms, ledger = self.model.firms, self.model.ledger
        rows = np.flatnonzero(~firms.alive[: firms.n])
        out = []
        for row in rows:
            account = firms.account[row]
            received = ledger._received[account].copy()
            before = self._dead_received.setdefault(int(row), received)
            if ledger._balance[account] != 0:
                out.append(f"exited firm {row} holds {ledger.balance(account):.2f} yuan")
            changed = np.flatnonzero(received != before)
            if len(changed):
                kinds = ", ".join(ledger.kinds[k] for k in changed)
                out.append(f"exited firm {row} received money after it left ({kinds})")
        return out
