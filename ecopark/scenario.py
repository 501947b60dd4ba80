"""Scenarios: TOML files validated into typed objects, presets, and dotted overrides.

A scenario describes one park: its firms, the economy around them, the operator, the
banks and the policy instruments in force. Load one with :func:`load_scenario`::

    load_scenario("generic", ["policies.landfill_tax.rate=80"])

Every key is documented by the ``param`` declarations below (``docs/scenario.md`` lists
them). Unknown keys, wrong types and out-of-range values raise :class:`ConfigError`
naming the dotted key, the value and what is allowed.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ecopark.catalogue import load_catalogue, load_infrastructure
from ecopark.ledger import MAX_YUAN, MAX_YUAN_PER_MONTH, MAX_YUAN_PER_UNIT
from ecopark.markets.contracts import SHARING_RULES
from ecopark.policies import REGISTRY, PolicyParams
from ecopark.policies.base import check_keys
from ecopark.schema import ConfigError, build, param, to_dict


@dataclass(frozen=True)
class ParkSpec:
    name: str = param("park", doc="a label for outputs")
    horizon: int = param(120, lo=1, hi=2400, unit="months", doc="steps a run lasts unless told otherwise")
    size_km: float = param(6.0, lo=0.1, hi=200, unit="km", doc="side of the square park")
    vacant_plots: int = param(4, lo=0, hi=10000, doc="plots with no firm at the start")
    firms: dict[str, int] = param({}, lo=0, hi=5000, doc="number of firms per sector (catalogue key)")
    heat_cascade: bool = param(True, doc="firms that receive steam or heat through links pass on the low-grade "
                                         "heat left (catalogue `cascade` yields; docs/model.md)")

    def validate(self, path: str) -> None:
        check_keys(f"{path}.firms", self.firms, load_catalogue().sector_keys, "sector")
        if sum(self.firms.values()) == 0:
            raise ConfigError(f"{path}.firms", "the park needs at least one firm")


@dataclass(frozen=True)
class EconomySpec:
    base_utilisation: float = param(0.85, lo=0, hi=1, doc="mean capacity utilisation without shocks")
    demand_persistence: float = param(0.9, lo=0, hi=0.999,
                                      doc="AR(1) coefficient of the common and firm demand shocks")
    common_shock_sd: float = param(0.03, lo=0, hi=1, doc="monthly s.d. of the park-wide demand shock")
    firm_shock_sd: float = param(0.05, lo=0, hi=1, doc="monthly s.d. of each firm's own demand shock")
    capacity_dispersion: float = param(0.3, lo=0, hi=2, doc="s.d. of log capacity around the sector's typical firm")
    cost_dispersion: float = param(0.03, lo=0, hi=0.5, doc="s.d. of a firm's variable-cost factor around 1")
    discount_rate: tuple[float, float] = param((0.06, 0.15), lo=0, hi=1, unit="1/year",
                                               doc="range from which firms' hurdle rates are drawn")
    initial_cash_months: float = param(3.0, lo=0, hi=240, unit="months",
                                       doc="starting cash, in months of the firm's fixed cost")
    dividend_cash_months: float = param(6.0, lo=0, hi=1e6, unit="months",
                                        doc="owners take out cash above this many months of fixed cost each "
                                            "month (a large number keeps all profit in the firm)")
    exit_after_months: int = param(6, lo=1, hi=240, unit="months",
                                   doc="months of accounts owners need before they close a firm whose expected "
                                       "operating margin is negative (docs/credit.md, exit rule; assumption: "
                                       "half a year of monthly accounts)")
    margin_memory_months: float = param(12.0, lo=1, hi=240, unit="months",
                                        doc="memory of the expected operating margin owners and the bank judge a "
                                            "firm on: a running mean over the firm's first months, then an "
                                            "exponential average with weight 1/memory (assumption: one year of "
                                            "accounts, the basis of annual credit reviews)")
    closure_cost_months: float = param(6.0, lo=0, hi=240, unit="months",
                                       doc="what closing a firm costs its owners (severance, site clean-up), in "
                                           "months of its fixed cost: a solvent firm leaves only when its "
                                           "going-concern value is below minus this cost (assumption; severance "
                                           "is a month's wage per year of service, Labour Contract Law art. 47)")
    exit_horizon_months: int = param(120, lo=1, hi=600, unit="months",
                                     doc="horizon over which owners value keeping a firm (going-concern value, "
                                         "docs/credit.md; assumption: ten years, as intensity_target.horizon_months)")
    collection_days: float = param(66.0, lo=0, hi=365, unit="days",
                                   doc="days customers take to pay for output (the operating cycle: sales are "
                                       "booked when made, paid from accounts receivable, a share min(1, (365/12) "
                                       "/ days) of the balance a month; 0: paid at once). NBS, industrial "
                                       "enterprises above designated size: average collection period of accounts "
                                       "receivable 66.5 days at end-July 2024, 66.7 at end-October 2024")
    entry_rate: float = param(0.05, lo=0, hi=1, unit="1/month",
                              doc="probability per month that a vacant plot gets a new firm")
    shock_start: int | None = param(None, lo=1, hi=2400, unit="month",
                                    doc="first month of a park-wide demand slump (omit: none)")
    shock_months: int = param(12, lo=1, hi=2400, unit="months", doc="how long the slump lasts")
    shock_depth: float = param(0.3, lo=0, hi=1, doc="share of demand lost during the slump")
    carbon_pass_through: bool = param(True, doc="covered sectors pass carbon cost into output prices and demand "
                                                "responds (sector figures in data/sectors.toml; agents/pricing.py)")

    def validate(self, path: str) -> None:
        lo, hi = self.discount_rate
        if lo > hi:
            raise ConfigError(f"{path}.discount_rate", f"lower bound {lo} exceeds upper bound {hi}")


@dataclass(frozen=True)
class InfrastructureSpec:
    """The operator as investor in shared infrastructure (agents/infrastructure.py)."""

    kinds: list[str] = param([], choices=tuple(load_infrastructure()),
                             doc="shared infrastructure the operator may build (ecopark/data/infrastructure.toml); "
                                 "empty: none")
    hurdle_rate: float = param(0.08, lo=0, hi=1, unit="1/year", doc="the operator's discount rate for the NPV")
    expected_uptake: float = param(0.8, lo=0, hi=1,
                                   doc="share of the park's potential flow of the served streams the operator "
                                       "expects to carry (assumption)")
    review_months: int = param(12, lo=1, hi=600, unit="months",
                               doc="the operator reviews infrastructure not yet built every this many months")
    tariff_scale: float = param(1.0, lo=0, hi=100, doc="multiplier on the catalogue tariffs")
    connection_share: float = param(0.5, lo=0, hi=1,
                                    doc="share of the tariff charged as a connection (capacity) fee on the "
                                        "contracted quantity; the rest is a throughput fee on deliveries")
    ppp_share: float = param(0.0, lo=0, hi=1,
                             doc="share of the capex a private partner finances (PPP), taking that share of "
                                 "the net fee income")
    loan_share: float = param(0.5, lo=0, hi=1,
                              doc="share of the capex net of subsidy and PPP the operator borrows from the first bank")
    loan_tenor_months: int = param(120, lo=1, hi=600, unit="months", doc="tenor of the infrastructure loan")


@dataclass(frozen=True)
class ServicesSpec:
    """The operator's service packages (agents/operator_services.py)."""

    enabled: bool = param(False, doc="the operator offers carbon accounting and energy management")
    mrv_cost: float = param(0.0, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/month",
                            doc="in-house monitoring, reporting and verification cost of a firm under a carbon "
                                "instrument that does not buy carbon accounting (applies with the services off too)")
    accounting_fee: float = param(2.0e4, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/month",
                                  doc="carbon accounting fee, fixed part")
    accounting_fee_per_t: float = param(1.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/tCO2e",
                                        doc="carbon accounting fee per tonne emitted")
    energy_fee: float = param(1.0e5, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/month", doc="energy management fee")
    energy_saving: float = param(0.003, lo=0, hi=0.5,
                                 doc="share of a subscriber's variable cost energy management saves (assumption: "
                                     "energy a tenth of variable cost, 3% of it saved)")
    term_months: int = param(12, lo=1, hi=600, unit="months", doc="length of a service subscription")


@dataclass(frozen=True)
class GreenPowerSpec:
    """The operator's green-power line: distributed PV + storage sold to firms (agents/electricity.py;
    data: ecopark/data/green_power.toml). Financing, hurdle rate and review interval are those of
    ``operator.infrastructure``."""

    enabled: bool = param(False, doc="the operator may build distributed PV + storage and sell green power")
    price: float = param(450.0, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/MWh",
                         doc="price of green power to firms (assumption: below the 0.6-0.7 yuan/kWh industrial "
                             "tariff, above PV's cost of about 0.3 yuan/kWh)")
    contract_fee: float = param(5000.0, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/firm/month",
                                doc="trading-platform and metering fee a buying firm pays the operator "
                                    "(assumption)")
    expected_uptake: float = param(0.8, lo=0, hi=1,
                                   doc="share of the firms' willing demand the operator expects to sell when it "
                                       "sizes a build (assumption)")
    potential_scale: float = param(1.0, lo=0, hi=10,
                                   doc="multiplier on the catalogue's PV potential per km2 of park")


@dataclass(frozen=True)
class ReclaimedWaterSpec:
    """The operator's reclaimed water: a plant and reuse main sold to firms (agents/water.py; data:
    ecopark/data/water.toml). Financing, hurdle rate and review interval are those of
    ``operator.infrastructure``."""

    enabled: bool = param(False, doc="the operator may build a reclaimed-water plant and sell reclaimed water")
    price: float = param(2.5, lo=0, hi=MAX_YUAN_PER_UNIT, unit="yuan/m3",
                         doc="price of reclaimed water to firms (assumption: below the 4-5 yuan/m3 industrial "
                             "tariff, above its 1.2 yuan/m3 running cost)")
    contract_fee: float = param(2000.0, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/firm/month",
                                doc="connection and metering fee a buying firm pays the operator (assumption)")
    expected_uptake: float = param(0.8, lo=0, hi=1,
                                   doc="share of the firms' willing demand the operator expects to sell when it "
                                       "sizes a build (assumption)")


@dataclass(frozen=True)
class OperatorSpec:
    rent: float = param(80000.0, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/firm/month",
                        doc="plot rent each firm pays the operator")
    operating_cost: float = param(1.5e6, lo=0, hi=MAX_YUAN_PER_MONTH, unit="yuan/month",
                                  doc="the operator's own running cost")
    initial_cash: float = param(5.0e7, lo=0, hi=MAX_YUAN, unit="yuan", doc="the operator's starting cash")
    carbon_pool: bool = param(True, doc="pool verified reductions of firms outside the cap and sell them as offsets")
    pool_commission: float = param(0.1, lo=0, hi=1, doc="operator's share of carbon-pool proceeds")
    infrastructure: InfrastructureSpec = param(InfrastructureSpec(), doc="shared infrastructure")
    services: ServicesSpec = param(ServicesSpec(), doc="service packages")
    green_power: GreenPowerSpec = param(GreenPowerSpec(), doc="distributed PV + storage and green power sales")
    reclaimed_water: ReclaimedWaterSpec = param(ReclaimedWaterSpec(), doc="reclaimed-water plant and sales")


@dataclass(frozen=True)
class BankSpec:
    name: str = param("bank", doc="a label")
    capital: float = param(2.0e9, lo=0, hi=MAX_YUAN, unit="yuan", doc="equity capital at the start")
    margin_bp: float = param(145.0, lo=0, hi=2000, unit="bp/year",
                             doc="spread over the funding rate (funding + margin = base rate)")
    min_capital_ratio: float = param(0.105, lo=0, hi=1,
                                     doc="equity / risk-weighted loans below which the bank refuses new loans")
    max_single_exposure: float = param(0.1, lo=0, hi=10,
                                       doc="most a bank lends one borrower, as a share of its equity (China: 10%)")


@dataclass(frozen=True)
class SecuredLendingSpec:
    """Secured and risk-priced working capital (docs/credit.md, markets/secured_lending.py)."""

    warehouse_receipts: bool = param(False, doc="firms of the stock_months sectors may borrow working capital "
                                                "against digital warehouse receipts on their stocks")
    stock_months: dict[str, float] = param({}, lo=0, hi=24, unit="months",
                                           doc="months of normal output each firm of a sector holds in "
                                               "warehouse stock (catalogue sector key = months)")
    receipt_haircut: float = param(0.3, lo=0, hi=0.99,
                                   doc="share of the stock's market value a bank does not lend against")
    commodity_price_sd: float = param(0.04, lo=0, hi=1,
                                      doc="monthly s.d. of the log stock-price deviation (AR(1), persistence "
                                          "commodity_price_persistence)")
    commodity_price_persistence: float = param(0.95, lo=0, hi=0.999,
                                               doc="AR(1) coefficient of the log stock-price deviation")
    slump_price_fall: float = param(0.2, lo=0, hi=0.99,
                                    doc="share of the stock price lost during the economy's demand slump")
    carbon_pledge: bool = param(False, doc="firms holding allowances may borrow working capital against "
                                           "pledged allowances (held in escrow until repaid)")
    allowance_haircut: float = param(0.4, lo=0, hi=0.99,
                                     doc="share of the pledged allowances' market value a bank does not lend against")
    initial_cover: float = param(1.25, lo=1, hi=10,
                                 doc="cover (units x price x (1 - haircut)) / amount a bank asks at origination: "
                                     "room for price moves and capitalised interest before a margin call")
    secured_premium_bp: float = param(100.0, lo=0, hi=5000, unit="bp/year",
                                      doc="premium over funding + margin of a secured loan (replaces the "
                                          "firm's risk premium)")
    risk_priced_lending: bool = param(False, doc="banks lend working capital unsecured to weak firms refused a "
                                                 "standard loan, judged on their margin at normal output, at a premium")
    weak_min_dscr: float = param(1.0, lo=0, hi=100, doc="lowest margin at normal output / debt service a bank "
                                                         "accepts from a weak firm (risk-priced lending)")
    weak_premium_bp: float = param(300.0, lo=0, hi=5000, unit="bp/year",
                                   doc="premium on a risk-priced loan over the standard rate (expected loss: "
                                       "probability of default x loss given default)")

    def validate(self, path: str) -> None:
        check_keys(f"{path}.stock_months", self.stock_months, load_catalogue().sector_keys, "sector")


@dataclass(frozen=True)
class CreditSpec:
    """Rules of the credit market every bank follows (docs/credit.md)."""

    enabled: bool = param(True, doc="firms may borrow (project loans for green investments, working capital)")
    funding_rate: float = param(0.02, lo=0, hi=0.5, unit="1/year", doc="banks' cost of deposit funding")
    green_discount_bp: float = param(40.0, lo=0, hi=1000, unit="bp/year",
                                     doc="rate cut for green purposes: link and abatement capex (DOMAIN 4: 30-50 bp)")
    leverage_premium_bp: float = param(100.0, lo=0, hi=5000, unit="bp/year per unit",
                                       doc="premium per unit of debt / (12 x this month's margin)")
    cover_premium_bp: float = param(300.0, lo=0, hi=5000, unit="bp/year",
                                    doc="premium at zero cash-flow cover, falling linearly to 0 at cover_target")
    cover_target: float = param(2.0, lo=0.1, hi=100, doc="margin / debt service with no cover premium")
    max_premium_bp: float = param(600.0, lo=0, hi=5000, unit="bp/year", doc="cap on the risk premium")
    carbon_efficiency_bp: float = param(0.0, lo=0, hi=2000, unit="bp/year per unit",
                                        doc="rate change per unit of (emissions/BAU - 1); 0 = off")
    carbon_efficiency_cap_bp: float = param(50.0, lo=0, hi=1000, unit="bp/year",
                                            doc="largest carbon-efficiency discount or surcharge")
    sustainability_linked: bool = param(False,
                                        doc="green loans are sustainability-linked (yearly intensity target)")
    sll_target_reduction: float = param(0.03, lo=0, hi=1, unit="1/year",
                                        doc="yearly cut in emissions/BAU the target asks (DOMAIN 4: 3%)")
    sll_step_down_bp: float = param(50.0, lo=0, hi=1000, unit="bp/year", doc="rate cut while met (DOMAIN 4: 50 bp)")
    sll_step_up_bp: float = param(50.0, lo=0, hi=1000, unit="bp/year", doc="penalty rate while the target is missed")
    loan_to_value: float = param(0.7, lo=0, hi=1, doc="share of a green investment (net of subsidy) a bank will lend")
    project_tenor_months: int = param(60, lo=1, hi=360, unit="months", doc="tenor of project loans")
    working_capital_tenor_months: int = param(12, lo=1, hi=120, unit="months", doc="tenor of working-capital loans")
    working_capital_buffer_months: float = param(1.0, lo=0, hi=24, unit="months",
                                                 doc="cash a working-capital loan restores, in months of fixed cost")
    credit_line_months: float = param(2.0, lo=0, hi=24, unit="months",
                                      doc="limit of a firm's working-capital credit line, in months of its operating "
                                          "cost at normal output (CBRC working-capital loan rules 2010, art. 6 and "
                                          "annex: need = costs / turnover; assumption: turnover 6 times a year)")
    line_max_leverage: float = param(4.0, lo=0, hi=100, unit="years of margin",
                                     doc="covenant of the credit line: no new draw while the firm's debt exceeds this "
                                         "many years of its expected operating margin (or the margin is not "
                                         "positive, or an instalment is missed); assumption: the common 4x "
                                         "debt/EBITDA covenant of syndicated loans")
    min_dscr: float = param(1.2, lo=0, hi=100, doc="debt-service cover a bank requires to approve a loan")
    npl_after_months: int = param(3, lo=1, hi=120, unit="months",
                                  doc="consecutive missed instalments after which a loan is non-performing")
    default_after_months: int = param(6, lo=1, hi=240, unit="months",
                                      doc="consecutive missed instalments after which the borrower defaults "
                                          "(at least npl_after_months)")
    recovery_rate: float = param(0.4, lo=0, hi=1, doc="share of a defaulted loan recovered from collateral")
    risk_weight: float = param(1.0, lo=0, hi=5, doc="risk weight of a loan in the capital ratio")
    secured: SecuredLendingSpec = SecuredLendingSpec()

    def validate(self, path: str) -> None:
        if self.default_after_months < self.npl_after_months:
            raise ConfigError(f"{path}.default_after_months",
                              f"value {self.default_after_months} is below npl_after_months {self.npl_after_months}; "
                              "allowed: >= npl_after_months")


@dataclass(frozen=True)
class ByproductMarketSpec:
    sharing_rule: str = param("nash", choices=SHARING_RULES,
                              doc="how a link's surplus is split (docs/byproduct.md); posted_price needs a "
                                  "[policies.posted_price_rule] table")
    bargaining_power: float = param(0.5, lo=0, hi=1, doc="supplier's share of a link's surplus (nash, capex_share)")
    commission: float = param(0.1, lo=0, hi=1, doc="operator's share of the surplus (operator_commission rule)")
    contract_months: int = param(60, lo=1, hi=600, unit="months", doc="duration of a link contract")
    exit_penalty_months: float = param(3.0, lo=0, hi=120, unit="months",
                                       doc="early-exit penalty, in months of the partner's expected gain")
    patience_months: int = param(3, lo=1, hi=120, unit="months",
                                 doc="consecutive loss-making months after which a side leaves a link")
    encounters_per_month: float = param(0.3, lo=0, hi=50, unit="1/firm/month",
                                        doc="chance encounters with other firms without the platform")
    distance_decay_km: float = param(1.5, lo=0.01, hi=1000, unit="km",
                                     doc="encounter weight exp(-distance/decay): nearer firms meet more")
    referral_rate: float = param(0.1, lo=0, hi=1, unit="1/month",
                                 doc="chance a partner's partner becomes known each month")
    initial_trust: float = param(0.8, lo=0, hi=1, doc="expected reliability of an untried supplier")
    trust_loss: float = param(0.3, lo=0, hi=1, doc="share of trust lost when a supplier delivers short")
    trust_recovery: float = param(0.05, lo=0, hi=1, doc="share of the gap to full trust regained per good month")
    shortfall_tolerance: float = param(0.9, lo=0, hi=1, doc="delivered/committed below which a month is a failure")
    quality_risk: bool = param(True, doc="off-spec deliveries and the receiver's qualification cost of a new source "
                               "(catalogue offspec_rate, offspec_cost, qualification_cost; docs/byproduct.md)")
    partner_exit_rate: float = param(0.04, lo=0, hi=1, unit="1/year",
                                     doc="chance a year that the partner leaves the park and the link ends; link "
                                     "values discount at the hurdle rate plus this (assumption: about a third of "
                                     "China's domestic firms close within five years, SAIC 2013 survival report; "
                                     "established industrial firms in parks far fewer)")
    min_quantity: float = param(10.0, lo=0.01, hi=1e9, unit="units/month",
                                doc="smallest link worth contracting (> 0: a link carries something)")
    contract_share: float = param(0.8, lo=0.05, hi=1, doc="committed quantity as a share of the pair's open supply "
                                  "and need at normal output (the rest is disposed of or bought outside)")
    negotiation: bool = param(True, doc="bargaining friction: negotiation cost, time and breakdown (docs/byproduct.md)")
    negotiation_cost: float = param(60000.0, lo=0, hi=1e8, unit="yuan/attempt",
                                    doc="cost of one negotiation between familiar partners at zero trust, nearby")
    negotiation_cost_per_km: float = param(10000.0, lo=0, hi=1e8, unit="yuan/km",
                                           doc="extra negotiation cost per km between the plots")
    negotiation_months: float = param(3.0, lo=0, hi=60, unit="months",
                                      doc="time to agree between familiar partners at zero trust")
    unfamiliarity_markup: float = param(1.0, lo=0, hi=10,
                                        doc="extra cost, time and valuation uncertainty (x base) for partners "
                                            "that have never traded together")
    valuation_uncertainty: float = param(0.3, lo=0, hi=5, unit="share of valuation",
                                         doc="scale of what a side overstates its reservation value by")
    trust_relief: float = param(0.5, lo=0, hi=1, doc="share of negotiation cost, time and uncertainty removed at "
                                                       "full trust in the supplier")
    platform_cost_saving: float = param(0.5, lo=0, hi=1, doc="share of negotiation cost the platform removes "
                                                               "(search and information)")
    platform_information: float = param(0.5, lo=0, hi=1, doc="share of valuation uncertainty the platform's "
                                                               "shared cost data removes")
    retry_months: int = param(6, lo=1, hi=600, unit="months",
                              doc="months before a pair whose negotiation broke down negotiates again")


@dataclass(frozen=True)
class RecyclingSpec:
    """In-plant recycling units (ecopark/agents/recycling.py, data: ecopark/data/recycling.toml)."""

    enabled: bool = param(True, doc="firms may adopt in-plant recycling units when their NPV is positive")


@dataclass(frozen=True)
class Scenario:
    """A validated park scenario."""

    park: ParkSpec
    economy: EconomySpec
    operator: OperatorSpec
    banks: tuple[BankSpec, ...]
    policies: dict[str, PolicyParams]
    source: str  # preset name or file it came from
    byproduct_market: ByproductMarketSpec = ByproductMarketSpec()
    credit: CreditSpec = CreditSpec()
    recycling: RecyclingSpec = RecyclingSpec()

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as plain data (what a run records as its configuration)."""
        return {
            "park": to_dict(self.park),
            "economy": to_dict(self.economy),
            "operator": to_dict(self.operator),
            "banks": [to_dict(b) for b in self.banks],
            "byproduct_market": to_dict(self.byproduct_market),
            "credit": to_dict(self.credit),
            "policies": {k: to_dict(v) for k, v in self.policies.items()},
            "recycling": to_dict(self.recycling),
        }


SECTIONS = ("park", "economy", "operator", "banks", "byproduct_market", "credit", "policies", "recycling")


def parse_scenario(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate plain scenario data (as read from TOML) into a :class:`Scenario`."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown section; allowed: {', '.join(SECTIONS)}")
    banks_raw = data.get("banks", [{}])
    if not isinstance(banks_raw, list) or not banks_raw:
        raise ConfigError("banks", "expected a non-empty list of [[banks]] tables")
    policies_raw = data.get("policies", {})
    if not isinstance(policies_raw, Mapping):
        raise ConfigError("policies", f"expected a table, got {policies_raw!r}")
    policies = {}
    for name, raw in policies_raw.items():
        if name not in REGISTRY:
            raise ConfigError(f"policies.{name}", f"unknown policy; allowed: {', '.join(sorted(REGISTRY))}")
        if not isinstance(raw, Mapping):
            raise ConfigError(f"policies.{name}", f"expected a table, got {raw!r}")
        policies[name] = build(REGISTRY[name].Params, raw, f"policies.{name}")
    for section in ("park", "economy", "operator", "byproduct_market", "credit", "recycling"):
        if not isinstance(data.get(section, {}), Mapping):
            raise ConfigError(section, f"expected a table, got {data[section]!r}")
    scenario = Scenario(
        park=build(ParkSpec, data.get("park", {}), "park"),
        economy=build(EconomySpec, data.get("economy", {}), "economy"),
        operator=build(OperatorSpec, data.get("operator", {}), "operator"),
        banks=tuple(
            build(BankSpec, b, f"banks[{i}]") if isinstance(b, Mapping)
            else _raise(f"banks[{i}]", f"expected a table, got {b!r}")
            for i, b in enumerate(banks_raw)
        ),
        policies=policies,
        source=source,
        byproduct_market=build(ByproductMarketSpec, data.get("byproduct_market", {}), "byproduct_market"),
        credit=build(CreditSpec, data.get("credit", {}), "credit"),
        recycling=build(RecyclingSpec, data.get("recycling", {}), "recycling"),
    )
    if scenario.byproduct_market.sharing_rule == "posted_price" and "posted_price_rule" not in policies:
        raise ConfigError("byproduct_market.sharing_rule",
                          "'posted_price' needs a [policies.posted_price_rule] table (its share and fund budget)")
    return scenario


def _raise(key: str, message: str):
    raise ConfigError(key, message)


def presets() -> list[str]:
    """Names of the scenarios shipped with ecopark."""
    folder = resources.files("ecopark.scenarios")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def cases() -> list[str]:
    """Names of the case-library scenarios shipped with ecopark (``ecopark/scenarios/cases/``): the
    industry report's named parks, each a small scenario (docs/cases.md). They load by name like
    presets but are not presets (no calibration; the preset-wide checks do not run them)."""
    folder = resources.files("ecopark.scenarios.cases")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def read_scenario_data(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    """Raw TOML data of a preset or case name or a file path, and a label for it."""
    text: str
    if str(name_or_path) in presets():
        text = resources.files("ecopark.scenarios").joinpath(f"{name_or_path}.toml").read_text()
        label = str(name_or_path)
    elif str(name_or_path) in cases():
        text = resources.files("ecopark.scenarios.cases").joinpath(f"{name_or_path}.toml").read_text()
        label = str(name_or_path)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError("scenario", f"{str(name_or_path)!r} is neither a preset ({', '.join(presets())}), "
                                          f"a case ({', '.join(cases())}) nor a file")
        text, label = read_text(path, "scenario"), str(path)
    try:
        return tomllib.loads(text), label
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("scenario", f"{label} is not valid TOML: {exc}") from None


def read_text(path: Path, key: str) -> str:
    """The UTF-8 text of a configuration file; ConfigError ``key`` if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(key, f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror or exc}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``key.path=value``; the value is read as TOML (number, bool, list, "string")."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(item, "an override must look like section.key=value")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word is a string
    return key, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``data`` with dotted-path overrides set (tables are created as needed).

    ``banks[0].capital=1e9`` style indices address entries of a list of tables.
    """
    data = copy.deepcopy(data)
    if isinstance(overrides, Mapping):
        items = list(overrides.items())
    elif isinstance(overrides, (str, bytes)) or not isinstance(overrides, Iterable):
        raise ConfigError("overrides", f"expected a mapping {{key: value}} or a list of 'key=value' strings, "
                                       f"got {overrides!r}")
    else:
        items = []
        for i, item in enumerate(overrides):
            if not isinstance(item, str):
                raise ConfigError(f"overrides[{i}]", f"expected a 'section.key=value' string, got {item!r}")
            items.append(parse_override(item))
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise ConfigError("overrides", f"a key must be a dotted name like 'operator.rent', got {key!r}")
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts):
            name, index = _split_index(part, key)
            last = depth == len(parts) - 1
            if index is None:
                if not isinstance(node, dict):
                    raise ConfigError(key, f"{'.'.join(parts[:depth])} is not a table")
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
            else:
                seq = node.get(name) if isinstance(node, dict) else None
                if not isinstance(seq, list) or index >= len(seq):
                    raise ConfigError(key, f"{name} has no entry [{index}]")
                if last:
                    seq[index] = value
                else:
                    node = seq[index]
    return data


def _split_index(part: str, key: str) -> tuple[str, int | None]:
    if part.endswith("]") and "[" in part:
        name, _, idx = part[:-1].partition("[")
        if not idx.isdigit():
            raise ConfigError(key, f"bad list index in {part!r}")
        return name, int(idx)
    return part, None


def load_scenario(
    name_or_path: str | Path | Scenario = "generic",
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> Scenario:
    """A preset name, a TOML file or a Scenario, with overrides applied, validated."""
    if not isinstance(name_or_path, (str, Path, Scenario)):
        raise ConfigError("scenario", f"expected a preset name ({', '.join(presets())}), a TOML file path or a "
                                      f"Scenario, got {name_or_path!r} ({type(name_or_path).__name__})")
    if isinstance(name_or_path, Scenario):
        if not overrides:
            return name_or_path
        data, label = name_or_path.to_dict(), name_or_path.source
    else:
        data, label = read_scenario_data(name_or_path)
    return parse_scenario(apply_overrides(data, overrides), label)


def scale_park(scenario: Scenario, n_firms: int) -> Scenario:
    """The scenario with about ``n_firms`` firms in the same sector mix and plot density.

    Each sector's count and the vacant plots scale by n_firms / current firms (at least one
    firm per sector); the park's side grows with the square root, so plots per km2 and
    hence link density stay the same.
    """
    counts = scenario.park.firms
    total = sum(counts.values())
    scaled = {k: max(1, round(v * n_firms / total)) for k, v in counts.items()}
    size = scenario.park.size_km * math.sqrt(sum(scaled.values()) / total)
    return load_scenario(scenario, {
        "park.firms": scaled, "park.size_km": size,
        "park.vacant_plots": max(1, round(scenario.park.vacant_plots * n_firms / total)),
    })


def markdown() -> str:
    """The scenario reference (docs/scenario.md), generated from the field declarations."""
    from ecopark.schema import describe

    lines = ["# Scenario reference", "",
             "Generated from `ecopark/scenario.py` and `ecopark/policies/` by `make docs`; do not edit by hand.",
             "Every key can be set in a scenario TOML file or with `--set key=value`.", ""]
    sections = [("[park]", ParkSpec, "park"), ("[economy]", EconomySpec, "economy"),
                ("[operator]", OperatorSpec, "operator"), ("[[banks]] (each entry)", BankSpec, "banks[i]"),
                ("[byproduct_market]", ByproductMarketSpec, "byproduct_market"),
                ("[credit]", CreditSpec, "credit"), ("[recycling]", RecyclingSpec, "recycling")]
    sections += [(f"[policies.{name}]", cls.Params, f"policies.{name}") for name, cls in sorted(REGISTRY.items())]
    for title, cls, path in sections:
        lines += [f"## {title}", "", "| key | default | allowed | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | `{d}` | {a} | {m} |" for k, d, a, m in describe(cls, path)]
        lines.append("")
    return "\n".join(lines)
