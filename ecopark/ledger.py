"""Double-entry ledger: every yuan (or allowance) moves from one account to another.

Balances are kept in integer hundredths of the unit (fen for money), so a transfer moves
exactly the same integer amount out of one account and into another and the sum of all
balances is exactly zero at all times, with no floating-point drift. Money enters the park
only from the ``outside`` account (the rest of the economy: customers, suppliers, disposal
contractors, owners' equity), which therefore carries the negative of everything inside.

Transfers are vectorised: ``payer``, ``payee`` and ``amount`` may be arrays, so one call
books a transfer for every firm. Each transfer has a *kind* from :data:`MONEY_KINDS`;
totals are kept per account and kind, and per step, kind and pair of parties, so that
summaries by kind and party need no journal of individual rows.

Integer balances cannot silently wrap around: the ledger counts everything it has moved and
refuses (:class:`LedgerOverflowError`) a transfer that would take that total past
:data:`LEDGER_LIMIT` smallest units, half the int64 range. Every balance, per-kind total and
per-step flow is at most that total, so none comes near the int64 limit. Scenario money
parameters are bounded (:data:`MAX_YUAN` and the like) so that ordinary runs stay far below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ecopark.schema import ConfigError

PARTIES = ("enterprise", "operator", "bank", "government", "outside")
_PARTY_INDEX = {party: i for i, party in enumerate(PARTIES)}
_SCALARS = (float, int, np.floating, np.integer)
_INTEGERS = (int, np.integer)
_FLOAT, _INT = np.dtype(np.float64), np.dtype(np.int64)  # the dtypes np.asarray(x, float / np.int64) gives
_add_reduce, _minimum_reduce = np.add.reduce, np.minimum.reduce  # what ndarray.sum / .min call

#: Kinds of money transfer, with who usually pays whom. The one list of them.
MONEY_KINDS: dict[str, str] = {
    "equity": "owners (outside) endow a new firm, bank or operator with starting cash",
    "sale": "outside customers pay a firm for its output",
    "trade_credit": "a firm lends its customers (outside) the price of the output it sold this month: the sale is "
                    "booked, its payment waits in accounts receivable (economy.collection_days)",
    "receivable_collection": "outside customers pay a firm what they owed for output sold in earlier months, or "
                             "the liquidator collects it when the firm leaves (accounts receivable)",
    "intensity_credit_trade": "a covered firm that misses its intensity target pays one that beats it for "
                              "the surplus it buys (intensity credits, policies/intensity_target.py)",
    "purchase": "a firm pays outside suppliers for raw materials and utilities (variable cost)",
    "virgin_input": "a firm buys from outside the substitutable inputs no link delivers",
    "operating_cost": "fixed costs (staff, maintenance) paid to outside",
    "disposal": "a firm pays an outside contractor to dispose of a byproduct",
    "salvage": "an outside buyer pays a firm for a byproduct it sells off (negative disposal cost)",
    "landfill_tax": "a firm pays government per tonne of a landfilled byproduct",
    "rent": "a firm pays the park operator for its plot",
    "grid_power": "a firm pays the grid (outside) for the electricity it does not buy as green power",
    "green_power": "a firm pays the operator for green power from its distributed PV + storage",
    "green_power_fee": "a firm buying green power pays the operator's trading-platform and metering fee",
    "tap_water": "a firm pays the water utility (outside) for the water it does not buy as reclaimed water",
    "reclaimed_water": "a firm pays the operator for reclaimed water from its plant",
    "reclaimed_water_fee": "a firm buying reclaimed water pays the operator's connection and metering fee",
    "export_carbon_cost": "a firm pays an external carbon price (CBAM-like) on its exports' embedded emissions",
    "capex": "a firm pays outside contractors for an investment",
    "capex_subsidy": "government pays a firm a share of an investment",
    "dividend": "a firm pays its owners (outside) the cash it holds above its target",
    "liquidation": "an exiting firm's cash left after its loans are repaid goes to its owners; a deficit left by an "
                   "insolvent exit is borne by its unpaid trade creditors (outside)",
    "byproduct_payment": "a link's receiver pays its supplier the transfer price per unit delivered",
    "gate_fee": "a link's supplier pays its receiver to take the byproduct (negative transfer price)",
    "processing": "a link's receiver pays outside for pre-treating the byproduct",
    "transport": "a link's receiver pays outside haulage or pumping per unit-km",
    "platform_fee": "firms pay the operator's platform per matched link per month",
    "operator_commission": "firms pay the operator a share of a link's monthly surplus",
    "reuse_subsidy": "government pays a link's receiver per unit reused",
    "posted_price_topup": "the green fund (government) pays a link's receiver the posted-price difference",
    "risk_compensation": "the risk fund (government) covers part of a first link's shortfall",
    "reuse_quota_fine": "a firm pays government for reuse below the mandatory quota",
    "contract_penalty": "a firm leaving a link early pays its partner",
    "abatement_opex": "a firm pays outside the running cost of its abatement technologies",
    "allowance_purchase": "a buyer pays the carbon exchange for allowances or offset credits",
    "allowance_sale": "the carbon exchange pays a seller (firm, government auction, carbon pool)",
    "external_carbon_trade": "the exchange settles with a linked external carbon market",
    "carbon_penalty": "a covered firm pays government per tonne not covered at compliance",
    "carbon_tax": "a covered firm pays government per tonne emitted",
    "offset_quota_fine": "a covered firm pays government per tonne of local-offset quota not met",
    "carbon_pool_payout": "the operator's carbon pool pays contributors for credits sold, less commission",
    "bank_funding": "depositors and the central bank (outside) fund a bank's new loan principal",
    "bank_funding_repayment": "a bank repays its funders as principal is repaid or written off",
    "funding_interest": "a bank pays interest to its depositors and on central-bank relending",
    "loan_disbursement": "a bank pays a firm the principal of a new loan",
    "loan_repayment": "a firm repays loan principal to its bank",
    "loan_interest": "a firm pays loan interest to its bank (net of any interest subsidy)",
    "interest_subsidy": "government pays a bank part of the interest on a green loan",
    "loan_recovery": "buyers of a defaulted firm's collateral (outside) pay the bank",
    "loan_loss_cover": "government pays a bank a share of its loss on a defaulted green loan",
    "collateral_sale": "buyers (outside) pay a bank for pledged collateral it sells (margin call not met, default)",
    "stock_purchase": "a firm pays outside (input suppliers) for goods it adds to its warehouse stock, at unit cost",
    "stock_sale": "buyers (outside) pay a firm for goods it sells out of its warehouse stock, at the market price",
    "infrastructure_capex": "the operator pays outside contractors for shared infrastructure",
    "infrastructure_opex": "the operator pays outside the running cost of its shared infrastructure",
    "infrastructure_connection": "a link's receiver pays the operator a connection fee on the contracted quantity",
    "infrastructure_throughput": "a link's receiver pays the operator per unit carried by its infrastructure",
    "ppp_investment": "a private partner (outside) pays its share of an infrastructure investment to the operator",
    "ppp_distribution": "the operator pays the PPP partner its share of the infrastructure's net fee income",
    "infrastructure_loan": "a bank pays the operator the principal of an infrastructure loan",
    "infrastructure_loan_interest": "the operator pays interest on its infrastructure loan to the bank",
    "infrastructure_loan_repayment": "the operator repays infrastructure-loan principal to the bank",
    "carbon_accounting_fee": "a firm pays the operator for carbon accounting and compliance (carbon butler)",
    "energy_management_fee": "a firm pays the operator for energy management",
    "monitoring_cost": "a firm under a carbon instrument pays outside for in-house emissions monitoring and reporting",
    "exchange_rounding": "the carbon exchange settles its sub-fen rounding residual of a session with outside",
    "recycling_opex": "a firm pays outside the running cost of its in-plant recycling units",
    "recycling_revenue": "outside buyers pay a firm for material it recovered in-plant (or purchases it saves)",
    "recapitalisation": "owners (outside) put cash into a firm to pay for an upgrade the regulator ordered, or to pay "
                        "a shortfall its credit line does not cover when the firm is worth keeping",
    "allowance_buyback": "government buys an exiting firm's allowances beyond its emissions so far this year at the "
                         "carbon market's last clearing price",
    "consumption_ratio_fine": "a receiver pays government for waste-based inputs below its mandatory share",
    "green_procurement_premium": "public buyers (government) pay a price premium on products with recycled content",
    "negotiation": "the two sides of a proposed link pay outside advisers, testing and permits for a negotiation",
    "allowance_block_trade": "a covered firm pays another for allowances in a block trade backed by its abatement",
    "offspec_treatment": "a link's receiver pays outside to re-treat, blend down or replace an off-spec delivery",
    "qualification": "a link's receiver pays outside for trials, tests and certification of a new byproduct source",
}

#: Kinds of allowance transfer (tCO2e). Identity: issued = surrendered + expired + held.
ALLOWANCE_KINDS: dict[str, str] = {
    "free_allocation": "the registry issues allowances free to a covered firm",
    "exit_return": "an exiting firm returns the free allocation of the months of the year it will not operate",
    "exit_buyback": "an exiting firm sells government the allowances beyond its emissions so far this year",
    "auction_issue": "the registry issues the year's auction volume to government",
    "offset_issue": "the registry issues offset credits to the carbon pool for verified reductions",
    "trade": "allowances move from a seller to the exchange or from the exchange to a buyer",
    "external_trade": "allowances move between the exchange and a linked external market",
    "surrender": "a covered firm surrenders allowances for its emissions (retired)",
    "expiry": "unused allowances expire at year end without banking, or unsold auction volume (retired)",
    "pledge": "a firm pledges allowances for a loan: they move to the pledge escrow, out of its reach",
    "pledge_release": "escrowed allowances return to the firm when its loan is repaid",
    "collateral_sale": "a bank sells pledged allowances from the escrow to buyers outside the park",
    "reserve_issue": "the registry issues the year's new-entrant reserve",
    "entrant_allocation": "a firm that entered during the year gets its allocation (reserve first, then registry)",
    "reserve_release": "what is left of the new-entrant reserve goes to government's auction at the true-up",
    "allocation_true_up": "the registry issues an output-based allocation's ex-post true-up to a firm",
    "exchange_rounding": "the exchange returns the rounding residual of a session's fills to the registry",
    "block_trade": "a covered firm sells allowances to another in a block trade, outside the auction",
}


#: Most a ledger moves over a run, in its smallest unit (fen): 2**62, half the int64 range.
LEDGER_LIMIT = 2**62
#: Upper bound of any money stock a scenario sets (cash, capital, budgets, caps), yuan.
MAX_YUAN = 1e13
#: Upper bound of any monthly money amount a scenario sets (rent, running cost), yuan/month.
MAX_YUAN_PER_MONTH = 1e10
#: Upper bound of any price per tonne or unit a scenario sets (penalties, carbon prices), yuan/unit.
MAX_YUAN_PER_UNIT = 1e5


#: At most this many amounts in one transfer are booked one by one in plain Python (:meth:`Ledger._transfer_few`).
_FEW = 8


def _account_list(account, n: int) -> list[int] | None:
    """``n`` account ids as a list: one id (an integer) n times, or a 1-D integer array of n ids; else None."""
    if type(account) is int or (type(account) is not np.ndarray and isinstance(account, _INTEGERS)):
        return [int(account)] * n
    if type(account) is np.ndarray and account.shape == (n,) and account.dtype.kind in "iu":
        return account.tolist()
    return None


def _side(account, shape: tuple[int, ...]) -> bool:
    """Whether ``account`` is one id (a Python or numpy int64) or a 1-D int64 array of ``shape``."""
    return (type(account) is int or type(account) is np.int64
            or (type(account) is np.ndarray and account.dtype == _INT and account.shape == shape))


def _single_account(account) -> int | None:
    """``account`` if it is one account id (an integer), its id if it is an integer array of one element, else None."""
    if type(account) is int or (type(account) is not np.ndarray and isinstance(account, _INTEGERS)):
        return account
    if type(account) is np.ndarray and account.size == 1 and account.dtype.kind in "iu":
        return account.item()
    return None


class LedgerOverflowError(ConfigError, OverflowError):
    """A transfer would take the money a run moves past what the ledger holds exactly."""


class Ledger:
    """Accounts and transfers of one unit (money in yuan, or allowances in tCO2e).

    Args:
        kinds: the allowed transfer kinds, name -> description.
        unit: what the amounts are in, for reports.
        resolution: smallest amount booked; amounts are rounded to it (0.01 yuan = 1 fen).
    """

    def __init__(
        self,
        kinds: Mapping[str, str] = MONEY_KINDS,
        unit: str = "yuan",
        resolution: float = 0.01,
    ) -> None:
        self.unit = unit
        self.scale = round(1 / resolution)
        self.kinds = tuple(kinds)
        self._kind_index = {k: i for i, k in enumerate(self.kinds)}
        self.names: list[str] = []
        self._party = np.zeros(0, dtype=np.int8)
        self._parties: list[int] = []
        self._balance = np.zeros(0, dtype=np.int64)
        self._paid = np.zeros((0, len(self.kinds)), dtype=np.int64)
        self._received = np.zeros((0, len(self.kinds)), dtype=np.int64)
        self._flows: dict[int, np.ndarray] = {}  # step -> (kinds, parties, parties) in fen
        self._run_total: np.ndarray | None = None  # sum of _flows over steps, kept until the next transfer
        self.moved = 0  # everything moved so far, in the smallest unit (bounds every total kept)
        self.step = 0

    # -- accounts ---------------------------------------------------------------------
    def open_accounts(self, names: list[str], party: str) -> np.ndarray:
        """Open one account per name for ``party`` (one of PARTIES); returns their ids."""
        if party not in PARTIES:
            raise ValueError(f"party must be one of {PARTIES}, got {party!r}")
        start, n = len(self.names), len(names)
        self.names.extend(names)
        self._party = np.concatenate([self._party, np.full(n, PARTIES.index(party), np.int8)])
        self._parties.extend([PARTIES.index(party)] * n)  # the same, as Python ints (quicker to index with)
        self._balance = np.concatenate([self._balance, np.zeros(n, np.int64)])
        pad = np.zeros((n, len(self.kinds)), np.int64)
        self._paid = np.concatenate([self._paid, pad])
        self._received = np.concatenate([self._received, pad])
        return np.arange(start, start + n)

    def open_account(self, name: str, party: str) -> int:
        """Open one account; returns its id."""
        return int(self.open_accounts([name], party)[0])

    # -- transfers --------------------------------------------------------------------
    def transfer(self, kind: str, payer, payee, amount) -> float:
        """Move ``amount`` (>= 0, in ``unit``) from ``payer`` to ``payee`` account ids.

        Any of the three may be arrays (broadcast together). Returns the total moved.
        """
        try:
            k = self._kind_index[kind]
        except KeyError:
            raise KeyError(f"unknown transfer kind {kind!r}; known: {', '.join(self.kinds)}") from None
        # one transfer of plain numbers: no arrays at all. The most frequent call of a run (a float between
        # two Python int ids) is recognised by type alone, without isinstance calls
        plain = (type(amount) is float or type(amount) is np.float64) and type(payer) is int and type(payee) is int
        if not plain:
            if type(amount) is np.ndarray and amount.size == 1 and amount.dtype.kind == "f":
                # one transfer given as arrays of one element: booked as plain numbers (round half to even
                # on the same float), without the array path's numpy calls
                one_payer, one_payee = _single_account(payer), _single_account(payee)
                if one_payer is not None and one_payee is not None:
                    payer, payee, amount = one_payer, one_payee, amount.item()
            plain = (type(amount) is not np.ndarray and isinstance(amount, _SCALARS) and isinstance(payer, _INTEGERS)
                     and isinstance(payee, _INTEGERS) and not isinstance(amount, bool))
        if plain:
            scaled = float(amount) * self.scale
            # x - x is 0 for a finite x, NaN for inf or NaN: math.isfinite without the call
            if not scaled - scaled == 0.0 or (units := round(scaled)) < 0:  # round: half to even, as np.rint
                raise ValueError(f"{kind}: transfer amounts must be finite and >= 0")
            if self.moved + float(units) >= LEDGER_LIMIT:  # _count inline: the same test
                self._count(kind, float(units))  # raises LedgerOverflowError
            self.moved += int(float(units))
            if units == 0:
                return 0.0
            payer, payee = int(payer), int(payee)
            self._balance[payer] -= units  # _book_one, inline
            self._balance[payee] += units
            self._paid[payer, k] += units
            self._received[payee, k] += units
            flows = self._flows.get(self.step)
            if flows is None:
                flows = self._step_flows()
            flows[k, self._parties[payer], self._parties[payee]] += units
            self._run_total = None
            return units / self.scale
        if type(amount) is np.ndarray and amount.ndim == 1 and amount.dtype == _FLOAT:
            moved = (self._transfer_few(kind, k, payer, payee, amount) if amount.shape[0] <= _FEW
                     else self._transfer_vector(kind, k, payer, payee, amount))
            if moved is not None:
                return moved
        if not (type(amount) is np.ndarray and amount.dtype == _FLOAT):  # np.asarray returns such an array itself
            amount = np.asarray(amount, dtype=float)
        units = np.rint(amount * self.scale)
        total = float(units.sum())  # finite only if every amount is (inf + x = inf, inf - inf = nan)
        if not total - total == 0.0 or (units.size and units.min() < 0):  # not finite, or a negative amount
            if not np.isfinite(units).all() or (units < 0).any():  # else finite amounts whose sum overflows:
                raise ValueError(f"{kind}: transfer amounts must be finite and >= 0")  # _count says so
        if not (type(payer) is np.ndarray and payer.dtype == _INT):
            payer = np.asarray(payer, dtype=np.int64)
        if not (type(payee) is np.ndarray and payee.dtype == _INT):
            payee = np.asarray(payee, dtype=np.int64)
        if units.size == payer.size == payee.size == 1:  # one transfer: plain indexing
            self._count(kind, total)
            return self._book_one(k, int(payer.reshape(-1)[0]), int(payee.reshape(-1)[0]), int(units.reshape(-1)[0]))
        one_payer = not payer.ndim and payee.shape == units.shape  # one side's account given once: its
        one_payee = not payee.ndim and payer.shape == units.shape  # booking is one sum (integers: the same)
        if not (one_payer or one_payee or payer.shape == payee.shape == units.shape):
            if not payer.ndim and not payee.ndim:  # several amounts between the same two accounts: one booking of
                self._count(kind, total)  # their sum (integers: the same books), as _book_one books one amount
                moved = int(total) if total < 2**53 else int(units.reshape(-1).astype(np.int64).sum())
                return 0.0 if total == 0.0 else self._book_one(k, int(payer), int(payee), moved)
            if not units.ndim and (not payer.ndim or not payee.ndim):  # one amount to or from each of several
                units = np.broadcast_to(units, payee.shape if not payer.ndim else payer.shape)  # accounts
                one_payer, one_payee = not payer.ndim, not payee.ndim
            else:
                payer, payee, units = np.broadcast_arrays(payer, payee, units)
            total = float(units.sum())
        return self._book_units(kind, k, payer, payee, units, total, one_payer, one_payee)

    def _book_units(self, kind: str, k: int, payer, payee, units: np.ndarray, total: float, one_payer: bool,
                    one_payee: bool) -> float:
        """Book the rounded amounts ``units`` (fen as floats, finite and >= 0, summing to ``total``) of kind number
        ``k``: from one account ``payer`` (``one_payer``) to the accounts ``payee``, from the accounts ``payer`` to
        one ``payee`` (``one_payee``), or pair by pair between arrays of the same shape. Raises
        LedgerOverflowError where the total would pass the ledger's limit. Returns the total moved."""
        if self.moved + total >= LEDGER_LIMIT:  # _count inline: the same test
            self._count(kind, total)  # raises LedgerOverflowError
        self.moved += int(total)
        if total == 0.0:  # every amount is 0 (none is negative)
            return 0.0
        units = (units if units.ndim == 1 else units.reshape(-1)).astype(np.int64)
        moved = int(total) if total < 2**53 else int(units.sum())  # a float sum of integers below 2**53 is exact
        flows = self._flows.get(self.step)
        flows = (self._step_flows() if flows is None else flows)[k]
        if one_payer:
            payer, payee = int(payer), payee if payee.ndim == 1 else payee.reshape(-1)
            self._balance[payer] -= moved
            self._paid[payer, k] += moved
            np.add.at(self._balance, payee, units)
            np.add.at(self._received[:, k], payee, units)
            np.add.at(flows[self._party[payer]], self._party[payee], units)
        elif one_payee:
            payer, payee = payer if payer.ndim == 1 else payer.reshape(-1), int(payee)
            np.subtract.at(self._balance, payer, units)
            np.add.at(self._paid[:, k], payer, units)
            self._balance[payee] += moved
            self._received[payee, k] += moved
            np.add.at(flows[:, self._party[payee]], self._party[payer], units)
        else:
            if payer.ndim != 1 or payee.ndim != 1:
                payer, payee = payer.reshape(-1), payee.reshape(-1)
            np.subtract.at(self._balance, payer, units)
            np.add.at(self._balance, payee, units)
            np.add.at(self._paid[:, k], payer, units)
            np.add.at(self._received[:, k], payee, units)
            np.add.at(flows.reshape(-1), self._party[payer] * len(PARTIES) + self._party[payee], units)
        self._run_total = None
        return moved / self.scale

    def _transfer_vector(self, kind: str, k: int, payer, payee, amount: np.ndarray) -> float | None:
        """:meth:`transfer` of a 1-D float64 array of amounts between accounts given as one id (a Python or
        numpy int) on one side and a 1-D int64 array of as many ids on the other, or such arrays on both
        sides: the array path's rounding and checks on these forms, without its tests for the others, then its
        booking (:meth:`_book_units`). None (nothing done) for other forms or a bad amount: the array path
        handles (and refuses) those."""
        shape = amount.shape
        one_payer = type(payer) is int or type(payer) is np.int64
        one_payee = type(payee) is int or type(payee) is np.int64
        if not ((one_payer or (type(payer) is np.ndarray and payer.dtype == _INT and payer.shape == shape))
                and (one_payee or (type(payee) is np.ndarray and payee.dtype == _INT and payee.shape == shape))
                and not (one_payer and one_payee)):
            return None
        units = np.rint(amount * self.scale)
        total = float(_add_reduce(units))  # units.sum(): add.reduce over the one axis
        if not total - total == 0.0 or (shape[0] and _minimum_reduce(units) < 0):
            return None  # not finite, or negative: the array path raises
        return self._book_units(kind, k, payer, payee, units, total, one_payer, one_payee)

    def _transfer_few(self, kind: str, k: int, payer, payee, amount: np.ndarray) -> float | None:
        """:meth:`transfer` of a few amounts (a 1-D float array of at most ``_FEW``) to and from one account id
        each or 1-D integer arrays of as many, booked one by one in plain Python: the same books, total and
        checks as the array path (each amount rounded half to even, all checked before any is booked), without
        its numpy calls. None (nothing done) for accounts of another form, which the array path broadcasts."""
        n = amount.size
        payers, payees = _account_list(payer, n), _account_list(payee, n)
        if payers is None or payees is None:
            return None
        scale = self.scale
        units = []
        for value in amount.tolist():
            scaled = value * scale
            if not math.isfinite(scaled) or (unit := round(scaled)) < 0:  # round: half to even, as np.rint
                raise ValueError(f"{kind}: transfer amounts must be finite and >= 0")
            units.append(unit)
        rest = 0.0  # the float total numpy's sum gives (the first amount plus the others summed in order)
        for unit in units[1:]:
            rest += unit
        self._count(kind, units[0] + rest if units else 0.0)
        moved = sum(units)
        if moved == 0:
            return 0.0
        balance, paid, received, parties = self._balance, self._paid, self._received, self._parties
        flows = self._flows.get(self.step)
        if flows is None:
            flows = self._step_flows()
        for a, b, unit in zip(payers, payees, units, strict=True):
            if unit:
                balance[a] -= unit
                balance[b] += unit
                paid[a, k] += unit
                received[b, k] += unit
                flows[k, parties[a], parties[b]] += unit
        self._run_total = None
        return moved / scale

    def _count(self, kind: str, moved: float) -> None:
        """Add ``moved`` (smallest units) to the run's total; LedgerOverflowError past LEDGER_LIMIT."""
        if self.moved + moved >= LEDGER_LIMIT:
            raise LedgerOverflowError(
                "ledger", f"a {kind} transfer of {moved / self.scale:.4g} {self.unit} would take the total this run "
                          f"moves past {LEDGER_LIMIT / self.scale:.4g} {self.unit}, the most the ledger holds "
                          "exactly; lower the money parameters, the park size or the horizon")
        self.moved += int(moved)

    def _book_one(self, k: int, payer: int, payee: int, units: int) -> float:
        if units == 0:
            return 0.0
        self._balance[payer] -= units
        self._balance[payee] += units
        self._paid[payer, k] += units
        self._received[payee, k] += units
        self._step_flows()[k, self._parties[payer], self._parties[payee]] += units
        self._run_total = None
        return units / self.scale

    def _step_flows(self) -> np.ndarray:
        """This step's totals (kinds, payer parties, payee parties) in the smallest unit."""
        flows = self._flows.get(self.step)
        if flows is None:
            flows = self._flows[self.step] = np.zeros((len(self.kinds), len(PARTIES), len(PARTIES)), np.int64)
        return flows

    def transfer_signed(self, kind_pos: str, kind_neg: str, a, b, amount) -> None:
        """Book ``amount`` from ``a`` to ``b`` where positive, from ``b`` to ``a`` where negative.

        The positive part is booked under ``kind_pos``, the negative part under ``kind_neg``.
        """
        if (type(amount) is np.ndarray and amount.ndim == 1 and amount.dtype == _FLOAT
                and _side(a, amount.shape) and _side(b, amount.shape)):
            # a 1-D float64 array between one id and an int64 array of ids (or two such arrays): one id kept
            # as it is, not broadcast (the transfer books the same either way)
            pos = amount > 0
            neg = ~pos
            self.transfer(kind_pos, a if type(a) is not np.ndarray else a[pos],
                          b if type(b) is not np.ndarray else b[pos], amount[pos])
            self.transfer(kind_neg, b if type(b) is not np.ndarray else b[neg],
                          a if type(a) is not np.ndarray else a[neg], -amount[neg])
            return
        a, b, amount = np.broadcast_arrays(np.asarray(a), np.asarray(b), np.asarray(amount, float))
        pos = amount > 0
        self.transfer(kind_pos, a[pos], b[pos], amount[pos])
        self.transfer(kind_neg, b[~pos], a[~pos], -amount[~pos])

    # -- reading ----------------------------------------------------------------------
    def balance(self, account) -> np.ndarray | float:
        """Balance of an account id (float) or of an array of ids (array), in ``unit``."""
        if type(account) is int or (type(account) is not np.ndarray and isinstance(account, _INTEGERS)
                                    and not isinstance(account, bool)):  # one account: no numpy arithmetic
            return float(self._balance[account]) / self.scale  # as int64 -> float64, then / scale
        out = self._balance[account] / self.scale  # an array, or a numpy scalar (both have ndim)
        return float(out) if out.ndim == 0 else out

    def total(self) -> int:
        """Sum of all balances in the smallest unit: exactly 0 for a consistent ledger."""
        return int(self._balance.sum())

    def paid(self, account, kind: str) -> np.ndarray | float:
        """Cumulative amount paid by account(s) under ``kind``."""
        out = self._paid[account, self._kind_index[kind]] / self.scale
        return float(out) if np.ndim(out) == 0 else out

    def received(self, account, kind: str) -> np.ndarray | float:
        """Cumulative amount received by account(s) under ``kind``."""
        out = self._received[account, self._kind_index[kind]] / self.scale
        return float(out) if np.ndim(out) == 0 else out

    def net_received(self, account, kinds) -> np.ndarray:
        """Cumulative received - paid by account(s) over ``kinds``, summed kind by kind in their
        order (the float sum of ``received(account, k) - paid(account, k)``), in ``unit``."""
        index = [self._kind_index[k] for k in kinds]
        account = np.asarray(account)
        if not index:
            return np.zeros(account.shape)
        net = self._received[account][..., index] / self.scale - self._paid[account][..., index] / self.scale
        return np.cumsum(net, axis=-1)[..., -1] + 0.0

    def flow(self, kind: str, payer_party: str | None = None, payee_party: str | None = None,
             step: int | None = None) -> float:
        """Total moved under ``kind`` between two parties (None: any), in one step or all."""
        k = self._kind_index[kind]
        if step is None:
            if self._run_total is None:
                self._run_total = sum(self._flows.values()) if self._flows else np.zeros(
                    (len(self.kinds), len(PARTIES), len(PARTIES)), np.int64)
            flows = self._run_total
        else:
            flows = self._flows.get(step)
            if flows is None:
                return 0.0
        block = flows[k]
        if payer_party is not None:
            block = block[_PARTY_INDEX[payer_party]]
        if payee_party is not None:
            block = block[..., _PARTY_INDEX[payee_party]]
        return int(block.sum()) / self.scale

    def flows_by_kind(self, payer_party: str | None = None, payee_party: str | None = None,
                      step: int | None = None) -> np.ndarray:
        """Per kind (in ``kinds`` order), what :meth:`flow` gives for it: the total moved between two
        parties (None: any) in one step or all, in ``unit``."""
        if step is None:
            self.flow(self.kinds[0])  # fills the run total
            flows = self._run_total
        else:
            flows = self._flows.get(step)
            if flows is None:
                return np.zeros(len(self.kinds))
        block = flows
        if payer_party is not None:
            block = block[:, _PARTY_INDEX[payer_party]]
        if payee_party is not None:
            block = block[..., _PARTY_INDEX[payee_party]]
        return np.array([int(total) / self.scale for total in block.reshape(len(self.kinds), -1).sum(axis=1).tolist()])

    def summary(self) -> pd.DataFrame:
        """Totals over the run by kind, payer party and payee party (non-zero rows)."""
        rows = []
        total = sum(self._flows.values()) if self._flows else None
        if total is not None:
            for k, p, q in zip(*np.nonzero(total), strict=True):
                rows.append((self.kinds[k], PARTIES[p], PARTIES[q], total[k, p, q] / self.scale))
        return pd.DataFrame(rows, columns=["kind", "payer", "payee", f"amount_{self.unit}"])

    def by_step(self) -> pd.DataFrame:
        """Per-step totals by kind, payer party and payee party (long format)."""
        rows = []
        for s, flows in sorted(self._flows.items()):
            for k, p, q in zip(*np.nonzero(flows), strict=True):
                rows.append((s, self.kinds[k], PARTIES[p], PARTIES[q], flows[k, p, q] / self.scale))
        return pd.DataFrame(rows, columns=["step", "kind", "payer", "payee", f"amount_{self.unit}"])

    def accounts(self) -> pd.DataFrame:
        """One row per account: name, party and balance."""
        return pd.DataFrame(
            {
                "account": self.names,
                "party": [PARTIES[p] for p in self._party],
                f"balance_{self.unit}": self._balance / self.scale,
            }
        )
