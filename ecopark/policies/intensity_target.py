"""Emission-intensity targets with dynamic exit: covered firms must cut their emission intensity
every year; a firm that misses for ``miss_years`` consecutive years is ordered to upgrade or leave.

DOMAIN 4 (industry report, MIIT green-manufacturing guide 2021-2025): key firms' unit energy,
water and pollutant intensity must fall by at least 3% a year; parks and firms that miss targets
face dynamic exit (the industry report's 2023 rule puts parks that miss two years running on
notice, then delists them).

Each compliance year (12 steps) the policy sums every covered firm's emissions E_f (tCO2e, as
the model records them: ``firms.emissions``, after links and abatement) and output q_f; its
intensity is I_f = E_f / q_f. The first full year a firm is covered fixes its base
B_f = sum_t (E_ft / K_ft) / q_f, its intensity gross of the technologies installed since the
target started: K_ft = prod_j (1 - share_j) over the firm's technologies in operation installed
at or after the policy's ``start`` (1 when none). So abatement installed once the target is in
force counts towards it, whenever it was installed: a plant that installs a step in its base
year is not held to a base that already contains it (the finding of issue 23: early abaters
were forced out). Technologies installed before the start are part of the base. In its y-th
year after the base year a firm's target is B_f (1 - reduction)^y, missed when I_f > target.
A firm missing ``miss_years`` consecutive years is **ordered** (:meth:`IntensityTarget.order`):

* it must install, from its abatement menu (``AbatementPortfolio.menu``) in order of MAC, the
  technologies that bring its intensity this month to next year's target:
  I_now - i_s (1 - S_f) (1 - prod_j (1 - share_j)) <= B_f (1 - reduction)^(y+1), with i_s the
  sector's BAU intensity and S_f its installed abatement share; if its whole menu cannot, it
  must leave;
* its owners choose: staying is worth V = M'_f / A(r_f, horizon) - sum_j financing_cost_j,
  with M'_f = M_f - sum_j opex_j s_f + v_f sum_j a_fj: M_f the firm's mean monthly operating
  margin over the year just assessed, as a bank sees it (``CreditMarket.margin``), v_f the
  carbon value of a tonne abated (carbon tax or pool value, plus the expected allowance price
  for a firm under the cap), a_fj what technology j abates,
  A the monthly annuity factor at the firm's hurdle rate r_f over ``horizon_months`` and
  financing_cost what paying each technology's capex costs it (``Enterprise.financing_cost``).
  If V > 0 it upgrades: owners put in whatever cash the financing plan lacks
  (``recapitalisation``) and the technologies are installed through the abatement portfolio
  (``AbatementPortfolio.install``: subsidy, green loan, cash); otherwise it is a **forced exit**
  (``ParkModel.remove_firms``: its links end, its loans are written off).

Energy intensity is not targeted: the model keeps no energy account for most sectors.
Firms do not anticipate the target before an order; after an order the count of misses
restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ecopark.catalogue import load_catalogue
from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.call_auction import clear_uniform_price
from ecopark.policies.base import Policy, PolicyParams, check_names, register
from ecopark.schema import param

if TYPE_CHECKING:
    from ecopark.model import ParkModel

ENERGY_INTENSIVE = ["refining", "fine_chemicals", "chlor_alkali", "aluminium", "copper", "building_materials"]


@dataclass(frozen=True)
class IntensityTargetParams(PolicyParams):
    covered_sectors: list[str] = param(ENERGY_INTENSIVE, names="sectors",
                                       doc="sectors whose firms have intensity targets")
    reduction: float = param(0.03, lo=0, hi=0.5, unit="1/year",
                             doc="yearly cut in emission intensity (tCO2e per unit of output) asked of each "
                                 "covered firm, compounded from its base year (DOMAIN 4: at least 3%)")
    miss_years: int = param(2, lo=1, hi=50, unit="years",
                            doc="consecutive years missed after which a firm is ordered to upgrade or leave")
    horizon_months: int = param(120, lo=1, hi=600, unit="months",
                                doc="horizon over which owners value staying in the park when ordered")
    credit_trading: bool = param(True, doc="covered firms that beat their year's target sell the surplus "
                                           "(tCO2e) to firms that miss it, in a uniform-price call auction at the "
                                           "assessment; a firm that buys its whole shortfall meets the target "
                                           "(NDRC 2016 pilot scheme for the paid use and trading of energy-use "
                                           "rights: Zhejiang, Fujian, Henan, Sichuan)")

    def validate(self, path: str) -> None:
        super().validate(path)
        check_names(f"{path}.covered_sectors", self.covered_sectors, load_catalogue().sector_keys, "sector")


@register
class IntensityTarget(Policy):
    """Yearly intensity assessment, orders to upgrade, forced exits (module docstring)."""

    name = "intensity_target"
    Params = IntensityTargetParams

    def __init__(self, params: IntensityTargetParams, model: ParkModel) -> None:
        super().__init__(params, model)
        keys = model.catalogue.sector_keys
        self.sector_mask = np.isin(np.arange(len(keys)), [keys.index(k) for k in params.covered_sectors])
        self.year_emissions = np.zeros(0)  # tCO2e this compliance year, per firm row
        self.year_gross = np.zeros(0)  # tCO2e this year gross of technologies installed since the start
        self.year_output = np.zeros(0)  # output units this compliance year
        self.months = np.zeros(0, dtype=np.int64)  # months covered this compliance year
        self.year_margin = np.zeros(0)  # yuan, sum of monthly operating margins this compliance year
        self.base = np.zeros(0)  # base-year intensity, NaN until measured
        self.years = np.zeros(0, dtype=np.int64)  # years assessed since the base year
        self.misses = np.zeros(0, dtype=np.int64)  # consecutive years missed
        self.orders = self.upgrades = self.forced_exits = 0  # this month
        self.credits_traded = 0.0  # tCO2e of intensity credits traded over the run
        self.credit_routes = 0  # ordered firms that stayed to buy credits, over the run
        self.credit_price = float("nan")  # yuan/tCO2e, the last assessment's clearing price
        self.orders_total = self.upgrades_total = self.forced_exits_total = 0
        self.assessments = self.met = 0  # yearly assessments against a target, and how many met it

    def _grow(self) -> None:
        extra = self.model.firms.n - len(self.base)
        if extra > 0:
            self.year_emissions = np.r_[self.year_emissions, np.zeros(extra)]
            self.year_gross = np.r_[self.year_gross, np.zeros(extra)]
            self.year_output = np.r_[self.year_output, np.zeros(extra)]
            self.months = np.r_[self.months, np.zeros(extra, dtype=np.int64)]
            self.year_margin = np.r_[self.year_margin, np.zeros(extra)]
            self.base = np.r_[self.base, np.full(extra, np.nan)]
            self.years = np.r_[self.years, np.zeros(extra, dtype=np.int64)]
            self.misses = np.r_[self.misses, np.zeros(extra, dtype=np.int64)]

    def covered(self, rows: np.ndarray) -> np.ndarray:
        """Mask of ``rows`` in the covered sectors."""
        return self.sector_mask[self.model.firms.sector[rows]]

    def regulate(self) -> None:
        """Phase 8 hook: add the month's emissions and output; at year end assess and order."""
        model, firms = self.model, self.model.firms
        self._grow()
        self.orders = self.upgrades = self.forced_exits = 0
        rows = firms.live
        rows = rows[self.covered(rows)]
        self.year_emissions[rows] += firms.emissions[rows]
        self.year_gross[rows] += firms.emissions[rows] / self.kept_since_start(rows)
        self.year_output[rows] += firms.output[rows]
        self.months[rows] += 1
        self.year_margin[rows] += model.credit.margin(rows)
        self.abate_for_credits(rows)
        if model.steps % 12:
            return
        full = rows[(self.months[rows] == 12) & (self.year_output[rows] > 0)]
        intensity = self.year_emissions[full] / self.year_output[full]
        new = np.isnan(self.base[full])
        self.base[full[new]] = self.year_gross[full[new]] / self.year_output[full[new]]
        due, achieved = full[~new], intensity[~new]
        self.years[due] += 1
        target = self.base[due] * (1.0 - self.params.reduction) ** self.years[due]
        missed = achieved > target
        if self.params.credit_trading and missed.any():
            missed &= ~self.trade_credits(due, target)
        self.misses[due] = np.where(missed, self.misses[due] + 1, 0)
        self.assessments += len(due)
        self.met += int((~missed).sum())
        ordered = due[self.misses[due] >= self.params.miss_years]
        if len(ordered):
            self.misses[ordered] = 0
            self.order(ordered)
        self.year_emissions[rows] = self.year_gross[rows] = self.year_output[rows] = self.year_margin[rows] = 0.0
        self.months[rows] = 0

    def willingness(self, rows: np.ndarray, shortfall: np.ndarray) -> np.ndarray:
        """w_f (yuan/tCO2e): what a firm missing its target pays at most per tonne of intensity
        credit, its cheapest other route to cover ``shortfall`` (tCO2e over the year): the levelised
        cost (MAC, ``AbatementPortfolio.steps``: capex annuity net of subsidy and financing, plus
        opex) of the last of its remaining technologies, in MAC order, needed to abate the shortfall
        in a year; if its whole menu cannot, staying is worth at most a year of its mean margin this
        year per tonne, 12 max(M_f, 0) / shortfall_f."""
        mac, _, a = self.model.abatement.steps(rows)
        reach = np.cumsum(12.0 * a, axis=1) >= shortfall[:, None]
        first = np.argmax(reach, axis=1)
        tech = np.take_along_axis(mac, first[:, None], axis=1)[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            stay = 12.0 * np.maximum(self.year_margin[rows] / 12.0, 0.0) / shortfall
        return np.where(reach.any(axis=1) & np.isfinite(tech), tech, stay)

    def trade_credits(self, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Intensity credits at the year's assessment (``credit_trading``). Firm f of ``rows`` with
        target T_f, emissions E_f and output q_f holds a surplus s_f = max(T_f q_f - E_f, 0) or a
        shortfall d_f = max(E_f - T_f q_f, 0) (tCO2e). Sellers ask 0 (the surplus expires at the
        assessment: assumption), buyers bid :meth:`willingness`; one uniform-price call auction
        (``markets/call_auction.clear_uniform_price``) clears them, each buyer paying each seller the
        price x the tonnes it takes from it, pro rata to what the seller sells
        (``intensity_credit_trade``). Returns the mask of ``rows`` whose shortfall is covered: they
        meet the target. The credits are real over-achievement, so the covered firms together still
        emit at most sum_f T_f q_f. With no shortfall the price is 0; with no surplus it is unchanged."""
        model = self.model
        q, e = self.year_output[rows], self.year_emissions[rows]
        surplus, shortfall = np.maximum(target * q - e, 0.0), np.maximum(e - target * q, 0.0)
        buyers, sellers = np.flatnonzero(shortfall > 0), np.flatnonzero(surplus > 0)
        covered = np.zeros(len(rows), dtype=bool)
        if not len(buyers):
            self.credit_price = 0.0  # nobody short: a surplus is worth nothing this year
        if not len(buyers) or not len(sellers):
            return covered
        bids = self.willingness(rows[buyers], shortfall[buyers])
        clearing = clear_uniform_price(bids, shortfall[buyers], np.zeros(len(sellers)), surplus[sellers])
        if clearing.volume <= 0:
            return covered
        accounts, price = model.firms.account, clearing.price
        share = np.outer(clearing.buy_fills, clearing.sell_fills) / clearing.volume  # t buyer i takes from seller j
        model.ledger.transfer("intensity_credit_trade", np.repeat(accounts[rows[buyers]], len(sellers)),
                              np.tile(accounts[rows[sellers]], len(buyers)), (price * share).ravel())
        self.credits_traded += clearing.volume
        self.credit_price = price
        covered[buyers] = clearing.buy_fills >= shortfall[buyers] * (1.0 - 1e-9)
        return covered

    def abate_for_credits(self, rows: np.ndarray) -> None:
        """Under ``credit_trading`` a tonne a covered firm abates is worth the last clearing price
        of intensity credits p_c on top of its carbon value v_f (it saves a credit bought or makes
        one sold): each month every covered firm with a base installs its cheapest remaining
        technology whose MAC is below v_f + p_c (``AbatementPortfolio.menu``, :meth:`upgrade`:
        subsidy, green loan, cash, the owners putting in what the plan lacks), as phase 5 does
        for the carbon value alone. Abatement is thus taken
        where it is cheapest before anyone is ordered."""
        price = self.credit_price
        if not self.params.credit_trading or not np.isfinite(price) or price <= 0:
            return
        rows = rows[~np.isnan(self.base[rows])]
        if not len(rows):
            return
        value = self.carbon_value(rows) + price
        mac, _ = self.model.abatement.menu(rows)
        worth = np.where(mac < value[:, None], mac, np.inf)
        best = np.argmin(worth, axis=1)
        take = np.isfinite(worth[np.arange(len(rows)), best])
        self.upgrade(rows[take], best[take], value[take])

    def upgrade(self, rows: np.ndarray, techs: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Install technology techs[i] at firm rows[i] (``AbatementPortfolio.install``: subsidy,
        green loan, cash), the owners putting in the cash the financing plan lacks
        (``recapitalisation``) as for an ordered upgrade (:meth:`order`); returns the mask done."""
        model, firms, portfolio = self.model, self.model.firms, self.model.abatement
        for row, tech, v in zip(rows, techs, value, strict=True):
            agent = model.firm_agents[int(row)]
            capex = float(portfolio.capex[tech] * firms.size[row])
            cash_flow = float(portfolio.project_cash_flow(np.array([row]), np.array([tech]), np.array([v]))[0])
            lacking = np.ceil((agent.financing(capex, "abatement", cash_flow)[2] - agent.cash) * 100) / 100
            if lacking > 0:  # to the fen above: the ledger books whole fen
                model.ledger.transfer("recapitalisation", model.outside, int(firms.account[row]), lacking)
        return portfolio.install(rows, techs, value)

    def credit_terms(self, rows: np.ndarray, output: np.ndarray, years: int) -> tuple[np.ndarray, np.ndarray]:
        """What firms ``rows`` can expect of intensity credits (``prospective_margin``): (p_c per row,
        yuan/tCO2e: the last clearing price, expected to stay (assumption), 0 for firms not covered,
        without a base, or without credit trading or a positive price; T_f,k q_f, rows x years,
        tCO2e/month: the emissions their target allows k years on at normal ``output`` q_f,
        T_f,k = B_f (1 - reduction)^(y_f + 1 + k))."""
        self._grow()
        price = self.credit_price
        k = np.arange(years)[None, :]
        allowed = (np.nan_to_num(self.base[rows])[:, None] * (1.0 - self.params.reduction)
                   ** (self.years[rows][:, None] + 1 + k) * output[:, None])
        on = (self.params.credit_trading and np.isfinite(price) and price > 0 and self.params.enabled
              and self.params.start <= self.model.steps + 1)
        known = self.covered(rows) & ~np.isnan(self.base[rows]) & on
        return np.where(known, price if on else 0.0, 0.0), np.where(known[:, None], allowed, 0.0)

    def credit_route(self, row: int, margin: float) -> bool:
        """Whether an ordered firm ``row`` stays by buying intensity credits instead: with
        ``credit_trading`` and a last clearing price p_c, buying next year's shortfall
        g_f = max(I_f - T_f,y+1, 0) q_f (q_f this year's output, I_f this month's intensity) is
        worth it when (M_f - p_c g_f / 12) / A(r_f, horizon) > 0, M_f its mean monthly margin this
        year."""
        price = self.credit_price
        firms = self.model.firms
        if not self.params.credit_trading or not np.isfinite(price) or firms.output[row] <= 0:
            return False
        target = self.base[row] * (1.0 - self.params.reduction) ** (self.years[row] + 1)
        gap = max(firms.emissions[row] / firms.output[row] - target, 0.0) * self.year_output[row]
        return margin - price * gap / 12.0 > 0

    def kept_since_start(self, rows: np.ndarray) -> np.ndarray:
        """K_f = prod_j (1 - share_j) over the firms' technologies in operation installed at or
        after the policy's start (module docstring); 1 for a firm with none."""
        portfolio = self.model.abatement
        portfolio._grow()
        since = portfolio.installed_at[rows] >= self.params.start
        return np.where(since, 1.0 - portfolio.share[None, :], 1.0).prod(axis=1)

    def carbon_value(self, rows: np.ndarray) -> np.ndarray:
        """v_f (yuan/tCO2e): what a tonne abated saves the firm (tax, pool value, allowance price)."""
        market = self.model.carbon_market
        under_cap = market.covered(rows, "cap_and_trade")
        return market.value_per_tonne(rows) + np.where(under_cap, self.model.expected_carbon_price, 0.0)

    def required_upgrade(self, row: int) -> np.ndarray | None:
        """Technologies (indices, in MAC order) that bring the firm to next year's target, or None."""
        model, firms = self.model, self.model.firms
        portfolio = model.abatement
        rows = np.array([row])
        target = self.base[row] * (1.0 - self.params.reduction) ** (self.years[row] + 1)
        now = firms.emissions[row] / firms.output[row] if firms.output[row] > 0 else np.inf
        mac, _ = portfolio.menu(rows)
        order = np.argsort(mac[0])
        order = order[np.isfinite(mac[0, order])]
        remaining = (1.0 - portfolio.installed_share(rows)[0]) * model.sector_intensity[firms.sector[row]]
        kept = np.cumprod(1.0 - portfolio.share[order])
        projected = now - remaining * (1.0 - kept)
        reach = np.flatnonzero(projected <= target)
        if now <= target:
            return order[:0]
        return order[: reach[0] + 1] if len(reach) else None

    def order(self, rows: np.ndarray) -> None:
        """Order firms ``rows`` to upgrade or leave (module docstring)."""
        model, firms = self.model, self.model.firms
        portfolio, ledger = model.abatement, model.ledger
        value = self.carbon_value(rows)
        margin = self.year_margin[rows] / 12.0
        leaving = []
        for i, row in enumerate(rows):
            row = int(row)
            techs = self.required_upgrade(row)
            if techs is not None and not len(techs):
                continue  # already on next year's path this month (it abated since): no order
            self.orders += 1
            if techs is None:
                if self.credit_route(row, float(margin[i])):
                    self.credit_routes += 1
                else:
                    leaving.append(row)
                continue
            agent = model.firm_agents[row]
            _, abated = portfolio.menu(np.array([row]))
            a = abated[0, techs]  # abated one after another, each on what the earlier ones left
            a = a * np.r_[1.0, np.cumprod(1.0 - portfolio.share[techs])[:-1]]
            opex = portfolio.opex[techs] * firms.size[row]
            capex = portfolio.capex[techs] * firms.size[row]
            cash_flow = value[i] * a - opex
            plans = [agent.financing(float(k), "abatement", float(c)) for k, c in zip(capex, cash_flow, strict=True)]
            cost = sum(agent.financing_cost(float(k), "abatement", float(c), plan)
                       for k, c, plan in zip(capex, cash_flow, plans, strict=True))
            horizon = float(annuity_factor(firms.discount_rate[row], self.params.horizon_months))
            if (margin[i] + cash_flow.sum()) / horizon - cost <= 0:
                if self.credit_route(row, float(margin[i])):
                    self.credit_routes += 1
                else:
                    leaving.append(row)
                continue
            lacking = sum(plan[2] for plan in plans) - agent.cash
            if lacking > 0:
                ledger.transfer("recapitalisation", model.outside, int(firms.account[row]), lacking)
            done = portfolio.install(np.full(len(techs), row), techs, np.full(len(techs), value[i]))
            if done.all():
                self.upgrades += 1
            else:
                leaving.append(row)
        self.orders_total += self.orders
        self.upgrades_total += self.upgrades
        if leaving:
            self.forced_exits += len(leaving)
            self.forced_exits_total += len(leaving)
            model.remove_firms(np.array(leaving, dtype=np.int64))
