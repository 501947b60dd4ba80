"""The operator as investor: it builds shared infrastructure when its NPV is positive, pairs
that use it form links they would not form without it, and its money moves through the ledger."""

import numpy as np
import pytest

from ecopark.markets.byproduct import annuity_factor
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

HEAT = 'operator.infrastructure.kinds=["heat_network"]'


def run(name: str, steps: int, seed: int = 1, overrides: tuple[str, ...] = ()) -> ParkModel:
    model = ParkModel(load_scenario(name, list(overrides)), seed=seed)
    for _ in range(steps):
        model.step()
    return model


def surplus_per_unit(model: ParkModel, link: int) -> float:
    """The pair's joint surplus per unit (as the market values it) for link ``link`` now."""
    market, links, firms = model.byproduct_market, model.byproduct_market.links, model.firms
    k, s, r = int(links.stream[link]), links.supplier[link:link + 1], links.receiver[link:link + 1]
    v = market.pair_values(k, s, r, market.unit_values())
    rate = (firms.discount_rate[s] + firms.discount_rate[r]) / 2
    capex_month = (v["capex"] - market._capex_subsidy_share(v["capex"])) * annuity_factor(
        rate[:, None], market.spec.contract_months)
    return float((v["a_s"] + v["a_r"] + v["subsidy"] - capex_month / links.quantity[link])[0, 0])


@pytest.fixture(scope="module")
def yueyang_network() -> ParkModel:
    return run("yueyang", 36)


def test_operator_builds_the_heat_network_when_its_npv_is_positive(yueyang_network):
    model = yueyang_network
    infra = model.infrastructure
    assert [p.kind.key for p in infra.projects] == ["heat_network"]
    project = infra.projects[0]
    assert project.built == 1
    # financed by the capex subsidy's infrastructure purpose, the PPP partner, a loan and cash
    ledger = model.ledger
    assert project.subsidy > 0
    assert ledger.flow("capex_subsidy", "government", "operator") == pytest.approx(project.subsidy)
    assert ledger.flow("ppp_investment") == pytest.approx(0.3 * project.capex)
    assert ledger.flow("infrastructure_loan") == pytest.approx(project.loan) and project.loan > 0
    assert ledger.flow("infrastructure_capex") == pytest.approx(project.capex)
    assert project.equity == pytest.approx(project.capex - project.subsidy - project.ppp - project.loan)
    # no fees, no value: the operator does not build
    nothing = ParkModel(load_scenario("yueyang", ["operator.infrastructure.tariff_scale=0"]), seed=1)
    nothing.step()
    value, _ = nothing.infrastructure.npv(nothing.infrastructure.kinds["heat_network"])
    assert value < 0 and not nothing.infrastructure.projects


def test_npv_rises_with_the_capex_subsidy_for_infrastructure():
    with_subsidy = ParkModel("yueyang", seed=1)
    without = ParkModel(load_scenario("yueyang", ['policies.capex_subsidy.purposes=["link", "abatement"]']), seed=1)
    with_subsidy.step()
    without.step()
    kind = with_subsidy.infrastructure.kinds["heat_network"]
    assert with_subsidy.infrastructure.financing(1e7)[0] == pytest.approx(1.5e6)
    assert without.infrastructure.financing(1e7)[0] == 0.0
    assert with_subsidy.infrastructure.npv(kind)[0] > without.infrastructure.npv(kind)[0]


def test_pairs_on_the_network_form_links_unprofitable_without_it(yueyang_network):
    model = yueyang_network
    infra, links = model.infrastructure, model.byproduct_market.links
    rows = np.arange(links.n)
    on = rows[links.on_infrastructure[rows]]  # formed after the build, priced with the network
    assert len(on) >= 5
    with_network = np.array([surplus_per_unit(model, i) for i in on])
    saved = infra.since.copy()
    infra.since[:] = -1  # value the same pairs as if nothing were built
    without = np.array([surplus_per_unit(model, i) for i in on])
    infra.since[:] = saved
    assert (with_network > without).all()
    assert (without <= 0).sum() >= 1, "every networked pair would have linked anyway"


def test_network_raises_links_in_the_streams_it_serves_paired_over_seeds():
    # steam is supply-bound (about contract_share of it is contracted in both arms), so the
    # links the network adds are mostly low-grade and waste heat; 24 seeds: +7.2 (+-1.2), min +1
    streams = ("steam", "waste_heat", "low_grade_heat")
    diffs = []
    for seed in range(3):
        counts = []
        for kinds in ('["heat_network"]', "[]"):
            model = run("yueyang", 24, seed, (f"operator.infrastructure.kinds={kinds}",))
            links = model.byproduct_market.links
            keys = model.catalogue.stream_keys
            counts.append(sum(int((links.stream[: links.n] == keys.index(s)).sum()) for s in streams))
        diffs.append(counts[0] - counts[1])
    assert min(diffs) > 0, diffs


