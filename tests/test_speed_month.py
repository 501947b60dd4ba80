"""The per-month speed paths of issue 28 (second round) give what the plain computation gives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ecopark.model import ParkModel
from ecopark.scenario import load_scenario


def _model(overrides=None) -> ParkModel:
    return ParkModel(load_scenario("generic", overrides or {}), seed=0)


def test_policy_stream_tables_are_the_plain_lists_and_follow_new_params():
    model = _model({"policies.reuse_subsidy.enabled": True, "policies.reuse_quota.enabled": True,
                    "policies.reuse_quota.streams": ["fly_ash"]})
    cat = model.catalogue
    plain = {
        "landfill_tax": lambda p: [p.by_stream.get(k, p.rate if s.landfilled else 0.0) for k, s in cat.streams.items()],
        "reuse_subsidy": lambda p: [p.by_stream.get(k, {"t": p.rate, "GJ": p.rate_per_gj}.get(s.unit, 0.0))
                                    for k, s in cat.streams.items()],
        "reuse_quota": lambda p: [p.fine if k in p.streams else 0.0 for k in cat.stream_keys],
    }
    method = {"landfill_tax": "rates", "reuse_subsidy": "rates", "reuse_quota": "fine_per_unit"}
    for name, build in plain.items():
        policy = model.government.policies.get(name)
        table = getattr(policy, method[name])(cat)
        assert (table == np.array(build(policy.params))).all()
        assert getattr(policy, method[name])(cat) is table  # kept while params and catalogue are the same
        with pytest.raises(ValueError):
            table[0] = 1.0  # read-only: no caller changes what the next one gets
        field = "fine" if name == "reuse_quota" else "rate"
        policy.params = dataclasses.replace(policy.params, **{field: getattr(policy.params, field) + 7.0})
        fresh = getattr(policy, method[name])(cat)
        assert fresh is not table and (fresh == np.array(build(policy.params))).all()
        assert (fresh != table).any()


def _infrastructure_step_before(infra, fees, funding):
    """Infrastructure.step's bookings as they were before (project by project, appended), on the projects."""
    paid = {kind: [] for kind in ("infrastructure_opex", "infrastructure_loan_interest",
                                  "infrastructure_loan_repayment", "funding_interest", "bank_funding_repayment",
                                  "ppp_distribution")}
    for i, p in enumerate(infra.projects):
        paid["infrastructure_opex"].append(p.kind.opex)
        p.opex_paid += p.kind.opex
        p.fees += fees[i]
        if p.loan_months_left > 0:
            interest = p.loan_outstanding * p.loan_rate / 12.0
            principal = p.loan_outstanding if p.loan_months_left == 1 else min(
                p.loan_payment - interest, p.loan_outstanding)
            paid["infrastructure_loan_interest"].append(interest)
            paid["infrastructure_loan_repayment"].append(principal)
            paid["funding_interest"].append(p.loan_outstanding * funding / 12.0)
            paid["bank_funding_repayment"].append(principal)
            p.loan_outstanding -= principal
            p.loan_months_left -= 1
        share = p.ppp / p.capex if p.capex > 0 else 0.0
        paid["ppp_distribution"].append(share * max(fees[i] - p.kind.opex, 0.0))
    return {kind: amounts for kind, amounts in paid.items() if amounts}


def test_infrastructure_step_books_what_the_project_by_project_loop_booked(monkeypatch):
    import copy

    model = ParkModel(load_scenario("yueyang", ["operator.infrastructure.loan_tenor_months=3"]), seed=2)
    infra = model.infrastructure
    months_with_loans = 0
    rng = np.random.default_rng(3)
    for _ in range(8):
        model.step()
        assert infra.projects
        infra.month_fees[:] = rng.choice([0.0, 1.0, 1e6], len(infra.month_fees)) * rng.random(len(infra.month_fees))
        for p in infra.projects[::2]:  # the PPP partner's share on too
            p.ppp = 0.3 * p.capex
        before = copy.deepcopy(infra.projects)
        shadow = copy.copy(infra)
        shadow.projects = before
        expected = _infrastructure_step_before(shadow, infra.month_fees.copy(), model.scenario.credit.funding_rate)
        booked = {}
        monkeypatch.setattr(model.ledger, "transfer", lambda kind, payer, payee, amounts, into=booked: into.update(
            {kind: np.asarray(amounts).tolist()}))
        monkeypatch.setattr(infra, "review", lambda: None)
        infra.step()
        monkeypatch.undo()
        months_with_loans += "infrastructure_loan_interest" in expected
        assert booked == expected
        assert [vars(p) for p in infra.projects] == [vars(p) for p in before]
    assert 0 < months_with_loans < 8  # loans paid off during the check, some months with and some without


