"""Outcome definitions: one documented function per metric, the only place each is defined.

``STEP_METRICS`` are recorded every month by the model's DataCollector (one column each in
``RunResult.timeseries``); ``RUN_METRICS`` are scalars computed from a finished model
(``RunResult.metrics``); a run metric that reads step metrics declares them
(``run_metric(unit, steps=...)``), so that a sweep records only what its outcomes need
(:func:`steps_needed`). ``docs/metrics.md`` is generated from these registries
(:func:`markdown`), so the formula shown there is the one in the docstring here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ecopark.markets.credit import COLLATERAL_KINDS

if TYPE_CHECKING:
    from ecopark.model import ParkModel


@dataclass(frozen=True)
class Metric:
    """A named outcome: its unit, the function computing it from a model, and (for a run
    metric) the step metrics it is computed from, which a run must record to compute it."""

    name: str
    unit: str
    func: Callable[[ParkModel], float]
    steps: tuple[str, ...] = ()

    @property
    def formula(self) -> str:
        return " ".join((self.func.__doc__ or "").split())


STEP_METRICS: dict[str, Metric] = {}
RUN_METRICS: dict[str, Metric] = {}


def step_metric(unit: str):
    """Register a per-step metric (recorded each month)."""
    def wrap(func):
        STEP_METRICS[func.__name__] = Metric(func.__name__, unit, func)
        return func
    return wrap


def run_metric(unit: str, steps: tuple[str, ...] = ()):
    """Register a per-run scalar metric computed from the model and the step metrics ``steps``."""
    def wrap(func):
        RUN_METRICS[func.__name__] = Metric(func.__name__, unit, func, steps)
        return func
    return wrap


def steps_needed(run_metrics: Iterable[str]) -> list[str]:
    """The step metrics a run must record to compute ``run_metrics``, in STEP_METRICS order."""
    needed = {step for name in run_metrics for step in RUN_METRICS[name].steps}
    return [name for name in STEP_METRICS if name in needed]


def _over_steps(model: ParkModel, step_metric: str) -> list[float]:
    """The values of ``step_metric`` recorded at each step so far."""
    return model.datacollector.model_vars[step_metric]


def _live(model: ParkModel) -> np.ndarray:
    return model.firms.live


# -- per step ------------------------------------------------------------------------------
@step_metric("firms")
def firms_active(model: ParkModel) -> float:
    """Number of firms in the park at the end of the month."""
    return float(len(_live(model)))


@step_metric("share")
def mean_utilisation(model: ParkModel) -> float:
    """Mean over live firms of output / capacity this month."""
    rows = _live(model)
    return float(model.firms.utilisation[rows].mean()) if len(rows) else 0.0


@step_metric("yuan/month")
def sales(model: ParkModel) -> float:
    """Sum of firms' sales revenue this month (ledger kind `sale`)."""
    return model.ledger.flow("sale", step=model.steps)


@step_metric("tCO2e/month")
def emissions(model: ParkModel) -> float:
    """Sum over live firms of emissions this month."""
    return float(model.firms.emissions[_live(model)].sum())


@step_metric("tCO2e/month")
def emissions_bau(model: ParkModel) -> float:
    """Sum over live firms of business-as-usual emissions this month: output x sector intensity,
    as if there were no links and no abatement (less the green power's grid emissions in sectors
    whose intensity counts their power, agents/electricity.py)."""
    return float(model.firms.emissions_bau[_live(model)].sum())


@step_metric("t/month")
def byproduct_generated_t(model: ParkModel) -> float:
    """Sum of byproducts generated this month over streams measured in tonnes."""
    return float(model.firms.generated[_live(model)][:, model.stream_is_mass].sum())


@step_metric("t/month")
def byproduct_disposed_t(model: ParkModel) -> float:
    """Sum of byproducts disposed of outside the park this month over streams in tonnes."""
    return float(model.firms.disposed[_live(model)][:, model.stream_is_mass].sum())


@step_metric("share")
def reuse_rate_mass(model: ParkModel) -> float:
    """Delivered through links / generated, this month, over streams in tonnes (0 if none generated)."""
    rows = _live(model)
    generated = model.firms.generated[rows][:, model.stream_is_mass].sum()
    delivered = model.firms.delivered_out[rows][:, model.stream_is_mass].sum()
    return float(delivered / generated) if generated > 0 else 0.0


@step_metric("yuan/month")
def disposal_paid(model: ParkModel) -> float:
    """Firms' payments to outside disposal contractors this month (ledger kind `disposal`)."""
    return model.ledger.flow("disposal", step=model.steps)


@step_metric("yuan/month")
def landfill_tax_revenue(model: ParkModel) -> float:
    """Landfill tax collected by government this month (ledger kind `landfill_tax`)."""
    return model.ledger.flow("landfill_tax", step=model.steps)


@step_metric("yuan/month")
def fiscal_spending(model: ParkModel) -> float:
    """Everything government paid out this month (all kinds: subsidies, top-ups, compensation)."""
    return sum(model.ledger.flows_by_kind("government", step=model.steps).tolist())


@step_metric("yuan")
def government_balance(model: ParkModel) -> float:
    """Government's ledger balance: cumulative taxes and revenues minus subsidies paid."""
    return model.ledger.balance(model.government.account)


@step_metric("yuan")
def firm_cash(model: ParkModel) -> float:
    """Sum of live firms' cash (ledger balances)."""
    return float(model.firm_cash(_live(model)).sum())


@step_metric("firms/month")
def exits(model: ParkModel) -> float:
    """Firms that left the park this month."""
    return float(model.exits_this_step)


@step_metric("firms/month")
def entries(model: ParkModel) -> float:
    """Firms that entered a vacant plot this month."""
    return float(model.entries_this_step)


@step_metric("fen")
def money_total(model: ParkModel) -> float:
    """Sum of all ledger balances in fen (0.01 yuan): always exactly 0 (an invariant)."""
    return float(model.ledger.total())


# -- byproduct exchange --
#: The private parties' step surpluses (yuan/month), whose sums make surplus_total.
_PRIVATE_SURPLUS = ("surplus_supplier", "surplus_receiver", "surplus_operator")


@step_metric("share")
def adoption_rate(model: ParkModel) -> float:
    """Share of live firms that are supplier or receiver in at least one active link."""
    rows = _live(model)
    links = model.byproduct_market.links
    live = links.live
    linked = np.isin(rows, np.r_[links.supplier[live], links.receiver[live]])
    return float(linked.mean()) if len(rows) else 0.0


@step_metric("links")
def links_active(model: ParkModel) -> float:
    """Number of active links at the end of the month."""
    return float(len(model.byproduct_market.links.live))


@step_metric("links/month")
def links_formed(model: ParkModel) -> float:
    """Links formed this month (new contracts, including a pair contracting again after expiry)."""
    return float(model.byproduct_market.formed_this_step)


@step_metric("yuan/month")
def surplus_supplier(model: ParkModel) -> float:
    """Suppliers' link gains this month by the one definition of a link's gain (``markets/contracts.py``,
    ``LinkBook.book_month``): sum over links of delivered x (disposal cost + landfill tax + price) + quota
    fines avoided (only below the quota) + the carbon value (expected carbon price x additional tCO2e
    avoided) where the supplier is credited - platform fee half and commission share - in-plant
    recycling margin forgone - capex annuity net of the capex subsidy - half the negotiation cost / contract
    months, + risk-fund compensation received."""
    return model.byproduct_market.gains["supplier"]


@step_metric("yuan/month")
def surplus_receiver(model: ParkModel) -> float:
    """Receivers' link gains this month by the same definition as `surplus_supplier`: sum over links of
    delivered x (virgin price - processing - price) - transport - infrastructure fees + reuse subsidies,
    posted-price top-ups and mandatory-consumption value received + the carbon value where the receiver
    is credited - platform fee half and commission share - capex annuity net of the capex subsidy - half
    the negotiation cost / contract months, + risk-fund compensation received."""
    return model.byproduct_market.gains["receiver"]


@step_metric("yuan/month")
def surplus_operator(model: ParkModel) -> float:
    """Operator's gain from links this month: platform fees + link commissions + infrastructure connection
    and throughput fees paid by links that use its shared infrastructure."""
    return model.byproduct_market.gains["operator"]


@step_metric("yuan/month")
def surplus_government(model: ParkModel) -> float:
    """Government's net from links this month: -(reuse subsidies + posted-price top-ups + risk
    compensation + landfill tax no longer collected on reused tonnes + reuse-quota fines avoided)."""
    return model.byproduct_market.gains["government"]


# -- carbon --
@step_metric("yuan/tCO2e")
def carbon_price(model: ParkModel) -> float:
    """Last call-auction clearing price; with a carbon tax and no cap, the tax rate; 0 if neither."""
    market = model.carbon_market
    if model.policy("cap_and_trade") and np.isfinite(market.last_price):
        return float(market.last_price)
    tax = model.policy("carbon_tax")
    return float(tax.params.rate) if tax and not model.policy("cap_and_trade") else 0.0


