"""Byproduct exchange: adoption, links, the parties' link gains and their split, the match
efficiency against the surplus-maximising match, chains and negotiation (markets/byproduct.py,
markets/contracts.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.park import _income_share
from ecopark.metrics.registry import _live, _over_steps, run_metric, step_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


#: The private parties' step surpluses (yuan/month), whose sums make surplus_total.
_PRIVATE_SURPLUS = ("surplus_supplier", "surplus_receiver", "surplus_operator")


@step_metric("share")
def adoption_rate(model: ParkModel) -> float:
    """Share of live firms that are supplier or receiver in at least one active link."""
    rows = _live(model)
    links = model.byproduct_market.links
    live = links.live
    linked = np.zeros(model.firms.n, dtype=bool)  # a row's mark, as np.isin(rows, partners) would find it
    linked[links.supplier[live]] = True
    linked[links.receiver[live]] = True
    return float(linked[rows].mean()) if len(rows) else 0.0


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