def test_small_deferred_acceptance_in_python_numbers_is_the_array_version_bit_for_bit():
    from ecopark.markets import byproduct

    rng = np.random.default_rng(28)
    rounds = 0
    for trial in range(700):
        # up to 30 x 30, a tenth of NaN or more; then a large park's tables: up to 150 x 120, mostly NaN
        n_s, n_r = rng.integers(1, 30, 2) if trial < 600 else rng.integers(20, 150, 2)
        surplus = np.round(rng.normal(1.0, 1.0, (n_s, n_r)), int(rng.integers(0, 3)))  # ties at 0 and 1 decimals
        surplus[rng.random((n_s, n_r)) < (rng.uniform(0.2, 0.9) if trial < 600 else rng.uniform(0.95, 0.99))] = np.nan
        if trial % 7 == 0:
            surplus[0, 0] = np.inf  # never acceptable
        supply = rng.uniform(0, 10, n_s) * rng.choice([1.0, 1e-9, 0.0, 1e6], n_s, p=[0.7, 0.1, 0.1, 0.1])
        demand = rng.uniform(0, 5, n_r) * rng.choice([1.0, 0.0, 1e-10, 3.3], n_r)
        small = byproduct._deferred_acceptance_small(surplus, supply.tolist(), demand.tolist())
        arrays = byproduct._deferred_acceptance_arrays(surplus, supply, demand)
        assert small.shape == arrays.shape and (small == arrays).all()
        assert (np.signbit(small) == np.signbit(arrays)).all()
        assert (byproduct.deferred_acceptance(surplus, supply, demand) == arrays).all()
        rounds += (arrays > 0).sum(axis=0).max(initial=0) > 1
    assert rounds > 100  # receivers holding several offers: rejections and later rounds were exercised
    # supply or demand not finite: left to the arrays
    assert byproduct._deferred_acceptance_small(np.ones((2, 2)), [np.inf, 1.0], [1.0, 1.0]) is None
    assert byproduct._deferred_acceptance_small(np.ones((2, 2)), [1.0, 1.0], [np.nan, 1.0]) is None
    inf_supply = byproduct.deferred_acceptance(np.ones((2, 2)), np.array([np.inf, 1.0]), np.array([1.0, 2.0]))
    assert (inf_supply == byproduct._deferred_acceptance_arrays(np.ones((2, 2)), np.array([np.inf, 1.0]),
                                                                np.array([1.0, 2.0]))).all()


def test_deferred_acceptance_takes_python_numbers_by_the_count_of_acceptable_pairs(monkeypatch):
    """A large park's table is mostly NaN: up to DEFERRED_PYTHON_PAIRS acceptable pairs it runs in Python
    numbers however large the table, above them on arrays; the same flows either way."""
    from ecopark.markets import byproduct

    rng = np.random.default_rng(5)
    arrays, calls = byproduct._deferred_acceptance_arrays, []
    monkeypatch.setattr(byproduct, "_deferred_acceptance_arrays", lambda *a: calls.append(1) or arrays(*a))
    for acceptable in (byproduct.DEFERRED_PYTHON_PAIRS, byproduct.DEFERRED_PYTHON_PAIRS + 1):
        surplus = np.full((150, 120), np.nan)
        cells = rng.choice(surplus.size, acceptable, replace=False)
        surplus.reshape(-1)[cells] = rng.uniform(0.1, 2.0, acceptable)
        supply, demand = rng.uniform(0, 5, 150), rng.uniform(0, 3, 120)
        flows = byproduct.deferred_acceptance(surplus, supply, demand)
        assert len(calls) == (acceptable > byproduct.DEFERRED_PYTHON_PAIRS)
        assert np.array_equal(flows, arrays(surplus, supply, demand)) and (flows > 0).sum() > 20


