"""The speed paths of issue 28 give what the general code gives (regression reference: test_regression.py)."""

from __future__ import annotations

import types

import mesa
import numpy as np
import pytest

import ecopark
from ecopark.markets import byproduct
from ecopark.markets.byproduct import annuity_factor
from ecopark.model import ParkModel
from ecopark.recorder import StepRecorder


def _annuity_before_the_cache(rate_year, months):
    """annuity_factor as it was before issue 28 (the formula on 0-d arrays for a scalar call)."""
    i = np.asarray(rate_year, dtype=float) / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = i / (1.0 - (1.0 + i) ** -months)
    return np.where(i > 0, factor, 1.0 / months)


def test_a_scalar_annuity_factor_is_the_formulas_value_bit_for_bit():
    rates = np.random.default_rng(5).uniform(-0.05, 0.4, 300)
    byproduct._ANNUITY_CACHE.clear()
    for _ in range(2):  # computed, then from the cache
        for rate in rates:
            for m in (1, 12, 60, 120, 240):
                value = annuity_factor(float(rate), m)
                assert value == _annuity_before_the_cache(float(rate), m) and np.ndim(value) == 0
                assert annuity_factor(np.float64(rate), np.int64(m)) == value
    table = annuity_factor(rates[:, None], np.array([12, 120])[None, :])  # arrays: the formula as it was
    assert (table == _annuity_before_the_cache(rates[:, None], np.array([12, 120])[None, :])).all()
    assert annuity_factor(0.0, 120) == 1 / 120 and annuity_factor(-0.01, 12) == 1 / 12
    i = 0.12 / 12
    assert annuity_factor(0.12, 120) == pytest.approx(i / (1 - (1 + i) ** -120), rel=1e-15)


def test_the_step_recorder_records_what_mesas_datacollector_records():
    model = ParkModel("qinzhou", seed=3)
    for _ in range(4):
        model.step()
    assert isinstance(model.datacollector, StepRecorder)
    reporters = model.datacollector.model_reporters
    plain = mesa.DataCollector(model_reporters=reporters)
    ours = StepRecorder(model_reporters=reporters)
    plain.collect(model)
    ours.collect(model)
    assert {k: v for k, v in ours.model_vars.items()} == {k: v for k, v in plain.model_vars.items()}
    assert len(ours.model_vars) == len(reporters) > 50


def test_the_step_recorder_copies_values_that_are_not_numbers():
    model = ParkModel("qinzhou", seed=3)
    shared = [1, 2]

    def listing(m: ParkModel) -> list[int]:
        return shared

    recorder = StepRecorder(model_reporters={"listing": listing, "attribute": "seed"})
    recorder.collect(model)  # a string reporter: Mesa's own collect
    assert recorder.model_vars["attribute"] == [3]
    recorder = StepRecorder(model_reporters={"listing": listing})
    assert isinstance(listing, types.FunctionType)
    recorder.collect(model)
    shared.append(3)
    assert recorder.model_vars["listing"] == [[1, 2]]


def test_the_step_recorder_checks_reporters_again_when_they_change():
    # the check that every reporter is a plain function is kept for the set of reporters it was made on: a
    # reporter replaced by an attribute name afterwards goes to Mesa's own collect, which reads the attribute
    model = ParkModel("qinzhou", seed=3)

    def seed(m: ParkModel) -> int:
        return m.steps + 10

    recorder = StepRecorder(model_reporters={"value": seed})
    recorder.collect(model)
    recorder.collect(model)
    recorder.model_reporters["value"] = "steps"
    recorder.collect(model)
    recorder.model_reporters["value"] = seed
    recorder.collect(model)
    assert recorder.model_vars["value"] == [10, 10, 0, 10]
    assert all(type(v) is int for v in recorder.model_vars["value"])


