"""Observed allowance price paths (``ecopark/data/carbon_prices.toml``) as a monthly price for the model.

A series is a list of dated observations (yuan/tCO2e). The model's month t of the policy
(t = 0 at ``policies.cap_and_trade.start``) is the calendar month ``series_start`` + t; its
price is the series interpolated linearly in time at the middle of that month, held at the
first value before the first observation and at the last after the last.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources

import numpy as np


@cache
def series(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(observation dates as days since 1970-01-01, prices yuan/tCO2e) of a series in carbon_prices.toml."""
    data = tomllib.loads(resources.files("ecopark.data").joinpath("carbon_prices.toml").read_text())[name]
    days = np.array([date.fromisoformat(d).toordinal() - date(1970, 1, 1).toordinal() for d in data["dates"]])
    return days.astype(float), np.asarray(data["price"], dtype=float)


def names() -> list[str]:
    """The series in carbon_prices.toml."""
    return list(tomllib.loads(resources.files("ecopark.data").joinpath("carbon_prices.toml").read_text()))


def price_at(name: str, start: str, months: int) -> float:
    """The series' price (yuan/tCO2e) in the month ``months`` after the calendar month ``start`` ("YYYY-MM")."""
    year, month = (int(x) for x in start.split("-"))
    total = year * 12 + (month - 1) + months
    mid = date(total // 12, total % 12 + 1, 15).toordinal() - date(1970, 1, 1).toordinal()
    days, prices = series(name)
    return float(np.interp(mid, days, prices))