@pytest.mark.parametrize("preset, overrides", [
    ("generic", {"policies.reuse_subsidy.enabled": True, "policies.reuse_quota.enabled": True,
                 "policies.reuse_quota.streams": ["fly_ash"], "policies.mandatory_consumption.enabled": True}),
    ("yueyang", {"policies.reuse_subsidy.enabled": True, "policies.reuse_subsidy.rate_per_gj": 8.0}),
])
def test_pair_values_of_pairs_are_the_cells_of_the_full_table(preset, overrides):
    """pair_values with ``pairs`` (new arrays filled per pair, a_s not copied again) gives each cell of the (S, R)
    arrays bit for bit, with every per-unit value a new writable array of the pairs' length."""
    model = ParkModel(load_scenario(preset, overrides), seed=1)
    for _ in range(14):
        model.step()
    market = model.byproduct_market
    rows = model.firms.live
    unit, rng = market.unit_values(), np.random.default_rng(0)
    share = rng.random(len(rows))
    checked = 0
    for k in range(len(market.piped)):
        sup, rec = rows[rng.random(len(rows)) < 0.5], rows[rng.random(len(rows)) < 0.5]
        full = market.pair_values(k, sup, rec, unit, share[: len(sup)])
        i, j = rng.integers(0, len(sup), 40), rng.integers(0, len(rec), 40)
        some = market.pair_values(k, sup, rec, unit, share[: len(sup)], pairs=(i, j))
        assert set(some) == set(full)
        for name, value in some.items():
            assert value.shape == (40,) and value.flags.writeable
            assert (value == np.broadcast_to(full[name], (len(sup), len(rec)))[i, j]).all(), name
        checked += 1
    assert checked == len(market.piped)
    assert (unit["subsidy"] > 0).any()


def test_capex_subsidy_quote_and_remaining_written_out_are_min_and_max():
    model = _model({"policies.capex_subsidy.budget": 5.0e6, "policies.capex_subsidy.cap_per_project": 2.0e6})
    model.step()
    policy = model.policy("capex_subsidy")
    p = policy.params
    capexes = [0.0, 1.0, 1.0e6, 2.0e6 / p.share, 1.3e7, 1.0e9]
    for spent in (0.0, 1.0e6, 3.0e6 + 1.0, 4.9e6, 5.0e6, 6.0e6):  # room above, at and below the cap, none, overspent
        policy.spent = spent
        assert policy.remaining == max(p.budget - spent, 0.0) and not np.signbit(policy.remaining)
        for capex in capexes:
            quote = policy.quote(capex, "link")
            assert quote == float(min(p.share * capex, p.cap_per_project, max(p.budget - spent, 0.0)))
            assert type(quote) is float
        assert (policy.amounts(np.array(capexes), "link") == [policy.quote(c, "link") for c in capexes]).all()
    assert policy.quote(1.0e6, "no such purpose") == 0.0


def test_two_step_pairs_are_the_sparse_products_entries_in_its_order():
    """discover's referral pairs in numpy: the non-zero entries of A @ A (scipy CSR) in the same order,
    so each pair gets the same referral draw as it did from the sparse product; small graphs and graphs
    of a 1,000-firm park's size (about 1,400 links, hubs of many partners)."""
    from scipy import sparse

    from ecopark.markets.byproduct import two_step_pairs

    rng = np.random.default_rng(7)
    sizes = [(int(rng.integers(2, 80)), int(rng.integers(1, 150))) for _ in range(1500)]
    sizes += [(1000, int(rng.integers(500, 2500))) for _ in range(10)]
    for n, m in sizes:
        s, r = rng.integers(0, n, m), rng.integers(0, n, m)  # repeated pairs, either way round, a few self-pairs
        if n == 1000:  # a few hubs with many partners, as the suppliers of common streams
            s[: m // 4] = rng.integers(0, 20, m // 4)
        adj = sparse.coo_matrix((np.ones(2 * m), (np.concatenate((s, r)), np.concatenate((r, s)))),
                                shape=(n, n)).tocsr()
        two = (adj @ adj).tocoo()
        row, col = two_step_pairs(s, r)
        assert row.dtype == col.dtype == np.int64
        assert (row.tolist(), col.tolist()) == (two.row.tolist(), two.col.tolist())
    assert [x.tolist() for x in two_step_pairs(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))] == [[], []]
    row, col = two_step_pairs(np.array([0, 1]), np.array([1, 2]))
    assert (row.tolist(), col.tolist()) == ([0, 0, 1, 2, 2], [2, 0, 1, 2, 0])


