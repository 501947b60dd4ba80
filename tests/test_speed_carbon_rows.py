"""Issue 28: the one-firm paths of the carbon liability and the abatement opex give the array paths' numbers bit
for bit (a lender judging one loan asks for one firm at a time)."""

import numpy as np

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


def _price_after_installing_plain(market, ets, firm: int, tech: int) -> float:
    """``CarbonMarket.prices_after_installing`` of one step, from every step of the outlook (no steps set aside)."""
    p = ets.params
    shortfall, horizons, mac, techs, a = market._outlook
    left = np.where((np.arange(len(a))[:, None] == firm) & (techs == tech), 0.0, a)
    step = a[firm].sum() - left[firm].sum()
    return expectations.no_borrowing_price(shortfall - 12.0 * step * horizons, horizons, mac.ravel(),
                                           left.ravel(), p.carry_rate, p.reserve_price, p.penalty)


def test_prices_after_installing_on_the_steps_on_offer_are_the_prices_from_every_step():
    # a penalty of 500 leaves some steps above it (not on offer): taking one of those off changes no problem's
    # steps, only its shortfall, and must not take a step on offer off in its place (the steps are passed on
    # without those never on offer); steps with no abatement (a = 0) are asked about too
    model = ParkModel(load_scenario("generic", {"policies.cap_and_trade.penalty": 500.0}), seed=6)
    for _ in range(13):
        model.step()
    cm, ets = model.carbon_market, model.government.policies["cap_and_trade"]
    covered = model.firms.live[cm.covered(model.firms.live, "cap_and_trade")]
    cm.no_arbitrage_expectation(ets, covered, months_ahead=9)
    _, _, mac, order, a = cm._outlook
    firm, col = np.nonzero(a >= 0)
    pick = np.random.default_rng(3).permutation(len(firm))[:150]
    firm, techs = firm[pick], order[firm[pick], col[pick]]
    offered = np.isfinite(mac[firm, col[pick]]) & (a[firm, col[pick]] > 0) & (mac[firm, col[pick]] < 500.0)
    assert offered.any() and (~offered & (a[firm, col[pick]] > 0)).any() and (a[firm, col[pick]] == 0).any()
    got = cm.prices_after_installing(ets, firm, techs)
    plain = [_price_after_installing_plain(cm, ets, i, k) for i, k in zip(firm, techs, strict=True)]
    np.testing.assert_array_equal(got, plain)
    assert len(set(got.tolist())) > 1
