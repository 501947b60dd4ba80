"""Enterprises: resident firms that produce, generate byproducts and dispose of them.

The state of all firms lives in a :class:`FirmTable` (one numpy array per variable, one
row per firm ever created) so that the monthly work is vectorised; an :class:`Enterprise`
is the Mesa agent of one row and reads its state from the table. Units: output in the
sector's output unit per month, money in yuan, emissions in tCO2e, streams in their unit.

Production of firm f in month t (:func:`produce`)::

    c_t    = rho * c_{t-1} + sd_common * e_t                 (park-wide demand shock)
    z_ft   = rho * z_f,t-1 + sd_firm * e_ft                  (firm's own demand shock)
    u_ft   = clip(base_utilisation * (1 - D_t) * (1 + c_t + z_ft), 0, 1) * d_f  (capacity utilisation)
    q_ft   = capacity_f * u_ft                               (output)
    sales  = q_ft * p_f
    costs  = q_ft * variable_cost_s * cost_factor_f + fixed_cost_s * size_f
    gen_fk = q_ft * yield_sk,   need_fk = q_ft * need_sk,   bau_ft = q_ft * intensity_s

D_t is the scenario's demand slump: ``shock_depth`` in the ``shock_months`` months from
``shock_start``, else 0. p_f is the output price with the carbon cost passed through and
d_f the demand response to it (``agents/pricing.py``; p_f = output_price_s, d_f = 1 without
a carbon price).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from ecopark.agents.pricing import output_prices
from ecopark.markets.credit import GREEN_PURPOSES, loan_cost_factor
from ecopark.markets.emissions import net_share, settle_emissions

if TYPE_CHECKING:
    from ecopark.markets.credit import Offer
    from ecopark.model import ParkModel

#: Per-firm scalar variables of the FirmTable and their units (the one list of them).
FIRM_VARIABLES: dict[str, str] = {
    "alive": "bool: the firm is in the park",
    "sector": "index into the catalogue's sectors",
    "plot": "index of the plot the firm occupies",
    "x": "km, east coordinate of the plot",
    "y": "km, north coordinate of the plot",
    "size": "capacity relative to the sector's typical firm (lognormal draw)",
    "cost_factor": "multiplier on the sector's variable cost",
    "discount_rate": "1/year, the firm's hurdle rate",
    "account": "ledger account id",
    "entered": "step the firm entered (0 = at the start)",
    "exited": "step the firm exited (-1 = still in the park)",
    "shock": "the firm's own AR(1) demand shock",
    "utilisation": "share of capacity used this month",
    "output": "output units this month",
    "emissions": "tCO2e emitted this month",
    "emissions_bau": "tCO2e it would emit with no links and no abatement",
    "link_avoided": "tCO2e this month avoided by byproduct reuse credited to the firm",
    "abated": "tCO2e this month abated by its installed abatement technologies",
    "electricity": "MWh of electricity used this month (agents/electricity.py)",
    "green_power": "MWh of it bought as green power from the operator this month",
    "scope2": "tCO2 of the grid power it bought this month (grid MWh x grid emission factor)",
    "water": "m3 of water used this month (agents/water.py)",
    "reclaimed_water": "m3 of it bought as reclaimed water from the operator this month",
    "receivables": "yuan, accounts receivable: what outside customers owe the firm for output sold (produce)",
    "expected_margin": "yuan/month, the operating margin owners and the bank expect (update_expected_margin)",
    "margin_months": "months of operating accounts behind expected_margin",
    "operating_cash": "yuan, cumulative operating cash flow (OPERATING_EXCLUDED kinds left out)",
    "months_in_park": "months the firm produced in the park so far",
    "run_emissions": "tCO2e emitted over the firm's months in the park",
    "run_bau": "tCO2e business-as-usual emissions over the firm's months in the park",
    "run_link_avoided": "tCO2e avoided by byproduct reuse over the firm's months in the park",
    "run_abated": "tCO2e abated by technologies over the firm's months in the park",
}
#: Per-firm, per-stream variables (firms x streams), in stream units per month.
FIRM_STREAM_VARIABLES: dict[str, str] = {
    "generated": "byproduct generated this month",
    "needs": "substitutable input needed this month",
    "delivered_out": "byproduct delivered to partners through links this month",
    "delivered_in": "input received from partners through links this month",
    "disposed": "byproduct disposed of outside the park this month",
    "recycled": "byproduct recycled in the firm's own plant this month (agents/recycling.py)",
}
_INT_VARIABLES = {"sector", "plot", "account", "entered", "exited", "margin_months", "months_in_park"}
#: Money kinds left out of a firm's operating cash flow: financing (owners, loans, investment,
#: the trade credit its customers take: sales count when made, not when paid) and carbon
#: (taxes, allowance trades, intensity credits, penalties), whose cost enters the expected margin as an
#: accrual instead (``CarbonMarket.monthly_liability``), so a year's allowances bought in one
#: session do not look like a collapse of the firm's business.
OPERATING_EXCLUDED = frozenset({
    "equity", "dividend", "liquidation", "recapitalisation", "loan_disbursement", "loan_repayment", "loan_interest",
    "capex", "capex_subsidy", "collateral_sale", "allowance_purchase", "allowance_sale", "allowance_block_trade",
    "allowance_buyback", "carbon_penalty", "carbon_tax", "offset_quota_fine", "trade_credit",
    "receivable_collection", "intensity_credit_trade",
})


class FirmTable:
    """Struct of arrays holding every firm's state; rows are never reused.

    ``alive`` is read-only outside :meth:`add` and :meth:`remove`, the only places where firms
    enter and leave, so :attr:`live`, asked for dozens of times a month, is kept between them."""

    def __init__(self, n_streams: int, capacity: int = 64) -> None:
        self.n = 0
        self.n_streams = n_streams
        for name in FIRM_VARIABLES:
            dtype = bool if name == "alive" else (np.int64 if name in _INT_VARIABLES else float)
            setattr(self, name, np.zeros(capacity, dtype=dtype))
        for name in FIRM_STREAM_VARIABLES:
            setattr(self, name, np.zeros((capacity, n_streams)))
        self.alive.flags.writeable = False
        self._live: np.ndarray | None = None

    def add(self, count: int, **values: np.ndarray) -> np.ndarray:
        """Append ``count`` rows with the given values (others zero); returns the new rows."""
        need = self.n + count
        size = len(self.alive)
        if need > size:
            new = max(need, 2 * size)
            for name in (*FIRM_VARIABLES, *FIRM_STREAM_VARIABLES):
                old = getattr(self, name)
                grown = np.zeros((new, *old.shape[1:]), dtype=old.dtype)
                grown[:size] = old
                setattr(self, name, grown)
        rows = np.arange(self.n, need)
        self.n = need
        self.exited[rows] = -1
        self.alive.flags.writeable = True
        for name, value in values.items():
            getattr(self, name)[rows] = value
        self.alive.flags.writeable = False
        self._live = None
        return rows

    def remove(self, rows: np.ndarray) -> None:
        """Mark firms ``rows`` as gone from the park (``alive`` False)."""
        self.alive.flags.writeable = True
        self.alive[rows] = False
        self.alive.flags.writeable = False
        self._live = None

    @property
    def live(self) -> np.ndarray:
        """Row indices of the firms now in the park (read-only; kept until a firm enters or leaves)."""
        if self._live is None:
            self._live = np.flatnonzero(self.alive[: self.n])
            self._live.flags.writeable = False
        return self._live


class Enterprise(mesa.Agent):
    """A resident firm. Its state is row ``row`` of the model's FirmTable."""

    def __init__(self, model: ParkModel, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def sector(self) -> str:
        return self.model.catalogue.sector_keys[self.model.firms.sector[self.row]]

    @property
    def cash(self) -> float:
        """Ledger balance in yuan."""
        return self.model.ledger.balance(int(self.model.firms.account[self.row]))

    @property
    def output(self) -> float:
        return float(self.model.firms.output[self.row])

    @property
    def position(self) -> tuple[float, float]:
        """(x, y) in km."""
        return float(self.model.firms.x[self.row]), float(self.model.firms.y[self.row])

    def financing(self, capex: float, purpose: str, cash_flow: float = 0.0,
                  record: bool = False) -> tuple[float, Offer | None, float]:
        """How the firm would pay for an investment of ``capex`` yuan now.

        Returns (capex subsidy, loan offer or None, cash the firm must put in). The subsidy
        (if in force) comes first; of the rest a bank lends up to ``credit.loan_to_value``
        if one approves (``cash_flow``: the project's expected yuan/month, for the bank's
        debt-service cover) and the loan is cheaper than the firm's hurdle rate or the firm
        lacks the cash; the firm pays the remainder from cash. With ``record`` a refused
        loan application counts in the month's credit figures.
        """
        model = self.model
        subsidy_policy = model.policy("capex_subsidy")
        subsidy = subsidy_policy.quote(capex, purpose) if subsidy_policy else 0.0
        net = capex - subsidy
        credit = model.credit
        offer = credit.offer(self.row, model.scenario.credit.loan_to_value * net, purpose, cash_flow, record)
        if offer is not None and self.cash >= net and (
                offer.rate - credit.subsidy_rate(purpose in GREEN_PURPOSES) >= model.firms.discount_rate[self.row]):
            offer = None  # the loan costs more than the firm's own money, and it has the cash
        return subsidy, offer, net - (offer.amount if offer else 0.0)

    def financing_cost(self, capex: float, purpose: str, cash_flow: float = 0.0,
                       plan: tuple[float, Offer | None, float] | None = None) -> float:
        """Present value at the firm's hurdle rate of what it pays for an investment (yuan):
        cash put in + loan x A(rate - interest subsidy, T) / A(hurdle, T). ``plan``: the
        result of :meth:`financing` for this investment, if the caller has it."""
        _, offer, equity = plan if plan is not None else self.financing(capex, purpose, cash_flow)
        if offer is None:
            return equity
        credit = self.model.credit
        rate = offer.rate - credit.subsidy_rate(purpose in GREEN_PURPOSES)
        return equity + offer.amount * float(loan_cost_factor(rate, self.model.firms.discount_rate[self.row],
                                                              offer.tenor))

    def invest(self, capex: float, purpose: str, cash_flow: float = 0.0, record: bool = True,
               plan: tuple[float, Offer | None, float] | None = None) -> bool:
        """Pay for an investment of ``capex`` yuan if the firm can finance it now.

        The capex subsidy (if in force) is granted first, then the loan (if a bank
        approves, the cheapest offer), and the firm must hold the rest in cash. Returns
        whether the investment was made; with ``record`` a refused loan application counts.
        ``plan``: the result of :meth:`financing` for this investment if the caller asked for it
        with nothing changed since (no loan, subsidy or bank balance moved; the application
        recorded then or not at all), so the banks are not asked again.
        """
        model = self.model
        subsidy, offer, equity = plan if plan is not None else self.financing(capex, purpose, cash_flow, record)
        if self.cash < equity:
            return False
        account = int(model.firms.account[self.row])
        if subsidy > 0:
            model.policy("capex_subsidy").grant(account, capex, purpose)
        if offer is not None:
            # the offer of financing() taken as it is: the grant moved only the firm's cash, which no
            # bank's offer depends on (CreditMarket.offer), so asking again (borrow) gives the same offer
            model.credit.lend(self.row, offer, purpose)
        model.ledger.transfer("capex", account, model.outside, capex)
        return True


def in_slump(model: ParkModel) -> bool:
    """Whether this month is in the scenario's demand slump (``shock_months`` from ``shock_start``)."""
    econ = model.scenario.economy
    return econ.shock_start is not None and econ.shock_start <= model.steps < econ.shock_start + econ.shock_months


def produce(model: ParkModel) -> None:
    """Phase 2: every live firm draws its demand, produces, sells and pays its costs."""
    firms, econ = model.firms, model.scenario.economy
    rows = firms.live
    s = firms.sector[rows]
    rho = econ.demand_persistence
    rng = model.draws("demand")
    model.common_shock = rho * model.common_shock + econ.common_shock_sd * rng.standard_normal()
    firms.shock[rows] = rho * firms.shock[rows] + econ.firm_shock_sd * rng.standard_normal(firms.n)[rows]
    slump = in_slump(model)
    level = econ.base_utilisation * (1.0 - econ.shock_depth if slump else 1.0)
    price, demand = output_prices(model, rows)  # carbon-cost pass-through and demand (agents/pricing.py)
    util = np.clip(level * (1.0 + model.common_shock + firms.shock[rows]), 0.0, 1.0) * demand
    output = model.sector_capacity[s] * firms.size[rows] * util
    firms.utilisation[rows] = util
    firms.output[rows] = output
    firms.generated[rows] = output[:, None] * model.yield_matrix[s]
    firms.needs[rows] = output[:, None] * model.need_matrix[s]
    firms.delivered_in[rows] = 0.0
    firms.delivered_out[rows] = 0.0
    firms.emissions_bau[rows] = output * model.sector_intensity[s]
    firms.link_avoided[rows] = 0.0

    accounts = firms.account[rows]
    ledger, outside = model.ledger, model.outside
    ledger.transfer("sale", outside, accounts, output * price)
    collect_receivables(model, rows, output * price)
    power = model.electricity.buy(rows, output) + model.water.buy(rows, output)  # power and water, booked there
    ledger.transfer("purchase", accounts, outside,
                    output * model.sector_variable_cost[s] * firms.cost_factor[rows] - power)
    ledger.transfer("operating_cost", accounts, outside, model.sector_fixed_cost[s] * firms.size[rows])


def collection_share(model: ParkModel) -> float:
    """c = min(1, (365/12) / collection_days): the share of its accounts receivable a firm's
    customers pay each month (1 when ``collection_days`` is 0: paid at once)."""
    days = model.scenario.economy.collection_days
    return 1.0 if days <= 0 else min(1.0, (365.0 / 12.0) / days)


def collect_receivables(model: ParkModel, rows: np.ndarray, sales: np.ndarray) -> None:
    """The operating cycle (phase 2): customers pay for output after ``collection_days``.

    collected_ft = c R_f,t-1;  R_ft = R_f,t-1 - collected_ft + S_ft  (S_ft this month's sales, yuan)

    with c :func:`collection_share`: in a steady state R = S / c, that is ``collection_days`` of
    sales outstanding. The sale is booked when made (``sale``); what customers do not pay this
    month is trade credit the firm grants them (``trade_credit``, firm -> outside) and comes back
    as ``receivable_collection``. With ``collection_days`` = 0 customers pay at once (no balance).
    A firm's cash therefore lags its sales: the gap is what its working-capital credit line
    finances (docs/credit.md, operating cycle)."""
    if model.scenario.economy.collection_days <= 0:
        return
    firms, ledger, outside = model.firms, model.ledger, model.outside
    accounts = firms.account[rows]
    collected = collection_share(model) * firms.receivables[rows]
    ledger.transfer("trade_credit", accounts, outside, sales)
    ledger.transfer("receivable_collection", outside, accounts, collected)
    firms.receivables[rows] += sales - collected


def dispose_and_buy_inputs(model: ParkModel) -> None:
    """Phase 3 (after link deliveries): dispose of what was not delivered, buy what was not received.

    disposed_fk = generated_fk - delivered_out_fk - recycled_fk (recycled_fk: in-plant recycling);
    the firm pays disposed_fk * disposal_cost_k to an outside contractor (or is paid the salvage
    value when disposal_cost_k < 0) and the landfill tax if in force; it buys
    max(need_fk - delivered_in_fk, 0) at virgin_price_k.
    Emissions of the month are then final (``markets/emissions.py``: links first, technologies
    on what links leave, so link_avoided_f + abated_f <= bau_f).
    """
    firms = model.firms
    rows = firms.live
    accounts = firms.account[rows]
    disposed = np.maximum(firms.generated[rows] - firms.delivered_out[rows] - firms.recycled[rows], 0.0)
    firms.disposed[rows] = disposed
    model.stream_totals["generated"] += firms.generated[rows].sum(axis=0)
    model.stream_totals["delivered"] += firms.delivered_out[rows].sum(axis=0)
    model.stream_totals["disposed"] += disposed.sum(axis=0)
    model.stream_totals["recycled"] += firms.recycled[rows].sum(axis=0)
    model.stream_totals["sold_outside"] += disposed.sum(axis=0) * (model.stream_disposal_cost < 0)

    ledger, outside = model.ledger, model.outside
    ledger.transfer_signed("disposal", "salvage", accounts, outside, disposed @ model.stream_disposal_cost)
    tax = model.policy("landfill_tax")
    if tax:
        tax.charge(accounts, disposed)
    unmet = np.maximum(firms.needs[rows] - firms.delivered_in[rows], 0.0)
    ledger.transfer("virgin_input", accounts, outside, unmet @ model.stream_virgin_price)
    settle_emissions(model, rows)


def operating_cash(model: ParkModel, rows: np.ndarray) -> np.ndarray:
    """Cumulative operating cash flow of firms (yuan): received - paid over every money kind
    not in :data:`OPERATING_EXCLUDED` (sales, purchases, inputs, disposal, rent, link
    payments, opex, fees, subsidies of operation)."""
    ledger = model.ledger
    return ledger.net_received(model.firms.account[rows], [k for k in ledger.kinds if k not in OPERATING_EXCLUDED])


def update_expected_margin(model: ParkModel) -> None:
    """Phase 8: each live firm's expected operating margin (yuan/month).

    m_ft = operating cash flow this month - carbon cost accrued this month
    (``CarbonMarket.monthly_liability``: tax, and expected price x emissions beyond a twelfth
    of the free allocation);  M_ft = M_f,t-1 + w (m_ft - M_f,t-1),  w = max(1 / (n_f + n_0), 1 / H_m),
    n_f the months observed (this one included), H_m ``margin_memory_months`` and n_0
    ``exit_after_months``; M_f0, the firm's business plan, is the margin a bank sees at normal
    output (``CreditMarket.margin`` at capacity x size x base_utilisation, before any carbon
    cost), weighted as n_0 months of accounts: a prior, then a running mean, then an
    exponential average. Banks price and limit the credit line on M_f and owners decide exit
    on it (docs/credit.md)."""
    firms = model.firms
    rows = firms.live
    new = rows[firms.margin_months[rows] == 0]
    if len(new):
        s = firms.sector[new]
        normal = model.sector_capacity[s] * firms.size[new] * model.scenario.economy.base_utilisation
        before_carbon = model.credit.margin(new, output=normal) + model.carbon_market.monthly_liability(new)
        firms.expected_margin[new] = before_carbon
    cumulative = operating_cash(model, rows)
    observed = cumulative - firms.operating_cash[rows] - model.carbon_market.monthly_liability(rows)
    firms.operating_cash[rows] = cumulative
    firms.margin_months[rows] += 1
    econ = model.scenario.economy
    weight = np.maximum(1.0 / (firms.margin_months[rows] + econ.exit_after_months), 1.0 / econ.margin_memory_months)
    firms.expected_margin[rows] += weight * (observed - firms.expected_margin[rows])


def carbon_price_path(model: ParkModel, years: int) -> tuple[np.ndarray, np.ndarray, bool, str | None]:
    """What a firm can know of its carbon prospects for the next ``years`` years (year k starts
    at month t + 1 + 12k): (price P_k, yuan/tCO2e; free allowances per tCO2e of normal BAU, a_k;
    whether allocation follows output; the instrument, ``cap_and_trade``, ``carbon_tax`` or None).

    Under cap and trade, P_k = min(penalty, P_e (1 + carry_rate)^k), the expected price P_e the
    carbon market forms (``CarbonMarket.expected_price``) rising at the cost of carry, the path
    along which a banked allowance earns its keep (Hotelling; Rubin 1996), and a_k =
    free_share (1 - new_entrant_reserve) cap_start (1 - cap_decline)^y_k, the announced cap path
    (y_k the compliance year of year k, counted from the policy's start; P_k = a_k = 0 in a year
    the policy is not in force). Under a carbon tax P_k = its rate and a_k = 0."""
    months = model.steps + 1 + 12 * np.arange(years)
    for name in ("cap_and_trade", "carbon_tax"):
        policy = model.government.policies.get(name)
        if policy is None or not policy.params.enabled:
            continue
        p = policy.params
        on = (months >= p.start) & (months <= (p.end if p.end is not None else months.max()))
        if name == "carbon_tax":
            return np.where(on, p.rate, 0.0), np.zeros(years), False, name
        price = np.minimum(p.penalty, model.carbon_market.expected_price * (1.0 + p.carry_rate) ** np.arange(years))
        free = (p.free_share * (1.0 - p.new_entrant_reserve) * p.cap_start
                * (1.0 - p.cap_decline) ** np.maximum((months - p.start) // 12, 0))
        return np.where(on, price, 0.0), np.where(on, free, 0.0), p.allocation == "output_based", name
    return np.zeros(years), np.zeros(years), False, None


def prospective_margin(model: ParkModel, rows: np.ndarray, years: int) -> np.ndarray:
    """Monthly operating margin firms ``rows`` can expect in each of the next ``years`` years
    (rows x years, yuan/month), judged on their prospects rather than their recent accounts
    (docs/credit.md, exit rule):

        pi_fk = q_fk (p_fk - v_s c_f - n_s . w - y_s . d) - F_s size_f - rent - opex_f - C_fk
        C_fk  = d_fk [ sum_{j: MAC_fj < P_k} MAC_fj a_fj + P_k (e_f - sum_{j: MAC_fj < P_k} a_fj) ] - P_k A_fk

    at normal output q_f = capacity x size x base_utilisation, q_fk = q_f d_fk; p_fk = p_s +
    pass_through_s x max(P_k i_s - P_k a_k i_s [output-based], 0) and d_fk = (p_fk / p_s)^-eps_s
    the carbon cost passed into its price and demand's answer (agents/pricing.py, when
    ``carbon_pass_through``); opex_f the running cost of its installed abatement; e_f = (1 - S_f)
    (1 - L_f / b_f) b_f its emissions at normal output with its installed technologies (share S_f)
    and its links (L_f / b_f this month); MAC_fj, a_fj its remaining abatement steps
    (``AbatementPortfolio.steps``: capex annuity net of subsidy and financing, plus opex, per
    tonne), taken in year k when cheaper than the price (plus p_c below); P_k and a_k from
    :func:`carbon_price_path`; A_fk its free allowances, a_k b_f (ex-ante benchmark or
    grandfathered allocation) or a_k i_s q_fk (output-based), each worth P_k. Links' operating
    gains are not counted (a contract can end): a conservative business plan. Under an intensity
    target with credit trading a covered firm also sells (+) or buys (-) intensity credits,
    + p_c d_fk (T_fk q_f - e_fk) with e_fk its emissions after the steps taken, at the last clearing
    price p_c, which also counts in the value of a step (``IntensityTarget.credit_terms``)."""
    firms = model.firms
    s = firms.sector[rows]
    econ = model.scenario.economy
    normal = model.sector_capacity[s] * firms.size[rows] * econ.base_utilisation
    per_unit = (model.sector_price[s] - model.sector_variable_cost[s] * firms.cost_factor[rows]
                - model.need_matrix[s] @ model.stream_virgin_price - model.yield_matrix[s] @ model.stream_disposal_cost)
    fixed = (model.sector_fixed_cost[s] * firms.size[rows] + model.scenario.operator.rent
             + model.abatement.monthly_opex(rows))
    price, free, output_based, instrument = carbon_price_path(model, years)
    covered = (model.carbon_market.covered(rows, instrument) if instrument is not None
               else np.zeros(len(rows), dtype=bool))
    mac, _, a = model.abatement.steps(rows)
    mac = np.where(np.isnan(mac), np.inf, mac)
    bau = model.abatement.normal_bau(rows)
    emitted = (1.0 - model.abatement.installed_share(rows)) * net_share(model, rows) * bau
    base_price = model.sector_price[s]
    target = model.government.policies.get("intensity_target")
    credit_price, allowed = (target.credit_terms(rows, normal, years) if target is not None
                             else (np.zeros(len(rows)), np.zeros((len(rows), years))))
    intensity = model.sector_intensity[s]
    # all years at once, (rows, years) and (rows, years, steps): elementwise the same operations as year by
    # year, each sum over a firm's steps the same contiguous row, so the same numbers bit for bit
    value = np.where(covered[:, None], price[None, :], 0.0) + credit_price[:, None]
    taken = mac[:, None, :] < value[:, :, None]
    abatement = np.add.reduce(np.where(taken, mac[:, None, :], 0.0) * a[:, None, :], axis=2)  # .sum(axis=2)
    left = emitted[:, None] - np.add.reduce(np.where(taken, a[:, None, :], 0.0), axis=2)
    unit_cost = price[None, :] * intensity[:, None] * (1.0 - (free if output_based else np.zeros(years)))[None, :]
    uplift = np.where((covered & econ.carbon_pass_through)[:, None],
                      model.sector_pass_through[s][:, None] * np.maximum(unit_cost, 0.0), 0.0)
    positive = (base_price > 0)[:, None]
    # the power on two contiguous arrays of one shape, as year by year (numpy's vector loop either way)
    exponent = np.ascontiguousarray(np.broadcast_to(-model.sector_demand_elasticity[s][:, None], uplift.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        demand = np.where(positive, ((base_price[:, None] + uplift) / np.where(positive, base_price[:, None], 1.0))
                          ** exponent, 1.0)
    q = normal[:, None] * demand
    allowances = free[None, :] * (intensity[:, None] * q if output_based else bau[:, None])
    carbon = np.where(covered[:, None], demand * price[None, :] * left - price[None, :] * allowances, 0.0)
    credits = credit_price[:, None] * demand * (allowed - left)
    return q * (per_unit[:, None] + uplift) - fixed[:, None] - demand * abatement - carbon + credits


def record_month(model: ParkModel, rows: np.ndarray) -> None:
    """Add this month's final emissions, BAU emissions, link-avoided and abated tonnes of firms
    ``rows`` to their run totals and count the month (called once per firm and month: at the
    month's end for the firms still in the park, at exit for those leaving; the emission
    decomposition, ``ecopark/metrics/decomposition.py``, is built on these totals)."""
    firms = model.firms
    firms.months_in_park[rows] += 1
    firms.run_emissions[rows] += firms.emissions[rows]
    firms.run_bau[rows] += firms.emissions_bau[rows]
    firms.run_link_avoided[rows] += firms.link_avoided[rows]
    firms.run_abated[rows] += firms.abated[rows]


def pay_dividends(model: ParkModel) -> None:
    """Phase 8: owners take out each live firm's cash above ``dividend_cash_months`` of its
    fixed cost: dividend_f = max(cash_f - m * fixed_cost_s * size_f, 0). Firms therefore
    fund large investments with loans or subsidies rather than piled-up profits."""
    months = model.scenario.economy.dividend_cash_months
    firms = model.firms
    rows = firms.live
    target = months * model.sector_fixed_cost[firms.sector[rows]] * firms.size[rows]
    excess = np.maximum(model.firm_cash(rows) - target, 0.0)
    model.ledger.transfer("dividend", firms.account[rows], model.outside, excess)