@step_metric("yuan/tCO2e")
def expected_carbon_price(model: ParkModel) -> float:
    """The carbon price firms expect (adaptive: E <- E + w (P - E) after each session)."""
    return float(model.expected_carbon_price)


@step_metric("tCO2e/month")
def emissions_cap(model: ParkModel) -> float:
    """This compliance year's cap / 12 (0 without cap-and-trade)."""
    return model.carbon_market.cap / 12 if model.policy("cap_and_trade") else 0.0


@step_metric("tCO2e/month")
def emissions_covered(model: ParkModel) -> float:
    """Emissions this month of firms in sectors under the cap."""
    rows = _live(model)
    return float(model.firms.emissions[rows[model.carbon_market.covered(rows, "cap_and_trade")]].sum())


@step_metric("share")
def abatement_adoption(model: ParkModel) -> float:
    """Share of live firms with at least one abatement technology in operation."""
    rows = _live(model)
    model.abatement._grow()
    return float(model.abatement.installed[rows].any(axis=1).mean()) if len(rows) else 0.0


@step_metric("tCO2e/month")
def emissions_abated(model: ParkModel) -> float:
    """Sum over live firms of tCO2e abated this month by their technologies in operation."""
    return float(model.firms.abated[_live(model)].sum())


@step_metric("tCO2e")
def allowances_held(model: ParkModel) -> float:
    """Allowances held by firms (after a year end: the banked stock)."""
    return model.carbon_market.held_by_firms()


@step_metric("tCO2e")
def allowance_balance_total(model: ParkModel) -> float:
    """Sum of all allowance balances: issued = surrendered + expired + held makes it 0 (an invariant)."""
    return float(model.allowances.total())


# -- per run -------------------------------------------------------------------------------
@run_metric("yuan")
def total_sales(model: ParkModel) -> float:
    """Sum over the run of firms' sales (ledger kind `sale`)."""
    return model.ledger.flow("sale")


@run_metric("tCO2e", steps=("emissions",))
def total_emissions(model: ParkModel) -> float:
    """Sum over steps of `emissions`."""
    return float(sum(_over_steps(model, "emissions")))


@run_metric("tCO2e", steps=("emissions_bau",))
def total_emissions_bau(model: ParkModel) -> float:
    """Sum over steps of `emissions_bau`."""
    return float(sum(_over_steps(model, "emissions_bau")))


@run_metric("tCO2e", steps=("emissions", "emissions_bau"))
def emissions_avoided(model: ParkModel) -> float:
    """total_emissions_bau - total_emissions: emissions avoided by links and abatement."""
    return total_emissions_bau(model) - total_emissions(model)


@run_metric("share")
def reuse_rate_mass_total(model: ParkModel) -> float:
    """Delivered / generated over the whole run, over streams in tonnes."""
    mass = model.stream_is_mass
    generated = model.stream_totals["generated"][mass].sum()
    return float(model.stream_totals["delivered"][mass].sum() / generated) if generated > 0 else 0.0


@run_metric("yuan")
def landfill_tax_total(model: ParkModel) -> float:
    """Landfill tax collected over the run."""
    return model.ledger.flow("landfill_tax")


@run_metric("yuan")
def subsidies_paid(model: ParkModel) -> float:
    """All payments from government to other parties over the run (every subsidy kind)."""
    return sum(model.ledger.flow(k, "government") for k in model.ledger.kinds)


@run_metric("yuan")
def fiscal_cost(model: ParkModel) -> float:
    """-(government balance): subsidies paid minus taxes and revenues collected, net."""
    return -model.ledger.balance(model.government.account)


#: What the operator receives that is financing, not revenue.
OPERATOR_FINANCING = ("equity", "capex_subsidy", "ppp_investment", "infrastructure_loan")


@run_metric("yuan")
def operator_revenue(model: ParkModel) -> float:
    """Everything the operator received over the run except financing (starting equity, capex
    subsidy, PPP investment, infrastructure loans), net of what it passed straight on: carbon-pool
    sales less the payouts to contributing firms (it keeps the pool commission)."""
    received = sum(model.ledger.flow(k, None, "operator") for k in model.ledger.kinds if k not in OPERATOR_FINANCING)
    return received - model.ledger.flow("carbon_pool_payout", "operator", None)


@run_metric("firms")
def firms_final(model: ParkModel) -> float:
    """Firms in the park at the end of the run."""
    return float(len(_live(model)))


@run_metric("firms", steps=("exits",))
def total_exits(model: ParkModel) -> float:
    """Firms that exited over the run."""
    return float(sum(_over_steps(model, "exits")))


@run_metric("firms", steps=("entries",))
def total_entries(model: ParkModel) -> float:
    """Firms that entered over the run."""
    return float(sum(_over_steps(model, "entries")))


@run_metric("share", steps=("mean_utilisation",))
def mean_utilisation_run(model: ParkModel) -> float:
    """Mean over steps of `mean_utilisation`."""
    values = _over_steps(model, "mean_utilisation")
    return float(np.mean(values)) if values else 0.0


# -- byproduct exchange --
def _link_gains(model: ParkModel) -> np.ndarray:
    """The link gain (yuan, ``LinkBook.firm_gains``) of every firm that ever joined a link."""
    market = model.byproduct_market
    market._grow()
    return market.links.firm_gains(model.firms.n)[market.linked[: model.firms.n]]


@run_metric("links")
def links_formed_total(model: ParkModel) -> float:
    """Links formed over the run (sum of `links_formed`)."""
    return float(model.byproduct_market.links.n)


@run_metric("share")
def adoption_rate_final(model: ParkModel) -> float:
    """`adoption_rate` in the last month."""
    return adoption_rate(model)


@run_metric("share")
def reuse_rate_value_total(model: ParkModel) -> float:
    """sum_k delivered_k x virgin_price_k / sum_k generated_k x virgin_price_k over the run."""
    value = model.stream_virgin_price
    generated = model.stream_totals["generated"] @ value
    return float(model.stream_totals["delivered"] @ value / generated) if generated > 0 else 0.0


@run_metric("yuan", steps=_PRIVATE_SURPLUS)
def surplus_total(model: ParkModel) -> float:
    """Sum over the run of surplus_supplier + surplus_receiver + surplus_operator (private gains)."""
    return float(sum(sum(_over_steps(model, name)) for name in _PRIVATE_SURPLUS))


def _positive_shares(values: Iterable[float]) -> list[float]:
    """max(v_i, 0) / sum_j max(v_j, 0) for each value (all 0 if none is positive): shares in [0, 1]
    that sum to 1, a party that lost getting 0."""
    pos = [max(float(v), 0.0) for v in values]
    total = sum(pos)
    return [v / total if total > 0 else 0.0 for v in pos]


def _share(model: ParkModel, party: str) -> float:
    totals = [sum(_over_steps(model, name)) for name in _PRIVATE_SURPLUS]
    return _positive_shares(totals)[_PRIVATE_SURPLUS.index(f"surplus_{party}")]


@run_metric("share", steps=_PRIVATE_SURPLUS)
def surplus_share_supplier(model: ParkModel) -> float:
    """Suppliers' share of the private link gains over the run, in [0, 1]: G_s+ / (G_s+ + G_r+ + G_o+),
    G_x = sum over steps of surplus_x and G+ = max(G, 0) (a party that lost on links over the run has
    share 0; its loss is in the `surplus_*` series); 0 if no party gained."""
    return _share(model, "supplier")


@run_metric("share", steps=_PRIVATE_SURPLUS)
def surplus_share_receiver(model: ParkModel) -> float:
    """Receivers' share of the private link gains over the run: G_r+ / (G_s+ + G_r+ + G_o+), as
    `surplus_share_supplier`."""
    return _share(model, "receiver")


@run_metric("share", steps=_PRIVATE_SURPLUS)
def surplus_share_operator(model: ParkModel) -> float:
    """Operator's share of the private link gains over the run (platform fees, commissions and
    infrastructure fees): G_o+ / (G_s+ + G_r+ + G_o+), as `surplus_share_supplier`."""
    return _share(model, "operator")


@run_metric("yuan", steps=("surplus_government",))
def surplus_government_total(model: ParkModel) -> float:
    """Sum over the run of surplus_government (negative: links cost the state money)."""
    return float(sum(_over_steps(model, "surplus_government")))


@run_metric("index 0-1")
def gini_link_gains(model: ParkModel) -> float:
    """Gini coefficient of the link gains of the firms that joined a link (each firm's sum of
    `gain_supplier` / `gain_receiver` over its links, ``LinkBook.firm_gains``: capex annuitised net of
    the capex subsidy, fees and negotiation cost included): sum_ij |g_i - g_j| / (2 n^2 mean(g)), gains
    shifted to be >= 0 (0 if none)."""
    gains = _link_gains(model)
    if len(gains) < 2:
        return 0.0
    g = np.sort(gains - min(gains.min(), 0.0))
    if g.sum() <= 0:
        return 0.0
    n = len(g)
    return float((2 * np.arange(1, n + 1) - n - 1) @ g / (n * g.sum()))


