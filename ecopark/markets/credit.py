"""The credit market: banks lend to firms for green investments and working capital.

Firms apply when they invest (``Enterprise.invest``: link and abatement capex, *green*
purposes) and, in phase 6, when their cash is negative (*working capital*). Every bank
answers with an offer or a refusal; the firm takes the cheapest offer. A firm refused working
capital may then borrow against warehouse receipts or pledged allowances, or at a risk
premium (``markets/secured_lending.py``).

Pricing (:meth:`CreditMarket.rates`): the annual rate bank b offers firm f for purpose p is

    r = funding_p + margin_b + premium_f - green_p + ce_f
    funding_p = funding_rate; for green loans under ``green_relending``
                (1 - s) * funding_rate + s * relending_rate (banks pass the saving on)
    premium_f = min(max_premium, lev * D_f / (12 * M_f) + cov * max(0, 1 - C_f / cover_target))
    green_p   = green_discount for link and abatement capex, 0 for working capital
    ce_f      = clip(ce * (E_f / BAU_f - 1), -ce_cap, +ce_cap)   (carbon-efficiency pricing)

with D_f the firm's debt including the new loan, M_f its operating margin this month
(:meth:`CreditMarket.margin`), C_f = M_f / debt service including the new loan (priced at
funding + margin), E_f / BAU_f its emissions relative to business as usual this month.
Under ``interest_subsidy`` the government pays ``rate_bp`` of the interest on green
loans to the bank, and the firm the rest.

Approval by bank b: the firm's margin is positive; debt-service cover is at least
``min_dscr``, for a project loan cash_flow / payment (the project's expected monthly
cash flow), for working capital M_f / (debt service + payment); its loans to the firm
stay within ``max_single_exposure`` x its equity; and its capital ratio after the loan,
equity_b / (risk_weight * (book_b + amount)), is at least its ``min_capital_ratio``
(otherwise the firm is rationed).

Servicing (phase 6, :meth:`CreditMarket.service`): a loan of outstanding B at rate r with
n instalments left has the annuity payment P = B * i / (1 - (1 + i)^-n), i = r / 12,
fixed in fen at origination. Each month interest = round(B * i), principal = P - interest
(all of B in the last month). A firm pays its loans' instalments in the order they were
made while its cash covers them; an instalment not paid is capitalised (B += interest,
P recomputed over the same n) and counts as missed; the bank earns capitalised interest
only when it is repaid. A loan with ``npl_after_months``
consecutive misses is non-performing; at ``default_after_months`` the firm defaults: it
leaves the park (its links end), and each of its loans is written off (after the bank has
sold any pledge, ``SecuredLending.firms_exited``), the bank recovering ``recovery_rate`` of
B from the collateral and, for green loans under
``green_loan_loss_cover``, a share of the loss from government.

Sustainability-linked loans (``credit.sustainability_linked``): at each anniversary y of
a green loan the firm's E/BAU is compared with its value at origination times
(1 - sll_target_reduction)^y; the rate is the contract rate minus ``sll_step_down_bp``
while the target is met and plus ``sll_step_up_bp`` while it is missed.

Banks' balances in the ledger are their equity: new principal is funded by depositors and
the central bank (``bank_funding`` from outside) and repaid to them as borrowers repay or
loans are written off (``bank_funding_repayment``); the bank pays ``funding_interest``
each month on what it owes its funders. A write-off costs the bank the funded principal
less the recovery and any loss cover.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.markets.byproduct import annuity_factor
from ecopark.records import RecordTable

if TYPE_CHECKING:
    from ecopark.model import ParkModel

PURPOSES = ("link", "abatement", "working_capital", "recycling", "credit_line")
_CREDIT_LINE = PURPOSES.index("credit_line")
GREEN_PURPOSES = ("link", "abatement", "recycling")
STATUSES = ("performing", "repaid", "defaulted")
REFUSAL_REASONS = ("margin", "cover", "exposure", "capital")
#: What secures a loan (markets/secured_lending.py): nothing, warehouse receipts, pledged allowances.
COLLATERAL_KINDS = ("none", "warehouse_receipt", "carbon_allowance")


#: Per-loan arrays of the LoanBook and their meaning (units).
LOAN_FIELDS: dict[str, tuple[type, str]] = {
    "borrower": (np.int64, "FirmTable row of the borrower"),
    "bank": (np.int64, "index of the lending bank in model.banks"),
    "purpose": (np.int64, "index into PURPOSES"),
    "green": (bool, "green purpose (link or abatement capex)"),
    "principal": (float, "yuan lent"),
    "outstanding_fen": (np.int64, "principal still owed, in fen (0.01 yuan), capitalised interest included"),
    "funded_fen": (np.int64, "principal the bank still owes its funders for this loan, in fen"),
    "contract_rate": (float, "1/year, rate agreed at origination"),
    "rate": (float, "1/year, rate in force (contract rate with sustainability-linked steps)"),
    "relent_share": (float, "share of the principal funded by central-bank relending"),
    "relent_rate": (float, "1/year, rate of that relending, fixed for the loan's life"),
    "payment_fen": (np.int64, "monthly instalment (annuity) in fen"),
    "months_left": (np.int64, "instalments still to pay"),
    "tenor": (np.int64, "months, instalments agreed"),
    "start": (np.int64, "step the loan was made"),
    "ended": (np.int64, "step the loan was repaid or written off (-1 while live)"),
    "status": (np.int64, "index into STATUSES"),
    "missed": (np.int64, "consecutive instalments missed"),
    "interest_paid": (float, "yuan of interest received by the bank (firm and subsidy)"),
    "principal_paid": (float, "yuan of principal repaid"),
    "written_off": (float, "yuan written off at default"),
    "recovered": (float, "yuan recovered from collateral: at default, or a pledge sold on a margin call"),
    "sll": (bool, "sustainability-linked loan"),
    "sll_baseline": (float, "the borrower's emissions / BAU at origination"),
    "collateral": (np.int64, "index into COLLATERAL_KINDS"),
    "collateral_units": (float, "collateral pledged now: t of stock (warehouse receipt) or tCO2e (allowances)"),
    "risk_priced": (bool, "unsecured working capital to a weak firm at a risk premium (secured_lending.py)"),
    "principal_written_off": (float, "yuan of the principal lent still unpaid at default (written_off less "
                                     "capitalised interest)"),
}


#: Fields the live index and the per-firm sums (:class:`LoanSums`) are derived from. They are
#: read-only arrays, written only inside :meth:`LoanBook.editing`, which marks what is derived stale.
TRACKED_FIELDS = ("status", "outstanding_fen", "payment_fen", "missed")
PERFORMING = STATUSES.index("performing")


class LoanBook(RecordTable):
    """All loans ever made (struct of arrays, rows never reused). Money in yuan unless in fen.

    The rows of live loans (:attr:`live`) are an index kept as loans are made (appended: a new
    row is the largest) and rebuilt once after the loans' status changes (repaid, written off).
    ``version`` counts the changes to :data:`TRACKED_FIELDS`, so that sums derived from them
    (``CreditMarket.sums``) know when they are stale.
    """

    FIELDS = LOAN_FIELDS

    def __init__(self, capacity: int = 64) -> None:
        super().__init__(capacity)
        self.version = 0  # changes to the tracked fields so far
        self._editing = 0  # depth of nested editing() blocks
        self._live: np.ndarray | None = None  # the live index (a read-only view of _live_rows), None while stale
        self._live_rows = np.zeros(0, dtype=np.int64)  # the index's rows, with room to append new loans
        self._live_n = 0  # how many of _live_rows are the index
        self._lock()

    def _lock(self, writeable: bool = False) -> None:
        fields = self.__dict__
        for name in TRACKED_FIELDS:
            fields[name].flags.writeable = writeable

    def add(self, **values) -> int:
        """Append one loan (performing unless ``status`` says otherwise); returns its row."""
        return int(self.add_many(**values)[0])

    def add_many(self, **values) -> np.ndarray:
        """Append loans, one per element of the numpy array values (other values apply to all), in order
        (performing unless ``status`` says otherwise); returns their rows."""
        arrays, sizes = {}, set()  # isinstance(v, np.ndarray) of each value, the call only for an unusual type
        for name, v in values.items():
            kind = type(v)
            arrays[name] = is_array = kind is np.ndarray or (kind not in _NOT_ARRAYS and isinstance(v, np.ndarray))
            if is_array:
                sizes.add(v.shape[0] if v.ndim else len(v))
        if len(sizes) > 1:
            raise ValueError(f"add_many: the arrays differ in length ({sorted(sizes)})")
        k = sizes.pop() if sizes else 1
        first = self.n
        capacity = max(len(self.borrower), 1)
        while capacity < first + k:
            capacity *= 2
        self._lock(True)
        try:
            if capacity > len(self.borrower):
                for name in self.FIELDS:
                    old = getattr(self, name)
                    grown = np.zeros(capacity, dtype=old.dtype)
                    grown[: len(old)] = old
                    setattr(self, name, grown)
            self.n += k
            block = slice(first, self.n)
            one = first if k == 1 else block  # one loan: an element set (cheaper than a slice's)
            fields = self.__dict__
            fields["ended"][one] = -1
            if "status" not in values:
                fields["status"][one] = PERFORMING
            for name, value in values.items():
                fields[name][block if arrays[name] else one] = value
        finally:
            self._lock(self._editing > 0)
        self.version += 1
        new = np.arange(first, self.n)
        if self._live is not None:  # new performing loans appended to the index (rows ascend), in place
            added = new[self.status[new] == PERFORMING] if k != 1 else new if self.status[first] == PERFORMING else None
            if added is not None and len(added):
                self._show_live(self._append_live(added))
        return new

    def _append_live(self, rows: np.ndarray) -> int:
        """Append ``rows`` to the live index's buffer (grown by doubling: each row is copied O(1) times on
        average, not once per loan made); returns the index's new length."""
        n = self._live_n
        end = n + len(rows)
        if end > len(self._live_rows):
            grown = np.empty(max(2 * len(self._live_rows), end, 64), dtype=np.int64)
            grown[:n] = self._live_rows[:n]
            self._live_rows = grown
        self._live_rows[n:end] = rows
        return end

    def _show_live(self, n: int) -> None:
        """The live index is the first ``n`` rows of the buffer, as a read-only view. Later appends write past
        its end, and a rebuild makes a new buffer, so a view handed out never changes."""
        self._live_n = n
        live = self._live_rows[:n]
        live.flags.writeable = False
        self._live = live

    @contextmanager
    def editing(self) -> Iterator[LoanBook]:
        """Write access to :data:`TRACKED_FIELDS` (status, outstanding, instalment, missed): every
        change to them is made in such a block, after which the live index and the sums derived
        from them are stale (recomputed when next asked for). Blocks may nest."""
        self._editing += 1
        self._lock(True)
        try:
            yield self
        finally:
            self._editing -= 1
            self._lock(self._editing > 0)
            self.version += 1
            self._live = None

    @property
    def live(self) -> np.ndarray:
        """Rows of loans still being repaid, in ascending order (a read-only array)."""
        if self._live is None:
            live = (self.status[: self.n] == PERFORMING).nonzero()[0]  # np.flatnonzero of a 1-D mask
            self._live_rows, self._live_n = np.zeros(0, dtype=np.int64), 0  # a new buffer: views out stay as they are
            self._show_live(self._append_live(live))
        return self._live

    def frame(self):
        """All loans as a DataFrame (purpose and status by name, outstanding in yuan)."""
        table = super().frame()
        table["purpose"] = [PURPOSES[p] for p in table["purpose"]]
        table["status"] = [STATUSES[s] for s in table["status"]]
        table.insert(5, "outstanding", table.pop("outstanding_fen") / 100)
        table.insert(6, "funded", table.pop("funded_fen") / 100)
        table["payment"] = table.pop("payment_fen") / 100
        table["collateral"] = [COLLATERAL_KINDS[c] for c in table["collateral"]]
        return table


