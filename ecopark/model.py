"""ParkModel: builds the park from a scenario and runs its monthly phases in a fixed order.

One step is one month. The phases of a step (DESIGN.md), in this order:

1. ``update_policies``   government instruments update for the month; firms subscribe to
                         the operator's services (agents/operator_services.py)
2. ``produce``           firms draw demand, produce, sell, pay variable and fixed costs;
                         heat received last month is passed on as low-grade heat
                         (agents/heat_cascade.py); the operator collects rent; installed
                         abatement operates
3. ``deliver_and_dispose`` contracted byproduct deliveries and their payments, in-plant
                         recycling of what links did not take (agents/recycling.py), then disposal
                         of the rest, purchases of unmet substitutable inputs, reuse quotas;
                         the operator runs, and may build, shared infrastructure
                         (agents/infrastructure.py) and distributed PV + storage for green
                         power (agents/electricity.py: firms' power bills, green purchases and
                         scope 2 are booked in phase 2) and reclaimed water (agents/water.py)
4. ``match``             byproduct market: discovery, matching, new links (markets/byproduct.py);
                         then ``recycling.decide``: firms adopt in-plant recycling units whose
                         NPV is positive (agents/recycling.py)
5. ``abatement.decide``  firms invest in technologies whose MAC is below the value they
                         expect per tonne (agents/abatement.py)
6. ``credit.step``      credit-line draws and secured loans for cash shortfalls, loan servicing, sustainability-linked
                         rate steps, defaults (markets/credit.py); green project loans
                         are taken whenever firms invest (phases 4, 5 and 7)
7. ``carbon_market.step`` carbon tax; pool credits; call-auction sessions; year-end
                         compliance, penalties, banking (markets/carbon.py)
8. ``government.regulate`` instruments assess the month's final figures: intensity targets
                         order laggards to upgrade or leave, mandatory consumption ratios fine
                         receivers and green procurement pays its premium (policies/);
   ``pay_dividends``, ``exit_and_enter``  owners take cash above the firm's target;
                         expected margins are updated, shortfalls drawn on credit lines;
                         insolvent firms not worth recapitalising and firms worth more
                         closed than kept exit (docs/credit.md); vacant plots refill
9. ``collect``           the DataCollector records the step metrics (all by default)

All randomness comes from ``self.rng``, the numpy Generator Mesa seeds from ``seed``: it
lays out the park and draws the first firms, and it seeds the month-by-month draws of each
random process, which :meth:`ParkModel.draws` hands out as one generator per process and
month (demand shocks, discovery, auction order, entry). Draws about firms are indexed by
FirmTable row and draws about plots by plot, so two runs with the same seed and different
policies see the same shocks and encounters for the same firms (common random numbers):
paired comparisons across scenarios measure the policy, not a reshuffled dice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mesa
import numpy as np
from mesa.space import ContinuousSpace

from ecopark import metrics
from ecopark.agents import Bank, Enterprise, FirmTable, Government, ParkOperator
from ecopark.agents.abatement import AbatementPortfolio
from ecopark.agents.electricity import Electricity
from ecopark.agents.enterprise import (
    collection_share,
    dispose_and_buy_inputs,
    pay_dividends,
    produce,
    prospective_margin,
    record_month,
    update_expected_margin,
)
from ecopark.agents.heat_cascade import HeatCascade
from ecopark.agents.infrastructure import Infrastructure
from ecopark.agents.operator_services import OperatorServices
from ecopark.agents.recycling import InPlantRecycling
from ecopark.agents.water import ReclaimedWater
from ecopark.catalogue import load_catalogue
from ecopark.ledger import Ledger
from ecopark.markets.byproduct import ByproductMarket
from ecopark.markets.carbon import CarbonMarket
from ecopark.markets.credit import CreditMarket
from ecopark.markets.secured_lending import SecuredLending
from ecopark.policies import Policy
from ecopark.recorder import StepRecorder
from ecopark.scenario import Scenario, load_scenario
from ecopark.schema import ConfigError

#: The model's random processes, each with its own generator per month (:meth:`ParkModel.draws`).
RANDOM_PROCESSES = ("demand", "discovery", "auction", "entry", "commodity", "bargaining", "block_trade", "quality")
#: Lowest cost factor a firm draws: the normal draw is floored here so that no variable cost is
#: negative (binds only in the far tail: 30 s.d. at the default dispersion 0.03).
MIN_COST_FACTOR = 0.05


def check_seed(seed: object, key: str = "seed") -> None:
    """Raise ConfigError ``key`` unless ``seed`` is a whole number from 0 to 2**63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConfigError(key, f"got {seed!r}; allowed: a whole number from 0 to 2**63 - 1")