@run_metric("share")
def share_worse_off(model: ParkModel) -> float:
    """Share of the firms that joined a link whose link gain (as in `gini_link_gains`: capex annuitised
    net of the capex subsidy, so a young link is not counted as a loss for its whole investment) is
    negative."""
    gains = _link_gains(model)
    return float((gains < 0).mean()) if len(gains) else 0.0


#: Receivers kept per supplier and stream in the match-efficiency optimum: its LP has at most
#: this many pairs per supplier (plus the active links' pairs), so memory is linear in firms.
BEST_PARTNERS = 40
#: Pair values computed at once (supplier block x receivers) in the match-efficiency optimum.
PAIR_BLOCK = 1_000_000


def match_surplus(model: ParkModel) -> tuple[float, float]:
    """(surplus of the active links' deliveries, surplus of the surplus-maximising match), yuan/month,
    this month, both valued per unit by the same coefficient (``ByproductMarket.pair_values``):

        u_srk = a_s + a_r + sub_k + t_k - A(capex_srk - capex subsidy) / min(g_sk, n_rk)

    actual = sum over active links of u x delivered; best = max sum u x f over flows f >= 0 with
    sum_r f_srk <= g_sk (generated) and sum_s f_srk <= n_rk (needs), pairs within the stream's
    distance. Deliveries never exceed generation or need, so the links' flows are feasible and
    actual <= best. The optimum keeps, for each supplier and stream, its BEST_PARTNERS best receivers
    and the pairs of its active links (pairs valued block by block, PAIR_BLOCK values at a time):
    memory linear in firms; the kept optimum is at most the full one and at least actual.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    from ecopark.markets.byproduct import annuity_factor

    market, firms, links = model.byproduct_market, model.firms, model.byproduct_market.links
    rows, unit = firms.live, market.unit_values()
    live = links.live
    live = live[links.delivered[live] > 0]
    months = market.spec.contract_months
    coef, var_s, var_r, var_k, actual = [], [], [], [], 0.0
    for k in range(len(market.piped)):
        supply, demand = firms.generated[rows, k], firms.needs[rows, k]
        sup, rec = rows[supply > 0], rows[demand > 0]
        if not len(sup) or not len(rec):
            continue
        g, need = supply[supply > 0], demand[demand > 0]
        mine = live[links.stream[live] == k]
        at_r = np.full(firms.n, -1)
        at_r[rec] = np.arange(len(rec))
        block = max(1, PAIR_BLOCK // len(rec))
        for lo in range(0, len(sup), block):
            sb = sup[lo: lo + block]
            values = market.pair_values(k, sb, rec, unit)
            rate = (firms.discount_rate[sb][:, None] + firms.discount_rate[rec][None, :]) / 2
            capex = values["capex"] - market._capex_subsidy_share(values["capex"])
            q = np.minimum(g[lo: lo + block][:, None], need[None, :])
            u = (values["a_s"] + values["a_r"] + values["subsidy"] + values["topup"]
                 - capex * annuity_factor(rate, months) / q)
            u = np.where((values["dist"] > market.stream["max_distance"][k]) | (sb[:, None] == rec[None, :]),
                         np.nan, u)
            keep = np.zeros(u.shape, dtype=bool)
            ranked = np.where(np.isfinite(u) & (u > 0), u, -np.inf)
            top = min(BEST_PARTNERS, len(rec))
            best_j = np.argpartition(-ranked, top - 1, axis=1)[:, :top]
            keep[np.arange(len(sb))[:, None], best_j] = True
            at_s = np.full(firms.n, -1)
            at_s[sb] = np.arange(len(sb))
            i, j = at_s[links.supplier[mine]], at_r[links.receiver[mine]]
            ok = (i >= 0) & (j >= 0)
            value = u[i[ok], j[ok]]
            actual += float(np.nansum(value * links.delivered[mine[ok]]))
            keep[i[ok], j[ok]] = True
            keep &= np.isfinite(u) & (u > 0)
            bi, bj = np.nonzero(keep)
            coef.append(u[bi, bj])
            var_s.append(np.searchsorted(rows, sb[bi]))
            var_r.append(np.searchsorted(rows, rec[bj]))
            var_k.append(np.full(len(bi), k))
    if not coef or not sum(len(c) for c in coef):
        return actual, 0.0
    c, vs, vr, vk = (np.concatenate(x) for x in (coef, var_s, var_r, var_k))
    n_k = len(market.piped)
    # constraint rows: one per (supplier, stream) and one per (receiver, stream), only those used
    cons_s, s_idx = np.unique(vs * n_k + vk, return_inverse=True)
    cons_r, r_idx = np.unique(vr * n_k + vk, return_inverse=True)
    n = len(c)
    a_ub = sparse.csr_matrix((np.ones(2 * n), (np.r_[s_idx, len(cons_s) + r_idx], np.r_[np.arange(n), np.arange(n)])),
                             shape=(len(cons_s) + len(cons_r), n))
    b_ub = np.r_[firms.generated[rows[cons_s // n_k], cons_s % n_k], firms.needs[rows[cons_r // n_k], cons_r % n_k]]
    res = linprog(-c, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"match-efficiency LP failed: {res.message}")
    return actual, float(-res.fun)


@run_metric("share")
def match_efficiency(model: ParkModel) -> float:
    """Surplus of the active links' deliveries / surplus of the surplus-maximising match of all live
    firms' generation and needs (all pairs visible, no contracts), in the last month, both valued by
    the same per-unit coefficient (``match_surplus``), so that it lies in [0, 1] (negative actual
    surplus reads 0; the clip at 1 only absorbs the LP solver's tolerance); 0 if no match has
    surplus."""
    actual, best = match_surplus(model)
    return float(np.clip(actual / best, 0.0, 1.0)) if best > 0 else 0.0


@run_metric("yuan/t")
def fiscal_cost_per_tonne_reused(model: ParkModel) -> float:
    """(capex subsidies + reuse subsidies + posted-price top-ups + risk compensation) paid over the
    run / tonnes reused through links (streams in t)."""
    kinds = ("capex_subsidy", "reuse_subsidy", "posted_price_topup", "risk_compensation")
    paid = sum(model.ledger.flow(k, "government") for k in kinds)
    tonnes = model.stream_totals["delivered"][model.stream_is_mass].sum()
    return float(paid / tonnes) if tonnes > 0 else 0.0


@run_metric("chains")
def exchange_chains_final(model: ParkModel) -> float:
    """Distinct (stream, supplier sector, receiver sector) among the active links in the last
    month: the model's counterpart of DOMAIN's "cross-firm material cycle chains"."""
    links, firms = model.byproduct_market.links, model.firms
    live = links.live
    chains = set(zip(links.stream[live], firms.sector[links.supplier[live]], firms.sector[links.receiver[live]],
                     strict=True))
    return float(len(chains))


#: The operator's income by line of business (ledger kinds received); the pool line is net.
OPERATOR_INCOME = {
    "rent": ("rent",),
    "infrastructure": ("infrastructure_connection", "infrastructure_throughput"),
    "services": ("carbon_accounting_fee", "energy_management_fee"),
    "platform": ("platform_fee", "operator_commission"),
    "green_power": ("green_power", "green_power_fee"),
    "reclaimed_water": ("reclaimed_water", "reclaimed_water_fee"),
}


def operator_income(model: ParkModel) -> dict[str, float]:
    """The operator's income over the run by line (yuan): the OPERATOR_INCOME kinds received, and
    ``pool`` = carbon-pool sales - payouts to contributors (its commission)."""
    ledger = model.ledger
    out = {line: sum(ledger.flow(k, None, "operator") for k in kinds) for line, kinds in OPERATOR_INCOME.items()}
    out["pool"] = ledger.flow("allowance_sale", None, "operator") - ledger.flow("carbon_pool_payout", "operator")
    return out


def _income_share(model: ParkModel, line: str) -> float:
    """max(I_line, 0) / sum over lines of max(I, 0), in [0, 1]: a line that lost money over the run
    (carbon-pool payouts above its sales) counts as no income, and float noise cannot leave [0, 1]."""
    income = {k: max(float(v), 0.0) for k, v in operator_income(model).items()}
    total = sum(income.values())
    return min(income[line] / total, 1.0) if total > 0 else 0.0


@run_metric("share")
def operator_rent_share(model: ParkModel) -> float:
    """Rent / the operator's income over the run (rent + infrastructure fees + services + platform
    fees and link commissions + green power sales and fees + carbon-pool commission): its revenue mix."""
    return _income_share(model, "rent")


def _link_sums(model: ParkModel) -> tuple[float, float, float]:
    links = model.byproduct_market.links
    n = links.n
    return (float(links.gain_supplier[:n].sum()), float(links.gain_receiver[:n].sum()),
            float(links.commission_paid[:n].sum()))


@run_metric("share")
def link_split_supplier(model: ParkModel) -> float:
    """Suppliers' share of the two firms' link gains over the run, in [0, 1]: G_s+ / (G_s+ + G_r+) with
    G_s, G_r the sums of links.csv's `gain_supplier`, `gain_receiver` (``LinkBook.book_month``: capex
    annuity, fees, commission and negotiation cost included) and G+ = max(G, 0); beta under nash/equal
    when links deliver as contracted and prices hold; 0 if neither side gained."""
    s, r, _ = _link_sums(model)
    return _positive_shares((s, r))[0]


@run_metric("share")
def link_split_operator(model: ParkModel) -> float:
    """Operator's commission / the links' realised net surplus over the run, in [0, 1]: C / (G_s+ + G_r+
    + C), platform and infrastructure fees excluded (m under operator_commission)."""
    s, r, c = _link_sums(model)
    return _positive_shares((s, r, c))[2]


@run_metric("yuan")
def quota_fines_avoided(model: ParkModel) -> float:
    """Reuse-quota fines suppliers avoided through links over the run: fine x reuse up to the quota
    (fine x min(reused, quota x generated) per firm, stream and year), lost to government."""
    links = model.byproduct_market.links
    return float(links.quota_avoided[: links.n].sum())


@run_metric("negotiations")
def negotiations(model: ParkModel) -> float:
    """Negotiations held over the run (bargaining friction; posted-price links need none)."""
    return float(model.byproduct_market.bargaining.attempts)


@run_metric("share")
def negotiation_breakdown_rate(model: ParkModel) -> float:
    """Negotiations that broke down / negotiations held over the run (0 if none)."""
    b = model.byproduct_market.bargaining
    return b.breakdowns / b.attempts if b.attempts else 0.0


# -- carbon --
def _session_prices(model: ParkModel) -> np.ndarray:
    return np.array([p for _, p in model.carbon_market.session_prices])


@run_metric("yuan/tCO2e")
def carbon_price_mean(model: ParkModel) -> float:
    """Mean of the call-auction clearing prices over the run (0 if no session traded)."""
    prices = _session_prices(model)
    return float(prices.mean()) if len(prices) else 0.0


@run_metric("yuan/tCO2e")
def carbon_price_volatility(model: ParkModel) -> float:
    """Standard deviation of the clearing prices over the run."""
    prices = _session_prices(model)
    return float(prices.std()) if len(prices) > 1 else 0.0


def _price_band(model: ParkModel) -> tuple[np.ndarray, float, float]:
    """(session prices, reserve price, penalty) of the run's cap-and-trade (prices empty without one)."""
    ets = model.policy("cap_and_trade")
    if ets is None:
        return np.zeros(0), 0.0, 0.0
    return _session_prices(model), ets.params.reserve_price, ets.params.penalty


