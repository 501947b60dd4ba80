"""The abatement menu's kept per-row terms (issue 28) give the menu's formula bit for bit."""

import numpy as np

from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.emissions import net_share
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario


def _menu_plain(ab, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``AbatementPortfolio.menu`` computed from the firm table at every call (before issue 28's kept terms)."""
    model, firms = ab.model, ab.model.firms
    available = (ab.sector[None, :] == firms.sector[rows][:, None]) & ~(ab.installed_at[rows] >= 0)
    left = (1.0 - ab.installed_share(rows)) * net_share(model, rows) * ab.normal_bau(rows)
    a = ab.share[None, :] * left[:, None]
    annuity = annuity_factor(firms.discount_rate[rows][:, None], ab.lifetime[None, :])
    capex = ab.capex[None, :] * firms.size[rows][:, None]
    subsidy = model.policy("capex_subsidy")
    if subsidy:
        capex = capex - subsidy.amounts(capex, "abatement")
    capex = capex * model.credit.capex_factor(rows, "abatement")[:, None]
    cost = capex * annuity + ab.opex[None, :] * firms.size[rows][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        mac = np.where(available & (a > 0), cost / a, np.nan)
    return mac, np.where(available, a, 0.0)


def test_the_menu_with_kept_row_terms_is_the_plain_menu_bit_for_bit():
    model = ParkModel(load_scenario("generic"), seed=1)
    ab = model.abatement
    entered, checked = set(), 0
    for _ in range(48):
        model.step()
        rows = model.firms.live
        entered |= set(model.firms.entered[rows][model.firms.entered[rows] > 0].tolist())
        for part in (rows, rows[::-1], rows[rows % 3 == 0]):  # any subset and order of rows
            mac, a = ab.menu(part)
            mac_plain, a_plain = _menu_plain(ab, part)
            np.testing.assert_array_equal(mac, mac_plain)  # NaN where NaN, every other number equal
            np.testing.assert_array_equal(a, a_plain)
            techs = np.argmin(np.where(np.isnan(mac), np.inf, mac), axis=1)
            value = np.full(len(part), 80.0)
            flow = ab.project_cash_flow(part, techs, value)
            plain = value * a_plain[np.arange(len(part)), techs] - ab.opex[techs] * model.firms.size[part]
            np.testing.assert_array_equal(flow, plain)
            checked += 1
    assert checked == 144
    assert entered  # firms entered during the run: their rows' terms were added as they came
    assert (ab.installed_at[model.firms.live] >= 0).any()  # steps were installed (the mask changed)


def test_the_steps_are_the_plain_sorted_steps_bit_for_bit():
    # AbatementPortfolio.steps sorts with array methods and fancy indexing: np.argsort, np.take_along_axis and
    # np.cumprod of the menu give the same steps, and installed_share is 1 - the product of what is kept
    model = ParkModel(load_scenario("generic", {"policies.capex_subsidy.share": 0.3}), seed=3)
    ab, checked = model.abatement, 0
    for _ in range(36):
        model.step()
        rows = model.firms.live
        for part in (rows, rows[::-1], rows[rows % 4 == 1], rows[:0]):
            mac, a = ab.menu(part)
            order = np.argsort(np.where(np.isnan(mac), np.inf, mac), axis=1)
            mac_sorted = np.take_along_axis(mac, order, axis=1)
            a_sorted = np.where(np.isnan(mac_sorted), 0.0, np.take_along_axis(a, order, axis=1))
            share = np.where(np.isnan(mac_sorted), 0.0, ab.share[order])
            left = np.cumprod(1.0 - share, axis=1) / (1.0 - share)
            with np.errstate(invalid="ignore", divide="ignore"):
                mac_sorted = np.where(a_sorted > 0, mac_sorted / left, np.nan)
            got = ab.steps(part)
            for x, y in zip(got, (mac_sorted, order, a_sorted * left), strict=True):
                np.testing.assert_array_equal(x, y)
            kept = np.where(ab.installed_at[part] >= 0, 1.0 - ab.share, 1.0)
            np.testing.assert_array_equal(ab.installed_share(part), 1.0 - kept.prod(axis=1))
            checked += len(part) > 0
    assert checked == 3 * 36 and (ab.installed_at[model.firms.live] >= 0).any()
