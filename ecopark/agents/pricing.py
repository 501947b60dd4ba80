"""Output prices with carbon-cost pass-through, and the demand response to them.

A firm of sector s facing a carbon price v_f on its emissions (yuan/tCO2e: the carbon tax
rate if taxed, plus the expected allowance price if under the cap:
``CarbonMarket.cost_per_tonne``) bears a carbon cost per unit of output

    c_f = v_f x intensity_s - P x a_f (+ x_f)                yuan/output unit

(x_f: the export carbon cost per unit under ``export_carbon_cost``,
``ExportCarbonCost.cost_per_unit`` in policies/export_carbon_cost.py, else 0)
of which the sector passes the share pt_s (``pass_through`` in ``ecopark/data/sectors.toml``;
low for trade-exposed sectors priced on world markets) into its output price, and demand
for the firm's output responds with the sector's price elasticity eps_s
(``demand_elasticity``), constant-elasticity::

    p_f = p_s + pt_s x max(c_f, 0)                           output price, yuan/unit
    d_f = (p_f / p_s) ^ (-eps_s)                             demand factor on utilisation

Under the cap the allowance price is an opportunity cost whether allowances were bought or
allocated free, so it enters c_f in full, except for the allowances the unit of output
itself earns: under output-based allocation (China's national ETS) each unit produced earns
a_f = beta x intensity_s allowances at the year-end true-up, worth the expected price P, so
the marginal carbon cost a firm can pass on is only P x (1 - beta) x intensity_s (Fischer
2001, "Rebating environmental policy revenues: output-based allocations and tradable
performance standards", RFF DP 01-22; Fischer and Fox 2007, Land Economics 83(4)); under
benchmark or grandfathered allocation, fixed before output, a_f = 0.

Over-allocation (beta > 1: ``cap_start x free_share x (1 - new_entrant_reserve)`` above 1,
allowed by the ranges) makes c_f negative, a net allowance rebate on each unit produced.
Only a cost is passed on: the price uses max(c_f, 0), so p_f >= p_s > 0 and d_f <= 1, and
utilisation stays within [0, 1] whatever valid inputs are given. The rebate still reaches
the firm, as the allowances its output earns at the true-up (assumption: firms at or near
capacity do not cut their price to pass on a rebate they cannot turn into more output;
without this bound the price fell below zero and utilisation reached 1.47, issue 29).

A carbon price therefore first lowers the output
and emissions of covered firms, and the share 1 - pt_s of the cost they absorb lowers their
margin; only when the margin turns negative for long do plants close. With
``economy.carbon_pass_through`` off, p_f = p_s and d_f = 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel


def carbon_cost_per_unit(model: ParkModel, rows: np.ndarray) -> np.ndarray:
    """c_f = v_f x intensity_s - P x a_f (yuan/output unit): the carbon price on the firm's
    emissions per unit of output, less the expected allowance price P on the allowances a_f
    that unit earns under output-based allocation (``CarbonMarket.allocation_per_unit``)."""
    market = model.carbon_market
    cost = (market.cost_per_tonne(rows) * model.sector_intensity[model.firms.sector[rows]]
            - market.expected_price * market.allocation_per_unit(rows))
    export = model.policy("export_carbon_cost")  # the export carbon cost per unit (policies/export_carbon_cost.py)
    return cost + export.cost_per_unit(rows) if export is not None else cost


def output_prices(model: ParkModel, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_f in yuan/output unit, demand factor d_f) of firms ``rows`` this month (module docstring)."""
    s = model.firms.sector[rows]
    base = model.sector_price[s]
    if not model.scenario.economy.carbon_pass_through:
        return base, np.ones(len(rows))
    price = base + model.sector_pass_through[s] * np.maximum(carbon_cost_per_unit(model, rows), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        demand = np.where(base > 0, (price / base) ** -model.sector_demand_elasticity[s], 1.0)
    return price, demand