@run_metric("share")
def carbon_sessions_at_floor(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price is at the reserve price (within 0.5
    yuan/t): count(P <= reserve + 0.5) / sessions (0 if none traded)."""
    prices, floor, _ = _price_band(model)
    return float((prices <= floor + 0.5).mean()) if len(prices) else 0.0


@run_metric("share")
def carbon_sessions_at_penalty(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price is at the penalty (within 0.5 yuan/t):
    count(P >= penalty - 0.5) / sessions (0 if none traded)."""
    prices, _, penalty = _price_band(model)
    return float((prices >= penalty - 0.5).mean()) if len(prices) else 0.0


def _price_quantile(model: ParkModel, q: float) -> float:
    prices = _session_prices(model)
    return float(np.quantile(prices, q)) if len(prices) else 0.0


@run_metric("yuan/tCO2e")
def carbon_price_p10(model: ParkModel) -> float:
    """10th percentile of the call-auction clearing prices over the run (numpy's linear quantile; 0 if no
    session traded)."""
    return _price_quantile(model, 0.1)


@run_metric("yuan/tCO2e")
def carbon_price_median(model: ParkModel) -> float:
    """Median of the call-auction clearing prices over the run (0 if no session traded)."""
    return _price_quantile(model, 0.5)


@run_metric("yuan/tCO2e")
def carbon_price_p90(model: ParkModel) -> float:
    """90th percentile of the call-auction clearing prices over the run (numpy's linear quantile; 0 if no
    session traded)."""
    return _price_quantile(model, 0.9)


@run_metric("share")
def carbon_sessions_in_cea_range(model: ParkModel) -> float:
    """Share of the sessions that traded whose clearing price lies in the range China's national market (CEA)
    has closed in since July 2021, 48-105.66 yuan/t (``ecopark/data/carbon_prices.toml``):
    count(48 <= P <= 105.66) / sessions (0 if none traded)."""
    prices = _session_prices(model)
    return float(((prices >= 48.0) & (prices <= 105.66)).mean()) if len(prices) else 0.0


@run_metric("ratio")
def carbon_first_price_ratio(model: ParkModel) -> float:
    """First session's clearing price / median clearing price of the run (0 if none traded): how far the
    opening session stands from the run's typical price."""
    prices = _session_prices(model)
    return float(prices[0] / np.median(prices)) if len(prices) and np.median(prices) > 0 else 0.0


@run_metric("tCO2e")
def block_trade_volume(model: ParkModel) -> float:
    """Allowances sold firm to firm in block trades over the run, each backed by whole abatement
    steps the sellers installed (``markets/block_trade.py``; allowance ledger kind `block_trade`)."""
    return float(sum(quantity for *_, quantity, _ in model.carbon_market.block_trades))


@run_metric("yuan")
def auction_revenue(model: ParkModel) -> float:
    """Government's allowance sales over the run (ledger `allowance_sale` to government)."""
    return model.ledger.flow("allowance_sale", None, "government")


@run_metric("yuan")
def carbon_penalties(model: ParkModel) -> float:
    """Penalties for allowances short at compliance, plus local-offset quota fines."""
    return model.ledger.flow("carbon_penalty") + model.ledger.flow("offset_quota_fine")


@run_metric("yuan")
def carbon_tax_revenue(model: ParkModel) -> float:
    """Carbon tax collected over the run."""
    return model.ledger.flow("carbon_tax")


@run_metric("yuan")
def carbon_pool_revenue(model: ParkModel) -> float:
    """Proceeds of the operator's carbon pool from selling offset credits."""
    return model.ledger.flow("allowance_sale", None, "operator")


@run_metric("yuan")
def carbon_pool_payouts(model: ParkModel) -> float:
    """Paid by the carbon pool to contributing firms (proceeds less commission)."""
    return model.ledger.flow("carbon_pool_payout")


@run_metric("share")
def abatement_adoption_final(model: ParkModel) -> float:
    """`abatement_adoption` in the last month."""
    return abatement_adoption(model)


@run_metric("tCO2e", steps=("emissions_abated",))
def total_abated(model: ParkModel) -> float:
    """Sum over steps of `emissions_abated`: what abatement technologies avoided over the run."""
    return float(sum(_over_steps(model, "emissions_abated")))


@run_metric("tCO2e")
def allowances_banked_final(model: ParkModel) -> float:
    """Allowances held by firms at the end of the run."""
    return model.carbon_market.held_by_firms()


# -- credit --
def _outstanding(model: ParkModel, green: bool | None = None, npl: bool = False) -> float:
    """Outstanding principal (yuan) of live loans, green or other (None: all), optionally only NPLs."""
    credit = model.credit
    loans = credit.loans
    live = credit.non_performing() if npl else loans.live
    if green is not None:
        live = live[loans.green[live] == green]
    return float(loans.outstanding_fen[live].sum() / 100)


def _mean_rate(model: ParkModel, green: bool) -> float:
    loans = model.credit.loans
    live = loans.live[loans.green[loans.live] == green]
    weight = loans.outstanding_fen[live]
    return float(np.average(loans.rate[live], weights=weight)) if weight.sum() > 0 else 0.0


@step_metric("yuan")
def loans_outstanding(model: ParkModel) -> float:
    """Principal owed to banks at the end of the month, all live loans."""
    return _outstanding(model)


@step_metric("share")
def green_loan_share(model: ParkModel) -> float:
    """Green (link and abatement capex) loans outstanding / all loans outstanding (0 if none)."""
    total = _outstanding(model)
    return _outstanding(model, green=True) / total if total > 0 else 0.0


@step_metric("1/year")
def loan_rate_green(model: ParkModel) -> float:
    """Mean annual rate in force on green loans, weighted by outstanding principal (0 if none)."""
    return _mean_rate(model, True)


@step_metric("1/year")
def loan_rate_other(model: ParkModel) -> float:
    """Mean annual rate in force on working-capital loans, weighted by outstanding (0 if none)."""
    return _mean_rate(model, False)


@step_metric("loans/month")
def loans_approved(model: ParkModel) -> float:
    """Loans made this month (an application some bank approved and the firm took)."""
    return float(model.credit.approvals)


@step_metric("applications/month")
def loans_refused(model: ParkModel) -> float:
    """Loan applications this month that every bank refused."""
    return float(model.credit.refused)


@step_metric("applications/month")
def loans_rationed(model: ParkModel) -> float:
    """Refused applications in which a bank refused for lack of capital (credit rationing)."""
    return float(model.credit.refusals["capital"])


@step_metric("firms/month")
def defaults(model: ParkModel) -> float:
    """Firms that left the park this month owing a bank (their loans written off)."""
    return float(model.credit.defaults)


@step_metric("share")
def npl_ratio(model: ParkModel) -> float:
    """Outstanding of loans with >= npl_after_months consecutive missed instalments / outstanding
    of all loans (0 if none)."""
    total = _outstanding(model)
    return _outstanding(model, npl=True) / total if total > 0 else 0.0


@step_metric("share")
def npl_ratio_green(model: ParkModel) -> float:
    """Outstanding of green loans with >= npl_after_months consecutive missed instalments /
    outstanding of green loans (0 if none)."""
    total = _outstanding(model, green=True)
    return _outstanding(model, green=True, npl=True) / total if total > 0 else 0.0


@step_metric("share")
def npl_ratio_other(model: ParkModel) -> float:
    """The same as `npl_ratio_green` for working-capital loans."""
    total = _outstanding(model, green=False)
    return _outstanding(model, green=False, npl=True) / total if total > 0 else 0.0


@step_metric("yuan")
def bank_equity(model: ParkModel) -> float:
    """Sum of banks' ledger balances: capital plus retained interest margin less losses."""
    return float(sum(bank.cash for bank in model.banks))


@run_metric("yuan")
def loans_disbursed(model: ParkModel) -> float:
    """Principal lent over the run (ledger kind `loan_disbursement`)."""
    return model.ledger.flow("loan_disbursement")


@run_metric("share")
def green_share_disbursed(model: ParkModel) -> float:
    """Green principal lent / all principal lent over the run (0 if none)."""
    loans = model.credit.loans
    total = loans.principal[: loans.n].sum()
    return float(loans.principal[: loans.n][loans.green[: loans.n]].sum() / total) if total > 0 else 0.0


@run_metric("firms", steps=("defaults",))
def defaults_total(model: ParkModel) -> float:
    """Firms that defaulted over the run."""
    return float(sum(_over_steps(model, "defaults")))


def _default_rate(model: ParkModel, green: bool) -> float:
    loans = model.credit.loans
    mask = loans.green[: loans.n] == green
    lent = loans.principal[: loans.n][mask].sum()
    return float(loans.principal_written_off[: loans.n][mask].sum() / lent) if lent > 0 else 0.0


@run_metric("share")
def loss_rate_green(model: ParkModel) -> float:
    """Green principal written off / green principal lent over the run (0 if none lent): the principal
    still unpaid at default, capitalised interest excluded, so it lies in [0, 1]."""
    return _default_rate(model, True)


@run_metric("share")
def loss_rate_other(model: ParkModel) -> float:
    """Working-capital principal written off / working-capital principal lent (0 if none lent): the
    principal still unpaid at default, capitalised interest excluded, so it lies in [0, 1]."""
    return _default_rate(model, False)


@run_metric("share", steps=("npl_ratio",))
def npl_ratio_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio`."""
    return float(np.mean(_over_steps(model, "npl_ratio")))


@run_metric("share", steps=("npl_ratio_green",))
def npl_ratio_green_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio_green`."""
    return float(np.mean(_over_steps(model, "npl_ratio_green")))


@run_metric("share", steps=("npl_ratio_other",))
def npl_ratio_other_mean(model: ParkModel) -> float:
    """Mean over steps of `npl_ratio_other`."""
    return float(np.mean(_over_steps(model, "npl_ratio_other")))


@run_metric("yuan")
def bank_profit(model: ParkModel) -> float:
    """Banks' equity at the end minus their starting capital: interest and subsidies received
    + recoveries and loss cover - funding interest - principal written off."""
    return float(sum(bank.cash - bank.spec.capital for bank in model.banks))


@run_metric("yuan")
def credit_policy_cost(model: ParkModel) -> float:
    """Government's payments for credit policies: `interest_subsidy` + `loan_loss_cover`."""
    return model.ledger.flow("interest_subsidy") + model.ledger.flow("loan_loss_cover")


@run_metric("share")
def sll_target_met_share(model: ParkModel) -> float:
    """Sustainability-linked anniversaries at which the borrower met its intensity target /
    all such anniversaries over the run (0 if none)."""
    credit = model.credit
    return credit.sll_met / credit.sll_reviews if credit.sll_reviews else 0.0


@run_metric("yuan")
def relending_funding_saving(model: ParkModel) -> float:
    """Interest banks saved by central-bank relending: sum over months of relent principal x
    (funding_rate - relending rate) / 12 (the implicit cost of green_relending; not a ledger flow)."""
    return model.credit.funding_saving


# -- secured lending (markets/secured_lending.py) and NPL by loan kind --
@step_metric("yuan")
def secured_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans with collateral pledged (warehouse receipts or allowances)."""
    return model.secured_lending.outstanding()


@step_metric("yuan")
def receipt_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans secured by digital warehouse receipts."""
    return model.secured_lending.outstanding(COLLATERAL_KINDS.index("warehouse_receipt"))


@step_metric("yuan")
def carbon_pledge_loans_outstanding(model: ParkModel) -> float:
    """Outstanding of live loans secured by pledged allowances."""
    return model.secured_lending.outstanding(COLLATERAL_KINDS.index("carbon_allowance"))


@step_metric("tCO2e")
def allowances_pledged(model: ParkModel) -> float:
    """Allowances in the pledge escrow: = sum of the units pledged to live carbon-pledge loans."""
    return model.secured_lending.allowances_pledged()


@step_metric("loans/month")
def margin_calls(model: ParkModel) -> float:
    """Secured loans called this month: outstanding > units x price x (1 - haircut)."""
    return float(model.secured_lending.calls)


@step_metric("yuan")
def loans_outstanding_green(model: ParkModel) -> float:
    """Outstanding of live green (link and abatement capex) loans."""
    return _outstanding(model, green=True)


@step_metric("yuan")
def loans_outstanding_other(model: ParkModel) -> float:
    """Outstanding of live ordinary (working-capital: standard, secured, risk-priced) loans."""
    return _outstanding(model, green=False)


@step_metric("yuan")
def npl_outstanding_green(model: ParkModel) -> float:
    """Outstanding of green loans with >= npl_after_months consecutive missed instalments."""
    return _outstanding(model, green=True, npl=True)


@step_metric("yuan")
def npl_outstanding_other(model: ParkModel) -> float:
    """Outstanding of ordinary loans with >= npl_after_months consecutive missed instalments."""
    return _outstanding(model, green=False, npl=True)


@run_metric("loans", steps=("margin_calls",))
def margin_calls_total(model: ParkModel) -> float:
    """Sum over steps of `margin_calls`."""
    return float(sum(_over_steps(model, "margin_calls")))


@run_metric("yuan")
def collateral_sold_total(model: ParkModel) -> float:
    """Proceeds of pledged collateral banks sold over the run (ledger kind `collateral_sale`)."""
    return model.ledger.flow("collateral_sale")


@run_metric("yuan")
def risk_priced_disbursed(model: ParkModel) -> float:
    """Principal lent unsecured to weak firms at a risk premium over the run."""
    loans = model.credit.loans
    return float(loans.principal[: loans.n][loans.risk_priced[: loans.n]].sum())


@run_metric("share", steps=("npl_outstanding_green", "loans_outstanding_green"))
def npl_ratio_green_pooled(model: ParkModel) -> float:
    """Balance-weighted green NPL ratio over the run, as a bank reports it: sum over steps of
    `npl_outstanding_green` / sum over steps of `loans_outstanding_green` (0 if none)."""
    total = sum(_over_steps(model, "loans_outstanding_green"))
    return float(sum(_over_steps(model, "npl_outstanding_green")) / total) if total > 0 else 0.0


@run_metric("share", steps=("npl_outstanding_other", "loans_outstanding_other"))
def npl_ratio_other_pooled(model: ParkModel) -> float:
    """The same as `npl_ratio_green_pooled` for ordinary loans: sum over steps of
    `npl_outstanding_other` / sum over steps of `loans_outstanding_other` (0 if none)."""
    total = sum(_over_steps(model, "loans_outstanding_other"))
    return float(sum(_over_steps(model, "npl_outstanding_other")) / total) if total > 0 else 0.0


# -- the operator as investor and service provider; the heat cascade --
@run_metric("share")
def operator_infrastructure_share(model: ParkModel) -> float:
    """Infrastructure connection and throughput fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "infrastructure")


@run_metric("share")
def operator_services_share(model: ParkModel) -> float:
    """Carbon accounting and energy management fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "services")