def _year_weights(rates: np.ndarray, horizon: int) -> np.ndarray:
    """sum_{m in year k} (1 + r / 12)^-m over months m = 1..``horizon`` of each annual rate r (rates x years)."""
    years = -(-horizon // 12)
    month = np.arange(1, horizon + 1)
    discount = (1.0 + rates[:, None] / 12.0) ** -month[None, :]
    return np.stack([discount[:, (month - 1) // 12 == k].sum(axis=1) for k in range(years)], axis=1)


class ParkModel(mesa.Model):
    """An eco-industrial park economy.

    Args:
        scenario: a :class:`Scenario`, a preset name or a TOML path.
        seed: seed of the model's random generators.
        step_metrics: the step metrics the DataCollector records (default: every one in
            ``metrics.STEP_METRICS``); a sweep records only those its outcomes need.
    """

    def __init__(self, scenario: Scenario | str = "generic", seed: int = 0,
                 step_metrics: Iterable[str] | None = None) -> None:
        check_seed(seed)
        super().__init__(rng=seed)
        self.seed = seed
        self._draws_entropy = int(self.rng.integers(2**63))
        self._active_policies: tuple[int, dict[str, Policy]] = (-1, {})  # (step, the instruments active in it)
        self.scenario = load_scenario(scenario)
        self.catalogue = cat = load_catalogue()
        self._cache_catalogue_arrays()
        self.ledger = Ledger()
        self.outside = self.ledger.open_account("outside", "outside")
        self.firms = FirmTable(len(cat.streams), capacity=sum(self.scenario.park.firms.values()) + 16)
        # per stream, units over the run: generated = delivered + recycled + disposed, and sold_outside
        # is the part of disposed sold to outside buyers (streams with a salvage value)
        self.stream_totals = {k: np.zeros(len(cat.streams))
                              for k in ("generated", "delivered", "disposed", "recycled", "sold_outside")}
        self.common_shock = 0.0
        self.expected_carbon_price = 0.0  # yuan/tCO2e firms expect; set by the carbon market
        self.exits_this_step = 0
        self.entries_this_step = 0
        self.exits_insolvent = self.exits_economic = 0  # this month, by the exit rule's two causes
        self.exits_positive_margin = 0  # exits this month of firms whose expected operating margin was positive
        self.allowances_bought_back = 0.0  # tCO2e, over the run (exit settlement)
        self.exit_listeners: list[Callable[[np.ndarray], None]] = []
        # going_concern_value's discount weights: (horizon, hurdle rate each row's weights were computed at, weights)
        self._weights_cache: tuple[int, np.ndarray, np.ndarray] | None = None

        self.government = Government(self)
        self.operator = ParkOperator(self)
        self.banks = [Bank(self, spec) for spec in self.scenario.banks]
        self._lay_out_plots()
        self.firm_agents: list[Enterprise] = []
        sectors = np.repeat(
            [cat.sector_keys.index(k) for k in self.scenario.park.firms],
            list(self.scenario.park.firms.values()),
        )
        self.rng.shuffle(sectors)
        self.add_firms(sectors, self.vacant_plots()[: len(sectors)])

        self.credit = CreditMarket(self)
        self.byproduct_market = ByproductMarket(self)
        self.recycling = InPlantRecycling(self)
        self.abatement = AbatementPortfolio(self)
        self.carbon_market = CarbonMarket(self)
        self.secured_lending = SecuredLending(self)
        self.heat_cascade = HeatCascade(self)
        self.infrastructure = Infrastructure(self)
        self.electricity = Electricity(self)
        self.water = ReclaimedWater(self)
        self.services = OperatorServices(self)
        recorded = list(metrics.STEP_METRICS if step_metrics is None else step_metrics)
        unknown = [name for name in recorded if name not in metrics.STEP_METRICS]
        if unknown:
            raise ConfigError("step_metrics", f"unknown step metric {unknown[0]!r}; allowed: "
                                              f"{', '.join(metrics.STEP_METRICS)}")
        self.datacollector = StepRecorder(
            model_reporters={name: metrics.STEP_METRICS[name].func for name in recorded}
        )

    # -- construction ---------------------------------------------------------------------
    def _cache_catalogue_arrays(self) -> None:
        cat = self.catalogue
        self.sector_capacity = cat.sector_array("capacity")
        self.sector_price = cat.sector_array("output_price")
        self.sector_variable_cost = cat.sector_array("variable_cost")
        self.sector_fixed_cost = cat.sector_array("fixed_cost")
        self.sector_intensity = cat.sector_array("emission_intensity")
        self.sector_pass_through = cat.sector_array("pass_through")
        self.sector_demand_elasticity = cat.sector_array("demand_elasticity")
        self.yield_matrix = cat.yield_matrix()
        self.need_matrix = cat.need_matrix()
        self.stream_disposal_cost = cat.stream_array("disposal_cost")
        self.stream_virgin_price = cat.stream_array("virgin_price")
        self.stream_is_mass = np.array([s.unit == "t" for s in cat.streams.values()])

    def _lay_out_plots(self) -> None:
        park = self.scenario.park
        n = sum(park.firms.values()) + park.vacant_plots
        self.plot_xy = self.rng.uniform(0.0, park.size_km, size=(n, 2))
        self.plot_occupant = np.full(n, -1)  # firm row on the plot, -1 if vacant
        self.space = ContinuousSpace(park.size_km, park.size_km, torus=False)

    def vacant_plots(self) -> np.ndarray:
        """Indices of plots with no firm."""
        return np.flatnonzero(self.plot_occupant < 0)

    def add_firms(self, sectors: np.ndarray, plots: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Create firms of the given sector indices on the given plots; returns their rows.

        Each firm draws (from ``rng``, default the model's) its size (lognormal, s.d.
        ``capacity_dispersion``), cost factor (normal around 1) and hurdle rate (uniform over
        ``discount_rate``), and its owners endow it with ``initial_cash_months`` of fixed cost.
        The park's first firms (step 0) have been trading before: they start with the accounts
        receivable of normal sales, R_f0 = capacity x size x base_utilisation x price / c
        (``collection_share`` c; docs/credit.md, operating cycle); entrants start with none.
        The cost factor is floored at :data:`MIN_COST_FACTOR` (a cost is never negative).
        """
        econ = self.scenario.economy
        rng = self.rng if rng is None else rng
        n = len(sectors)
        size = np.exp(econ.capacity_dispersion * rng.standard_normal(n) - econ.capacity_dispersion**2 / 2)
        cost_factor = np.maximum(1.0 + econ.cost_dispersion * rng.standard_normal(n), MIN_COST_FACTOR)
        discount = rng.uniform(*econ.discount_rate, size=n)
        names = [f"firm:{self.firms.n + i}" for i in range(n)]
        accounts = self.ledger.open_accounts(names, "enterprise")
        rows = self.firms.add(
            n, alive=True, sector=sectors, plot=plots, x=self.plot_xy[plots, 0], y=self.plot_xy[plots, 1],
            size=size, cost_factor=cost_factor, discount_rate=discount, account=accounts, entered=self.steps,
        )
        self.plot_occupant[plots] = rows
        self.ledger.transfer("equity", self.outside, accounts,
                             econ.initial_cash_months * self.sector_fixed_cost[sectors] * size)
        if self.steps == 0 and econ.collection_days > 0:  # the park's first firms have been trading
            sales = self.sector_capacity[sectors] * size * econ.base_utilisation * self.sector_price[sectors]
            self.firms.receivables[rows] = sales / collection_share(self)
        for row in rows:
            agent = Enterprise(self, int(row))
            self.firm_agents.append(agent)
            self.space.place_agent(agent, agent.position)
        return rows

    def remove_firms(self, rows: np.ndarray) -> None:
        """Take firms out of the park: settle their assets, contracts and debts, free their plots.

        The settlement rule (docs/credit.md, exit settlement): first the firm's allowances are
        settled (:meth:`settle_allowances`: the unused free allocation returned, its emissions so
        far this year surrendered, the rest sold to government at the last clearing price) and
        the liquidator collects its accounts receivable in full (``receivable_collection``;
        assumption: no bad debts). Then
        each callable in ``self.exit_listeners`` is called with the rows, so that markets end the
        firms' contracts (and the risk fund evaluates their first links) while the firms still
        exist: banks sell pledged collateral, the firm repays its loans from its cash and the
        rest is written off.
        Installed plant (abatement, recycling units, links' capex) is specific to the site and
        scrapped at no value (assumption). Owners (outside) then take what cash is left, or its
        unpaid trade creditors bear a deficit (``liquidation``), so the firm's balance ends at 0.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return
        firms = self.firms
        positive = firms.expected_margin[rows] > 0
        self.exits_positive_margin += int(positive.sum())
        record_month(self, rows[firms.entered[rows] < self.steps])  # the month it produced in, before it goes
        self.settle_allowances(rows)
        self.ledger.transfer("receivable_collection", self.outside, firms.account[rows], firms.receivables[rows])
        firms.receivables[rows] = 0.0
        for listener in self.exit_listeners:
            listener(rows)
        self.ledger.transfer_signed("liquidation", "liquidation", self.outside,
                                    firms.account[rows], -self.firm_cash(rows))
        firms.remove(rows)
        firms.exited[rows] = self.steps
        self.plot_occupant[firms.plot[rows]] = -1
        self.exits_this_step += len(rows)
        for row in rows:
            agent = self.firm_agents[row]
            self.space.remove_agent(agent)
            agent.remove()

    def allowance_settlement(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """How the allowances of firms ``rows`` (under the cap) would be settled if they left now:
        (returned, surrendered, sold) in tCO2e and the price of a sale, yuan/tCO2e.

        A firm first clears what it owes for last year when the deadline is in the next year
        (``surrender_month`` > 0; owed_f, verified in December and not yet surrendered),
        cleared_f = min(held_f, owed_f). Of the rest: returned_f = min(held_f - cleared_f,
        free_f x (12 - month) / 12), the free allocation of the months of the compliance year it
        would not operate (China's ETS takes back a closed plant's allocation);
        surrendered_f = cleared_f + min(held_f - cleared_f - returned_f, emitted this compliance
        year); sold_f = the rest, at the last clearing price (the expected price before any
        session). What it owes for last year beyond what it holds is charged the penalty
        (:meth:`unmet_obligation`).
        """
        market = self.carbon_market
        market._grow()
        held = np.where(market.account[rows] >= 0, np.maximum(self.allowances.balance(market.account[rows]), 0.0), 0.0)
        month = (self.steps - 1) % 12 + 1
        cleared = np.minimum(held, market.owed[rows])
        returned = np.minimum(held - cleared, market.free_allocation[rows] * (12 - month) / 12)
        surrendered = cleared + np.minimum(held - cleared - returned, market.year_emissions[rows])
        price = market.last_price if np.isfinite(market.last_price) else market.expected_price
        return returned, surrendered, np.maximum(held - returned - surrendered, 0.0), float(price)

    def unmet_obligation(self, rows: np.ndarray) -> np.ndarray:
        """What firms ``rows`` would pay at exit for last year's verified emissions they cannot
        surrender (yuan): penalty x max(owed_f - held_f, 0). Zero unless the surrender deadline is in
        the next year (``surrender_month`` > 0) and the firm leaves before it."""
        market = self.carbon_market
        market._grow()
        ets = self.government.policies.get("cap_and_trade")
        if ets is None:
            return np.zeros(len(rows))
        held = np.where(market.account[rows] >= 0, np.maximum(self.allowances.balance(market.account[rows]), 0.0), 0.0)
        return np.maximum(market.owed[rows] - held, 0.0) * ets.params.penalty

    def settle_allowances(self, rows: np.ndarray) -> None:
        """Allowances of leaving firms (:meth:`allowance_settlement`): last year's verified emissions
        not yet surrendered (a deadline in the next year) are surrendered, the penalty charged on what
        the firm cannot cover (``carbon_penalty``); the unused free allocation goes back to government
        (allowance kind ``exit_return``); the emissions so far this year are surrendered
        (``surrender``, retired) and the rest is sold to government (``exit_buyback``, money kind
        ``allowance_buyback``). Government holds what it gets until it expires at the year end, so
        an exit neither loosens the cap nor destroys what the firm bought or banked."""
        market = self.carbon_market
        market._grow()
        rows = rows[market.account[rows] >= 0]
        if not len(rows):
            return
        unmet = self.unmet_obligation(rows)
        returned, surrendered, _, price = self.allowance_settlement(rows)
        al, accounts = self.allowances, market.account[rows]
        al.transfer("surrender", accounts, market.retired, surrendered)
        al.transfer("exit_return", accounts, market.government, returned)
        self.ledger.transfer("carbon_penalty", self.firms.account[rows], self.government.account, unmet)
        market.owed[rows] = 0.0
        sold = np.maximum(al.balance(accounts), 0.0)  # the rest, as booked (at the ledger's resolution)
        al.transfer("exit_buyback", accounts, market.government, sold)
        self.ledger.transfer("allowance_buyback", self.government.account, self.firms.account[rows], sold * price)
        self.allowances_bought_back += float(sold.sum())

    # -- queries --------------------------------------------------------------------------
    def draws(self, process: str) -> np.random.Generator:
        """The generator of random process ``process`` (one of RANDOM_PROCESSES) for this month.

        Seeded by (the model's entropy, the process, the step), so it does not depend on how
        many numbers other processes, or earlier months, used.
        """
        # np.random.default_rng(seed) of a list is this generator, built without default_rng's checks
        seed = np.random.SeedSequence([self._draws_entropy, RANDOM_PROCESSES.index(process), self.steps])
        return np.random.Generator(np.random.PCG64(seed))


    def policy(self, name: str) -> Policy | None:
        """The instrument ``name`` if the scenario has it and it applies this month."""
        step, active = self._active_policies  # Policy.active depends on the step and the instrument's frozen
        if step != self.steps:  # parameters only: found once a month
            active = {key: p for key, p in self.government.policies.items() if p.active(self.steps)}
            self._active_policies = (self.steps, active)
        return active.get(name)

    def firm_cash(self, rows: np.ndarray) -> np.ndarray:
        """Cash (ledger balance, yuan) of the firms in ``rows``."""
        return self.ledger.balance(self.firms.account[rows])

    # -- the step -------------------------------------------------------------------------
    def step(self) -> None:
        """Run one month: the phases listed in the module docstring, in that order."""
        self.ledger.step = self.steps
        self.exits_this_step = self.exits_insolvent = self.exits_economic = self.exits_positive_margin = 0
        self.credit.reset_counts()
        self.government.update_policies()
        self.services.step()
        produce(self)
        self.heat_cascade.pass_on()
        self.operator.collect_rent()
        self.abatement.operate()
        self.deliver_and_dispose()
        self.heat_cascade.remember()
        self.infrastructure.step()
        self.electricity.review()
        self.water.review()
        self.byproduct_market.match()
        self.recycling.decide()
        self.abatement.decide(self.carbon_market.value_per_tonne(self.firms.live, through_auction=True))
        self.credit.step()
        self.carbon_market.step()
        self.government.regulate()
        pay_dividends(self)
        update_expected_margin(self)
        self.exit_and_enter()
        live = self.firms.live
        record_month(self, live[self.firms.entered[live] < self.steps])  # entrants produce from next month
        self.datacollector.collect(self)

    def going_concern_value(self, rows: np.ndarray) -> np.ndarray:
        """G_f = sum_{m=1..H} pi_f,k(m) / (1 + r_f / 12)^m (yuan): the present value, at the firm's
        hurdle rate r_f over ``exit_horizon_months`` H, of the operating margins it can expect
        from its prospects (:func:`~ecopark.agents.enterprise.prospective_margin`, year k(m) =
        (m - 1) // 12: the announced cap path, the expected carbon price, its installed and
        available abatement), not of its recent accounts."""
        horizon = self.scenario.economy.exit_horizon_months
        years = -(-horizon // 12)
        margins = prospective_margin(self, rows, years)
        return (margins * self._discount_weights(rows, horizon)).sum(axis=1)

    def _discount_weights(self, rows: np.ndarray, horizon: int) -> np.ndarray:
        """w_fk = sum_{m in year k} (1 + r_f / 12)^-m over months m = 1..H (rows x years): what
        :meth:`going_concern_value` weighs the margins of year k with.

        A firm's hurdle rate r_f is drawn at entry, so the weights of a call with several rows are kept
        from one call to the next (computed for the rows whose rate, or the horizon, differs from what
        they were computed at). The month powers are elementwise; the sum over a year's months runs
        month after month for a call with several rows (numpy adds the columns of the year's block in
        turn) and pairwise for a call with one row (one contiguous row), so the weights kept are those
        of several rows (a single row to compute is computed twice over) and a call with one row
        computes its own, as before."""
        firms, rows = self.firms, np.asarray(rows, dtype=np.int64)
        if len(rows) == 1:
            return _year_weights(firms.discount_rate[rows], horizon)
        cache = self._weights_cache
        if cache is None or cache[0] != horizon or len(cache[1]) < firms.n:
            size = max(firms.n, len(firms.discount_rate))
            rate_of, weights = np.full(size, np.nan), np.zeros((size, -(-horizon // 12)))
            if cache is not None and cache[0] == horizon:
                rate_of[: len(cache[1])], weights[: len(cache[1])] = cache[1], cache[2]
            cache = self._weights_cache = (horizon, rate_of, weights)
        _, rate_of, weights = cache
        stale = ~(rate_of[rows] == firms.discount_rate[rows])
        if stale.any():
            todo = np.unique(rows[stale])
            pair = np.r_[todo, todo] if len(todo) == 1 else todo
            weights[todo] = _year_weights(firms.discount_rate[pair], horizon)[: len(todo)]
            rate_of[todo] = firms.discount_rate[todo]
        return weights[rows]

    def owners_equity(self, rows: np.ndarray, value: np.ndarray | None = None) -> np.ndarray:
        """E_f = C_f + R_f - D_f + V_f + G_f (yuan): what the owners of firms ``rows`` keep if they keep
        the firm: cash, accounts receivable, less debt, plus what its allowances would sell for at
        exit less the penalty on last year's emissions it cannot surrender
        (:meth:`allowance_settlement`, :meth:`unmet_obligation`), plus its going-concern value
        ``value`` (default :meth:`going_concern_value`)."""
        firms = self.firms
        value = self.going_concern_value(rows) if value is None else value
        *_, sold, price = self.allowance_settlement(rows)
        return (self.firm_cash(rows) + firms.receivables[rows] - self.credit.debt(rows) + sold * price
                - self.unmet_obligation(rows) + value)

    def exit_rule(self) -> None:
        """Which firms leave this month (docs/credit.md, exit rule).

        Shortfalls are first drawn on credit lines (``CreditMarket.finance_shortfalls``). A firm
        whose cash C_f is still negative is insolvent: its owners put in -C_f
        (``recapitalisation``) if the firm is worth keeping, E_f = C_f + R_f - D_f + V_f + G_f > 0
        (R_f its accounts receivable, D_f its debt, V_f what its allowances would sell for at exit
        less the penalty on last year's emissions it cannot surrender, :meth:`allowance_settlement`
        and :meth:`unmet_obligation`, G_f :meth:`going_concern_value`, judged on the firm's
        prospects), else it exits (its loans are written off). A solvent firm with at least
        ``exit_after_months`` months of accounts exits when staying is worth less than leaving,
        G_f < S_f - X_f, with S_f = 0 the scrap value of its
        site-specific plant (assumption) and X_f = ``closure_cost_months`` x its fixed cost.
        """
        firms, econ = self.firms, self.scenario.economy
        if self.scenario.credit.enabled:
            self.credit.finance_shortfalls()
        rows = firms.live
        cash = self.firm_cash(rows)
        value = self.going_concern_value(rows)
        short = cash < 0
        keep = short & (self.owners_equity(rows, value) > 0)
        self.ledger.transfer("recapitalisation", self.outside, firms.account[rows[keep]], -cash[keep])
        insolvent = short & ~keep
        closure = econ.closure_cost_months * self.sector_fixed_cost[firms.sector[rows]] * firms.size[rows]
        economic = ~short & (firms.margin_months[rows] >= econ.exit_after_months) & (value < -closure)
        self.exits_insolvent += int(insolvent.sum())
        self.exits_economic += int(economic.sum())
        self.remove_firms(rows[insolvent | economic])

    def deliver_and_dispose(self) -> None:
        """Phase 3: deliveries through links, then disposal, input purchases and reuse quotas."""
        self.byproduct_market.deliver()
        self.recycling.operate()
        dispose_and_buy_inputs(self)
        self.byproduct_market.assess_quota()

    def exit_and_enter(self) -> None:
        """Phase 8: exits by the exit rule (:meth:`exit_rule`); entry onto vacant plots.

        Each vacant plot then gets a new firm with probability ``entry_rate``, of a sector drawn
        in proportion to the scenario's counts.
        """
        econ = self.scenario.economy
        self.exit_rule()
        vacant = self.vacant_plots()
        rng = self.draws("entry")
        filled = vacant[rng.random(len(self.plot_xy))[vacant] < econ.entry_rate]
        self.entries_this_step = len(filled)
        if len(filled):
            weights = np.zeros(len(self.catalogue.sectors))
            for key, count in self.scenario.park.firms.items():
                weights[self.catalogue.sector_keys.index(key)] = count
            sectors = rng.choice(len(weights), size=len(filled), p=weights / weights.sum())
            self.add_firms(sectors, filled, rng)
