"""Secured and risk-priced working capital: digital warehouse receipts, pledged allowances,
and unsecured loans to weak firms at a risk premium (settings: ``[credit.secured]``).

A firm whose standard working-capital application (``CreditMarket.lend_working_capital``)
every bank refused applies here (:meth:`SecuredLending.apply`), in this order, until its
need is met:

1. **Digital warehouse receipt** (``warehouse_receipts``). Firms of the sectors named in
   ``stock_months`` hold goods in (port) warehouses, bought and sold through the ledger
   (:meth:`SecuredLending.restock`, phase 6): a firm enters with none; each month it moves its
   stock S_f towards the target T_f = stock_months_s x this month's output (units of the
   sector's output), buying what is missing with its production inputs at its unit cost
   c_f = variable_cost_s x cost_factor_f (``stock_purchase``) out of its cash above the
   ``dividend_cash_months`` of fixed cost its owners leave in it (the month's profit), and
   selling what is above the target, or what it needs to cover negative cash, with its
   output at p_s (``stock_sale``); pledged units are not sold. The stock is valued at cost in
   the firm's accounts (``stock_cost``, moving average cost; ``ecopark.metrics.operating_accounts``
   counts it as an asset, not a cost) and a bank selling pledged stock takes units out of it.
   A firm can therefore pledge only what it has paid for and still holds. The
   receipt is worth p_s = output_price_s x I_s a unit, with I_s the sector's commodity price
   index: log I_s,t = phi log I_s,t-1 + sd e_s,t (``commodity_price_persistence``,
   ``commodity_price_sd``, one draw per sector and month), times (1 - ``slump_price_fall``)
   during the demand slump. The lending value of the receipts is
   (S_f - pledged_f) x p_s x (1 - ``receipt_haircut``).
2. **Pledged allowances** (``carbon_pledge``, with cap and trade and banking in force:
   without banking allowances expire at the year end and secure nothing). A firm may pledge
   the allowances it holds beyond its expected need for the rest of the compliance year,
   A_f = held - need, with need = emitted this year + this month's emissions x months left
   (+ what an output-based true-up takes back, - what it adds): the need its carbon orders use
   (``CarbonMarket.year_need``); they are valued at the carbon market's last clearing price P (its
   expected price before the first session). The pledged allowances move in the allowance
   ledger from the firm's account to the pledge escrow (kind ``pledge``), so the firm can
   neither sell nor surrender them while the loan lives; they return when it is repaid
   (``pledge_release``).
3. **Risk-priced unsecured loan** (``risk_priced_lending``): the standard offer
   (``CreditMarket.offer``) judged on the firm's margin at normal output (capacity x size x
   ``base_utilisation``; this month's margin of a firm short of cash is often negative)
   with the cover floor ``weak_min_dscr`` instead of ``min_dscr`` and ``weak_premium_bp``
   added to the rate (the expected loss of lending to a weak firm: probability of default
   x loss given default).

A secured loan of amount a = min(need, lending value / ``initial_cover``) pledges
u = a x initial_cover / (p (1 - h)) units,
costs funding_rate + margin_b + ``secured_premium_bp`` (the collateral replaces the firm's
risk premium) over ``working_capital_tenor_months``, within each bank's exposure and
capital limits; the cheapest bank lends. It is not green.

**Margin calls** (phase 6, after servicing, :meth:`SecuredLending.margin_calls`): with this
month's price, a loan's cover is u x p x (1 - h) and its shortfall E = outstanding - cover.
A loan with E > 0 is called: the firm (a) tops up with free collateral of the same kind,
(b) else repays E from its cash (forced repayment; the annuity is recomputed), (c) else the
bank sells min(u, outstanding / p) units to buyers outside the park (``collateral_sale``),
the proceeds repay principal, the rest of the pledge is released, and what is still owed
stays on the loan, unsecured. When a borrower defaults the bank sells its pledges the same
way before the rest is written off (``CreditMarket.firms_exited``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ecopark.agents.enterprise import in_slump
from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.credit import COLLATERAL_KINDS, STATUSES, Offer

if TYPE_CHECKING:
    from ecopark.model import ParkModel

RECEIPT = COLLATERAL_KINDS.index("warehouse_receipt")
ALLOWANCE = COLLATERAL_KINDS.index("carbon_allowance")


def _ceil_units(units: float) -> float:
    """Units rounded up to the allowance ledger's resolution (0.001)."""
    return math.ceil(round(units * 1000, 6)) / 1000


def _floor_units(units: float) -> float:
    """Units rounded down to the allowance ledger's resolution (0.001)."""
    return math.floor(round(units * 1000, 6)) / 1000