@run_metric("share")
def operator_platform_share(model: ParkModel) -> float:
    """Platform fees and link commissions / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "platform")


@run_metric("share")
def operator_pool_share(model: ParkModel) -> float:
    """Carbon-pool sales less payouts / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "pool")


@step_metric("yuan/month")
def infrastructure_fees(model: ParkModel) -> float:
    """Connection and throughput fees firms paid the operator for its infrastructure this month."""
    step = model.steps
    return (model.ledger.flow("infrastructure_connection", step=step)
            + model.ledger.flow("infrastructure_throughput", step=step))


@run_metric("projects")
def infrastructure_built(model: ParkModel) -> float:
    """Pieces of shared infrastructure the operator built over the run."""
    return float(len(model.infrastructure.projects))


@run_metric("years")
def infrastructure_payback_years(model: ParkModel) -> float:
    """Sum of infrastructure capex / (12 x realised mean monthly fees less opex since each was
    built); 0 if nothing was built, 100 if fees do not cover opex (DOMAIN 4: PPP 6.2 years)."""
    return model.infrastructure.payback_years()


@step_metric("firms")
def accounting_subscribers(model: ParkModel) -> float:
    """Firms in the park subscribed to the operator's carbon accounting this month."""
    return float(model.services.subscribers()[0])


