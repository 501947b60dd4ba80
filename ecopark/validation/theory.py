"""Section 1 of the validation report: the theory checks, each pass or fail (the carbon price at the
marginal abatement cost, the matching optimum, conservation, the loan schedule, random valid
scenarios). The least-cost and national-market subsections are ``lumpy.py`` and ``national.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

from ecopark.experiments.runner import run
from ecopark.markets.byproduct import annuity_factor, match_max_surplus
from ecopark.markets.credit import Offer
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario, presets


@dataclass(frozen=True)
class Check:
    """One theory check: its name, whether it held, and the figures behind it."""

    name: str
    passed: bool
    detail: str


# -- 1. theory checks ----------------------------------------------------------------------------
#: A park of four covered sectors with no shocks, no heterogeneity, no links, no credit, no
#: subsidies and no exits (owners need 240 months of accounts to close a firm, and 200 months of
#: cash keep every firm solvent): only the carbon market and the firms' MAC steps act.
FRICTIONLESS_SECTORS = {"building_materials": 5, "chlor_alkali": 5, "refining": 5, "data_centre": 5}
FRICTIONLESS: dict[str, Any] = {
    "park.firms": FRICTIONLESS_SECTORS, "park.vacant_plots": 0, "economy.common_shock_sd": 0.0,
    "economy.firm_shock_sd": 0.0, "economy.capacity_dispersion": 0.0, "economy.cost_dispersion": 0.0,
    "economy.discount_rate": [0.1, 0.1], "economy.initial_cash_months": 200.0,
    "economy.dividend_cash_months": 1e6, "economy.entry_rate": 0.0, "economy.exit_after_months": 240,
    "byproduct_market.encounters_per_month": 0.0, "policies.capex_subsidy.enabled": False,
    "operator.carbon_pool": False, "credit.enabled": False,
    "policies.cap_and_trade.covered_sectors": list(FRICTIONLESS_SECTORS), "policies.cap_and_trade.cap_decline": 0.0,
    "policies.cap_and_trade.free_share": 0.0, "policies.cap_and_trade.reserve_price": 0.0,
    "policies.cap_and_trade.offset_limit": 0.0, "policies.cap_and_trade.initial_price": 0.0,
    "policies.cap_and_trade.new_entrant_reserve": 0.0, "policies.cap_and_trade.allocation": "benchmark",
    "economy.carbon_pass_through": False,
}


def mac_steps() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(MAC, tCO2e/month, yuan/month) of every technology step of the frictionless park, and its BAU."""
    model = ParkModel(load_scenario("generic", FRICTIONLESS), seed=0)
    rows = model.firms.live
    mac, a = model.abatement.menu(rows)
    ok = np.isfinite(mac)
    return mac[ok], a[ok], (mac * a)[ok], float(model.abatement.normal_bau(rows).sum())


def frictionless_park(required: float, **extra: Any) -> ParkModel:
    """The frictionless park with a cap ``required`` tCO2e/month below its BAU."""
    *_, bau = mac_steps()
    return ParkModel(load_scenario("generic", {
        **FRICTIONLESS, "policies.cap_and_trade.cap_start": 1 - required / bau, **extra}), seed=0)


def installed_abatement(model: ParkModel) -> tuple[float, float]:
    """(tCO2e/month abated, yuan/month cost) of the technologies in operation (one per firm here)."""
    ab, rows = model.abatement, model.firms.live
    total_a = total_c = 0.0
    for j in range(len(ab.share)):
        on = rows[ab.installed[rows, j]]
        total_a += (ab.share[j] * ab.normal_bau(on)).sum()
        total_c += ((ab.capex[j] * annuity_factor(0.1, ab.lifetime[j]) + ab.opex[j]) * model.firms.size[on]).sum()
    return float(total_a), float(total_c)


def check_carbon_equilibrium(months: int = 36) -> Check:
    """Cap at 75% of the abatement cheaper than 100 yuan/t: price = marginal MAC, cost <= 1.02 x LP."""
    mac, a, cost, _ = mac_steps()
    order = np.argsort(mac)
    required = 0.75 * a[mac < 100].sum()
    marginal = float(mac[order][np.searchsorted(np.cumsum(a[order]), required)])
    model = frictionless_park(required)
    for _ in range(months):
        model.step()
    price = model.carbon_market.session_prices[0][1]
    least = linprog(cost, A_ub=-a[None, :], b_ub=[-required], bounds=(0, 1), method="highs").fun
    abated, spent = installed_abatement(model)
    passed = bool(abs(price - marginal) <= 1e-6 * marginal and abated >= required and spent <= 1.02 * least)
    return Check("carbon price at the marginal abatement cost; least-cost abatement", passed,
                 f"first clearing price {price:.2f} yuan/t vs marginal MAC {marginal:.2f}; abatement "
                 f"{abated:,.0f} t/month for {required:,.0f} required; cost {spent:,.0f} vs LP least cost "
                 f"{least:,.0f} yuan/month ({spent / least - 1:+.2%})")


def dense_lp_optimum(surplus: np.ndarray, supply: np.ndarray, demand: np.ndarray) -> float:
    """Independent optimum of the matching problem: a dense LP over every pair (interior point)."""
    n_s, n_r = surplus.shape
    c = -np.where(np.isfinite(surplus) & (surplus > 0), surplus, 0.0).ravel()
    a = np.vstack([np.kron(np.eye(n_s), np.ones(n_r)), np.kron(np.ones(n_s), np.eye(n_r))])
    return float(-linprog(c, A_ub=a, b_ub=np.r_[supply, demand], bounds=(0, None), method="highs-ipm").fun)


