"""Free allocation of allowances under the cap: grandfathered, benchmark, output-based; new entrants.

Each compliance year the cap C (``CarbonMarket.open_year``) is split into a new-entrant
reserve r x C, free allocation F = free_share x (1 - r) x C to the covered incumbents and
the rest, auctioned by government. With b_f the firm's BAU emissions at normal output over
a year (tCO2e) the benchmark rate is beta = F / sum_f b_f (free allowances per tonne of
BAU emissions: the sector's intensity benchmark x beta is what a unit of output earns).
Methods (``policies.cap_and_trade.allocation``):

* ``benchmark`` (ex ante): x_f = beta x b_f, intensity benchmark x expected output.
* ``grandfathered``: x_f = F x h_f / sum h, with h_f the firm's emissions of the last
  compliance year (its expected BAU b_f if it has no full year of history).
* ``output_based`` (China's national ETS): provisionally at the year's opening
  x_f = s x beta x intensity_s x q_f, a share s (``provisional_share``) of the benchmark
  times last year's verified output q_f (s x beta x b_f for a firm with no full year of
  history); at year end, after verification and before surrender, the allocation is trued
  up to beta x intensity_s x actual output of the year: the registry issues the difference
  if positive; if negative the firm surrenders it with its emissions.

A firm that enters during the year gets, from the reserve, beta x b_f x (months left
including the entry month) / 12 (a benchmark on its expected output, as new entrants
have no history): from the reserve while it lasts, then issued by the registry (the cap
grows by what the reserve cannot cover), so every entrant gets its allocation. What is left
of the reserve is offered by government at the year's last session.
"""

from __future__ import annotations

import numpy as np

#: Allocation methods, ``policies.cap_and_trade.allocation``.
ALLOCATION_METHODS = ("grandfathered", "benchmark", "output_based")


def incumbent_allocation(method: str, free_total: float, bau: np.ndarray, history: np.ndarray) -> np.ndarray:
    """Free allowances of each incumbent at the year's opening (tCO2e), summing to ``free_total``.

    ``bau``: expected BAU emissions over the year; ``history``: last year's emissions (0 if
    the firm has no full year of history).
    """
    weights = bau if method != "grandfathered" else np.where(history > 0, history, bau)
    total = weights.sum()
    return free_total * weights / total if total > 0 else np.zeros(len(bau))


def provisional_allocation(rate: float, share: float, intensity: np.ndarray, last_output: np.ndarray,
                           bau: np.ndarray) -> np.ndarray:
    """Output-based provisional allocation at the year's opening (tCO2e): share x rate x intensity x last
    year's verified output, or share x rate x ``bau`` (expected BAU over a year) without a year of history."""
    return share * rate * np.where(last_output > 0, intensity * last_output, bau)


def benchmark_rate(free_total: float, bau: np.ndarray) -> float:
    """beta: free allowances per tonne of BAU emissions at normal output (0 if no BAU)."""
    total = float(bau.sum())
    return free_total / total if total > 0 else 0.0


def entrant_allocation(rate: float, bau_year: np.ndarray, months_left: int) -> np.ndarray:
    """Allocation of entrants (tCO2e): rate x bau x months_left / 12, bau their expected BAU over a year."""
    return rate * bau_year * months_left / 12


def output_true_up(rate: float, intensity: np.ndarray, output_year: np.ndarray,
                   provisional: np.ndarray) -> np.ndarray:
    """Output-based true-up (tCO2e): rate x intensity x actual output of the year - provisional allocation."""
    return rate * intensity * output_year - provisional