@step_metric("firms")
def energy_subscribers(model: ParkModel) -> float:
    """Firms in the park subscribed to the operator's energy management this month."""
    return float(model.services.subscribers()[1])


@run_metric("yuan")
def services_net_saving(model: ParkModel) -> float:
    """Subscribers' saving less fees over the run: sum over subscriber-months of (mrv_cost -
    accounting fee) and (energy_saving x the month's variable cost before the service, valued at
    the previous month's output - energy_fee)."""
    return model.services.net_saving


@step_metric("GJ/month")
def heat_passed_on(model: ParkModel) -> float:
    """Low-grade heat generated this month by firms passing on heat they received (heat cascade)."""
    return float(model.heat_cascade.passed_on.sum())


@run_metric("GJ", steps=("heat_passed_on",))
def heat_passed_on_total(model: ParkModel) -> float:
    """Sum over steps of `heat_passed_on`."""
    return float(sum(_over_steps(model, "heat_passed_on")))


@run_metric("chains")
def heat_cascade_chains_final(model: ParkModel) -> float:
    """Distinct firm triples (a, b, c) with active links a -> b in a stream with a cascade yield and
    b -> c in the stream it cascades into (e.g. smelter -waste heat-> greenhouse -low-grade heat->
    livestock house) in the last month: exchange chains of three firms."""
    links, cascade = model.byproduct_market.links, model.heat_cascade.matrix
    live = links.live
    s, r, k = links.supplier[live], links.receiver[live], links.stream[live]
    into = cascade[k].any(axis=1)  # links whose stream leaves heat to pass on
    out = cascade[:, k].any(axis=0)  # links carrying passed-on heat
    a, b, i = s[into], r[into], k[into]
    b2, c, j = s[out], r[out], k[out]
    ai, ci = np.nonzero((b[:, None] == b2[None, :]) & (cascade[i][:, j] > 0) & (a[:, None] != c[None, :]))
    return float(len({(int(a[x]), int(b[x]), int(c[y])) for x, y in zip(ai, ci, strict=True)}))


def compute_run_metrics(model: ParkModel, names: Iterable[str] | None = None) -> dict[str, float]:
    """The RUN_METRICS ``names`` (default: all) of a finished model."""
    return {name: float(RUN_METRICS[name].func(model)) for name in (RUN_METRICS if names is None else names)}


def markdown() -> str:
    """The metrics reference (docs/metrics.md), generated from the registries."""
    lines = ["# Metrics", "", "Generated from `ecopark/metrics.py` by `ecopark.metrics.markdown()`; "
             "do not edit by hand.", ""]
    for title, registry in (("Per step (columns of `timeseries`)", STEP_METRICS),
                            ("Per run (`metrics`)", RUN_METRICS)):
        lines += [f"## {title}", "", "| metric | unit | definition |", "|---|---|---|"]
        lines += [f"| `{m.name}` | {m.unit} | {m.formula} |" for m in registry.values()]
        lines.append("")
    return "\n".join(lines)


# -- in-plant recycling and the resource recycling rate (agents/recycling.py) --------------------
@step_metric("t/month")
def recycled_in_plant_t(model: ParkModel) -> float:
    """Sum over live firms of byproducts recycled in their own plants this month, streams in tonnes."""
    return float(model.firms.recycled[_live(model)][:, model.stream_is_mass].sum())


def _mass_share(model: ParkModel, part: str) -> float:
    mass = model.stream_is_mass
    generated = model.stream_totals["generated"][mass].sum()
    return float(model.stream_totals[part][mass].sum() / generated) if generated > 0 else 0.0


@run_metric("share")
def recycling_rate_in_plant(model: ParkModel) -> float:
    """Recycled in the generating firm's own plant / generated over the run, streams in tonnes."""
    return _mass_share(model, "recycled")


@run_metric("share")
def recycling_rate_sold_outside(model: ParkModel) -> float:
    """Sold to buyers outside the park (disposed units of streams with a salvage value, disposal
    cost < 0: bran and meal to feed traders, scrap to scrap dealers) / generated over the run,
    streams in tonnes."""
    return _mass_share(model, "sold_outside")


@run_metric("share")
def resource_recycling_rate(model: ParkModel) -> float:
    """(delivered through links + recycled in-plant + sold outside) / generated over the run, streams
    in tonnes: reuse_rate_mass_total (cross-firm) + recycling_rate_in_plant +
    recycling_rate_sold_outside; the model's counterpart of DOMAIN's 78.4% resource recycling rate."""
    return reuse_rate_mass_total(model) + recycling_rate_in_plant(model) + recycling_rate_sold_outside(model)


@run_metric("units")
def recycling_units_final(model: ParkModel) -> float:
    """In-plant recycling units in operation at live firms at the end of the run."""
    return float(model.recycling.installed(_live(model)).sum())


# -- intensity targets and dynamic exit (policies/intensity_target.py) ---------------------------
def _intensity_policy(model: ParkModel):
    return model.government.policies.get("intensity_target")


@step_metric("index")
def emission_intensity_index(model: ParkModel) -> float:
    """Emissions / business-as-usual emissions this month, summed over live firms in the sectors the
    scenario's intensity_target covers (all live firms without one): the covered firms' emission
    intensity relative to their sectors' catalogue intensity (1 = no cut; 0 if no output)."""
    rows = _live(model)
    policy = _intensity_policy(model)
    if policy is not None:
        rows = rows[policy.covered(rows)]
    bau = model.firms.emissions_bau[rows].sum()
    return float(model.firms.emissions[rows].sum() / bau) if bau > 0 else 0.0


@step_metric("orders/month")
def intensity_orders(model: ParkModel) -> float:
    """Firms ordered this month to upgrade or leave for missing their intensity target
    `miss_years` years running (0 without intensity_target)."""
    policy = _intensity_policy(model)
    return float(policy.orders) if policy is not None and policy.active(model.steps) else 0.0


@step_metric("firms/month")
def intensity_forced_exits(model: ParkModel) -> float:
    """Ordered firms that left the park this month (they could not reach the target with their
    abatement menu, or staying was worth less than the upgrade); also counted in `exits`."""
    policy = _intensity_policy(model)
    return float(policy.forced_exits) if policy is not None and policy.active(model.steps) else 0.0


@step_metric("yuan/tCO2e")
def intensity_credit_price(model: ParkModel) -> float:
    """Clearing price of intensity credits at the last yearly assessment (``IntensityTarget.trade_credits``:
    uniform-price call auction of surpluses, asks 0, against shortfalls); 0 before any trade, without
    the target or without ``credit_trading``."""
    policy = _intensity_policy(model)
    price = getattr(policy, "credit_price", float("nan")) if policy is not None else float("nan")
    return float(price) if np.isfinite(price) else 0.0


@run_metric("tCO2e")
def intensity_credits_traded(model: ParkModel) -> float:
    """Intensity credits traded over the run: sum over assessments of the surplus tonnes sold to firms
    short of their target (``IntensityTarget.credits_traded``; 0 without the target)."""
    policy = _intensity_policy(model)
    return float(getattr(policy, "credits_traded", 0.0)) if policy is not None else 0.0


@run_metric("orders")
def intensity_orders_total(model: ParkModel) -> float:
    """Orders to upgrade or leave over the run."""
    policy = _intensity_policy(model)
    return float(policy.orders_total) if policy is not None else 0.0


@run_metric("firms")
def intensity_upgrades_total(model: ParkModel) -> float:
    """Ordered firms that made the required abatement investment over the run."""
    policy = _intensity_policy(model)
    return float(policy.upgrades_total) if policy is not None else 0.0


@run_metric("firms")
def intensity_forced_exits_total(model: ParkModel) -> float:
    """Ordered firms that left the park over the run."""
    policy = _intensity_policy(model)
    return float(policy.forced_exits_total) if policy is not None else 0.0


@run_metric("share")
def intensity_target_met_share(model: ParkModel) -> float:
    """Yearly assessments in which a covered firm's intensity was at or below its target / all
    assessments after base years (0 if none)."""
    policy = _intensity_policy(model)
    return policy.met / policy.assessments if policy is not None and policy.assessments else 0.0


@run_metric("index", steps=("emission_intensity_index",))
def emission_intensity_index_final(model: ParkModel) -> float:
    """Mean of `emission_intensity_index` over the last 12 recorded months."""
    values = _over_steps(model, "emission_intensity_index")[-12:]
    return float(np.mean(values)) if len(values) else 0.0


# -- mandatory consumption ratios and green procurement (policies/mandatory_consumption.py) ------
@lru_cache(maxsize=1)
def _default_consumption_masks() -> tuple[np.ndarray, np.ndarray]:
    from ecopark.catalogue import load_catalogue
    from ecopark.policies.mandatory_consumption import MandatoryConsumptionParams

    cat, params = load_catalogue(), MandatoryConsumptionParams()
    return np.isin(cat.sector_keys, params.sectors), np.isin(cat.stream_keys, params.streams)