class LoanSums:
    """Per-firm and per-bank sums over the live loans of a :class:`LoanBook`, as of its ``version``.

    ``debt``, ``service`` and ``line`` (yuan, per FirmTable row) are the float sums of each firm's
    live loans' outstanding, instalments and credit-line draws, added in the order of the loans'
    rows (what ``np.bincount`` gives); ``exposure_fen`` (per bank and firm) and ``book_fen`` (per
    bank) are exact sums in fen; ``late`` marks firms with a live loan whose last instalment was
    missed. Built by one pass over the live loans when stale; a new loan (the book's last row, so
    the last term of every sum it enters) is added to them in place (:meth:`add`), which gives the
    same bits as a new pass.
    """

    def __init__(self, loans: LoanBook, n_firms: int, n_banks: int) -> None:
        self.loans, self.version = loans, loans.version
        live = loans.live
        borrower, out = loans.borrower[live], loans.outstanding_fen[live]
        self.debt = np.bincount(borrower, out / 100, minlength=n_firms)
        self.service = np.bincount(borrower, loans.payment_fen[live] / 100, minlength=n_firms)
        draws = loans.purpose[live] == PURPOSES.index("credit_line")
        self.line = np.bincount(borrower[draws], out[draws] / 100, minlength=n_firms)
        self.late = np.zeros(n_firms, dtype=bool)
        self.late[borrower[loans.missed[live] > 0]] = True
        self.exposure_fen = np.zeros((n_banks, n_firms), dtype=np.int64)
        # integer sums, the same in any order: np.add.at on the flat index (numpy's fast 1-d path)
        np.add.at(self.exposure_fen.reshape(-1), loans.bank[live] * n_firms + borrower, out)
        self.book_fen = self.exposure_fen.sum(axis=1)
        self._lock()

    def _lock(self, writeable: bool = False) -> None:
        """The arrays are read-only outside :meth:`add` (what a caller is given may be a view of them)."""
        fields = self.__dict__
        for name in ("debt", "service", "line", "late", "exposure_fen", "book_fen"):
            fields[name].flags.writeable = writeable

    def fresh(self, loans: LoanBook, n_firms: int) -> bool:
        """Whether these sums hold for ``loans`` as it is now, over ``n_firms`` firm rows."""
        return self.loans is loans and self.version == loans.version and len(self.debt) == n_firms

    def add(self, new: np.ndarray) -> None:
        """Add the new loans ``new`` (the book's last rows, made since these sums were fresh), in order."""
        loans = self.loans
        if len(new) == 1:  # one loan (an application): plain numbers, the same operations
            self._add_one(int(new[0]))
            return
        f, b, out = loans.borrower[new], loans.bank[new], loans.outstanding_fen[new]
        self._lock(True)
        if self.debt.dtype.kind == "i":  # no loans before (np.bincount of nothing gives integer zeros)
            self.debt, self.service = self.debt.astype(float), self.service.astype(float)
        draws = loans.purpose[new] == PURPOSES.index("credit_line")
        if draws.any() and self.line.dtype.kind == "i":
            self.line = self.line.astype(float)
        # np.add.at adds one at a time, in order: the last terms of a new pass's sums
        np.add.at(self.debt, f, out / 100)
        np.add.at(self.service, f, loans.payment_fen[new] / 100)
        np.add.at(self.line, f[draws], out[draws] / 100)
        np.add.at(self.exposure_fen.reshape(-1), b * self.exposure_fen.shape[1] + f, out)
        np.add.at(self.book_fen, b, out)
        self.late[f[loans.missed[new] > 0]] = True
        self._lock()
        self.version = loans.version

    def _add_one(self, i: int) -> None:
        """:meth:`add` of the one loan in row ``i``, read as Python numbers: the fen amounts / 100 as float64
        divisions (what numpy's int64 / 100 computes), added to the sums' elements."""
        loans = self.loans
        f0, b0, out0 = int(loans.borrower[i]), int(loans.bank[i]), int(loans.outstanding_fen[i])
        draw = int(loans.purpose[i]) == _CREDIT_LINE
        self._lock(True)
        if self.debt.dtype.kind == "i":  # no loans before (np.bincount of nothing gives integer zeros)
            self.debt, self.service = self.debt.astype(float), self.service.astype(float)
        if draw and self.line.dtype.kind == "i":
            self.line = self.line.astype(float)
        self.debt[f0] += float(out0) / 100.0
        self.service[f0] += float(int(loans.payment_fen[i])) / 100.0
        if draw:
            self.line[f0] += float(out0) / 100.0
        self.exposure_fen[b0, f0] += out0
        self.book_fen[b0] += out0
        if loans.missed[i] > 0:
            self.late[f0] = True
        self._lock()
        self.version = loans.version