def test_the_months_policies_held_for_matching_are_the_models_at_every_formation(monkeypatch):
    """match() looks the instruments of MONTH_POLICIES up once: at every pair it forms they are still the ones
    ParkModel.policy gives (schedules start and end mid-run; a budget running out leaves the instrument)."""
    from ecopark.markets import byproduct

    model = _model({"policies.risk_compensation_fund.enabled": True, "policies.risk_compensation_fund.start": 4,
                    "policies.risk_compensation_fund.end": 9, "policies.capex_subsidy.end": 7,
                    "policies.capex_subsidy.budget": 2.0e6, "policies.mandatory_consumption.enabled": True,
                    "policies.mandatory_consumption.start": 5})
    market = model.byproduct_market
    form, seen = market.form, []

    def checked_form(*args, **kwargs):
        held = market._month_policies
        assert held is not None and held == {name: model.policy(name) for name in byproduct.MONTH_POLICIES}
        seen.append(tuple(name for name, policy in held.items() if policy is not None))
        return form(*args, **kwargs)

    monkeypatch.setattr(market, "form", checked_form)
    for _ in range(12):
        model.step()
        assert market._month_policies is None  # outside matching, every lookup is the model's
    assert len(set(seen)) >= 3 and len(seen) > 20  # months with different instruments in force were checked


def test_written_out_min_and_max_in_pricing_and_bargaining_pick_what_min_and_max_pick():
    from ecopark.markets.contracts import share_surplus

    for a_s in (-50.0, -0.0, 0.0, 3.0, 40.0):  # joint surplus below, at and above zero
        terms = share_surplus("operator_commission", 10.0, a_s, 5.0, 0.0, 0.0, 120.0, 0.0, 0.5, 0.1, 0.0, 0.0)
        total = 10.0 * (a_s + 5.0) - 120.0
        commission = 0.1 * max(total, 0.0)
        assert terms.operating_supplier == 10.0 * (a_s + terms.price) - 0.5 * commission
    model = _model()
    model.step()
    bargaining = model.byproduct_market.bargaining
    bargaining.traded(7, 3)
    assert (3, 7) in bargaining.partners and (7, 3) not in bargaining.partners
    familiar, unfamiliar = bargaining.friction(3, 7, 1.0, False), bargaining.friction(3, 8, 1.0, False)
    markup = 1.0 + model.scenario.byproduct_market.unfamiliarity_markup
    assert unfamiliar.cost == pytest.approx(familiar.cost * markup) and markup > 1.0
    relief, trust = model.scenario.byproduct_market.trust_relief, model.byproduct_market.trust
    assert bargaining.friction(7, 3, 1.0, False).spread == pytest.approx(  # the same familiar pair either way round
        familiar.spread * (1 - relief * trust[7]) / (1 - relief * trust[3]))


@pytest.mark.parametrize("overrides", [{}, {"policies.platform.enabled": True}])
def test_every_candidate_component_is_a_float_array_over_the_pairs(overrides):
    """match() takes the matched pairs' components as rows of one float table: each component must be a float
    array over the candidate pairs (an int or bool one would reach ``form`` as a float)."""
    model = _model(overrides)
    market, seen = model.byproduct_market, 0
    for _ in range(8):
        model.step()
        market._grow()
        for _k, _sup, _rec, _supply, _demand, _table, cells, values in market.candidates(bool(overrides)):
            for value in values.values():
                assert value.dtype == np.float64 and value.shape == cells.shape
            seen += 1
    assert seen > 5


@pytest.mark.parametrize("line", ["electricity", "water"])
def test_operator_supply_sells_what_numpys_sort_cumsum_and_clip_give(monkeypatch, line):
    """OperatorSupply.sell with the array methods: each firm's units the plain np.flatnonzero / np.argsort /
    np.cumsum / np.clip computation gives, supply running out part-way through the willing firms."""
    model = _model({"operator.green_power.enabled": True, "operator.reclaimed_water.enabled": True})
    for _ in range(3):
        model.step()
    supplier = getattr(model, line)
    monkeypatch.setattr(supplier, "capacity", 1.0)
    monkeypatch.setattr(model.ledger, "transfer", lambda kind, payer, payee, amounts: float(np.sum(amounts)))
    rng = np.random.default_rng(4)
    rows, rationed = model.firms.live, 0
    worth = supplier.spec.price + rng.choice([-1.0, 0.5, 2.0, 2.0], len(rows)) * (supplier.spec.contract_fee + 1.0)
    monkeypatch.setattr(supplier, "value_per_unit", lambda _rows: worth)  # willing firms, some tied in value
    for _ in range(20):
        use = rng.uniform(0, 2, len(rows)) * rng.integers(0, 2, len(rows)) * supplier.supply()
        value, want, buys = supplier.willing(rows, use)
        order = np.flatnonzero(buys)[np.argsort(-value[buys], kind="stable")]
        plain = np.zeros(len(rows))
        plain[order] = np.clip(supplier.supply() - (np.cumsum(want[order]) - want[order]), 0.0, want[order])
        taken = supplier.sell(rows, use)
        assert (taken == plain).all() and (np.signbit(taken) == np.signbit(plain)).all()
        assert taken.sum() <= supplier.supply() * (1 + 1e-12)
        rationed += bool(((taken > 0) & (taken < want)).any())  # the supply ran out part-way
    assert rationed > 5


