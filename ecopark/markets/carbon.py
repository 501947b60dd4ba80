"""The carbon market: allowances, call-auction sessions, compliance, carbon tax, carbon pool.

Allowances live in their own double-entry ledger (``model.allowances``, tCO2e): the
registry issues them (free allocation, auction volume, offset credits), firms, government
and the pool hold them, and surrender or expiry retires them, so
issued = surrendered + expired + held at all times (the ledger's total is zero).

Each session (every ``session_months``) a uniform-price call auction clears the step bid
and ask curves of covered firms (truthful MAC bidding), the government's auction volume,
the carbon pool's offset credits and, if linked, an external market
(:func:`clear_uniform_price`). Each firm's orders come from its expected year-end
position and its MAC curve:

    need_f = emitted so far + this month's emissions x months left - allowances held
             (- the expected output-based true-up, ``markets/allocation.py``)

with its not-yet-installed technologies sorted by MAC: it bids for c_m = min(a_m, need left)
at the price at which buying c_m and installing the whole step cost the same (MAC_m for a
step it needs whole, more for one it needs in part: ``markets/lumpy_steps.py``), offers the
abatement beyond its need at MAC_m, bids any residual need at the penalty, and offers a
surplus at its reservation price (the expected price with banking, else 0). After the
session a firm installs a step when its whole cost is at most what it saves: the part it
committed (bid for and did not get, or offered and sold) at the price it would otherwise
pay, plus the surplus at its reservation price (:meth:`CarbonMarket.commit_abatement`).

A firm whose cash does not pay for its year's position at the expected price takes it in
equal parts over the sessions left before surrender (1/K of every order) and installs a
step it needs when its break-even is at most the expected price; with banking, firms keep
what they expect to lack in later years and bid to bank it at the expected price.

The expected price E is the start of the no-arbitrage path (``markets/expectations.py``),
formed every month from the cap path, the allowances in circulation, the abatement on offer
and the cost of carry; linked to an external market, that market's price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.ledger import ALLOWANCE_KINDS, Ledger
from ecopark.markets import allocation, block_trade, emissions, expectations, lumpy_steps, price_series
from ecopark.markets.call_auction import clear_uniform_price
from ecopark.policies.cap_and_trade import cap_share

if TYPE_CHECKING:
    from ecopark.model import ParkModel


def is_session(p, month: int) -> bool:
    """A call-auction session is held in ``month`` (1-12) of the compliance year: months 1,
    1 + session_months, ..., and with ``true_up_session`` month 12 and the surrender month."""
    return (month - 1) % p.session_months == 0 or (p.true_up_session and month in (12, p.surrender_month))


def sessions_left(p, month: int) -> int:
    """Sessions from ``month`` (included) to the last before this year's surrender: at the year end, or
    with ``surrender_month`` L > 0 in month L of the next year (at least 1)."""
    return max(sum(is_session(p, m) for m in range(month, 13)) + sum(is_session(p, m) for m in
                                                                     range(1, p.surrender_month + 1)), 1)


class CarbonMarket:
    """Runs the emission trading system, the carbon tax and the operator's carbon pool."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        self.allowances = Ledger(ALLOWANCE_KINDS, unit="tCO2e", resolution=0.001)
        al = self.allowances
        self.registry = al.open_account("registry", "government")
        self.retired = al.open_account("retired", "government")
        self.government = al.open_account("government", "government")
        self.pool = al.open_account("carbon_pool", "operator")
        self.exchange = al.open_account("exchange", "outside")
        self.external = al.open_account("external_market", "outside")
        self.money_exchange = model.ledger.open_account("carbon_exchange", "outside")
        self.account = np.zeros(0, dtype=np.int64)  # allowance account per firm row (-1: none)
        self.year_emissions = np.zeros(0)  # tCO2e emitted this compliance year, per firm row
        self.offsets_held = np.zeros(0)  # local offset credits bought this year, per firm row
        self.contribution = np.zeros(0)  # unsold verified reductions in the pool, per firm row
        self.pool_fill = 1.0  # expected share of the pool's offer that sells in a session (adaptive)
        self.free_allocation = np.zeros(0)  # tCO2e allocated free this compliance year, per firm row
        self.output_year = np.zeros(0)  # output this compliance year, per firm row (output-based true-up)
        self.last_year_emissions = np.zeros(0)  # tCO2e emitted last compliance year (grandfathering)
        self.last_year_output = np.zeros(0)  # verified output of the last compliance year (output-based)
        self.owed = np.zeros(0)  # tCO2e verified for the last year and not yet surrendered, per firm row
        self.quota_missing = np.zeros(0)  # local offset credits the last year's quota lacked, per firm row
        self.allocated = np.zeros(0, dtype=bool)  # received its free allocation this year, per firm row
        self.reserve = self.allowances.open_account("entrant_reserve", "government")
        self.benchmark_rate = 0.0  # free allowances per tonne of BAU at normal output this year
        self.free_total = 0.0  # tCO2e of free allocation to incumbents this year (before any true-up)
        self._sector_masks: dict[str, np.ndarray] = {}
        self._outlook: tuple = ()  # (shortfalls, horizons, MAC, a) of the last expectation, markets/expectations.py
        self.expected_price = 0.0
        self.last_price = np.nan
        self.session_prices: list[tuple[int, float]] = []
        self.block_trades: list[tuple[int, int, int, float, float]] = []  # (step, buyer, seller, tCO2e, yuan/t)
        self.cap = 0.0  # this year's cap, tCO2e
        self.auction_left = 0.0
        self.offsets_cap = 0.0
        self.offsets_sold = 0.0
        ets = model.government.policies.get("cap_and_trade")
        if ets is not None:
            self.expected_price = ets.params.initial_price
        model.allowances = self.allowances
        model.exit_listeners.append(self.firms_exited)

    # -- who is covered ------------------------------------------------------------------------
    def _grow(self) -> None:
        extra = self.model.firms.n - self.account.shape[0]
        if extra > 0:
            self.account = np.r_[self.account, np.full(extra, -1, dtype=np.int64)]
            self.year_emissions = np.r_[self.year_emissions, np.zeros(extra)]
            self.offsets_held = np.r_[self.offsets_held, np.zeros(extra)]
            self.contribution = np.r_[self.contribution, np.zeros(extra)]
            self.free_allocation = np.r_[self.free_allocation, np.zeros(extra)]
            self.output_year = np.r_[self.output_year, np.zeros(extra)]
            self.last_year_emissions = np.r_[self.last_year_emissions, np.zeros(extra)]
            self.last_year_output = np.r_[self.last_year_output, np.zeros(extra)]
            self.owed = np.r_[self.owed, np.zeros(extra)]
            self.quota_missing = np.r_[self.quota_missing, np.zeros(extra)]
            self.allocated = np.r_[self.allocated, np.zeros(extra, dtype=bool)]

    def covered(self, rows: np.ndarray, policy_name: str) -> np.ndarray:
        """Mask of ``rows`` in the sectors an active policy covers."""
        policy = self.model.policy(policy_name)
        if policy is None:
            return np.zeros(len(rows), dtype=bool)
        return self._sector_mask(policy_name)[self.model.firms.sector[rows]]

    def _sector_mask(self, policy_name: str) -> np.ndarray:
        """Bool per catalogue sector: covered by the policy (its sectors are fixed for the run)."""
        mask = self._sector_masks.get(policy_name)
        if mask is None:
            keys = self.model.catalogue.sector_keys
            covered = self.model.government.policies[policy_name].params.covered_sectors
            mask = self._sector_masks[policy_name] = np.isin(np.arange(len(keys)),
                                                             [keys.index(k) for k in covered])
        return mask

    def _accounts(self, rows: np.ndarray) -> np.ndarray:
        """Allowance accounts of firm rows, opened on first use."""
        self._grow()
        new = rows[self.account[rows] < 0]
        if len(new):
            self.account[new] = self.allowances.open_accounts([f"firm:{r}" for r in new], "enterprise")
        return self.account[rows]

    def value_per_tonne(self, rows: np.ndarray, through_auction: bool = False) -> np.ndarray:
        """What a tonne of CO2 avoided or abated is worth to each firm, where it can be realised (yuan/tCO2e).

        Covered by the tax: the tax rate. Under the cap: the expected allowance price (a
        tonne less to surrender or one more to sell). Outside the cap, with the carbon pool
        and a cap in force: the expected pool payout per credit,
        E[price] x (1 - commission) x E[sold] / credits, with E[sold] / credits = min(1,
        offset room left this year / credits in the pool) (:meth:`pool_sale_share`). Anyone
        else: 0, since nobody pays them for it. This is the one carbon value links
        (``markets/byproduct.py``) and abatement decisions use.

        ``through_auction``: firms under the cap decide their abatement through their bids in
        the call auction (their MAC steps), so for the monthly abatement decision their cap
        value is left out (0 plus any tax).
        """
        model = self.model
        value = self.cost_per_tonne(rows, cap=not through_auction)
        if model.policy("cap_and_trade") and model.scenario.operator.carbon_pool:
            value[~self.covered(rows, "cap_and_trade")] += (
                self.expected_price * (1.0 - model.scenario.operator.pool_commission) * self.pool_sale_share())
        return value

    def cost_per_tonne(self, rows: np.ndarray, cap: bool = True) -> np.ndarray:
        """Carbon price each firm pays on a tonne it emits (yuan/tCO2e): the tax rate if taxed,
        plus (with ``cap``) the expected allowance price if under the cap, else 0."""
        model = self.model
        cost = np.zeros(len(rows))
        tax = model.policy("carbon_tax")
        if tax:
            cost[self.covered(rows, "carbon_tax")] += tax.params.rate
        if cap and model.policy("cap_and_trade"):
            cost[self.covered(rows, "cap_and_trade")] += self.expected_price
        return cost

    def allocation_per_unit(self, rows: np.ndarray) -> np.ndarray:
        """Allowances a firm earns per unit of output it produces (tCO2e/output unit): under
        ``output_based`` allocation beta x intensity_s for a covered firm (the true-up of
        ``markets/allocation.py``), else 0. beta is the year's benchmark rate; before the year's
        opening (phase 7 of its first month) the rate the opening will set, free_share x (1 -
        new_entrant_reserve) x cap / covered BAU (= the year's cap share, ``cap_share``)."""
        ets = self.model.policy("cap_and_trade")
        if ets is None or ets.params.allocation != "output_based":
            return np.zeros(len(rows))
        p = ets.params
        year = (self.model.steps - p.start) // 12
        rate = self.benchmark_rate if self.cap > 0 else (
            p.free_share * (1.0 - p.new_entrant_reserve) * cap_share(p, year))
        intensity = self.model.sector_intensity[self.model.firms.sector[rows]]
        return np.where(self.covered(rows, "cap_and_trade"), rate * intensity, 0.0)

    def pool_sale_share(self) -> float:
        """Expected share of the pool's credits that sell: min(1, offset room left / credits held)
        x the expected share of what the pool offers that sells (``pool_fill``, adaptive like the
        price: after each session with a pool offer, F <- F + w (sold / offered - F))."""
        room = max(self.offsets_cap - self.offsets_sold, 0.0)
        stock = float(self.allowances.balance(self.pool))
        return (1.0 if stock <= room else room / stock) * self.pool_fill

    def _learn_pool_fill(self, offered: float, sold: float, weight: float) -> None:
        """Update the expected share of the pool's offer that sells after a session."""
        if offered > 0:
            self.pool_fill += weight * (sold / offered - self.pool_fill)

    def monthly_liability(self, rows: np.ndarray) -> np.ndarray:
        """Carbon cost of firms this month as a lender judges it (yuan/month): the carbon tax on
        this month's emissions, plus under the cap the expected price x (emissions - free
        allocation / 12), at least 0."""
        model, firms = self.model, self.model.firms
        cost = np.zeros(len(rows))
        tax, ets = model.policy("carbon_tax"), model.policy("cap_and_trade")
        if not (tax or ets):
            return cost
        self._grow()
        if len(rows) == 1:  # one firm (a lender judging one loan): the same operations on Python floats
            return np.array([self._liability_one(rows[0], tax, ets)])
        sector, emitted = firms.sector[rows], firms.emissions[rows]  # covered(): the sector masks, looked up once
        if tax:
            cost += np.where(self._sector_mask("carbon_tax")[sector], tax.params.rate * emitted, 0.0)
        if ets:
            short = np.maximum(emitted - self.free_allocation[rows] / 12, 0.0)
            cost += np.where(self._sector_mask("cap_and_trade")[sector], self.expected_price * short, 0.0)
        return cost

    def _liability_one(self, row, tax, ets) -> float:
        """:meth:`monthly_liability` of the one firm ``row`` (yuan/month), element by element the operations of
        the array path in the same order: 0 + the tax term, + E x max(emissions - free / 12, 0) where covered
        (a negative part is 0 as ``np.maximum`` makes it, NaN stays NaN; the sign of a zero term is lost in the
        sum, as there)."""
        firms = self.model.firms
        sector, emitted = firms.sector[row], float(firms.emissions[row])
        cost = 0.0
        if tax:
            cost += tax.params.rate * emitted if self._sector_mask("carbon_tax")[sector] else 0.0
        if ets:
            short = emitted - float(self.free_allocation[row]) / 12
            cost += self.expected_price * (0.0 if short < 0.0 else short) if self._sector_mask("cap_and_trade")[
                sector] else 0.0
        return cost

    # -- the monthly phase ---------------------------------------------------------------------
    def step(self) -> None:
        """Phase 7: year opening, carbon tax, pool credits, sessions, year-end compliance."""
        model = self.model
        self._grow()
        month = (model.steps - 1) % 12 + 1
        ets = model.policy("cap_and_trade")
        rows = model.firms.live
        if ets and (month == 1 or self.cap == 0.0):
            self.open_year(ets)
        self.charge_tax(rows)
        if ets:
            covered = rows[self.covered(rows, "cap_and_trade")]
            self.allocate_entrants(ets, covered[~self.allocated[covered]], months_left=13 - month)
            self.collect_pool_credits(rows[~self.covered(rows, "cap_and_trade")])
            self.expected_price = self.no_arbitrage_expectation(ets, covered, months_ahead=13 - month)
            true_up = ets.params.true_up_session and month == 12
            if true_up:
                self.release_reserve()
            if is_session(ets.params, month):
                self.session(ets, months_ahead=13 - month)
            self.year_emissions[covered] += model.firms.emissions[covered]
            self.output_year[covered] += model.firms.output[covered]
            if month == 12:
                self.verify(ets)
            if month == (ets.params.surrender_month or 12):
                self.surrender(ets)
        tax = model.policy("carbon_tax")
        model.expected_carbon_price = self.expected_price if ets else (tax.params.rate if tax else 0.0)

    def open_year(self, ets) -> None:
        """Set the year's cap, allocate free allowances, fill the new-entrant reserve, issue the auction volume.

        cap = cap_start (1 - cap_decline)^y (or cap_path[y], ``cap_share``) x 12 x sum of covered firms' BAU
        at normal output;
        the reserve is new_entrant_reserve x cap, incumbents get free_share x (1 -
        new_entrant_reserve) x cap by the allocation method (``markets/allocation.py``) and
        government receives the rest to auction over the year's sessions.
        """
        model, p = self.model, ets.params
        rows = model.firms.live
        rows = rows[self.covered(rows, "cap_and_trade")]
        bau = model.abatement.normal_bau(rows) * 12
        year = (model.steps - p.start) // 12
        self.cap = cap_share(p, year) * bau.sum()
        accounts = self._accounts(rows)
        self.allowances.step = model.steps
        reserve = p.new_entrant_reserve * self.cap
        free_total = p.free_share * (1.0 - p.new_entrant_reserve) * self.cap
        self.benchmark_rate = allocation.benchmark_rate(free_total, bau)
        self.free_total = free_total
        if p.allocation == "output_based":
            free = allocation.provisional_allocation(self.benchmark_rate, p.provisional_share,
                                                     model.sector_intensity[model.firms.sector[rows]],
                                                     self.last_year_output[rows], bau)
        else:
            free = allocation.incumbent_allocation(p.allocation, free_total, bau, self.last_year_emissions[rows])
        self.allowances.transfer("free_allocation", self.registry, accounts, free)
        self.free_allocation[:] = 0.0
        self.free_allocation[rows] = free
        self.allocated[:] = False
        self.allocated[rows] = True
        self.allowances.transfer("reserve_issue", self.registry, self.reserve, reserve)
        self.auction_left = self.cap - free_total - reserve
        self.allowances.transfer("auction_issue", self.registry, self.government, self.auction_left)
        self.year_emissions[:] = 0.0
        self.output_year[:] = 0.0
        self.offsets_held[:] = 0.0
        self.offsets_cap = p.offset_limit * self.cap
        self.offsets_sold = 0.0

    def allocate_entrants(self, ets, rows: np.ndarray, months_left: int) -> None:
        """Covered firms that entered this year get a benchmark allocation for the months left
        (``markets/allocation.py``): from the new-entrant reserve while it lasts, the rest
        issued by the registry (the cap grows by it), so every entrant gets its allocation."""
        if not len(rows):
            return
        model = self.model
        self.allowances.step = model.steps
        free = allocation.entrant_allocation(self.benchmark_rate, model.abatement.normal_bau(rows) * 12, months_left)
        left = max(float(self.allowances.balance(self.reserve)), 0.0)
        from_reserve = min(1.0, left / free.sum()) if free.sum() > 0 else 1.0
        accounts = self._accounts(rows)
        self.allowances.transfer("entrant_allocation", self.reserve, accounts, free * from_reserve)
        self.allowances.transfer("entrant_allocation", self.registry, accounts, free * (1.0 - from_reserve))
        self.free_allocation[rows] = free
        self.allocated[rows] = True

    def government_for_sale(self) -> float:
        """Allowances government still offers this compliance year (tCO2e): min(auction volume
        left, government's balance). The rest of its balance (allowances taken back from leaving
        firms, model.settle_allowances) is held until it expires at the year end."""
        return min(self.auction_left, max(float(self.allowances.balance(self.government)), 0.0))

    def release_reserve(self) -> None:
        """At the year's last session, government offers what is left of the new-entrant reserve."""
        self.allowances.step = self.model.steps
        left = max(float(self.allowances.balance(self.reserve)), 0.0)
        self.allowances.transfer("reserve_release", self.reserve, self.government, left)
        self.auction_left += left

    def charge_tax(self, rows: np.ndarray) -> None:
        """Carbon tax: covered firms pay rate x this month's emissions to government."""
        tax = self.model.policy("carbon_tax")
        if tax is None:
            return
        model = self.model
        taxed = rows[self.covered(rows, "carbon_tax")]
        model.ledger.transfer("carbon_tax", model.firms.account[taxed], model.government.account,
                              tax.params.rate * model.firms.emissions[taxed])

    def collect_pool_credits(self, rows: np.ndarray) -> None:
        """Verified reductions of firms outside the cap (links and abatement) enter the pool."""
        spec = self.model.scenario.operator
        if not spec.carbon_pool:
            return
        firms = self.model.firms
        credits = firms.link_avoided[rows] + firms.abated[rows]
        self.allowances.step = self.model.steps
        self.allowances.transfer("offset_issue", self.registry, self.pool, credits.sum())
        self.contribution[rows] += credits

    def year_need(self, ets, rows: np.ndarray, months_ahead: int) -> np.ndarray:
        """Allowances (tCO2e) each firm expects to surrender for this compliance year: what it still
        owes for the last year (``surrender_month``), its
        emissions so far + this month's emissions x ``months_ahead``, plus under ``output_based``
        allocation what the year-end true-up on its projected output (output so far + this
        month's output x months_ahead) takes back, minus what it adds. Carbon orders and
        pledgeable allowances (``markets/secured_lending.py``) both use it."""
        firms = self.model.firms
        self._grow()
        need = self.owed[rows] + self.year_emissions[rows] + firms.emissions[rows] * months_ahead
        if ets.params.allocation == "output_based":  # the year-end true-up it expects on its projected output
            need = need - allocation.output_true_up(
                self.benchmark_rate, self.model.sector_intensity[firms.sector[rows]],
                self.output_year[rows] + firms.output[rows] * months_ahead, self.free_allocation[rows])
        return need

    def no_arbitrage_expectation(self, ets, rows: np.ndarray, months_ahead: int) -> float:
        """The price covered firms expect now (yuan/tCO2e), ``markets/expectations.py``: the start P0 of
        the path rising at ``carry_rate`` that calls forth the abatement on offer (every covered firm's
        steps not yet installed) covering the shortfall (1) to each year end of ``expectation_years``
        (no borrowing, (3)), from the
        emissions of the year so far, this month's emissions ``rows`` (covered, live), the allowances
        in circulation (firms, government, entrant reserve, the pool's usable offsets) and the
        announced caps of the next years by the cap rule on today's covered firms, this year's share
        (``cap_share``) x (1 - cap_decline)^k x 12 x their BAU at normal output (a firm that leaves
        takes its share of the later caps with it, as the rule sets them at each year's opening).
        Government's stock counts only as far as it is still to be auctioned (:meth:`government_for_sale`):
        what it took back from leaving firms it holds until the year end, so it never reaches the market.
        Linked to an external market (which trades any quantity at its price), the expected price is that
        market's price now."""
        p, al = ets.params, self.allowances
        if not len(rows):
            return p.reserve_price
        years = p.expectation_years
        accounts = self._accounts(rows)
        # under output-based allocation the true-up still to come issues the rest of the year's free allocation
        to_true_up = (max(self.free_total - float(self.free_allocation.sum()), 0.0)
                      if p.allocation == "output_based" else 0.0)
        bank = (to_true_up + float(al.balance(accounts).sum()) + self.government_for_sale()
                + max(float(al.balance(self.reserve)), 0.0)
                + min(float(al.balance(self.pool)), max(self.offsets_cap - self.offsets_sold, 0.0)))
        later = np.arange(years)  # compliance years after this one, to each deadline h = 1..H
        ab = self.model.abatement
        # the announced rule sets each later year's cap on the covered firms' BAU at its opening: firms
        # expect it on today's covered firms, this year's share x (1 - cap_decline)^k x 12 x their BAU
        year = (self.model.steps - p.start) // 12
        rule = (cap_share(p, year) * (1.0 - p.cap_decline) ** later * 12.0 * float(ab.normal_bau(rows).sum()))
        future_caps = np.cumsum(rule * (later > 0))
        emitted = float(self.year_emissions[rows].sum() + self.owed[rows].sum())
        normal = ab.normal_bau(rows) * (1.0 - ab.installed_share(rows)) * emissions.net_share(self.model, rows)
        to_come = float(normal.sum()) * (months_ahead + 12 * later)
        mac, tech, a = ab.steps(rows)
        self._outlook = (emitted + to_come - bank - future_caps, months_ahead / 12 + later, mac, tech, a)
        if p.external_price is not None or p.external_series is not None:
            return self.external_price_now(p)  # a linked market of unlimited depth sets the price
        return expectations.no_borrowing_price(*self._outlook[:2], mac.ravel(), a.ravel(), p.carry_rate,
                                               p.reserve_price, p.penalty)

    def prices_after_installing(self, ets, firms: np.ndarray, techs: np.ndarray) -> np.ndarray:
        """The price expected once firm index ``firms[j]`` (of the covered rows the expectation was last
        formed on) installs technology ``techs[j]``, for each j (yuan/tCO2e): (3) with the step taken off
        the abatement on offer and its abatement, 12 a T_h to each deadline h, off the shortfall. What a
        firm expects for the surplus a whole step leaves it (a banked surplus lowers the price). All the
        problems are solved side by side (``expectations.no_borrowing_prices``)."""
        p = ets.params
        firms, techs = np.asarray(firms, dtype=np.int64), np.asarray(techs, dtype=np.int64)
        if not len(firms):  # no step asked about (a park with no covered firm has no outlook either)
            return np.empty(0)
        if p.external_price is not None or p.external_series is not None:
            return np.full(len(firms), float(self.external_price_now(p)))
        shortfall, horizons, mac, order, a = self._outlook
        n_techs = a.shape[1]
        # the steps on offer at all (finite MAC below the penalty, a > 0), in their order: the only ones a problem
        # keeps, as each problem's abatement is a with one step set to 0 (no_borrowing_prices keeps the same steps)
        flat_mac, flat_a = mac.ravel(), a.ravel()
        cols = np.flatnonzero(np.isfinite(flat_mac) & (flat_a > 0) & (flat_mac < p.penalty))
        offered = flat_a[cols]
        out = np.empty(len(firms))
        chunk = max(1, expectations.BATCH_CELLS // max(a.size, 1))
        for lo in range(0, len(firms), chunk):
            f, t = firms[lo:lo + chunk], techs[lo:lo + chunk]
            taken = order[f] == t[:, None]  # the step's place in each firm's row (P, technologies)
            row = a[f]
            step = row.sum(axis=1) - np.where(taken, 0.0, row).sum(axis=1)
            left = np.repeat(offered.reshape(1, -1), len(f), axis=0)
            j, c = np.nonzero(taken)
            key = f[j] * n_techs + c
            at = np.searchsorted(cols, key)
            on = at < len(cols)
            on[on] = cols[at[on]] == key[on]
            left[j[on], at[on]] = 0.0  # the step taken off, where it was on offer
            out[lo:lo + chunk] = expectations.no_borrowing_prices(
                shortfall[None, :] - 12.0 * step[:, None] * horizons[None, :], horizons, flat_mac[cols], left,
                p.carry_rate, p.reserve_price, p.penalty)
        return out

    def orders(self, ets, rows: np.ndarray, months_ahead: int):
        """Each covered firm's bid and ask steps (see the module docstring)."""
        model, p = self.model, ets.params
        accounts = self._accounts(rows)
        held = self.allowances.balance(accounts)
        need = self.year_need(ets, rows, months_ahead) - held
        mac_sorted, order, a_sorted = model.abatement.steps(rows)
        cheaper = mac_sorted < p.penalty  # above the penalty a firm would rather pay it
        mac_sorted = np.where(cheaper, mac_sorted, np.nan)
        # each step over the months ahead; with fewer than min_step_months left no step is offered or
        # relied on (the firm buys what it needs)
        a_sorted = np.where(cheaper & (months_ahead >= p.min_step_months), a_sorted * months_ahead, 0.0)
        # only abatement the firm can finance now is offered or relied on (firm by firm, in MAC order)
        r, c = np.nonzero(a_sorted > 0)
        can = model.abatement.financeable(rows[r], order[r, c], np.full(len(r), self.expected_price))
        a_sorted[r[~can], c[~can]] = 0.0
        before = np.cumsum(a_sorted, axis=1) - a_sorted
        tech_bid = np.clip(need[:, None] - before, 0.0, a_sorted)
        tech_ask = a_sorted - tech_bid
        residual = np.maximum(need - a_sorted.sum(axis=1), 0.0)
        reservation = self.expected_price if p.banking else 0.0
        # a step needed in part is bid at the break-even of buying that part vs installing it whole, its
        # surplus valued at the price expected once it is banked
        bank_price = np.full(a_sorted.shape, reservation)
        if p.banking:
            r, c = np.nonzero((tech_bid > 0) & (tech_bid < a_sorted))
            bank_price[r, c] = self.prices_after_installing(ets, r, order[r, c])
        bid_price = lumpy_steps.break_even_bid(np.nan_to_num(mac_sorted, nan=0.0), a_sorted, tech_bid,
                                               bank_price, p.penalty)
        # a firm takes its year's position now if its cash pays for it at the price it expects, else it
        # buys and sells it in equal parts over the sessions left before surrender
        cash = model.ledger.balance(model.firms.account[rows])
        affordable = cash >= self.expected_price * (tech_bid.sum(axis=1) + residual)
        share = np.where(affordable, 1.0, 1.0 / sessions_left(p, 13 - months_ahead))
        tech_bid, tech_ask, residual = tech_bid * share[:, None], tech_ask * share[:, None], residual * share
        surplus = np.minimum(np.maximum(-need, 0.0), np.maximum(held, 0.0))
        # every allowance sold is held now: surplus and abatement asks together at most the holding
        room = np.maximum(held - surplus, 0.0)
        ask_before = np.cumsum(tech_ask, axis=1) - tech_ask
        tech_ask = np.clip(room[:, None] - ask_before, 0.0, tech_ask)
        bank = np.zeros(len(rows))
        if p.banking:
            # what the firm expects to lack in the later years of the horizon (its free allocation falling with
            # the cap) is kept from its surplus, and the rest bought to bank at up to the expected price, from
            # spare cash and in equal parts over the sessions to the horizon's end: holding an allowance whose
            # price rises at the cost of carry costs nothing
            ab = model.abatement
            yearly = 12 * ab.normal_bau(rows) * (1.0 - ab.installed_share(rows)) * emissions.net_share(model, rows)
            falling = (1.0 - p.cap_decline) ** np.arange(1, p.expectation_years)
            free = (self.benchmark_rate * ab.normal_bau(rows) * 12 if p.allocation == "output_based"
                    else self.free_allocation[rows])  # a year's free allocation at normal output
            future = np.maximum(yearly[:, None] - free[:, None] * falling, 0.0).sum(axis=1)
            kept = np.minimum(surplus, future)
            surplus = surplus - kept
            spare = np.maximum(cash - self.expected_price * (tech_bid.sum(axis=1) + residual), 0.0)
            to_horizon = sessions_left(p, 13 - months_ahead) + (p.expectation_years - 1) * sessions_left(p, 1)
            if self.expected_price > 0:
                bank = np.minimum(future - kept, spare / self.expected_price) / to_horizon
        else:
            kept = np.zeros(len(rows))
        return (mac_sorted, order, a_sorted, bid_price, tech_bid, tech_ask, residual, surplus, reservation, share, bank,
                kept)

    def session(self, ets, months_ahead: int) -> None:
        """One call auction: firms, government auction, carbon pool, external market.

        ``months_ahead`` counts this month and the rest of the compliance year: sessions are
        held in months 1, 1 + session_months, ... at the end of the month, and abatement a
        firm commits to there operates from that month on (the month's emissions are
        recomputed). Government offers all of the year's unsold auction volume each session, at no less than
        max(reserve_price, auction_hold_share x E).
        """
        model, p, al, ledger = self.model, ets.params, self.allowances, self.model.ledger
        firms = model.firms
        al.step = model.steps
        rows = model.firms.live
        rows = rows[self.covered(rows, "cap_and_trade")]
        (mac, order, steps, bid_price, tech_bid, tech_ask, residual, surplus, reservation, share, bank,
         kept) = self.orders(ets, rows, months_ahead)
        n, t = tech_bid.shape
        firm_idx = np.repeat(np.arange(n), t)
        mac_flat = np.nan_to_num(mac.ravel(), nan=0.0)
        # bids: tech steps, residual need at the penalty; asks: tech steps, surplus, government, pool
        # the part of the need no step covers is bought or paid for at the penalty: bid at the penalty, but
        # with a deadline in the next year and a session left before it (the next year's allocation comes
        # first) at no more than the price expected at the next session; allowances to bank at E
        waits = p.surrender_month > 0 and sessions_left(p, 13 - months_ahead) > 1
        residual_price = (min(p.penalty, self.expected_price * (1.0 + p.carry_rate) ** (p.session_months / 12))
                          if waits else p.penalty)
        b_price = np.concatenate([bid_price.ravel(), np.full(n, residual_price), np.full(n, self.expected_price)])
        b_qty = np.concatenate([tech_bid.ravel(), residual, bank])
        b_owner = np.concatenate([firm_idx, np.arange(n), np.arange(n)])
        gov_qty = self.government_for_sale()
        pool_qty = min(al.balance(self.pool), max(self.offsets_cap - self.offsets_sold, 0.0))
        # the pool sells the year's offset room at the auction floor: room left unused at year end is lost
        # what a firm keeps for the later years is sold when the price is above the one it expects to pay
        # for it at the next session
        resale = self.expected_price * (1.0 + p.carry_rate) ** (p.session_months / 12)
        # government holds back what would sell below auction_hold_share x E (it stays for the year's later sessions)
        gov_ask = max(p.reserve_price, p.auction_hold_share * self.expected_price)
        a_price = np.concatenate([mac_flat, np.full(n, reservation), np.full(n, resale), [gov_ask, p.reserve_price]])
        a_qty = np.concatenate([tech_ask.ravel(), surplus, kept, [gov_qty, pool_qty]])
        # owners: firm index; -1 government, -2 pool, -3 external
        a_owner = np.concatenate([firm_idx, np.arange(n), np.arange(n), [-1, -2]])
        if p.external_price is not None or p.external_series is not None:
            price_ext = self.external_price_now(p)
            depth = b_qty.sum() + a_qty.sum() + 1.0
            b_price, b_qty, b_owner = np.r_[b_price, price_ext], np.r_[b_qty, depth], np.r_[b_owner, -3]
            a_price, a_qty, a_owner = np.r_[a_price, price_ext], np.r_[a_qty, depth], np.r_[a_owner, -3]
        rng = model.draws("auction")
        bperm, aperm = rng.permutation(len(b_qty)), rng.permutation(len(a_qty))
        result = clear_uniform_price(b_price[bperm], b_qty[bperm], a_price[aperm], a_qty[aperm])
        buys, sells = np.zeros(len(b_qty)), np.zeros(len(a_qty))
        buys[bperm], sells[aperm] = result.buy_fills, result.sell_fills
        book = (a_price, a_qty - sells, a_owner)
        self._learn_pool_fill(pool_qty, float(sells[a_owner == -2].sum()), p.expectation_weight)
        if result.volume <= 0:
            self.commit_abatement(ets, rows, order, mac, steps, tech_bid, np.zeros((n, t)), np.zeros((n, t)),
                                  book, share, bid_price)
            return
        price = result.price
        accounts = self.account[rows]
        money_acc = firms.account[rows]
        # settle: firms
        firm_bought = np.bincount(b_owner[b_owner >= 0], buys[b_owner >= 0], minlength=n)
        firm_sold = np.bincount(a_owner[a_owner >= 0], sells[a_owner >= 0], minlength=n)
        al.transfer("trade", accounts, self.exchange, firm_sold)
        al.transfer("trade", self.exchange, accounts, firm_bought)
        ledger.transfer("allowance_purchase", money_acc, self.money_exchange, firm_bought * price)
        ledger.transfer("allowance_sale", self.money_exchange, money_acc, firm_sold * price)
        # settle: government auction and carbon pool
        gov_sold, pool_sold = sells[a_owner == -1].sum(), sells[a_owner == -2].sum()
        al.transfer("trade", self.government, self.exchange, gov_sold)
        ledger.transfer("allowance_sale", self.money_exchange, model.government.account, gov_sold * price)
        self.auction_left -= gov_sold
        if pool_sold > 0:
            al.transfer("trade", self.pool, self.exchange, pool_sold)
            self.sell_pool_credits(pool_sold, price)
            self.offsets_held[rows] += firm_bought * pool_sold / result.volume
            self.offsets_sold += pool_sold
        # settle: external market
        ext_bought, ext_sold = buys[b_owner == -3].sum(), sells[a_owner == -3].sum()
        # the external market sells to the park's buyers (paid through the exchange) and buys from its sellers
        al.transfer("external_trade", self.external, self.exchange, ext_sold)
        al.transfer("external_trade", self.exchange, self.external, ext_bought)
        ledger.transfer("external_carbon_trade", self.money_exchange, model.outside, ext_sold * price)
        ledger.transfer("external_carbon_trade", model.outside, self.money_exchange, ext_bought * price)
        self.square_exchange()
        self.last_price = price
        self.session_prices.append((model.steps, price))
        tech_buys = buys[: n * t].reshape(n, t)
        tech_sells = sells[: n * t].reshape(n, t)
        self.commit_abatement(ets, rows, order, mac, steps, tech_bid, tech_buys, tech_sells, book, share, bid_price)
        self.buy_quota_credits(rows, price)

    def external_price_now(self, p) -> float:
        """Price of the linked external market this month (yuan/tCO2e): the observed series
        ``external_series`` at month steps - start after ``series_start`` (``markets/price_series.py``),
        else external_price x (1 + external_growth)^((steps - start) / 12)."""
        months = self.model.steps - p.start
        if p.external_series is not None:
            return price_series.price_at(p.external_series, p.series_start, months)
        return p.external_price * (1 + p.external_growth) ** (months / 12)

    def commit_abatement(self, ets, rows, order, mac, steps, tech_bid, bought, sold, book, share, bid_price) -> None:
        """Firms install a whole technology step when it is cheaper than going without it
        (``markets/lumpy_steps.py``, equation (1)): its cost MAC x step (tCO2e over the months
        ahead) against what the firm committed in the session, c = bid for and not got + offered
        and sold, at the price it would otherwise pay, plus the rest of the step at its
        reservation price (the expected price with banking, else 0). A step committed whole
        (c = step) is installed: its MAC is at most the clearing price. Orders are a 1/K share
        of the year's position (K sessions left before surrender, :meth:`orders`), so the firm
        extrapolates what it got in the session to the year: c = K x (bid - got + sold).

        For a step committed in part, the firm first looks for a block trade
        (``markets/block_trade.py``): other firms sell it c backed by installing whole steps of
        their own, if their least acceptable prices are below what the firm would otherwise
        pay; the package is made whole at its Nash prices and the sellers install, or not at all
        (:meth:`block_package`). Otherwise it
        decides by (1) with the price otherwise paid: the penalty if no session is left before
        surrender, else the price at which the asks other owners left unfilled in this session
        (``book``: prices, quantities left, owners) cover c, or the penalty if they cannot.
        Firms decide in random order (``model.draws``)."""
        p = ets.params
        committed = np.minimum(((tech_bid - bought) + sold) / share[:, None], steps)
        # a firm that buys in parts plans the rest at the price it expects: it installs a step it needs whenever
        # its break-even bid (2) is at most the expected price, whatever this session's part cost
        planned = (share[:, None] < 1) & (tech_bid > 0) & (bid_price <= self.expected_price)
        whole = (steps > 0) & ((committed >= steps * (1 - 1e-9)) | planned)
        part = (steps > 0) & (committed > 0) & ~whole
        install = np.zeros_like(whole)
        r, c = np.nonzero(whole)
        if len(r):
            self.model.abatement.install(rows[r], order[r, c], np.full(len(r), self.expected_price), effective_now=True)
        r, c = np.nonzero(part)
        if len(r):
            # the outlook after the steps committed whole: what a surplus banked now is expected to fetch
            self.no_arbitrage_expectation(ets, rows, 13 - ((self.model.steps - 1) % 12 + 1))
            later = sessions_left(p, (self.model.steps - 1) % 12 + 1) > 1
            # this session's asks left stand for what each session left offers: they cover this session's part
            offered = (lumpy_steps.residual_supply_price(committed[r, c] * share[r], r, *book, p.penalty) if later
                       else np.full(len(r), p.penalty))
            # the surplus of a whole step is worth the price expected once it is banked (0 without banking)
            reservation = np.zeros(len(r))
            if p.banking:
                reservation[:] = self.prices_after_installing(ets, r, order[r, c])
            own = lumpy_steps.break_even_bid(mac[r, c], steps[r, c], committed[r, c], reservation, p.penalty)
            on_offer = np.where(committed > 0, 0.0, steps)  # steps free to back a block trade
            holding = np.maximum(self.allowances.balance(self.account[rows]), 0.0)
            for i in self.model.draws("block_trade").permutation(len(r)):
                walk_away = min(own[i], offered[i])
                # this session's part of c; the sellers' surplus covers the rest in the sessions left
                cover = block_trade.cheapest_cover(committed[r[i], c[i]] * share[r[i]], r[i], mac, on_offer, holding,
                                                   reservation[i], walk_away)
                need = committed[r[i], c[i]]
                if cover and self.block_package(rows, r[i], cover, order, walk_away):
                    for seller, k, quantity, _ in cover:
                        on_offer[seller, k] = 0.0
                        holding[seller] -= quantity
                        holding[r[i]] += quantity
                    need = 0.0
                if need > 0:  # no cover, or a seller could not finance its step: no trade at all
                    install[r[i], c[i]] = lumpy_steps.worth_installing(mac[r[i], c[i]], steps[r[i], c[i]], need,
                                                                       offered[i], reservation[i])
        r, c = np.nonzero(install)
        if len(r):
            value = np.full(len(r), self.expected_price)
            self.model.abatement.install(rows[r], order[r, c], value, effective_now=True)

    def block_package(self, rows: np.ndarray, buyer: int, cover: list[tuple[int, int, float, float]],
                      order: np.ndarray, walk_away: float) -> bool:
        """A package of block trades (``markets/block_trade.py``), settled whole or not at all: every
        seller (index into ``rows``) installs its step (column of ``order``) and sells its quantity
        (tCO2e) to rows[buyer] at the package's Nash prices, paid firm to firm; the buyer pays
        sum_k price_k q_k = (w c + sum_k a_k q_k) / 2 < w c in all, below its walk-away price w (yuan/t)
        on the c it needs. False, and nothing moves, unless every seller can finance its step
        (``AbatementPortfolio.financeable``, each seller's cash counted once across its steps)."""
        model = self.model
        sellers = np.array([seller for seller, *_ in cover])
        techs = order[sellers, [k for _, k, *_ in cover]]
        quantities = np.array([q for *_, q, _ in cover])
        prices = block_trade.package_prices(np.array([a for *_, a in cover]), quantities, walk_away)
        value = np.full(len(cover), self.expected_price)
        if prices @ quantities > walk_away * quantities.sum() or not model.abatement.financeable(
                rows[sellers], techs, value).all():
            return False
        if not model.abatement.install(rows[sellers], techs, value, effective_now=True).all():
            return False  # not expected after the check; a seller that installed keeps its step, nothing is traded
        self.allowances.transfer("block_trade", self.account[rows[sellers]], self.account[rows[buyer]], quantities)
        model.ledger.transfer("allowance_block_trade", model.firms.account[rows[buyer]],
                              model.firms.account[rows[sellers]], quantities * prices)
        self.block_trades += [(model.steps, int(rows[buyer]), int(rows[seller]), float(q), float(price))
                              for seller, q, price in zip(sellers, quantities, prices, strict=True)]
        return True

    def sell_pool_credits(self, credits: float, price: float) -> None:
        """The pool's proceeds go to contributors by contribution share, less the operator's commission."""
        model = self.model
        ledger, op = model.ledger, model.operator.account
        ledger.transfer("allowance_sale", self.money_exchange, op, credits * price)
        total = self.contribution.sum()
        if total <= 0:
            return
        share = self.contribution / total
        payout = credits * price * (1.0 - model.scenario.operator.pool_commission) * share
        paying = np.flatnonzero(payout > 0)
        alive = model.firms.alive[paying]
        ledger.transfer("carbon_pool_payout", op, model.firms.account[paying[alive]], payout[paying[alive]])
        self.contribution *= 1.0 - min(credits / total, 1.0)

    def buy_quota_credits(self, rows: np.ndarray, price: float) -> None:
        """Offset quota: firms short of local credits buy the pool's remaining credits at ``price``.

        A firm's target is ``share`` x its projected year's emissions: emitted so far this year
        plus this month's emissions x the months left including this one (as in its orders).
        """
        quota = self.model.policy("offset_quota")
        if quota is None:
            return
        firms = self.model.firms
        months_left = 13 - ((self.model.steps - 1) % 12 + 1)
        target = quota.params.share * (self.year_emissions[rows] + firms.emissions[rows] * months_left)
        want = np.maximum(target - self.offsets_held[rows], 0.0)
        stock = min(self.allowances.balance(self.pool), max(self.offsets_cap - self.offsets_sold, 0.0))
        if want.sum() <= 0 or stock <= 0:
            return
        got = want * min(1.0, stock / want.sum())
        accounts = self.account[rows]
        self.allowances.transfer("trade", self.pool, self.exchange, got.sum())
        self.allowances.transfer("trade", self.exchange, accounts, got)
        self.model.ledger.transfer("allowance_purchase", firms.account[rows], self.money_exchange, got * price)
        self.sell_pool_credits(got.sum(), price)
        self.offsets_held[rows] += got
        self.offsets_sold += got.sum()
        self.square_exchange()

    def square_exchange(self) -> None:
        """Bring the exchange's clearing accounts back to zero after settlement.

        Every session settles fills that sum to the same volume on both sides, so what is
        left on the exchange's allowance and money accounts is only the rounding of each
        transfer to the ledgers' resolution (0.001 t, 1 fen); it is booked against the
        registry (``exchange_rounding``) and outside (``exchange_rounding``).
        """
        left = float(self.allowances.balance(self.exchange))
        if left > 0:
            self.allowances.transfer("exchange_rounding", self.exchange, self.registry, left)
        elif left < 0:
            self.allowances.transfer("exchange_rounding", self.registry, self.exchange, -left)
        self.model.ledger.transfer_signed("exchange_rounding", "exchange_rounding", self.model.outside,
                                          self.money_exchange, -float(self.model.ledger.balance(self.money_exchange)))

    def verify(self, ets) -> None:
        """Year end: verification. Under ``output_based`` allocation a firm whose actual output earned
        more than its provisional allocation receives the difference now; one that earned less owes
        it, with its emissions (``markets/allocation.py``); what each firm owes is kept for surrender
        (:meth:`surrender`, at once or in ``surrender_month`` of the next year). Government's unsold
        volume and the entrant reserve expire."""
        model, p, al = self.model, ets.params, self.allowances
        al.step = model.steps
        rows = np.flatnonzero(self.account >= 0)
        rows = rows[model.firms.alive[rows]]
        emitted = self.year_emissions[rows]
        owed = emitted
        if p.allocation == "output_based":
            intensity = model.sector_intensity[model.firms.sector[rows]]
            true_up = allocation.output_true_up(self.benchmark_rate, intensity, self.output_year[rows],
                                                self.free_allocation[rows])
            al.transfer("allocation_true_up", self.registry, self.account[rows], np.maximum(true_up, 0.0))
            owed = emitted + np.maximum(-true_up, 0.0)
        self.owed[rows] += owed
        self.last_year_emissions[:] = 0.0
        self.last_year_emissions[rows] = emitted
        self.last_year_output[:] = 0.0
        self.last_year_output[rows] = self.output_year[rows]
        quota = model.policy("offset_quota")
        if quota:
            self.quota_missing[rows] = np.maximum(quota.params.share * emitted - self.offsets_held[rows], 0.0)
        al.transfer("expiry", self.government, self.retired, max(al.balance(self.government), 0.0))
        al.transfer("expiry", self.reserve, self.retired, max(al.balance(self.reserve), 0.0))
        self.auction_left = 0.0
        self.year_emissions[:] = 0.0

    def surrender(self, ets) -> None:
        """The surrender deadline: each firm surrenders what it owes from what it holds, pays the
        penalty on the rest (and the offset-quota fine), and what it keeps is banked (at most
        ``carry_over_limit`` beyond the free allocation of the year already running) or, without
        banking, expires."""
        model, p, al = self.model, ets.params, self.allowances
        al.step = model.steps
        rows = np.flatnonzero(self.account >= 0)
        rows = rows[model.firms.alive[rows]]
        accounts = self.account[rows]
        owed = self.owed[rows]
        surrender = np.clip(al.balance(accounts), 0.0, owed)
        al.transfer("surrender", accounts, self.retired, surrender)
        model.ledger.transfer("carbon_penalty", model.firms.account[rows], model.government.account,
                              (owed - surrender) * p.penalty)
        self.owed[:] = 0.0
        quota = model.policy("offset_quota")
        if quota:
            model.ledger.transfer("offset_quota_fine", model.firms.account[rows], model.government.account,
                                  self.quota_missing[rows] * quota.params.penalty)
        self.quota_missing[:] = 0.0
        if not p.banking:
            al.transfer("expiry", accounts, self.retired, np.maximum(al.balance(accounts), 0.0))
        elif p.carry_over_limit is not None:
            running = self.free_allocation[rows] if p.surrender_month else 0.0
            al.transfer("expiry", accounts, self.retired,
                        np.maximum(al.balance(accounts) - running - p.carry_over_limit, 0.0))

    def firms_exited(self, rows: np.ndarray) -> None:
        """Exit listener: a leaving firm's allowances are retired and its pool contribution dropped."""
        self._grow()
        held = self.account[rows] >= 0
        accounts = self.account[rows[held]]
        self.allowances.transfer("expiry", accounts, self.retired, np.maximum(self.allowances.balance(accounts), 0.0))
        self.contribution[rows] = 0.0

    def held_by_firms(self) -> float:
        """Allowances held by firms now (tCO2e): banked after a compliance year end."""
        accounts = self.account[self.account >= 0]
        return float(self.allowances.balance(accounts).sum()) if len(accounts) else 0.0