@pytest.mark.parametrize("fill_cells", [0, byproduct.PAIR_FILL_CELLS])
def test_the_pair_annuity_cache_gives_each_pairs_factor_as_firms_enter(monkeypatch, fill_cells):
    """Computed each time asked for (a large park) or all as firms enter (a small one): the array formula's
    values, blocks and pair lists, as the firm table grows."""
    monkeypatch.setattr(byproduct, "PAIR_FILL_CELLS", fill_cells)
    model = ParkModel("generic", seed=2)  # 4 vacant plots
    market = model.byproduct_market
    rate = model.firms.discount_rate
    key = ("annuity", market.spec.contract_months)
    for _ in range(3):
        n = model.firms.n
        sup, rec = np.arange(0, n, 2), np.arange(n - 1, -1, -3)
        direct = annuity_factor((rate[sup][:, None] + rate[rec][None, :]) / 2, market.spec.contract_months)
        assert (market.pair_annuity(sup, rec) == direct).all()
        pairs = np.array([1, n - 1, 3]), np.array([0, 2, 3])  # the candidates' way: a list of pairs
        assert (market.pair_annuity(*pairs, pairs=True) == direct_pairs(rate, pairs, market)).all()
        if fill_cells:  # every pair of the firm rows there are, in a table with room for more
            table, filled = market._pair_tables[key]
            assert filled == n and len(table) >= n
            every = np.arange(n)
            assert (table[:n, :n] == annuity_factor((rate[every][:, None] + rate[every][None, :]) / 2,
                                                    market.spec.contract_months)).all()
        else:  # nothing kept
            assert key not in market._pair_tables
        model.add_firms(np.array([0]), model.vacant_plots()[:1])  # the table grows with the firm table


def direct_pairs(rate: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], market) -> np.ndarray:
    """The annuity factors of the pairs (a[p], b[p]), one at a time by the array formula."""
    a, b = pairs
    return np.array([annuity_factor((rate[a[p:p + 1]] + rate[b[p:p + 1]]) / 2, market.spec.contract_months)[0]
                     for p in range(len(a))])


def test_the_pair_distance_cache_is_the_distance_between_the_plots():
    model = ParkModel("generic", seed=4)
    market, firms = model.byproduct_market, model.firms
    for _ in range(2):
        n = firms.n
        sup, rec = np.arange(n)[::3], np.arange(n)[::-2]
        assert (market.pair_distance(sup, rec) == np.hypot(firms.x[sup][:, None] - firms.x[rec][None, :],
                                                           firms.y[sup][:, None] - firms.y[rec][None, :])).all()
        model.add_firms(np.array([2]), model.vacant_plots()[:1])


@pytest.mark.parametrize("vacant", [900, 2, 6, 7])  # ~960 plots; 60, 64 and 65 (a power of two and either side)
def test_cached_encounter_picks_count_each_rows_weights_below_the_draw(vacant):
    """The search of each draw's own row (a step per bit, all draws at once) counts the row's weights <= u + p,
    as the brute-force count does: draws at 0, next to 1, and on a weight of the row (ties)."""
    model = ParkModel(ecopark.load_scenario("generic", {"park.vacant_plots": vacant}), seed=6)
    market = model.byproduct_market
    n_plots = len(model.plot_xy)
    rng = np.random.default_rng(1)
    plots = rng.integers(0, n_plots, 400)
    u = np.random.default_rng(2).random((2, 400))
    u[0, :50] = np.nextafter(1.0, 0.0)  # u + p rounds up to p + 1 for large p: the whole row is counted
    u[1, :50] = 0.0
    weights = market._encounter_weights(plots)
    u[1, 50:150] = weights[np.arange(50, 150), rng.integers(0, n_plots, 100)] - plots[50:150]  # on a weight
    picks = market._cached_picks(plots, u)
    brute = (weights[None, :, :] <= (u + plots)[:, :, None]).sum(axis=2)
    assert (picks == brute).all() and picks.min() == 0 and picks.max() == n_plots


def _deferred_acceptance_before(surplus, supply, demand):
    """deferred_acceptance as it was before issue 28 (rejections as a boolean matrix)."""
    surplus = np.asarray(surplus, dtype=float)
    n_s, n_r = surplus.shape
    held = np.zeros((n_s, n_r))
    ok = np.isfinite(surplus) & (surplus > 0)
    if not ok.any():
        return held
    pref = np.where(ok, surplus, -np.inf)
    rejected = ~ok
    remaining = np.asarray(supply, dtype=float).copy()
    demand = np.asarray(demand, dtype=float)
    tol = 1e-9 * max(1.0, remaining.max(initial=0.0), demand.max(initial=0.0))
    while True:
        proposers = np.flatnonzero((remaining > tol) & ~rejected.all(axis=1))
        if not len(proposers):
            return held
        targets = np.argmax(np.where(rejected[proposers], -np.inf, pref[proposers]), axis=1)
        held[proposers, targets] += remaining[proposers]
        remaining[proposers] = 0.0
        touched = np.unique(targets)
        si, ri = np.nonzero(held[:, touched])
        ri = touched[ri]
        order = np.lexsort((-surplus[si, ri], ri))
        si, ri = si[order], ri[order]
        q = held[si, ri]
        cum = np.cumsum(q)
        group_start = np.r_[0, np.flatnonzero(np.diff(ri)) + 1]
        offset = np.repeat(cum[group_start] - q[group_start], np.diff(np.r_[group_start, len(ri)]))
        accepted = np.clip(demand[ri] - (cum - q - offset), 0.0, q)
        accepted[accepted <= tol] = 0.0
        held[si, ri] = accepted
        refused = q - accepted
        rejected[si[refused > tol], ri[refused > tol]] = True
        np.add.at(remaining, si, refused)