def step_and_check_fees(model: ParkModel, formed: list[int]) -> tuple[int, int]:
    """Step once and check this month's infrastructure fees link by link: only links formed
    (``formed``: step of each link's formation) once their stream was served pay, and only
    once their negotiation is over (first delivery the month after ``start``). Returns
    (links that paid, served links still negotiating)."""
    infra, links, ledger = model.infrastructure, model.byproduct_market.links, model.ledger
    share = model.scenario.operator.infrastructure.connection_share
    live = links.live
    since = infra.since[links.stream[live]]
    served = live[(since >= 0) & (np.array(formed)[live] >= since)]
    on = served[links.start[served] < model.steps + 1]
    expected = float((share * infra.tariff[links.stream[on]] * links.quantity[on]).sum())
    n = links.n
    model.step()
    formed += [model.steps] * (links.n - n)
    assert ledger.flow("infrastructure_connection", step=model.steps) == pytest.approx(expected, abs=0.05 * len(on))
    throughput = ledger.flow("infrastructure_throughput", step=model.steps)
    delivered = float(((1 - share) * infra.tariff[links.stream[on]] * links.delivered[on]).sum())
    assert throughput == pytest.approx(delivered, abs=0.05 * len(on))
    return len(on), len(served) - len(on)


def test_fees_and_loan_service_balance_in_the_ledger():
    model = ParkModel(load_scenario("yueyang", ["operator.infrastructure.loan_tenor_months=12"]), seed=2)
    formed = [0] * model.byproduct_market.links.n
    paying, negotiating = zip(*(step_and_check_fees(model, formed) for _ in range(15)), strict=True)
    infra, ledger = model.infrastructure, model.ledger
    assert infra.projects[0].built == 1
    assert max(paying) >= 5 and max(negotiating) >= 3  # links still negotiating pay nothing yet
    project = infra.projects[0]
    assert project.loan_months_left == 0 and project.loan_outstanding == pytest.approx(0.0, abs=1e-6)
    assert ledger.flow("infrastructure_loan_repayment") == pytest.approx(project.loan, abs=1.0)
    assert ledger.flow("bank_funding_repayment", "bank") >= project.loan - 1.0
    assert ledger.total() == 0


def test_links_formed_before_a_late_build_keep_their_own_pipes():
    """A link priced without the network (formed before it was built) neither pays its fees
    nor gets its savings, even when its negotiation ends after the build."""
    # chance encounters as before the calibration (0.3 a month): at the calibrated 0.63 firms find
    # one another fast enough that, by the time the operator's cash covers its equity, links already
    # carry what the network would (its expected fees R fall with Q) and it is never built
    late = ["operator.initial_cash=1e7", "operator.infrastructure.review_months=3",
            "byproduct_market.encounters_per_month=0.3"]
    # seed 2: on the refitted Yueyang (2026-12-05) seeds 0 and 1 build no network in the first 15 months
    model = ParkModel(load_scenario("yueyang", late), seed=2)
    formed = [0] * model.byproduct_market.links.n
    for _ in range(9):
        step_and_check_fees(model, formed)
    infra, links = model.infrastructure, model.byproduct_market.links
    built = infra.projects[0].built
    assert built > 1
    rows = np.arange(links.n)
    since = infra.since[links.stream[rows]]
    straddling = rows[(since >= 0) & (np.array(formed) < since) & (links.start[rows] >= since)]
    assert len(straddling) >= 1 and links.months[straddling].max() > 0
    assert not links.on_infrastructure[straddling].any()


def test_bad_infrastructure_settings_name_the_key():
    from ecopark.schema import ConfigError
    with pytest.raises(ConfigError, match=r"operator\.infrastructure\.kinds.*allowed: one of 'heat_network'"):
        load_scenario("generic", ['operator.infrastructure.kinds=["district_heat"]'])
    with pytest.raises(ConfigError, match=r"operator\.infrastructure\.ppp_share.*allowed: a number from 0 to 1"):
        load_scenario("generic", ["operator.infrastructure.ppp_share=1.5"])
    with pytest.raises(ConfigError, match=r"operator\.services\.energy_saving"):
        load_scenario("generic", ["operator.services.energy_saving=-0.1"])


def test_the_infrastructure_loan_rate_is_never_negative():
    """A green discount above funding + margin (allowed by the ranges) once made the loan's interest
    negative and the ledger refuse it (found by the validation fuzz)."""
    model = run("yueyang", 2, 0, ("credit.funding_rate=0.001", "credit.green_discount_bp=1000",
                                  'operator.infrastructure.kinds=["heat_network"]'))
    assert model.infrastructure.loan_rate() == 0.0
    assert model.infrastructure.projects and model.infrastructure.projects[0].loan > 0
    assert model.ledger.total() == 0