def check_matching_optimum(instances: int = 200, seed: int = 0) -> Check:
    """match_max_surplus equals the dense LP optimum on random instances, within supply and demand."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    feasible = True
    for _ in range(instances):
        n_s, n_r = rng.integers(1, 12, size=2)
        surplus = rng.uniform(-50, 100, size=(n_s, n_r))
        surplus[rng.random((n_s, n_r)) < 0.2] = np.nan
        supply, demand = rng.uniform(0, 100, n_s), rng.uniform(0, 100, n_r)
        flows = match_max_surplus(surplus, supply, demand)
        feasible &= bool((flows.sum(axis=1) <= supply + 1e-6).all() and (flows.sum(axis=0) <= demand + 1e-6).all())
        total = float(np.nansum(np.where(surplus > 0, surplus, 0.0) * flows))
        best = dense_lp_optimum(surplus, supply, demand)
        worst = max(worst, abs(total - best) / max(best, 1.0))
    return Check("platform matching at the surplus optimum", feasible and worst < 1e-6,
                 f"{instances} random instances (up to 11 x 11 pairs, 20% unknown): largest relative gap to "
                 f"the dense LP optimum {worst:.1e}; supply and demand never exceeded: {feasible}")


def check_conservation(result: Any, label: str) -> Check:
    """Money and allowances sum to zero in every step; generated = delivered + recycled + disposed per stream."""
    ts, streams = result.timeseries, result.streams
    money = int(np.abs(ts["money_total"]).max())
    allowances = float(np.abs(ts["allowance_balance_total"]).max())
    gap = np.abs(streams["generated"] - streams["delivered"] - streams["recycled"] - streams["disposed"])
    mass = float(gap.max())
    passed = money == 0 and allowances == 0 and bool((gap <= 1e-9 * np.maximum(streams["generated"], 1.0)).all())
    return Check(f"conservation in `{label}`", passed,
                 f"{len(ts)} months: largest |sum of money balances| {money} fen, |sum of allowance balances| "
                 f"{allowances:g} t, |generated - delivered - recycled - disposed| {mass:.2e} units")


def check_loan_schedule() -> Check:
    """A 5-year loan serviced to the end: principal repaid to the fen, interest at its rate each month."""
    model = ParkModel(load_scenario("generic", {"economy.initial_cash_months": 240.0,
                                                "economy.dividend_cash_months": 1e6}), seed=0)
    model.step()
    credit, loans = model.credit, model.credit.loans
    principal, rate, tenor = 12_345_678.91, 0.0385, 60
    loan = credit.lend(int(model.firms.live[0]), Offer(0, principal, rate, tenor, 0.0), "link")
    expected_interest, out = 0, round(principal * 100)
    for _ in range(tenor):
        interest = round(out * rate / 12)
        expected_interest += interest
        out -= out if loans.months_left[loan] == 1 else loans.payment_fen[loan] - interest
        credit.service()
    paid_principal, paid_interest = round(loans.principal_paid[loan] * 100), round(loans.interest_paid[loan] * 100)
    passed = paid_principal == round(principal * 100) and paid_interest == expected_interest and out == 0
    return Check("loan instalments sum to principal plus interest", passed,
                 f"{principal:,.2f} yuan at {rate:.2%} over {tenor} months: principal repaid "
                 f"{paid_principal / 100:,.2f}, interest {paid_interest / 100:,.2f} vs "
                 f"{expected_interest / 100:,.2f} at the rate")


def check_fuzz(runs: int, seed: int = 0) -> Check:
    """Random valid scenarios (``ecopark/fuzz.py``) keep every invariant of ``ecopark/invariants.py``
    each month; each completes or is refused with a named ConfigError."""
    from collections import Counter

    from ecopark.fuzz import fuzz_run, random_overrides

    rng = np.random.default_rng(seed)
    counts: Counter = Counter()
    first = ""
    for _ in range(runs):
        overrides = random_overrides(rng)
        outcome, message = fuzz_run(str(rng.choice(presets())), overrides, int(rng.integers(2**31)),
                                    steps=int(rng.integers(6, 25)))
        counts[outcome] += 1
        first = first or (message if outcome in ("violated", "crashed") else "")
    passed = counts["violated"] == counts["crashed"] == 0
    return Check("random valid scenarios keep the invariants", passed,
                 f"{runs} scenarios (about 12 firms, 6-24 months, keys and instruments drawn within their "
                 f"declared ranges): {counts['ok']} completed, {counts['refused']} refused with a ConfigError, "
                 f"{counts['violated']} broke an invariant, {counts['crashed']} crashed" + (f"; first: {first}"
                                                                                          if first else ""))


def theory_checks(steps: int) -> list[Check]:
    """Every theory check, conservation on a run of every preset of ``steps`` months (seed 1)."""
    checks = [check_carbon_equilibrium(), check_matching_optimum(), check_loan_schedule()]
    checks += [check_conservation(run(name, steps=steps, seed=1), name) for name in presets()]
    checks.append(check_fuzz(runs=100 if steps >= 60 else 20))
    return checks


def checks_section(checks: list[Check]) -> list[str]:
    """Markdown lines: the heading of section 1 and the table of the theory checks."""
    lines = [
        "## 1. Theory checks", "",
        "Each must hold; the command fails (exit status 1) if one does not, and the test suite runs it in "
        "its quick form.", "",
        "| check | result | figures |", "|---|---|---|",
    ]
    lines += [f"| {c.name} | {'pass' if c.passed else '**FAIL**'} | {c.detail} |" for c in checks]
    return lines