def test_deferred_acceptance_matches_its_former_implementation():
    rng = np.random.default_rng(11)
    for _ in range(300):
        n_s, n_r = rng.integers(1, 12, 2)
        surplus = rng.choice([np.nan, -1.0, 1.0, 2.0, 3.0], (n_s, n_r)) * rng.choice([1.0, 1.5], (n_s, n_r))
        supply, demand = rng.uniform(0, 10, n_s), rng.uniform(0, 10, n_r) * rng.integers(0, 2, n_r)
        new = byproduct.deferred_acceptance(surplus, supply, demand)
        assert (new == _deferred_acceptance_before(surplus, supply, demand)).all()
    for _ in range(100):  # larger, sparser markets with many rounds, ties and quantities near the tolerance
        n_s, n_r = rng.integers(5, 60, 2)
        surplus = np.round(rng.normal(1.0, 1.0, (n_s, n_r)), 1)
        surplus[rng.random((n_s, n_r)) < 0.7] = np.nan
        supply = rng.uniform(0, 10, n_s) * rng.choice([1.0, 1e-9], n_s, p=[0.9, 0.1])
        demand = rng.uniform(0, 5, n_r) * rng.integers(0, 2, n_r)
        new = byproduct.deferred_acceptance(surplus, supply, demand)
        assert (new == _deferred_acceptance_before(surplus, supply, demand)).all()


@pytest.mark.parametrize("overrides", [{}, {"policies.platform.enabled": True}])
def test_a_park_too_large_for_the_pair_tables_runs_as_one_that_keeps_them(monkeypatch, overrides):
    """ByproductMarket._pair_table computes every pair as firms enter (a small park) or the distances and
    annuities asked for each time (a park too large to keep its tables), with the encounter weights of
    every plot kept or computed in chunks: every output the same bit for bit."""
    from ecopark.experiments.runner import run
    from ecopark.regression import fingerprint

    filled = fingerprint(run("generic", steps=36, seed=1, overrides=overrides), digits=17)
    monkeypatch.setattr(byproduct, "PAIR_FILL_CELLS", 0)  # the pairs asked for computed each time
    kept = fingerprint(run("generic", steps=36, seed=1, overrides=overrides), digits=17)
    monkeypatch.setattr(byproduct, "ENCOUNTER_CACHE_CELLS", 0)  # and the encounter weights in chunks
    computed = fingerprint(run("generic", steps=36, seed=1, overrides=overrides), digits=17)
    assert computed == kept == filled and kept["links"]["rows"] > 20


def test_known_and_familiar_grow_in_their_buffers_and_a_copied_market_keeps_its_own():
    """ByproductMarket._grow keeps ``known`` and ``familiar`` as views of buffers with room; a deep copy of
    the model (its views now arrays of their own) grows from what it knows, not from the stale buffer."""
    import copy

    model = ParkModel("generic", seed=2)  # 4 vacant plots
    market = model.byproduct_market
    market._grow()
    buffer = market._pair_buffers["known"]
    market.known[0, 1] = market.known[1, 0] = True
    model.add_firms(np.array([0]), model.vacant_plots()[:1])
    market._grow()
    assert market.known.base is buffer and market.known.shape == (model.firms.n,) * 2 and market.known[0, 1]
    twin = copy.deepcopy(model)
    twin.byproduct_market.known[2, 3] = True
    twin.add_firms(np.array([0]), twin.vacant_plots()[:1])
    twin.byproduct_market._grow()
    assert twin.byproduct_market.known[2, 3] and twin.byproduct_market.known[0, 1] and not market.known[2, 3]