class SecuredLending:
    """Warehouse-receipt and carbon-asset loans, risk-priced loans to weak firms, margin calls."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.spec = model.scenario.credit.secured
        keys = model.catalogue.sector_keys
        self.stock_months = np.array([self.spec.stock_months.get(k, 0.0) for k in keys])
        self.price_index = np.ones(len(keys))  # I_s, the commodity price index per sector
        self._log_index = np.zeros(len(keys))
        self.stock = np.zeros(0)  # units of the sector's output in warehouse stock, per firm row
        self.stock_cost = np.zeros(0)  # yuan, book value of that stock at (moving average) cost, per firm row
        self.escrow = model.allowances.open_account("pledge_escrow", "bank")
        self.calls = 0  # loans called this month
        self.calls_total = 0
        self.top_ups = self.forced_repayments = self.collateral_sales = 0  # outcomes of calls so far
        self._grow()
        model.exit_listeners.insert(0, self.firms_exited)  # sell pledges before the write-off

    # -- state ----------------------------------------------------------------------------
    def _grow(self) -> None:
        """Firms created since the last call enter with no warehouse stock (they buy it: :meth:`restock`)."""
        n, old = self.model.firms.n, len(self.stock)
        if n > old:
            self.stock = np.r_[self.stock, np.zeros(n - old)]
            self.stock_cost = np.r_[self.stock_cost, np.zeros(n - old)]

    def pledged_receipts(self) -> np.ndarray:
        """Units of stock each firm row has pledged to live warehouse-receipt loans."""
        loans = self.model.credit.loans
        live = loans.live
        mine = live[loans.collateral[live] == RECEIPT]
        return np.bincount(loans.borrower[mine], loans.collateral_units[mine], minlength=len(self.stock))

    def restock(self) -> None:
        """Phase 6: move every stock-holding firm's stock towards stock_months_s x this month's output,
        buying at its unit cost within its cash, selling above the target or to cover negative cash
        (module docstring); the book value follows at moving average cost."""
        model, firms = self.model, self.model.firms
        self._grow()
        rows = firms.live
        rows = rows[self.stock_months[firms.sector[rows]] > 0]
        if not len(rows):
            return
        s = firms.sector[rows]
        stock = self.stock[rows]
        free = np.maximum(stock - self.pledged_receipts()[rows], 0.0)
        cash = model.firm_cash(rows)
        price = model.sector_price[s] * self.price_index[s]
        unit_cost = model.sector_variable_cost[s] * firms.cost_factor[rows]
        target = self.stock_months[s] * firms.output[rows]
        sell = np.minimum(np.maximum(stock - target, 0.0), free)
        short = np.maximum(-(cash + sell * price), 0.0)  # cash still negative after selling the excess
        # the firm buys out of cash above what its owners leave in it (dividend_cash_months of fixed cost)
        spare = np.maximum(cash - model.scenario.economy.dividend_cash_months
                           * model.sector_fixed_cost[s] * firms.size[rows], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            sell += np.where(price > 0, np.minimum(free - sell, short / price), 0.0)
            buy = np.where(sell > 0, 0.0, np.minimum(np.maximum(target - stock, 0.0),
                                                     np.where(unit_cost > 0, spare / unit_cost, 0.0)))
        accounts = firms.account[rows]
        model.ledger.transfer("stock_sale", model.outside, accounts, sell * price)
        model.ledger.transfer("stock_purchase", accounts, model.outside, buy * unit_cost)
        self._take(rows, sell)
        self.stock[rows] += buy
        self.stock_cost[rows] += buy * unit_cost

    def _take(self, rows: np.ndarray | int, units: np.ndarray | float) -> None:
        """Take ``units`` out of the stock of ``rows``, and their moving average cost out of its book value."""
        held = self.stock[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(held > 0, np.minimum(units / held, 1.0), 0.0)
        self.stock_cost[rows] -= share * self.stock_cost[rows]
        self.stock[rows] = np.maximum(held - units, 0.0)

    def carbon_price(self) -> float:
        """yuan/tCO2e a bank values allowances at: the last clearing price, else the expected price."""
        market = self.model.carbon_market
        return float(market.last_price) if np.isfinite(market.last_price) else float(market.expected_price)

    def unit_price(self, kind: int, row: int) -> float:
        """Market value of one unit of collateral of ``kind`` pledged by firm ``row`` (yuan)."""
        if kind == ALLOWANCE:
            return self.carbon_price()
        s = self.model.firms.sector[row]
        return float(self.model.sector_price[s] * self.price_index[s])

    def haircut(self, kind: int) -> float:
        return self.spec.allowance_haircut if kind == ALLOWANCE else self.spec.receipt_haircut

    def pledged(self, kind: int, row: int) -> float:
        """Units of ``kind`` firm ``row`` has pledged to live loans."""
        loans = self.model.credit.loans
        live = loans.live
        mine = live[(loans.borrower[live] == row) & (loans.collateral[live] == kind)]
        return float(loans.collateral_units[mine].sum())

    def free_units(self, kind: int, row: int) -> float:
        """Units of ``kind`` firm ``row`` could still pledge: unpledged stock, or the allowances it
        holds beyond what it expects to surrender this year, max(held - max(need, 0), 0). A negative
        need (an output-based true-up expected to add more than the year's emissions) frees nothing
        beyond the holding: allowances still to be allocated cannot be pledged."""
        self._grow()
        if kind == RECEIPT:
            return max(float(self.stock[row]) - self.pledged(RECEIPT, row), 0.0)
        model, market, ets = self.model, self.model.carbon_market, self.model.policy("cap_and_trade")
        if ets is None or row >= len(market.account) or market.account[row] < 0:
            return 0.0
        months_left = 13 - ((model.steps - 1) % 12 + 1)
        need = float(market.year_need(ets, np.array([row]), months_left)[0])
        return max(_floor_units(float(model.allowances.balance(int(market.account[row]))) - max(need, 0.0)), 0.0)

    def lending_value(self, kind: int, row: int) -> float:
        """Most a bank lends firm ``row`` against its free collateral of ``kind``:
        units x price x (1 - haircut) / initial_cover."""
        return self.free_units(kind, row) * self.unit_price(kind, row) * (1.0 - self.haircut(kind)) \
            / self.spec.initial_cover

    def normal_margin(self, row: int) -> float:
        """The firm's operating margin at normal output (capacity x size x base_utilisation),
        yuan/month: what a bank lending to a weak firm through a bad spell judges it on."""
        model, firms = self.model, self.model.firms
        normal = model.sector_capacity[firms.sector[row]] * firms.size[row] * model.scenario.economy.base_utilisation
        return float(model.credit.margin(np.array([row]), np.array([normal]))[0])

    def kinds(self, row: int) -> list[int]:
        """Collateral kinds firm ``row`` may pledge under the scenario, in the order it tries them."""
        kinds = []
        if self._holds_receipts(np.array([row]))[0]:
            kinds.append(RECEIPT)
        if self._allowances_pledgeable():
            kinds.append(ALLOWANCE)
        return kinds

    def _holds_receipts(self, rows: np.ndarray) -> np.ndarray:
        """Whether firms ``rows`` may pledge warehouse receipts: they are on, and the firm's sector holds stock."""
        return self.spec.warehouse_receipts & (self.stock_months[self.model.firms.sector[rows]] > 0)

    def _allowances_pledgeable(self) -> bool:
        """Whether allowances may be pledged now: carbon pledges on, cap and trade in force with banking."""
        ets = self.model.policy("cap_and_trade")
        return bool(self.spec.carbon_pledge and ets is not None and ets.params.banking)

    def may_lend(self, rows: np.ndarray) -> np.ndarray:
        """Whether :meth:`apply` may lend to firms ``rows`` at all now (otherwise it lends nothing):
        risk-priced lending is on, or the firm has a collateral kind (:meth:`kinds`)."""
        if self.spec.risk_priced_lending or self._allowances_pledgeable():
            return np.ones(len(rows), dtype=bool)
        return self._holds_receipts(rows)

    # -- applications ---------------------------------------------------------------------
    def secured_offer(self, row: int, amount: float) -> Offer | None:
        """The cheapest bank's offer of a secured loan (rate funding + margin_b + secured premium),
        or None if every bank is at its exposure or capital limit."""
        model, credit = self.model, self.model.credit
        tenor = credit.spec.working_capital_tenor_months
        best: Offer | None = None
        for bank in range(len(model.banks)):
            rate = credit.spec.funding_rate + (model.banks[bank].spec.margin_bp + self.spec.secured_premium_bp) / 1e4
            if credit.bank_limit(bank, row, amount) is None and (best is None or rate < best.rate):
                best = Offer(bank, amount, rate, tenor, amount * float(annuity_factor(rate, tenor)))
        return best

    def apply(self, row: int, need: float) -> float:
        """Firm ``row``, refused a standard working-capital loan, borrows up to ``need`` yuan against
        its collateral, then risk-priced (module docstring); returns the yuan lent."""
        credit, loans = self.model.credit, self.model.credit.loans
        lent = 0.0
        for kind in self.kinds(row):
            amount = min(need - lent, self.lending_value(kind, row))
            if amount < 1.0:
                continue
            offer = self.secured_offer(row, amount)
            if offer is None:
                continue
            loan = credit.lend(row, offer, "working_capital")
            per_unit = self.unit_price(kind, row) * (1.0 - self.haircut(kind))
            units = min(_ceil_units(offer.amount * self.spec.initial_cover / per_unit), self.free_units(kind, row))
            loans.collateral[loan] = kind
            self.pledge(loan, units)
            lent += offer.amount
        if self.spec.risk_priced_lending and need - lent >= 1.0:
            offer = credit.offer(row, need - lent, "working_capital", min_dscr=self.spec.weak_min_dscr,
                                 premium_bp=self.spec.weak_premium_bp, margin=self.normal_margin(row))
            if offer is not None:
                loan = credit.lend(row, offer, "working_capital")  # may grow the book's arrays
                loans.risk_priced[loan] = True
                lent += offer.amount
        return lent

    def pledge(self, loan: int, units: float) -> None:
        """Add ``units`` of the loan's collateral kind to its pledge (allowances go to the escrow)."""
        model, loans = self.model, self.model.credit.loans
        if loans.collateral[loan] == ALLOWANCE:
            model.allowances.step = model.steps
            account = int(model.carbon_market.account[loans.borrower[loan]])
            model.allowances.transfer("pledge", account, self.escrow, units)
        loans.collateral_units[loan] += units

    def release(self, loan: int, units: float) -> None:
        """Take ``units`` off the loan's pledge and give them back to the borrower."""
        model, loans = self.model, self.model.credit.loans
        if loans.collateral[loan] == ALLOWANCE and units > 0:
            model.allowances.step = model.steps
            account = int(model.carbon_market.account[loans.borrower[loan]])
            model.allowances.transfer("pledge_release", self.escrow, account, units)
        loans.collateral_units[loan] -= units

    # -- phase 6 --------------------------------------------------------------------------
    def step(self) -> None:
        """Phase 6, after servicing: this month's stock prices, stocks bought and sold, margin calls,
        release of the pledges of loans repaid."""
        self.calls = 0
        self.revalue()
        self.restock()
        self.margin_calls()
        loans = self.model.credit.loans
        done = np.flatnonzero((loans.status[: loans.n] == STATUSES.index("repaid"))
                              & (loans.collateral_units[: loans.n] > 0))
        for loan in done:
            self.release(int(loan), float(loans.collateral_units[loan]))

    def revalue(self) -> None:
        """This month's commodity price index of every sector (module docstring)."""
        spec = self.spec
        shock = self.model.draws("commodity").standard_normal(len(self._log_index))
        self._log_index = spec.commodity_price_persistence * self._log_index + spec.commodity_price_sd * shock
        self.price_index = np.exp(self._log_index) * (1.0 - spec.slump_price_fall if in_slump(self.model) else 1.0)

    def cover(self, loans_rows: np.ndarray) -> np.ndarray:
        """Cover of secured loans at this month's prices: units x price x (1 - haircut), yuan."""
        model, loans, spec = self.model, self.model.credit.loans, self.spec
        allowance = loans.collateral[loans_rows] == ALLOWANCE
        s = model.firms.sector[loans.borrower[loans_rows]]
        price = np.where(allowance, self.carbon_price(), model.sector_price[s] * self.price_index[s])
        haircut = np.where(allowance, spec.allowance_haircut, spec.receipt_haircut)
        return loans.collateral_units[loans_rows] * price * (1.0 - haircut)

    def margin_calls(self) -> None:
        """Call every secured loan whose outstanding exceeds its cover; top-up, forced repayment
        or sale of the collateral (module docstring)."""
        model, loans = self.model, self.model.credit.loans
        live = loans.live
        secured = live[loans.collateral_units[live] > 0]
        if not len(secured):
            return
        shortfall = loans.outstanding_fen[secured] / 100 - self.cover(secured)
        called = secured[shortfall > 0.005]
        self.calls += len(called)
        self.calls_total += len(called)
        for loan, short in zip(called, shortfall[shortfall > 0.005], strict=True):
            loan, row, kind = int(loan), int(loans.borrower[loan]), int(loans.collateral[loan])
            per_unit = self.unit_price(kind, row) * (1.0 - self.haircut(kind))
            add = min(_ceil_units(short / per_unit), self.free_units(kind, row)) if per_unit > 0 else 0.0
            if add > 0:
                self.pledge(loan, add)
                short -= add * per_unit
                if short <= 0.005:
                    self.top_ups += 1
                    continue
            if float(model.firm_cash(np.array([row]))[0]) >= short:
                self.repay(loan, short)
                self.forced_repayments += 1
            else:
                self.sell_collateral(loan)
                self.collateral_sales += 1

    def repay(self, loan: int, amount: float) -> None:
        """The borrower repays ``amount`` yuan of principal now (a forced repayment)."""
        model, loans = self.model, self.model.credit.loans
        fen = min(round(amount * 100), int(loans.outstanding_fen[loan]))
        bank = model.banks[loans.bank[loan]].account
        model.ledger.transfer("loan_repayment", model.firms.account[loans.borrower[loan]], bank, fen / 100)
        loans.principal_paid[loan] += fen / 100
        self._reduce(loan, fen, bank)

    def sell_collateral(self, loan: int) -> None:
        """The bank sells enough of the pledge to cover the outstanding (at most all of it) to
        buyers outside the park; the proceeds repay principal; the rest of the pledge is released."""
        model, loans = self.model, self.model.credit.loans
        row, kind = int(loans.borrower[loan]), int(loans.collateral[loan])
        price = self.unit_price(kind, row)
        units = float(loans.collateral_units[loan])
        if price <= 0:  # nothing to sell it for: the pledge goes back to the borrower
            self.release(loan, units)
            return
        out_fen = int(loans.outstanding_fen[loan])
        sold = min(units, _ceil_units(out_fen / 100 / price))
        fen = min(round(sold * price * 100), out_fen)
        bank = model.banks[loans.bank[loan]].account
        model.ledger.transfer("collateral_sale", model.outside, bank, fen / 100)
        if kind == ALLOWANCE:
            model.allowances.step = model.steps
            model.allowances.transfer("collateral_sale", self.escrow, model.carbon_market.external, sold)
        else:
            self._take(row, sold)
        loans.collateral_units[loan] -= sold
        loans.recovered[loan] += fen / 100
        self.release(loan, float(loans.collateral_units[loan]))
        self._reduce(loan, fen, bank)

    def _reduce(self, loan: int, fen: int, bank: int) -> None:
        """Principal of ``fen`` repaid (by the firm or from collateral): the bank repays its
        funders, the loan is repaid or its annuity recomputed."""
        model, credit, loans = self.model, self.model.credit, self.model.credit.loans
        refund = min(fen, int(loans.funded_fen[loan]))
        model.ledger.transfer("bank_funding_repayment", bank, model.outside, refund / 100)
        loans.funded_fen[loan] -= refund
        with loans.editing():
            loans.outstanding_fen[loan] -= fen
            if loans.outstanding_fen[loan] == 0:
                loans.status[loan] = STATUSES.index("repaid")
                loans.ended[loan] = model.steps
            else:
                credit._reschedule(np.array([loan]))

    def firms_exited(self, rows: np.ndarray) -> None:
        """Exit listener (runs before the write-off): banks sell the pledges of leaving firms, then the
        firms sell the rest of their stock at this month's price (``stock_sale``) before liquidation."""
        model, loans = self.model, self.model.credit.loans
        live = loans.live
        pledged = live[np.isin(loans.borrower[live], rows) & (loans.collateral_units[live] > 0)]
        for loan in pledged:
            self.sell_collateral(int(loan))
            self.collateral_sales += 1
        self._grow()
        rows = rows[self.stock[rows] > 0]
        if len(rows):
            s = model.firms.sector[rows]
            model.ledger.transfer("stock_sale", model.outside, model.firms.account[rows],
                                  self.stock[rows] * model.sector_price[s] * self.price_index[s])
            self._take(rows, self.stock[rows].copy())

    def stock_value(self, rows: np.ndarray) -> np.ndarray:
        """Book value (yuan, at cost) of the warehouse stock of firm ``rows``."""
        self._grow()
        return self.stock_cost[rows]

    # -- reporting ------------------------------------------------------------------------
    def outstanding(self, kind: int | None = None) -> float:
        """Outstanding (yuan) of live loans with collateral pledged, of ``kind`` (None: any)."""
        loans = self.model.credit.loans
        live = loans.live
        live = live[loans.collateral_units[live] > 0]
        if kind is not None:
            live = live[loans.collateral[live] == kind]
        return float(loans.outstanding_fen[live].sum() / 100)

    def allowances_pledged(self) -> float:
        """tCO2e in the pledge escrow."""
        return float(self.model.allowances.balance(self.escrow))