def _consumption_masks(model: ParkModel) -> tuple[np.ndarray, np.ndarray]:
    """(sector mask, stream mask) of the scenario's mandatory_consumption, or of its defaults."""
    policy = model.government.policies.get("mandatory_consumption")
    return _default_consumption_masks() if policy is None else (policy.sector_mask, policy.stream_mask)


@step_metric("share")
def waste_input_content(model: ParkModel) -> float:
    """For live receivers in the sectors under mandatory_consumption (its defaults if the scenario has
    none: building materials; fly ash, slag, red mud): t of the covered streams delivered through
    links / t of them needed, this month (0 if none needed)."""
    sectors, streams = _consumption_masks(model)
    rows = _live(model)
    rows = rows[sectors[model.firms.sector[rows]]]
    need = model.firms.needs[rows][:, streams].sum()
    return float(model.firms.delivered_in[rows][:, streams].sum() / need) if need > 0 else 0.0


@run_metric("share", steps=("waste_input_content",))
def waste_input_content_mean(model: ParkModel) -> float:
    """Mean over steps of `waste_input_content`."""
    values = _over_steps(model, "waste_input_content")
    return float(np.mean(values)) if len(values) else 0.0


@run_metric("yuan")
def consumption_ratio_fines(model: ParkModel) -> float:
    """Fines receivers paid over the run for waste-based inputs below their mandatory share."""
    return model.ledger.flow("consumption_ratio_fine")


@run_metric("yuan")
def green_procurement_paid(model: ParkModel) -> float:
    """Green-procurement premiums government paid over the run on products with recycled content."""
    return model.ledger.flow("green_procurement_premium")


# -- calibration figures (DOMAIN.md section 5) --
@run_metric("share")
def platform_success_rate(model: ParkModel) -> float:
    """Matches the platform proposed that became links / matches it proposed, over the run (0 if it
    proposed none, e.g. the platform is off). A proposal is a pair the platform's surplus-maximising
    match gives a flow of at least ``min_quantity`` in a month; it fails when either side's value of
    the link does not cover its half of the negotiation cost, the negotiation breaks down, or a
    side's NPV after financing its capex is not positive or it cannot pay its part
    (``ByproductMarket.form``). A pair that failed and is matched again in a later month counts
    again. DOMAIN 5: 91.5% (Ningbo)."""
    market = model.byproduct_market
    return market.platform_formed / market.platform_proposed if market.platform_proposed else 0.0


#: Money a firm receives in its operations (yuan): sales (also out of its warehouse stock), salvage,
#: in-plant recycling revenue, green-procurement premiums, link payments and penalties received, carbon
#: sales and pool payouts.
OPERATING_IN = ("sale", "stock_sale", "salvage", "recycling_revenue", "green_procurement_premium",
                "byproduct_payment", "gate_fee", "contract_penalty", "allowance_sale", "carbon_pool_payout",
                "allowance_block_trade", "intensity_credit_trade")
#: Money a firm pays in its operations (yuan): inputs (also for its warehouse stock), fixed costs,
#: disposal, link costs and fees (platform, commission, infrastructure, negotiation, penalties), in-plant
#: recycling and abatement running costs, the operator's services and MRV, carbon costs, quota and
#: consumption fines, off-spec treatment and the qualification of new sources, electricity and water
#: (grid, green power, tap and reclaimed water with their fees) and the export carbon cost.
OPERATING_OUT = ("purchase", "stock_purchase", "virgin_input", "operating_cost", "disposal", "landfill_tax", "rent",
                 "processing", "transport", "byproduct_payment", "gate_fee", "platform_fee", "operator_commission",
                 "infrastructure_connection", "infrastructure_throughput", "negotiation", "contract_penalty",
                 "recycling_opex", "abatement_opex", "carbon_accounting_fee", "energy_management_fee",
                 "monitoring_cost", "allowance_purchase", "carbon_penalty", "carbon_tax", "offset_quota_fine",
                 "reuse_quota_fine", "consumption_ratio_fine", "allowance_block_trade", "offspec_treatment",
                 "qualification", "grid_power", "green_power", "green_power_fee", "tap_water", "reclaimed_water",
                 "reclaimed_water_fee", "export_carbon_cost", "intensity_credit_trade")


def operating_accounts(model: ParkModel) -> tuple[np.ndarray, np.ndarray]:
    """(operating income, operating profit) over the run of every firm row, alive or not (yuan each):
    income = sum of the OPERATING_IN kinds received; profit = income - sum of the OPERATING_OUT kinds
    paid + the book value of its warehouse stock at the end (at cost: goods bought for stock are an
    asset, not a cost, until sold; ``SecuredLending.stock_value``); no subsidies for investment,
    finance or investment. The one definition of a firm's operating accounts: the cluster margin and
    the validation report's sector margins both read it; profit <= income by construction (the stock
    at cost never exceeds what was paid for it)."""
    ledger, firms = model.ledger, model.firms
    accounts = firms.account[np.arange(firms.n)]
    kinds = set(ledger.kinds)
    zero = np.zeros(firms.n)
    received = sum((np.asarray(ledger.received(accounts, k), float) for k in OPERATING_IN if k in kinds), zero)
    paid = sum((np.asarray(ledger.paid(accounts, k), float) for k in OPERATING_OUT if k in kinds), zero)
    return received, received - paid + model.secured_lending.stock_value(np.arange(firms.n))


@run_metric("ratio")
def cluster_profit_margin(model: ParkModel) -> float:
    """The park's operating margin over the run: sum over every firm that was in the park of operating
    profit / sum of operating income (``operating_accounts``), the sector operating margins of the
    validation report taken over all firms together; at most 1 by construction, negative when operating
    costs exceed income (0 if no income). DOMAIN 5's "cluster profit margin"."""
    revenue, profit = operating_accounts(model)
    total = float(revenue.sum())
    return float(profit.sum()) / total if total > 0 else 0.0


# -- electricity, green power and the export carbon cost (agents/electricity.py, issue 26) ----------
#: Intermediate inputs firms buy from outside, for value added: the part of variable cost that is not
#: power or water, grid and green power, tap and reclaimed water and their fees, virgin inputs.
INTERMEDIATE_KINDS = ("purchase", "grid_power", "green_power", "green_power_fee", "tap_water", "reclaimed_water",
                      "reclaimed_water_fee", "virgin_input")


def _value_added(model: ParkModel) -> float:
    ledger = model.ledger
    return ledger.flow("sale") - sum(ledger.flow(k) for k in INTERMEDIATE_KINDS)


@step_metric("MWh/month")
def green_power_sold(model: ParkModel) -> float:
    """MWh of green power firms bought from the operator's PV + storage this month."""
    return float(model.firms.green_power[_live(model)].sum())


@step_metric("tCO2/month")
def scope2_emissions(model: ParkModel) -> float:
    """Sum over live firms of grid MWh x grid emission factor this month (scope 2, part of it already
    inside recorded emissions where scope2_in_intensity > 0)."""
    return float(model.firms.scope2[_live(model)].sum())


@run_metric("MWh")
def electricity_use(model: ParkModel) -> float:
    """Electricity the firms used over the run: sum of q_f x cost_factor_f x electricity_intensity_s."""
    return float(model.electricity.totals["use"])


@run_metric("share")
def green_power_share(model: ParkModel) -> float:
    """Green power bought / electricity used over the run (0 if none used)."""
    t = model.electricity.totals
    return float(t["green"] / t["use"]) if t["use"] > 0 else 0.0


@run_metric("tCO2")
def scope2_total(model: ParkModel) -> float:
    """Scope-2 emissions over the run: sum of grid MWh x grid emission factor."""
    return float(model.electricity.totals["scope2"])


@run_metric("yuan")
def value_added(model: ParkModel) -> float:
    """The park's value added over the run: sales - (purchase + grid_power + green_power +
    green_power_fee + tap_water + reclaimed_water + reclaimed_water_fee + virgin_input), the
    intermediate inputs bought (byproduct trades inside the park net out)."""
    return _value_added(model)


@run_metric("MWh/million yuan")
def energy_per_value_added(model: ParkModel) -> float:
    """Electricity use / (value added / 1e6) over the run (0 if value added <= 0)."""
    va = _value_added(model)
    return float(model.electricity.totals["use"] / (va / 1e6)) if va > 0 else 0.0


@run_metric("tCO2e/million yuan", steps=("emissions",))
def emission_intensity_scope1(model: ParkModel) -> float:
    """Emissions without scope 2 / (value added / 1e6) over the run: (E - S2c) / VA, with E the
    recorded emissions (sum of the `emissions` step metric) and S2c the grid-power emissions they
    count (scope2_in_intensity share of scope 2); 0 if value added <= 0."""
    va = _value_added(model)
    t = model.electricity.totals
    direct = max(sum(_over_steps(model, "emissions")) - (t["scope2"] - t["scope2_extra"]), 0.0)
    return float(direct / (va / 1e6)) if va > 0 else 0.0


