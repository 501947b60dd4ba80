"""Issue 28: the one-firm paths of the carbon liability and the abatement opex give the array paths' numbers bit
for bit (a lender judging one loan asks for one firm at a time)."""

import numpy as np

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
