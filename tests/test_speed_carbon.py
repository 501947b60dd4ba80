"""Issue 28, the carbon market's month: each fast path gives the plain computation's numbers bit for bit. The
one-firm carbon liability and abatement opex (a lender judging one loan asks for one firm at a time) and the
expectation's bisections that price only the halvings whose outcome is not known (against the plain 60 halvings,
with right and wrong threshold guesses). The steps ``prices_after_installing`` hands on: test_speed_step.py."""

import numpy as np
import pytest

from ecopark.markets import expectations
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

TAX_AND_CAP = {"policies.carbon_tax.enabled": True, "policies.carbon_tax.rate": 83.7,
               "policies.carbon_tax.covered_sectors": ["refining", "grain_oil", "steel", "aluminium"]}


def _same(x: float, y: float) -> bool:
    """The same float, NaN included, the sign of a zero too."""
    return (np.isnan(x) and np.isnan(y)) or (x == y and np.signbit(x) == np.signbit(y))


def test_one_firm_carbon_liability_is_the_array_path_bit_for_bit():
    model = ParkModel(load_scenario("generic", TAX_AND_CAP), seed=2)
    market, firms = model.carbon_market, model.firms
    rng = np.random.default_rng(5)
    checked = 0
    for month in range(30):
        model.step()
        rows = firms.live
        many = market.monthly_liability(np.concatenate([rows, rows[:1]]))  # the array path (more than one row)
        for i, row in enumerate(rows.tolist()):
            one = market.monthly_liability(np.array([row]))
            assert one.shape == (1,) and one.dtype == np.float64
            assert _same(one[0], many[i]), (month, row, one[0], many[i])
            checked += 1
        if month % 6 == 5:  # edge values: no emissions, signed zeros, NaN, infinite, a free allocation above them
            saved = firms.emissions[rows].copy(), market.free_allocation[rows].copy(), market.expected_price
            emitted = rng.choice([0.0, -0.0, np.nan, np.inf, 12.5, 1e-300, 3.0e5], len(rows))
            firms.emissions[rows] = emitted
            market.free_allocation[rows] = rng.choice([0.0, 150.0, 12 * 12.5, np.inf], len(rows))
            for price in (market.expected_price, 0.0, np.inf):
                market.expected_price = price
                with np.errstate(invalid="ignore"):
                    many = market.monthly_liability(np.concatenate([rows, rows[:1]]))
                    for i, row in enumerate(rows.tolist()):
                        assert _same(market.monthly_liability(np.array([row]))[0], many[i]), (row, price)
            firms.emissions[rows], market.free_allocation[rows], market.expected_price = saved
    assert checked > 30 * 40
    assert model.ledger.flow("carbon_tax") > 0 and market.session_prices  # tax and cap both in force


def test_one_firm_abatement_opex_is_the_array_path_bit_for_bit():
    # opex values that do not add exactly (the order of the sum matters from three terms on) and rows with 0 to 5
    # technologies in operation: the one-firm path sums up to two terms itself and leaves the rest to the array path
    model = ParkModel(load_scenario("generic"), seed=4)
    for _ in range(3):
        model.step()
    ab, firms = model.abatement, model.firms
    rng = np.random.default_rng(11)
    rows = firms.live
    for trial in range(40):
        ab.opex = rng.uniform(0.0, 1.0, len(ab.opex)) * 10.0 ** rng.integers(-3, 9, len(ab.opex))
        ab.opex[rng.integers(len(ab.opex))] = 0.0
        ab.installed_at[rows] = -1
        for row in rows.tolist():
            on = rng.choice(len(ab.opex), rng.integers(0, 6), replace=False)
            ab.installed_at[row, on] = trial
        many = ab.monthly_opex(np.concatenate([rows, rows[:1]]))
        plain = ((ab.installed_at[rows] >= 0) * ab.opex).sum(axis=1) * firms.size[rows]
        np.testing.assert_array_equal(many[:-1], plain)
        for i, row in enumerate(rows.tolist()):
            one = ab.monthly_opex(np.array([row]))
            assert one.shape == (1,) and _same(one[0], many[i]), (trial, row, one[0], many[i])


def _bisect_batch_plain(shortfalls, horizons, mac, a, rate, floor, buyout):
    """``expectations._bisect_batch`` before it skipped the halvings whose outcome is known: every mid priced."""
    twelve_a = (12.0 * a)[:, None, :]

    def covered(price):
        wait = np.where(mac <= price[:, None], 0.0,
                        np.log(mac / price[:, None]) / np.log1p(rate) if rate > 0 else np.inf)
        abated = np.matmul(twelve_a, np.maximum(horizons[None, None, :] - wait[:, :, None], 0.0))[:, 0, :]
        abated[price <= 0] = 0.0
        return ((abated >= shortfalls) | (price[:, None] >= buyout)).all(axis=1)

    lo = np.full(len(shortfalls), float(floor))
    hi = np.where(shortfalls > 0, buyout, -np.inf).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        done = covered(lo)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            up = covered(mid)
            hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    return np.where(done, float(floor), hi)


def _batches(rng: np.random.Generator, n: int) -> list[tuple]:
    """Random batches as ``_bisect_batch`` takes them (each problem's steps filtered: finite MAC below the
    penalty, a > 0): clustered MACs (one technology at many firms), floors of 0 and 40, shortfalls from none to
    beyond the buy-out, horizons from a month to ten years."""
    out = []
    for _ in range(n):
        p, k, h = int(rng.integers(1, 40)), int(rng.integers(1, 200)), int(rng.integers(1, 11))
        mac = np.round(rng.lognormal(5.0, 0.8, (p, k)), int(rng.integers(0, 3)))
        mac = np.minimum(mac, 599.0)
        a = rng.exponential(50.0, (p, k)) + 1e-3
        horizons = np.sort(rng.uniform(1 / 12, 10.0, h))
        rate, floor = float(rng.choice([0.0, 0.035, 0.1, 0.5])), float(rng.choice([0.0, 40.0]))
        scale = 12.0 * a.sum(axis=1, keepdims=True) * horizons
        shortfalls = rng.uniform(-0.2, 1.1, (p, h)) * scale
        shortfalls[:, 0] = np.maximum(shortfalls[:, 0], 1.0)  # a shortfall, as the batch is given
        buyout = np.maximum(floor, 600.0 * (1.0 + rate) ** -horizons)
        out.append((shortfalls, horizons, mac, a, rate, floor, buyout))
    return out