@run_metric("tCO2e/million yuan", steps=("emissions",))
def emission_intensity_scope12(model: ParkModel) -> float:
    """Emissions with scope 2 / (value added / 1e6) over the run: (E + S2x) / VA, with S2x the
    scope-2 emissions recorded emissions leave out ((1 - scope2_in_intensity) share); 0 if VA <= 0."""
    va = _value_added(model)
    total = sum(_over_steps(model, "emissions")) + model.electricity.totals["scope2_extra"]
    return float(total / (va / 1e6)) if va > 0 else 0.0


@run_metric("share")
def operator_green_power_share(model: ParkModel) -> float:
    """Green power sales and platform fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "green_power")


@run_metric("MW")
def green_power_capacity(model: ParkModel) -> float:
    """MW of distributed PV + storage the operator has built by the end of the run."""
    return float(model.electricity.capacity_mw)


@run_metric("yuan")
def export_carbon_cost_total(model: ParkModel) -> float:
    """Export carbon cost firms paid over the run (ledger kind `export_carbon_cost`)."""
    return model.ledger.flow("export_carbon_cost")


@run_metric("m3")
def water_use(model: ParkModel) -> float:
    """Water the firms used over the run: sum of q_f x cost_factor_f x water_intensity_s."""
    return float(model.water.totals["use"])


@run_metric("share")
def water_reuse_share(model: ParkModel) -> float:
    """Reclaimed water bought from the operator / water used over the run (0 if none used). Not the
    national 'industrial water reuse rate' (92.4%), which counts in-plant recirculation."""
    t = model.water.totals
    return float(t["reclaimed"] / t["use"]) if t["use"] > 0 else 0.0


@run_metric("share")
def operator_water_share(model: ParkModel) -> float:
    """Reclaimed-water sales and fees / the operator's income (as `operator_rent_share`)."""
    return _income_share(model, "reclaimed_water")


# -- where an emission change comes from (issue 23; docs/model.md, emission decomposition) ------
# Over a run of T months, with f over every firm ever in the park, m_f its months in the park,
# n_f its business-as-usual emissions a month at normal output (AbatementPortfolio.normal_bau),
# E, B, L, A its run totals of emissions, BAU emissions, link-avoided and abated tonnes
# (FirmTable.run_*, E_f = B_f - L_f - A_f month by month) and I the firms present at the start:
#
#     E = N - X + D + G - L - A,   N = sum_{f in I} T n_f,   X = sum_{f in I} (T - m_f) n_f,
#     D = sum_{f in I} (B_f - m_f n_f),   G = sum_{f not in I} B_f.
#
# Two runs on the same seed have the same first firms (common random numbers), so N is the same
# in both and the change between them splits exactly into technology abatement -dA, link-avoided
# emissions -dL, output change of staying firms dD and exits net of entries (-dX + dG):
# :func:`emission_decomposition`.
def _first_firms(model: ParkModel) -> np.ndarray:
    firms = model.firms
    return np.flatnonzero(firms.entered[: firms.n] == 0)


@run_metric("tCO2e")
def emissions_run_total(model: ParkModel) -> float:
    """E = sum over every firm that was in the park of its emissions over its months in the park."""
    return float(model.firms.run_emissions[: model.firms.n].sum())


@run_metric("tCO2e")
def abated_run_total(model: ParkModel) -> float:
    """A = sum over every firm of the tonnes its abatement technologies abated over the run."""
    return float(model.firms.run_abated[: model.firms.n].sum())


@run_metric("tCO2e")
def link_avoided_run_total(model: ParkModel) -> float:
    """L = sum over every firm of the tonnes avoided by byproduct reuse credited to it over the run."""
    return float(model.firms.run_link_avoided[: model.firms.n].sum())


@run_metric("tCO2e")
def bau_normal_first_firms(model: ParkModel) -> float:
    """N = sum over the firms present at the start of T x n_f: what they would emit with no
    links and no abatement at normal output over the whole run (T months; n_f = capacity x size
    x base_utilisation x sector intensity a month)."""
    rows = _first_firms(model)
    return float(model.steps * model.abatement.normal_bau(rows).sum())


@run_metric("tCO2e")
def bau_lost_to_exits(model: ParkModel) -> float:
    """X = sum over the firms present at the start of (T - m_f) x n_f: the business-as-usual
    emissions at normal output of the months after they left (m_f months in the park)."""
    rows = _first_firms(model)
    gone = model.steps - model.firms.months_in_park[rows]
    return float((gone * model.abatement.normal_bau(rows)).sum())


@run_metric("tCO2e")
def bau_output_deviation(model: ParkModel) -> float:
    """D = sum over the firms present at the start of (B_f - m_f x n_f): their business-as-usual
    emissions over their months in the park less the same months at normal output (the output
    change of the firms while they stay)."""
    rows = _first_firms(model)
    firms = model.firms
    return float((firms.run_bau[rows] - firms.months_in_park[rows] * model.abatement.normal_bau(rows)).sum())


@run_metric("tCO2e")
def bau_entrants(model: ParkModel) -> float:
    """G = sum over the firms that entered during the run of their business-as-usual emissions."""
    firms = model.firms
    rows = np.flatnonzero(firms.entered[: firms.n] > 0)
    return float(firms.run_bau[rows].sum())


#: The parts of an emission change (:func:`emission_decomposition`), in the order they are reported.
DECOMPOSITION_PARTS = ("technology_abatement", "link_avoided", "output_of_staying_firms", "exits_net_of_entries",
                       "first_firms_differ")


def emission_decomposition(treated: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    """Split the change of run emissions E (``emissions_run_total``) between two runs into its
    sources, tCO2e, from the run metrics of each (``RunResult.metrics``):

    technology_abatement = -(A_t - A_b); link_avoided = -(L_t - L_b); output_of_staying_firms =
    D_t - D_b; exits_net_of_entries = -(X_t - X_b) + (G_t - G_b); first_firms_differ = N_t - N_b
    (0 when both runs use the same seed: the same first firms). The parts sum to
    E_t - E_b (returned as ``total``) up to float rounding."""
    d = {k: treated[k] - base[k] for k in ("emissions_run_total", "abated_run_total", "link_avoided_run_total",
                                           "bau_output_deviation", "bau_lost_to_exits", "bau_entrants",
                                           "bau_normal_first_firms")}
    return {"technology_abatement": -d["abated_run_total"], "link_avoided": -d["link_avoided_run_total"],
            "output_of_staying_firms": d["bau_output_deviation"],
            "exits_net_of_entries": d["bau_entrants"] - d["bau_lost_to_exits"],
            "first_firms_differ": d["bau_normal_first_firms"], "total": d["emissions_run_total"]}


# -- firm finance and exits (markets/credit.py credit line; ParkModel.exit_rule) -------------------
@step_metric("firms/month")
def exits_positive_margin(model: ParkModel) -> float:
    """Firms that left the park this month whose expected operating margin
    (``FirmTable.expected_margin``) was positive when they left."""
    return float(model.exits_positive_margin)


@step_metric("firms/month")
def exits_insolvent(model: ParkModel) -> float:
    """Firms that left this month by the exit rule because they were insolvent (cash negative after
    the credit line) and not worth recapitalising."""
    return float(model.exits_insolvent)


@step_metric("firms/month")
def exits_economic(model: ParkModel) -> float:
    """Solvent firms that left this month because their going-concern value was below minus their
    closure cost (expected operating margin negative enough)."""
    return float(model.exits_economic)


@step_metric("draws/month")
def credit_line_draws(model: ParkModel) -> float:
    """Draws on working-capital credit lines this month (``CreditMarket.draw_line``)."""
    return float(model.credit.line_draws)


@step_metric("yuan")
def credit_line_outstanding(model: ParkModel) -> float:
    """Outstanding of all credit-line draws (principal and capitalised interest)."""
    rows = _live(model)
    return float(model.credit.line_used(rows).sum()) if len(rows) else 0.0


@step_metric("yuan")
def receivables_outstanding(model: ParkModel) -> float:
    """Accounts receivable of the firms in the park at the month's end: sum_f R_f, what outside
    customers owe them for output sold and not yet paid (the operating cycle,
    ``economy.collection_days``; agents/enterprise.py ``collect_receivables``)."""
    rows = _live(model)
    return float(model.firms.receivables[rows].sum()) if len(rows) else 0.0


@run_metric("firms", steps=("exits_positive_margin",))
def exits_positive_margin_total(model: ParkModel) -> float:
    """Sum over steps of `exits_positive_margin`."""
    return float(np.sum(_over_steps(model, "exits_positive_margin")))


@run_metric("yuan")
def recapitalisation_total(model: ParkModel) -> float:
    """Cash owners (outside) put into firms over the run (``recapitalisation``: ordered upgrades and
    shortfalls of firms worth keeping)."""
    return model.ledger.flow("recapitalisation")


@run_metric("tCO2e")
def allowances_bought_back_total(model: ParkModel) -> float:
    """Allowances government bought from exiting firms over the run (``ParkModel.settle_allowances``)."""
    return model.allowances_bought_back