def test_filled_pair_tables_hold_every_pairs_distance_and_annuity(monkeypatch):
    from ecopark.markets import byproduct

    model = _model()
    for _ in range(3):
        model.step()
    market = model.byproduct_market
    for _ in range(2):  # and again after a firm has entered (the tables are filled for its row when next asked)
        rows = np.arange(model.firms.n)
        distance, annuity = market._filled_pair_tables()
        a, b = np.meshgrid(rows, rows, indexing="ij")
        assert (distance[a, b] == market.pair_distance(rows, rows)).all()
        assert (annuity[a, b] == market.pair_annuity(rows, rows)).all()
        x, y, rate = model.firms.x, model.firms.y, model.firms.discount_rate
        assert (distance[a, b] == np.hypot(x[a] - x[b], y[a] - y[b])).all()
        assert (annuity[a, b] == byproduct.annuity_factor((rate[a] + rate[b]) / 2, market.spec.contract_months)).all()
        model.add_firms(np.array([0]), model.vacant_plots()[:1])
    monkeypatch.setattr(byproduct, "PAIR_FILL_CELLS", model.firms.n ** 2 - 1)
    assert market._filled_pair_tables() is None  # too large to fill: candidates ask pair_distance and pair_annuity


def test_expired_bars_are_dropped_as_by_the_search():
    model = _model()
    model.step()
    bargaining = model.byproduct_market.bargaining
    steps = model.steps
    bargaining.barred = {0: ([1, 2, 3], [4, 5, 6], [steps - 2, steps + 1, steps + 3]),  # the first expired
                         1: ([1], [2], [steps + 5]),  # none
                         2: ([1, 2], [3, 4], [steps - 1, steps])}  # expired (a bar lasts while until >= step)
    model.steps += 1
    bargaining.new_month()
    assert bargaining.barred == {0: ([2, 3], [5, 6], [steps + 1, steps + 3]), 1: ([1], [2], [steps + 5])}


def test_pv_factors_give_forms_present_value_bit_for_bit():
    """form's present value from the per-row cache, gain / A x D, is the former expression
    gain / float(annuity_factor(rate, months)) x (1 + rate / 12)^-delay (rate a numpy float) for every firm row,
    delay and gain; asked twice, the cached pair is returned."""
    from ecopark.markets.byproduct import annuity_factor

    model = _model()
    market, spec = model.byproduct_market, model.byproduct_market.spec
    rng = np.random.default_rng(3)
    for row in range(model.firms.n):
        for delay in range(6):
            annuity, discount = market.pv_factors(row, delay)
            rate = model.firms.discount_rate[row] + spec.partner_exit_rate
            for gain in rng.normal(0, 1e5, 20).tolist():
                before = gain / float(annuity_factor(rate, spec.contract_months)) * (1.0 + rate / 12.0) ** -delay
                assert gain / annuity * discount == before
    model.step()
    assert market._pv_factors and all(market._pv_factors[key] == market.pv_factors(*key) for key in market._pv_factors)


def test_terms_and_negotiation_are_immutable_records_with_named_fields():
    """Terms and Negotiation as named tuples: keyword construction, field access, no assignment."""
    from ecopark.markets.bargaining import Negotiation
    from ecopark.markets.contracts import share_surplus

    terms = share_surplus("nash", 10.0, 1.0, 2.0, 0.5, 100.0, 5.0, 0.0, 0.4, 0.0, 3.0, 0.0)
    assert terms.price == (0.4 * (10.0 * 3.5 - 5.0) + 0.0) / 10.0 - 1.0 and terms.capex_receiver == 100.0
    talks = Negotiation(cost=3000.0, months=2, spread=0.1)
    assert (talks.cost, talks.months, talks.spread) == (3000.0, 2, 0.1)
    with pytest.raises(AttributeError):
        terms.price = 0.0
    with pytest.raises(AttributeError):
        talks.cost = 0.0