class _CountingNumpy:
    """numpy, counting the matrix products (one per pricing of the batch's cover test)."""

    def __init__(self) -> None:
        self.products = 0

    def __getattr__(self, name):
        return getattr(np, name)

    def matmul(self, *args, **kwargs):
        self.products += 1
        return np.matmul(*args, **kwargs)


def test_the_bisection_skipping_known_halvings_is_the_plain_bisection_bit_for_bit(monkeypatch):
    counting = _CountingNumpy()
    monkeypatch.setattr(expectations, "np", counting)
    monkeypatch.setattr(expectations, "GUESS_CELLS", 0)  # every batch takes the guess, however small
    rng = np.random.default_rng(28)
    priced, products = set(), []
    for batch in _batches(rng, 150):
        counting.products = 0
        got = expectations._bisect_batch(*batch)
        if batch[4] > 0:  # with r = 0 the test is a step function of the price: no guess, every mid priced
            products.append(counting.products)
        np.testing.assert_array_equal(got, _bisect_batch_plain(*batch))
        priced |= set(got.tolist())
    assert len(priced) > 1000
    assert len(products) > 80 and max(products) < 35  # the plain bisection prices 56 or so mids a batch


def test_a_wrong_threshold_guess_costs_pricings_but_changes_no_price(monkeypatch):
    # the guess only says where to price first: whatever it says, every halving goes the way it went
    monkeypatch.setattr(expectations, "GUESS_CELLS", 0)
    rng = np.random.default_rng(7)
    batches = _batches(rng, 40)
    plain = [_bisect_batch_plain(*batch) for batch in batches]
    for wrong in (lambda g, lo, hi: lo + (hi - lo) * rng.random(len(g)), lambda g, lo, hi: g * 1.01,
                  lambda g, lo, hi: g * (1 - 3e-14), lambda g, lo, hi: hi, lambda g, lo, hi: lo):
        guess = expectations._threshold_guess
        monkeypatch.setattr(expectations, "_threshold_guess",
                            lambda s, h, m, a, r, lo, hi, b, wrong=wrong, guess=guess: wrong(
                                guess(s, h, m, a, r, lo, hi, b), lo, hi))
        for batch, expected in zip(batches, plain, strict=True):
            np.testing.assert_array_equal(expectations._bisect_batch(*batch), expected)
        monkeypatch.setattr(expectations, "_threshold_guess", guess)


def _no_borrowing_price_plain(shortfalls, horizons, mac, a, rate, floor, penalty):
    """``expectations.no_borrowing_price`` as the plain 60 halvings, one price at a time, every mid priced."""
    ok = np.isfinite(mac) & (a > 0) & (mac < penalty)
    mac, a = mac[ok], a[ok]
    if (shortfalls <= 0).all():
        return floor
    buyout = np.maximum(floor, penalty * (1.0 + rate) ** -horizons)

    def covered(price):
        return bool(((expectations.abatement_to_deadlines(price, mac, a, horizons, rate) >= shortfalls)
                     | (price >= buyout)).all())

    lo, hi = floor, float(buyout[shortfalls > 0].max())
    if covered(lo):
        return floor
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if covered(mid) else (mid, hi)
    return hi


@pytest.mark.parametrize("cells", [2000, 1])  # levels at a time (the default), and one price at a time
def test_one_problems_bisection_with_any_guess_is_the_plain_bisection_bit_for_bit(cells, monkeypatch):
    monkeypatch.setattr(expectations, "TREE_CELLS", cells)
    rng = np.random.default_rng(cells)
    problems = [(s[j], h, m[j], a[j], r, f) for s, h, m, a, r, f, _ in _batches(rng, 25) for j in range(len(s))]
    plain = [_no_borrowing_price_plain(*problem, 600.0) for problem in problems]
    assert len(set(plain)) > 200
    guess = expectations._threshold_guess_one
    for wrong in (None, lambda g, lo, hi: lo + (hi - lo) * rng.random(), lambda g, lo, hi: g * 1.001,
                  lambda g, lo, hi: g * (1 + 3e-14), lambda g, lo, hi: lo):
        if wrong is not None:
            monkeypatch.setattr(expectations, "_threshold_guess_one",
                                lambda s, h, m, a, r, lo, hi, b, wrong=wrong: wrong(guess(s, h, m, a, r, lo, hi, b),
                                                                                   lo, hi))
        for problem, expected in zip(problems, plain, strict=True):
            assert expectations.no_borrowing_price(*problem, 600.0) == expected
    monkeypatch.setattr(expectations, "_threshold_guess_one", guess)
    counting = _CountingNumpy()
    monkeypatch.setattr(expectations, "np", counting)
    products = []
    for problem in problems:
        if problem[4] > 0 and expectations.no_borrowing_price(*problem, 600.0) > problem[5]:
            counting.products = 0
            expectations.no_borrowing_price(*problem, 600.0)
            products.append(counting.products)
    if cells == 2000:  # levels at a time: about 19 pricings (one per 3 halvings) before, 7 or so with the guess
        assert len(products) > 100 and np.mean(products) < 10