@dataclass(frozen=True)
class Offer:
    """A bank's offer for a loan application."""

    bank: int
    amount: float  # yuan
    rate: float  # 1/year
    tenor: int  # months
    payment: float  # yuan/month, the annuity


def instalment_split(outstanding_fen: np.ndarray, rate: np.ndarray, payment_fen: np.ndarray,
                     months_left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(interest, principal) in fen of this month's instalment (module docstring)."""
    interest = np.rint(outstanding_fen * rate / 12.0).astype(np.int64)
    principal = np.where(months_left <= 1, outstanding_fen,
                         np.clip(payment_fen - interest, 0, outstanding_fen))
    return interest, principal


#: Types of the values :meth:`LoanBook.add_many` is given that are not numpy arrays (no isinstance call).
_NOT_ARRAYS = frozenset({int, float, bool, np.int64, np.float64, np.bool_})


def _clip(x: float, lo: float, hi: float) -> float:
    """``np.clip`` of one Python float: min(max(x, lo), hi), NaN kept (numpy's own rule, also for signed zeros)."""
    if x != x:
        return x
    x = x if x > lo else lo
    return x if x < hi else hi


def _payments_fen(principal_fen: list[int], rates: list[float], months: int) -> list[int]:
    """The annuity of each loan in fen, round(P_fen x A(r, T)), with A :func:`annuity_factor` of the loan's
    own rate and whole months: its scalar formula i / (1 - (1 + i)^-T), i = r / 12 (1 / T where i <= 0),
    evaluated in Python floats as ``annuity_factor`` evaluates one rate, so the same bits as one loan at a
    time, without a cache entry (or its lookup) per loan's own rate."""
    if months <= 0:
        return [round(p * float(annuity_factor(r, months))) for p, r in zip(principal_fen, rates, strict=True)]
    # factor: 1 / T where i = r / 12 <= 0 (also NaN), else i / (1 - (1 + i)^-T) (inf where that is 0)
    return [round(p * (1.0 / months if not (i := r / 12.0) > 0
                       else i / d if (d := 1.0 - (1.0 + i) ** -months) != 0.0 else math.inf))
            for p, r in zip(principal_fen, rates, strict=True)]


def _by_borrower(rows: np.ndarray, borrower: np.ndarray, n_firms: int) -> np.ndarray:
    """``np.lexsort((rows, borrower))`` for loan ``rows`` in ascending order: by borrower, then by row.
    As the rows ascend, that is the stable order of the borrowers alone, which numpy sorts by radix
    (linear time) when they fit in 16 bits."""
    if n_firms <= 1 << 16:
        return np.argsort(borrower.astype(np.uint16), kind="stable")
    return np.lexsort((rows, borrower))


def loan_cost_factor(loan_rate, hurdle, tenor: int):
    """Present value at the hurdle rate of repaying one yuan borrowed at ``loan_rate``:
    A(loan_rate, T) / A(hurdle, T), with A the monthly annuity factor (< 1 when the loan
    is cheaper than the firm's own money)."""
    return annuity_factor(np.maximum(loan_rate, 0.0), tenor) / annuity_factor(hurdle, tenor)


class CreditMarket:
    """Loan applications, offers, servicing, sustainability-linked steps and defaults."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.credit
        self.loans = LoanBook()
        self.reset_counts()  # this month's refused, approvals, refusals (by reason) and defaults
        self.funding_saving = 0.0  # yuan, cumulative interest banks saved through relending
        self.sll_reviews = 0  # sustainability-linked anniversaries so far
        self.sll_met = 0  # of which the target was met
        self._sums: LoanSums | None = None
        self._held_margins: np.ndarray | None = None  # margins by firm row within margins_held()
        # _margin_one's per-sector n_s . w and y_s . d, with the catalogue arrays they were computed from
        self._sector_terms: tuple[tuple[np.ndarray, ...], dict[int, tuple[float, float]]] | None = None
        model.exit_listeners.append(self.firms_exited)

    def sums(self) -> LoanSums:
        """The per-firm and per-bank sums over the live loans now (:class:`LoanSums`, rebuilt when stale)."""
        sums, n, loans = self._sums, self.model.firms.n, self.loans
        # LoanSums.fresh, inline (asked thousands of times a run)
        if sums is None or sums.loans is not loans or sums.version != loans.version or sums.debt.shape[0] != n:
            sums = self._sums = LoanSums(loans, n, len(self.model.banks))
        return sums

    # -- what banks see ------------------------------------------------------------------
    def margin(self, rows: np.ndarray, output: np.ndarray | None = None) -> np.ndarray:
        """Operating margin of firms this month, yuan/month: M_f = sales - variable cost -
        substitutable inputs at virgin price - disposal of all byproducts - fixed cost - rent
        (at this month's output, or at ``output`` if given, as if no link delivered) -
        abatement opex - carbon cost (``CarbonMarket.monthly_liability``)."""
        model, firms = self.model, self.model.firms
        s = firms.sector[rows]
        q = firms.output[rows] if output is None else output
        per_unit = (model.sector_price[s] - model.sector_variable_cost[s] * firms.cost_factor[rows]
                    - model.need_matrix[s] @ model.stream_virgin_price
                    - model.yield_matrix[s] @ model.stream_disposal_cost)
        return (q * per_unit - model.sector_fixed_cost[s] * firms.size[rows] - model.scenario.operator.rent
                - model.abatement.monthly_opex(rows) - model.carbon_market.monthly_liability(rows))

    @contextmanager
    def margins_held(self) -> Iterator[None]:
        """Within the block, :meth:`offer` judges each live firm on its :meth:`margin` computed for all
        live firms at the block's start (elementwise the same numbers as one firm at a time).

        For callers during which no input of :meth:`margin` changes (output, prices, costs,
        technologies, emissions, carbon prices and coverage): the byproduct matching, whose link
        formation moves money and loans only. One vectorised margin a month then replaces one
        per loan application."""
        outer = self._held_margins
        if outer is None:
            firms = self.model.firms
            held = np.full(firms.n, np.nan)
            held[firms.live] = self.margin(firms.live)
            self._held_margins = held
        try:
            yield
        finally:
            self._held_margins = outer

    def _margin_of(self, row: int) -> float:
        """:meth:`margin` of firm ``row`` (as held by :meth:`margins_held` within its block)."""
        held = self._held_margins
        if held is not None and row < len(held) and not np.isnan(held[row]):
            return float(held[row])
        return self._margin_one(row)

    def _margin_one(self, row: int) -> float:
        """:meth:`margin` of the one firm ``row`` at this month's output, in Python floats: the same operations
        in the same order, with the sector's input and disposal terms n_s . w and y_s . d the products
        :meth:`margin` takes for one row (a one-row matrix times the price vector), kept per sector."""
        model, firms = self.model, self.model.firms
        s = int(firms.sector[row])
        cache = self._sector_terms
        if cache is None or not (cache[0][0] is model.need_matrix and cache[0][1] is model.stream_virgin_price
                                 and cache[0][2] is model.yield_matrix and cache[0][3] is model.stream_disposal_cost):
            arrays = (model.need_matrix, model.stream_virgin_price, model.yield_matrix, model.stream_disposal_cost)
            cache = self._sector_terms = (arrays, {})
        terms = cache[1].get(s)
        if terms is None:
            one = np.array([s])
            terms = cache[1][s] = (float((model.need_matrix[one] @ model.stream_virgin_price)[0]),
                                   float((model.yield_matrix[one] @ model.stream_disposal_cost)[0]))
        rows = np.array([row])
        per_unit = (float(model.sector_price[s]) - float(model.sector_variable_cost[s]) * float(firms.cost_factor[row])
                    - terms[0] - terms[1])
        return (float(firms.output[row]) * per_unit - float(model.sector_fixed_cost[s]) * float(firms.size[row])
                - model.scenario.operator.rent - float(model.abatement.monthly_opex(rows)[0])
                - float(model.carbon_market.monthly_liability(rows)[0]))

    def debt(self, rows: np.ndarray) -> np.ndarray:
        """Outstanding loans of firms, yuan."""
        return self.sums().debt[rows]

    def debt_service(self, rows: np.ndarray) -> np.ndarray:
        """Monthly instalments of firms' live loans, yuan/month."""
        return self.sums().service[rows]

    def book(self, bank: int) -> float:
        """Outstanding loans of a bank, yuan."""
        return int(self.sums().book_fen[bank]) / 100

    def exposure(self, bank: int, row: int) -> float:
        """Outstanding loans of bank ``bank`` to firm ``row``, yuan."""
        return int(self.sums().exposure_fen[bank, row]) / 100

    def relent_share(self, green: bool) -> float:
        """Share of a new loan's principal funded by central-bank relending now."""
        policy = self.model.policy("green_relending")
        return policy.params.share if policy and green else 0.0

    def relending_rate(self) -> float:
        """Annual rate of central-bank relending for a loan made now (0 if not in force)."""
        policy = self.model.policy("green_relending")
        return policy.params.rate if policy else 0.0

    def funding_cost(self, green: bool) -> float:
        """Annual funding rate of a new loan: deposits, and relending for green loans."""
        policy = self.model.policy("green_relending")  # relent_share and relending_rate, looked up once
        s = policy.params.share if policy and green else 0.0
        return (1.0 - s) * self.spec.funding_rate + s * (policy.params.rate if policy else 0.0)

    def rates(self, bank: int, rows: np.ndarray, purpose: str, amount: float | np.ndarray = 0.0,
              tenor: int | None = None, margin: np.ndarray | None = None) -> np.ndarray:
        """Annual rate bank ``bank`` offers ``rows`` for a loan of ``amount`` (module docstring);
        ``margin``: the rows' :meth:`margin` if the caller has it."""
        return self.rates_of_banks([bank], rows, purpose, amount, tenor, margin)[0]

    def rates_of_banks(self, banks: list[int], rows: np.ndarray, purpose: str, amount: float | np.ndarray = 0.0,
                       tenor: int | None = None, margin: np.ndarray | None = None) -> list[np.ndarray]:
        """:meth:`rates` of each bank of ``banks``, the firms' terms (debt, margin, emissions) looked up
        once and the risk premium computed once per funding base (once for all banks when ``amount`` is 0:
        the new loan's service is then 0 whatever the bank's rate)."""
        model, spec, firms = self.model, self.spec, self.model.firms
        green = purpose in GREEN_PURPOSES
        tenor = tenor or self._tenor(purpose)
        margin = self.margin(rows) if margin is None else margin
        positive = np.maximum(margin, 1.0)
        leverage = (self.debt(rows) + amount) / (12.0 * positive)
        debt_service = self.debt_service(rows)
        funding = self.funding_cost(green)
        if spec.carbon_efficiency_bp > 0:
            bau = firms.emissions_bau[rows]
            relative = np.where(bau > 0, firms.emissions[rows] / np.where(bau > 0, bau, 1.0), 1.0)
            cap = spec.carbon_efficiency_cap_bp
            efficiency = np.clip(spec.carbon_efficiency_bp * (relative - 1.0), -cap, cap) / 1e4
        no_loan = (type(amount) is float or np.ndim(amount) == 0) and amount == 0
        premiums: dict[float | None, np.ndarray] = {}
        out = []
        for bank in banks:
            bank_spec = model.banks[bank].spec
            base = spec.funding_rate + bank_spec.margin_bp / 1e4
            factor = annuity_factor(base, tenor)
            key = None if no_loan and math.isfinite(factor) else base
            premium = premiums.get(key)
            if premium is None:
                service = debt_service + amount * factor
                paying = service > 0  # the service where it is > 0 (else 1) as the divisor: no division by 0
                cover = np.where(paying, np.maximum(margin, 0.0) / np.where(paying, service, 1.0), np.inf)
                # np.clip(x, 0, 1) as max then min: the same numbers, NaN kept, since x = 1 - y is never -0.0
                premium = premiums[key] = (spec.leverage_premium_bp * leverage + spec.cover_premium_bp
                                           * np.minimum(np.maximum(1.0 - cover / spec.cover_target, 0.0), 1.0))
            rate = funding + bank_spec.margin_bp / 1e4 + np.minimum(premium, spec.max_premium_bp) / 1e4
            if green:
                rate = rate - spec.green_discount_bp / 1e4
            if spec.carbon_efficiency_bp > 0:
                rate = rate + efficiency
            out.append(np.maximum(rate, 0.0))
        return out

    def _firm_terms(self, row: int, purpose: str) -> tuple[float, float, float, float]:
        """What :meth:`rates` takes of firm ``row`` for a loan of ``purpose``, the same for every bank, as
        Python floats: (debt D_f, debt service, emissions / BAU, funding rate of the purpose)."""
        sums, firms = self.sums(), self.model.firms
        bau = float(firms.emissions_bau[row])
        relative = float(firms.emissions[row]) / bau if bau > 0 else 1.0
        return (float(sums.debt[row]), float(sums.service[row]), relative,
                self.funding_cost(purpose in GREEN_PURPOSES))

    def _rate_one(self, bank: int, terms: tuple[float, float, float, float], amount: float, tenor: int,
                  margin: float, green: bool) -> float:
        """:meth:`rates` of bank ``bank`` for one firm (``terms``: its :meth:`_firm_terms`) in Python floats:
        the same operations in the same order, so the same number bit for bit, at a fraction of the cost
        of numpy on one-element arrays (an application asks every bank)."""
        spec = self.spec
        debt, service, relative, funding = terms
        bank_bp = self.model.banks[bank].spec.margin_bp
        base = spec.funding_rate + bank_bp / 1e4
        leverage = (debt + amount) / (12.0 * max(margin, 1.0))
        service = service + float(amount * annuity_factor(base, tenor))
        cover = max(margin, 0.0) / service if service > 0 else math.inf
        premium = (spec.leverage_premium_bp * leverage
                   + spec.cover_premium_bp * _clip(1.0 - cover / spec.cover_target, 0.0, 1.0))
        rate = funding + bank_bp / 1e4 + min(premium, spec.max_premium_bp) / 1e4
        if green:
            rate = rate - spec.green_discount_bp / 1e4
        if spec.carbon_efficiency_bp > 0:
            cap = spec.carbon_efficiency_cap_bp
            rate = rate + _clip(spec.carbon_efficiency_bp * (relative - 1.0), -cap, cap) / 1e4
        return max(rate, 0.0)

    def subsidy_rate(self, green: bool) -> float:
        """Annual interest the government pays on a green loan now (interest_subsidy)."""
        policy = self.model.policy("interest_subsidy")
        return policy.params.rate_bp / 1e4 if policy and green and policy.remaining > 0 else 0.0

    def capex_factor(self, rows: np.ndarray, purpose: str) -> np.ndarray:
        """Present value, at the firm's hurdle rate, of financing one yuan of net capex.

        phi_f = (1 - ltv) + ltv * min(1, A(r_f^loan, T) / A(h_f, T)), with ltv the
        loan-to-value share, T the project tenor, r^loan the best indicative rate net of any
        interest subsidy and h_f the hurdle rate (a loan dearer than the firm's own money is
        not taken if it can pay cash); phi_f = 1 (all equity) where no bank would lend
        (credit off, non-positive margin, or every bank at its capital limit). Firms value
        green investments with capex x phi_f, so cheaper credit raises their NPV.
        """
        spec = self.spec
        if not spec.enabled or not len(rows) or spec.loan_to_value == 0:
            return np.ones(len(rows))
        banks = [b for b in range(len(self.model.banks)) if self.capital_room(b) > 0]
        if not banks:
            return np.ones(len(rows))
        margin = self.margin(rows)
        rates = self.rates_of_banks(banks, rows, purpose, margin=margin)
        loan_rate = rates[0] if len(rates) == 1 else np.minimum.reduce(rates, axis=0)  # np.min over the banks
        loan_rate -= self.subsidy_rate(purpose in GREEN_PURPOSES)
        ratio = loan_cost_factor(loan_rate, self.model.firms.discount_rate[rows], spec.project_tenor_months)
        lendable = margin > 0
        return np.where(lendable, 1.0 - spec.loan_to_value + spec.loan_to_value * np.minimum(ratio, 1.0), 1.0)

    def _tenor(self, purpose: str) -> int:
        spec = self.spec
        return spec.project_tenor_months if purpose in GREEN_PURPOSES else spec.working_capital_tenor_months

    # -- the working-capital credit line ----------------------------------------------------
    def line_limit(self, rows: np.ndarray) -> np.ndarray:
        """Limit of the firms' credit lines, yuan: L_f = credit_line_months x (normal output_f x
        variable cost_s x cost factor_f + fixed cost_s x size_f), normal output = capacity x
        size x base_utilisation."""
        model, firms = self.model, self.model.firms
        s = firms.sector[rows]
        normal = model.sector_capacity[s] * firms.size[rows] * model.scenario.economy.base_utilisation
        variable = normal * model.sector_variable_cost[s] * firms.cost_factor[rows]
        cost = variable + model.sector_fixed_cost[s] * firms.size[rows]
        return self.spec.credit_line_months * cost

    def line_used(self, rows: np.ndarray) -> np.ndarray:
        """Outstanding draws on the firms' credit lines, yuan."""
        return self.sums().line[rows]

    def line_open(self, rows: np.ndarray) -> np.ndarray:
        """Whether the covenants let the firms draw: expected margin M_f > 0, D_f - min(drawn_f, R_f)
        <= line_max_leverage x 12 x M_f (debt beyond the draws its accounts receivable secure, the
        borrowing base of an asset-based line), and no instalment of any of its loans missed."""
        firms, sums = self.model.firms, self.sums()
        margin = firms.expected_margin[rows]
        unsecured = sums.debt[rows] - np.minimum(sums.line[rows], firms.receivables[rows])
        return (margin > 0) & (unsecured <= self.spec.line_max_leverage * 12.0 * margin) & ~sums.late[rows]

    def draw_line(self, row: int, need: float, rolled: float = 0.0) -> float:
        """Draw up to ``need`` yuan on firm ``row``'s credit line; returns the amount drawn.

        The draw is min(need, L_f - drawn_f + rolled) if the covenants hold (:meth:`line_open`;
        ``rolled``: the principal of its draws repaid this month, which the repayment frees), cut to
        what a bank's exposure and capital limits leave; the bank that can lend the most (the
        cheapest among equals) lends it, at the
        risk-priced rate of :meth:`rates` for working capital judged on the firm's expected
        margin, repaid in equal instalments over ``working_capital_tenor_months`` (each
        repayment frees the limit again: a revolving line).
        """
        if need <= 0:
            return 0.0
        return float(self.draw_lines(np.array([row]), np.array([float(need)]), np.array([float(rolled)]))[0])

    def draw_lines(self, rows: np.ndarray, need: np.ndarray, rolled: np.ndarray,
                   due: np.ndarray | None = None) -> np.ndarray:
        """:meth:`draw_line` for firms ``rows`` (distinct) one after another, in this order; returns the yuan
        each drew.
        With ``due`` (yuan each firm must pay now), a firm whose cash was below it and still is after its
        draw borrows the rest of its need through secured or risk-priced lending
        (``SecuredLending.apply``, where it ``may_lend``) before the next firm draws.

        A firm's draw depends on the draws of the firms before it only through a bank's capital room
        (its book): the draws are decided for all firms at once (:meth:`_line_plan`) and booked in order
        up to the first firm whose room the earlier draws narrowed, or whose secured loan changed the
        book, and the rest decided again from there.
        """
        drawn = np.zeros(len(rows))
        if not self.spec.enabled:
            return drawn
        if len(np.unique(rows)) < len(rows):  # a firm's second draw depends on its first: not one pass
            raise ValueError("draw_lines: each firm draws once; call it again for a second draw")
        model, loans = self.model, self.loans
        if due is not None:
            accounts = model.firms.account[rows]
            low = model.ledger.balance(accounts) < due
        start = 0
        while start < len(rows):
            held, bank, amount, rate = self._line_plan(rows[start:], need[start:], rolled[start:])
            planned = np.where(bank[:held] >= 0, amount[:held], 0.0)
            stops = []
            if due is not None:  # firms that may turn to secured lending: booked up to each in turn
                stops = np.flatnonzero(low[start: start + held] & (need[start: start + held] - planned > 0.01)
                                       & model.secured_lending.may_lend(rows[start: start + held]))
            booked = 0
            for stop in [*stops, None]:
                end = held if stop is None else stop + 1
                take = booked + (bank[booked:end] >= 0).nonzero()[0]  # np.flatnonzero of a 1-D mask
                if len(take):
                    self._lend_many(rows[start:][take], bank[take], amount[take], rate[take],
                                    self.spec.working_capital_tenor_months, "credit_line")
                    self.line_draws += len(take)
                    drawn[start + take] = amount[take]
                booked = end
                if stop is None:
                    break
                i = start + stop
                if model.ledger.balance(int(accounts[i])) < due[i]:
                    version = loans.version
                    model.secured_lending.apply(int(rows[i]), float(need[i]) - float(drawn[i]))
                    if loans.version != version:  # it borrowed: the banks' books changed
                        break
            start += booked
        return drawn

    def _line_plan(self, rows: np.ndarray, need: np.ndarray,
                   rolled: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """The draws of firms ``rows`` (:meth:`draw_line`) decided on the book as it is now:
        (how many leading firms' draws hold as made in turn, lending bank or -1, yuan, annual rate).

        Every term of a firm's draw is its own (line, exposure, debt, margin) except each bank's
        capital room, which shrinks by every earlier draw from that bank: firm i's draws hold while
        the room left after the draws before it still covers what it was offered (a room cut by it
        would have been smaller)."""
        model, spec, sums = self.model, self.spec, self.sums()
        tenor = spec.working_capital_tenor_months
        n = len(rows)
        amount = np.minimum(need, self.line_limit(rows) - sums.line[rows] + rolled)
        go = self.line_open(rows) & ~(amount < 0.01)
        margin = model.firms.expected_margin[rows]
        bank, best, rate = np.full(n, -1), np.zeros(n), np.zeros(n)
        rooms, freeds = [], []
        for b, agent in enumerate(model.banks):
            exposure = sums.exposure_fen[b, rows] / 100
            freed = np.minimum(rolled, exposure)  # this month's repayments of its draws free room
            room = np.minimum(np.minimum(amount, agent.spec.max_single_exposure * agent.cash - exposure + freed),
                              self.capital_room(b) + freed)  # capital room: the book as it is now
            room = np.where(go & ~(room < 0.01), room, np.nan)  # nan: this bank does not lend the firm
            rooms.append(room)
            freeds.append(freed)
            ok = (~np.isnan(room)).nonzero()[0]  # np.flatnonzero of a 1-D mask
            if not len(ok):
                continue
            r = self.rates(b, rows[ok], "credit_line", room[ok], tenor, margin[ok])
            better = (bank[ok] < 0) | (room[ok] > best[ok]) | ((room[ok] == best[ok]) & (-r > -rate[ok]))
            won = ok[better]
            bank[won], best[won], rate[won] = b, room[won], r[better]
        held = n
        fen = np.where(bank >= 0, np.rint(best * 100), 0.0).astype(np.int64)  # the principal booked (_lend_many)
        for b, agent in enumerate(model.banks):
            if agent.spec.min_capital_ratio == 0 or spec.risk_weight == 0:  # no capital limit (capital_room)
                continue
            mine = np.where(bank == b, fen, 0)
            book_before = int(sums.book_fen[b]) + np.cumsum(mine) - mine  # fen, before each firm's draw
            room_then = agent.cash / (spec.risk_weight * agent.spec.min_capital_ratio) - book_before / 100
            narrowed = (room_then + freeds[b] < rooms[b]).nonzero()[0]  # nan rooms compare False
            if len(narrowed):
                held = min(held, int(narrowed[0]))
        return held, bank, best, rate

    def capital_room(self, bank: int) -> float:
        """Yuan the bank can still lend before its capital ratio reaches its limit."""
        b = self.model.banks[bank]
        equity = b.cash
        if b.spec.min_capital_ratio == 0 or self.spec.risk_weight == 0:
            return np.inf
        return equity / (self.spec.risk_weight * b.spec.min_capital_ratio) - self.book(bank)

    def bank_limit(self, bank: int, row: int, amount: float) -> str | None:
        """The bank limit a new loan of ``amount`` to firm ``row`` would break ("exposure":
        its loans to the firm above ``max_single_exposure`` x its equity; "capital": above
        its capital room), or None."""
        return self._bank_limit(self.sums(), bank, row, amount)

    def _bank_limit(self, sums: LoanSums, bank: int, row: int, amount: float) -> str | None:
        """:meth:`bank_limit` on the loan sums ``sums`` (fresh): :meth:`exposure` and :meth:`capital_room`."""
        agent = self.model.banks[bank]
        spec, equity = agent.spec, agent.cash
        if int(sums.exposure_fen[bank, row]) / 100 + amount > spec.max_single_exposure * equity:
            return "exposure"
        if spec.min_capital_ratio == 0 or self.spec.risk_weight == 0:
            return None  # no capital limit (capital_room is infinite)
        if equity / (self.spec.risk_weight * spec.min_capital_ratio) - int(sums.book_fen[bank]) / 100 < amount:
            return "capital"
        return None

    # -- applications ---------------------------------------------------------------------
    def offer(self, row: int, amount: float, purpose: str, cash_flow: float = 0.0,
              record: bool = False, min_dscr: float | None = None, premium_bp: float = 0.0,
              margin: float | None = None) -> Offer | None:
        """The cheapest offer of any bank for a loan, or None if every bank refuses.

        ``cash_flow`` is the project's expected monthly cash flow (yuan) for green purposes;
        working capital is judged on the firm's margin. With ``record`` a refused application,
        and each bank's reason, count in this month's figures. ``min_dscr`` (default
        ``credit.min_dscr``), ``premium_bp`` (added to the rate) and ``margin`` (the margin
        the banks judge, default this month's) are set by risk-priced lending to weak firms
        (markets/secured_lending.py).
        """
        spec = self.spec
        min_dscr = spec.min_dscr if min_dscr is None else min_dscr
        if not spec.enabled or amount <= 0:
            return None
        tenor = self._tenor(purpose)
        margin = self._margin_of(row) if margin is None else float(margin)
        best: Offer | None = None
        reasons = set()
        if margin <= 0:  # every bank refuses on the margin (before judging cover or limits)
            if self.model.banks:
                reasons.add("margin")
        else:
            terms = self._firm_terms(row, purpose)
            green, sums = purpose in GREEN_PURPOSES, self.sums()
            service = terms[1]
            for bank in range(len(self.model.banks)):
                rate = self._rate_one(bank, terms, amount, tenor, margin, green) + premium_bp / 1e4
                payment = amount * float(annuity_factor(rate, tenor))
                cover = cash_flow / payment if green else margin / (service + payment)
                if cover < min_dscr:
                    reasons.add("cover")
                    continue
                limit = self._bank_limit(sums, bank, row, amount)
                if limit is not None:
                    reasons.add(limit)
                    continue
                if best is None or rate < best.rate:
                    best = Offer(bank, amount, rate, tenor, payment)
        if record and best is None:
            self.refused += 1
            for reason in reasons:
                self.refusals[reason] += 1
        return best

    def lend(self, row: int, offer: Offer, purpose: str) -> int:
        """Disburse an accepted offer to firm ``row``; returns the loan's row.

        :meth:`_lend_many` of one loan, in Python numbers (the same values, and the ledger's booking of one
        transfer, as one-element arrays give)."""
        model, spec, firms, loans = self.model, self.spec, self.model.firms, self.loans
        green = purpose in GREEN_PURPOSES
        rate, tenor = float(offer.rate), offer.tenor
        principal_fen = round(float(offer.amount) * 100)  # half to even, as np.rint
        bau = float(firms.emissions_bau[row])
        sums = self._sums
        fresh = sums is not None and sums.loans is loans and sums.version == loans.version
        new = loans.add_many(
            borrower=row, bank=offer.bank, purpose=PURPOSES.index(purpose), green=green,
            principal=principal_fen / 100, outstanding_fen=principal_fen, funded_fen=principal_fen,
            contract_rate=rate, rate=rate, relent_share=self.relent_share(green),
            relent_rate=self.relending_rate(), payment_fen=_payments_fen([principal_fen], [rate], tenor)[0],
            months_left=tenor, tenor=tenor, start=model.steps, status=PERFORMING,
            sll=green and spec.sustainability_linked,
            sll_baseline=float(firms.emissions[row]) / bau if bau > 0 else 1.0,
        )
        if fresh:  # the sums held before this loan: add it
            sums.add(new)
        bank_acc, account = model.banks[offer.bank].account, int(firms.account[row])
        model.ledger.transfer("bank_funding", model.outside, bank_acc, principal_fen / 100)
        model.ledger.transfer("loan_disbursement", bank_acc, account, principal_fen / 100)
        self.approvals += 1
        return int(new[0])

    def _lend_many(self, rows: np.ndarray, banks: np.ndarray, amounts: np.ndarray, rates: np.ndarray, tenor: int,
                   purpose: str) -> np.ndarray:
        """Disburse loans of ``amounts`` yuan at annual ``rates`` over ``tenor`` months from ``banks`` to firms
        ``rows``, booked in this order (the book's rows, the per-firm sums); returns the loans' rows."""
        model, spec, firms, loans = self.model, self.spec, self.model.firms, self.loans
        green = purpose in GREEN_PURPOSES
        principal_fen = np.rint(amounts * 100).astype(np.int64)
        payment_fen = np.array(_payments_fen(principal_fen.tolist(), rates.tolist(), tenor), dtype=np.int64)
        bau = firms.emissions_bau[rows]
        sums = self._sums
        fresh = sums is not None and sums.loans is loans and sums.version == loans.version
        new = loans.add_many(
            borrower=rows, bank=banks, purpose=PURPOSES.index(purpose), green=green,
            principal=principal_fen / 100, outstanding_fen=principal_fen, funded_fen=principal_fen,
            contract_rate=rates, rate=rates, relent_share=self.relent_share(green),
            relent_rate=self.relending_rate(), payment_fen=payment_fen, months_left=tenor, tenor=tenor,
            start=model.steps, status=PERFORMING, sll=green and spec.sustainability_linked,
            sll_baseline=np.where(bau > 0, firms.emissions[rows] / np.where(bau > 0, bau, 1.0), 1.0),
        )
        if fresh:  # the sums held before these loans: add them
            sums.add(new)
        bank_acc = np.array([b.account for b in model.banks])[banks]
        model.ledger.transfer("bank_funding", model.outside, bank_acc, principal_fen / 100)
        model.ledger.transfer("loan_disbursement", bank_acc, firms.account[rows], principal_fen / 100)
        self.approvals += len(rows)
        return new

    def borrow(self, row: int, amount: float, purpose: str, cash_flow: float = 0.0) -> Offer | None:
        """Apply to every bank and take the cheapest offer; returns it, or None if refused."""
        offer = self.offer(row, amount, purpose, cash_flow, record=True)
        if offer is not None:
            self.lend(row, offer, purpose)
        return offer

    # -- phase 6 --------------------------------------------------------------------------
    def step(self) -> None:
        """Phase 6: working-capital finance, servicing, collateral (release, margin calls),
        sustainability-linked steps, defaults."""
        if self.spec.enabled:
            self.finance_shortfalls(service=True)
        self.service()
        self.model.secured_lending.step()
        self.review_sustainability_links()
        self.declare_defaults()

    def reset_counts(self) -> None:
        """Zero this month's counts (phase 1): ``refused`` applications, ``approvals``,
        ``refusals`` by each bank's reason, firms' ``defaults``, ``line_draws``."""
        self.refused = self.approvals = self.defaults = self.line_draws = 0
        self.refusals = dict.fromkeys(REFUSAL_REASONS, 0)

    def finance_shortfalls(self, service: bool = False) -> None:
        """Working-capital finance (docs/credit.md, operating cycle).

        Firms whose cash is below what they must pay now draw on their credit line
        (:meth:`draw_line`) enough to hold ``working_capital_buffer_months`` of fixed cost after
        paying it; what the line does not cover they ask of secured or risk-priced lending
        (``SecuredLending.apply``). Run in phase 6 with ``service``: what they must pay is this
        month's instalments (:meth:`debt_service`; a revolving line rolls its own repayments over,
        :meth:`line_due`), and every firm keeps its line drawn up to its accounts receivable,
        the borrowing base, min(L_f, R_f): the line costs less than its owners' money (its hurdle
        rate), so receivables are financed by the bank and owners take the cash freed as
        dividends. Run again in phase 8 before the exit rule (``ParkModel.exit_rule``: cash
        below 0)."""
        model, firms = self.model, self.model.firms
        rows = firms.live
        cash = model.firm_cash(rows)
        due = self.debt_service(rows) if service else np.zeros(len(rows))
        fixed = model.sector_fixed_cost[firms.sector[rows]] * firms.size[rows]
        buffer = self.spec.working_capital_buffer_months * fixed
        need = np.where(cash < due, buffer + due - cash, 0.0)
        rolled = self.line_due(rows) if service else np.zeros(len(rows))
        if service:
            base = np.minimum(self.line_limit(rows), firms.receivables[rows])
            need = np.maximum(need, base - self.line_used(rows) + rolled)
        todo = (~(need < 0.01)).nonzero()[0]  # np.flatnonzero of a 1-D mask
        self.draw_lines(rows[todo], need[todo], rolled[todo], due[todo])
        if service:
            self.owners_cover(rows, due)

    def owners_cover(self, rows: np.ndarray, due: np.ndarray) -> None:
        """Owners of a firm in good standing with its bank (covenants met, :meth:`line_open`) and
        worth keeping (``ParkModel.owners_equity`` E_f above the gap) put in what its cash lacks to
        pay this month's instalments after its line and secured lending (``recapitalisation``):
        where the banks' single-borrower and capital limits, not the firm's credit, leave a large
        firm's receivables partly unfinanced. A firm whose covenants are broken, or not worth
        keeping, misses its instalments (NPL, then default)."""
        model = self.model
        cash = model.firm_cash(rows)
        lacking = rows[cash < due]
        if not len(lacking):
            return
        gap = (due - cash)[cash < due]
        keep = self.line_open(lacking)
        if keep.any():  # E_f (a going-concern value) asked only if some line is open, of the same firms
            keep &= model.owners_equity(lacking) > gap
        model.ledger.transfer("recapitalisation", model.outside, model.firms.account[lacking[keep]], gap[keep])

    def line_due(self, rows: np.ndarray) -> np.ndarray:
        """Principal of the firms' credit-line draws due this month, yuan (:func:`instalment_split`)."""
        loans = self.loans
        live = loans.live
        draws = live[loans.purpose[live] == PURPOSES.index("credit_line")]
        _, principal = instalment_split(loans.outstanding_fen[draws], loans.rate[draws], loans.payment_fen[draws],
                                        loans.months_left[draws])
        due = np.bincount(loans.borrower[draws], principal / 100, minlength=self.model.firms.n)
        return due[rows]

    def service(self) -> None:
        """Collect this month's instalments; capitalise missed ones (module docstring). A credit-line
        draw made this month (to pay this month's instalments) is first due next month."""
        model, loans, ledger, firms = self.model, self.loans, self.model.ledger, self.model.firms
        live = loans.live
        live = live[(loans.start[live] < model.steps) | (loans.purpose[live] != PURPOSES.index("credit_line"))]
        if not len(live):
            return
        bank_acc = np.array([b.account for b in model.banks])[loans.bank[live]]
        out = loans.outstanding_fen[live]
        # banks pay their funders on what they owe them, whether borrowers pay or not
        funded = loans.funded_fen[live] / 100
        funding = self.spec.funding_rate
        relend_rate = loans.relent_rate[live]
        share = loans.relent_share[live]
        ledger.transfer("funding_interest", bank_acc, model.outside,
                        funded * ((1 - share) * funding + share * relend_rate) / 12)
        self.funding_saving += float((funded * share * (funding - relend_rate) / 12).sum())

        interest, principal = instalment_split(out, loans.rate[live], loans.payment_fen[live], loans.months_left[live])
        sub_rate = np.where(loans.green[live], self.subsidy_rate(True), 0.0)
        subsidy = np.minimum(np.rint(out * sub_rate / 12.0), interest).astype(np.int64)
        policy = model.policy("interest_subsidy")
        if policy is not None:  # what the budget still covers, loan by loan in order
            subsidy = np.rint(policy.within_budget(subsidy / 100) * 100).astype(np.int64)
        firm_due = interest - subsidy + principal
        borrower = loans.borrower[live]
        order = _by_borrower(live, borrower, model.firms.n)  # by borrower, oldest loan first
        cum = np.cumsum(firm_due[order])
        first = np.concatenate(([0], np.diff(borrower[order]).nonzero()[0] + 1))  # np.r_[0, flatnonzero(...) + 1]
        before = np.repeat(cum[first] - firm_due[order][first], np.diff(np.concatenate((first, [len(order)]))))
        cash_fen = np.rint(model.firm_cash(borrower[order]) * 100)
        pays = np.zeros(len(live), dtype=bool)
        pays[order] = cum - before <= cash_fen

        p = live[pays]
        acc = firms.account[borrower[pays]]
        if policy is not None:
            policy.pay("interest_subsidy", bank_acc[pays], subsidy[pays] / 100)
        firm_interest = interest[pays] - subsidy[pays]
        ledger.transfer("loan_interest", acc, bank_acc[pays], firm_interest / 100)
        ledger.transfer("loan_repayment", acc, bank_acc[pays], principal[pays] / 100)
        refund = np.minimum(principal[pays], loans.funded_fen[p])  # the rest is capitalised interest: income
        ledger.transfer("bank_funding_repayment", bank_acc[pays], model.outside, refund / 100)
        loans.funded_fen[p] -= refund
        loans.interest_paid[p] += interest[pays] / 100
        loans.principal_paid[p] += principal[pays] / 100
        loans.months_left[p] -= 1
        with loans.editing():
            loans.outstanding_fen[p] -= principal[pays]
            loans.missed[p] = 0
            done = p[loans.outstanding_fen[p] == 0]
            loans.status[done] = STATUSES.index("repaid")
            loans.ended[done] = model.steps

            m = live[~pays]
            loans.outstanding_fen[m] += interest[~pays]
            loans.missed[m] += 1
            self._reschedule(m)

    def _reschedule(self, rows: np.ndarray) -> None:
        """Recompute the annuity of loans over their remaining instalments at their rate."""
        loans = self.loans
        factor = annuity_factor(loans.rate[rows], np.maximum(loans.months_left[rows], 1))
        with loans.editing():
            loans.payment_fen[rows] = np.rint(loans.outstanding_fen[rows] * factor).astype(np.int64)

    def review_sustainability_links(self) -> None:
        """Step sustainability-linked rates up or down at each anniversary (module docstring)."""
        model, loans, spec, firms = self.model, self.loans, self.spec, self.model.firms
        live = loans.live
        age = model.steps - loans.start[live]
        due = live[loans.sll[live] & (age > 0) & (age % 12 == 0)]
        if not len(due):
            return
        years = (model.steps - loans.start[due]) // 12
        borrower = loans.borrower[due]
        bau = firms.emissions_bau[borrower]
        relative = np.where(bau > 0, firms.emissions[borrower] / np.where(bau > 0, bau, 1.0), 1.0)
        met = relative <= loans.sll_baseline[due] * (1.0 - spec.sll_target_reduction) ** years
        step_bp = np.where(met, -spec.sll_step_down_bp, spec.sll_step_up_bp)
        loans.rate[due] = np.maximum(loans.contract_rate[due] + step_bp / 1e4, 0.0)
        self.sll_reviews += len(due)
        self.sll_met += int(met.sum())
        self._reschedule(due)

    def declare_defaults(self) -> None:
        """Firms with a loan ``default_after_months`` instalments behind default and leave."""
        loans = self.loans
        live = loans.live
        late = live[loans.missed[live] >= self.spec.default_after_months]
        if len(late):
            self.model.remove_firms(np.unique(loans.borrower[late]))

    def firms_exited(self, rows: np.ndarray) -> None:
        """Exit listener: a leaving firm repays its loans from its cash, oldest first
        (``loan_repayment``); what it cannot repay is written off (a default)."""
        model, loans, ledger = self.model, self.loans, self.model.ledger
        live = loans.live
        gone = live[np.isin(loans.borrower[live], rows)]
        if not len(gone):
            return
        self._repay_from_cash(gone)
        gone = gone[loans.outstanding_fen[gone] > 0]
        if not len(gone):
            return
        self.defaults += len(np.unique(loans.borrower[gone]))
        bank_acc = np.array([b.account for b in model.banks])[loans.bank[gone]]
        out = loans.outstanding_fen[gone] / 100
        recovered = self.spec.recovery_rate * out
        ledger.transfer("loan_recovery", model.outside, bank_acc, recovered)
        cover = model.policy("green_loan_loss_cover")
        if cover is not None:
            claims = np.where(loans.green[gone], cover.params.share * (out - recovered), 0.0)
            cover.pay("loan_loss_cover", bank_acc, claims)
        ledger.transfer("bank_funding_repayment", bank_acc, model.outside, loans.funded_fen[gone] / 100)
        loans.principal_written_off[gone] = loans.funded_fen[gone] / 100  # funded = principal not yet repaid
        loans.funded_fen[gone] = 0
        loans.written_off[gone] = out
        loans.recovered[gone] += recovered  # after any collateral sale (secured_lending.py)
        with loans.editing():
            loans.outstanding_fen[gone] = 0
            loans.status[gone] = STATUSES.index("defaulted")
        loans.ended[gone] = model.steps

    def _repay_from_cash(self, rows: np.ndarray) -> None:
        """Loans ``rows`` (of leaving firms) are repaid from their borrowers' cash, oldest first."""
        model, loans, ledger = self.model, self.loans, self.model.ledger
        for loan in rows[np.argsort(loans.start[rows], kind="stable")]:
            account = int(model.firms.account[loans.borrower[loan]])
            fen = min(int(loans.outstanding_fen[loan]), int(np.floor(ledger.balance(account) * 100 + 1e-6)))
            if fen <= 0:
                continue
            bank = model.banks[int(loans.bank[loan])].account
            ledger.transfer("loan_repayment", account, bank, fen / 100)
            refund = min(fen, int(loans.funded_fen[loan]))
            ledger.transfer("bank_funding_repayment", bank, model.outside, refund / 100)
            loans.funded_fen[loan] -= refund
            loans.principal_paid[loan] += fen / 100
            with loans.editing():
                loans.outstanding_fen[loan] -= fen
                if loans.outstanding_fen[loan] == 0:
                    loans.status[loan] = STATUSES.index("repaid")
                    loans.ended[loan] = model.steps
                    loans.months_left[loan] = 0

    # -- reporting ------------------------------------------------------------------------
    def non_performing(self) -> np.ndarray:
        """Rows of live loans with at least ``npl_after_months`` consecutive missed instalments."""
        live = self.loans.live
        return live[self.loans.missed[live] >= self.spec.npl_after_months]
