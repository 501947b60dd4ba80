"""Where an emission change comes from: the run totals of the emission identity and
:func:`emission_decomposition` (issue 23; docs/model.md, emission decomposition)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.metrics.registry import run_metric

if TYPE_CHECKING:
    from ecopark.model import ParkModel


# -- where an emission change comes from (issue 23; docs/model.md, emission decomposition) ------
# Over a run of T months, with f over every firm ever in the park, m_f its months in the park,
# n_f its business-as-usual emissions a month at normal output (AbatementPortfolio.normal_bau),
# E, B, L, A its run totals of emissions, BAU emissions, link-avoided and abated tonnes
# (FirmTable.run_*, E_f = B_f - L_f - A_f month by month) and I the firms present at the start:
#
#     E = N - X + D + G - L - A,   N = sum_{f in I} T n_f,   X = sum_{f in I} (T - m_f) n_f,
#     D = sum_{f in I} (B_f - m_f n_f),   G = sum_{f not in I} B_f.
#
# Two runs on the same seed have the same first firms (common random numbers), so N is the same
# in both and the change between them splits exactly into technology abatement -dA, link-avoided
# emissions -dL, output change of staying firms dD and exits net of entries (-dX + dG):
# :func:`emission_decomposition`.
def _first_firms(model: ParkModel) -> np.ndarray:
    firms = model.firms
    return np.flatnonzero(firms.entered[: firms.n] == 0)


@run_metric("tCO2e")
def emissions_run_total(model: ParkModel) -> float:
    """E = sum over every firm that was in the park of its emissions over its months in the park."""
    return float(model.firms.run_emissions[: model.firms.n].sum())


@run_metric("tCO2e")
def abated_run_total(model: ParkModel) -> float:
    """A = sum over every firm of the tonnes its abatement technologies abated over the run."""
    return float(model.firms.run_abated[: model.firms.n].sum())


@run_metric("tCO2e")
def link_avoided_run_total(model: ParkModel) -> float:
    """L = sum over every firm of the tonnes avoided by byproduct reuse credited to it over the run."""
    return float(model.firms.run_link_avoided[: model.firms.n].sum())


@run_metric("tCO2e")
def bau_normal_first_firms(model: ParkModel) -> float:
    """N = sum over the firms present at the start of T x n_f: what they would emit with no
    links and no abatement at normal output over the whole run (T months; n_f = capacity x size
    x base_utilisation x sector intensity a month)."""
    rows = _first_firms(model)
    return float(model.steps * model.abatement.normal_bau(rows).sum())


@run_metric("tCO2e")
def bau_lost_to_exits(model: ParkModel) -> float:
    """X = sum over the firms present at the start of (T - m_f) x n_f: the business-as-usual
    emissions at normal output of the months after they left (m_f months in the park)."""
    rows = _first_firms(model)
    gone = model.steps - model.firms.months_in_park[rows]
    return float((gone * model.abatement.normal_bau(rows)).sum())


@run_metric("tCO2e")
def bau_output_deviation(model: ParkModel) -> float:
    """D = sum over the firms present at the start of (B_f - m_f x n_f): their business-as-usual
    emissions over their months in the park less the same months at normal output (the output
    change of the firms while they stay)."""
    rows = _first_firms(model)
    firms = model.firms
    return float((firms.run_bau[rows] - firms.months_in_park[rows] * model.abatement.normal_bau(rows)).sum())


@run_metric("tCO2e")
def bau_entrants(model: ParkModel) -> float:
    """G = sum over the firms that entered during the run of their business-as-usual emissions."""
    firms = model.firms
    rows = np.flatnonzero(firms.entered[: firms.n] > 0)
    return float(firms.run_bau[rows].sum())


#: The parts of an emission change (:func:`emission_decomposition`), in the order they are reported.
DECOMPOSITION_PARTS = ("technology_abatement", "link_avoided", "output_of_staying_firms", "exits_net_of_entries",
                       "first_firms_differ")


def emission_decomposition(treated: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    """Split the change of run emissions E (``emissions_run_total``) between two runs into its
    sources, tCO2e, from the run metrics of each (``RunResult.metrics``):

    technology_abatement = -(A_t - A_b); link_avoided = -(L_t - L_b); output_of_staying_firms =
    D_t - D_b; exits_net_of_entries = -(X_t - X_b) + (G_t - G_b); first_firms_differ = N_t - N_b
    (0 when both runs use the same seed: the same first firms). The parts sum to
    E_t - E_b (returned as ``total``) up to float rounding."""
    d = {k: treated[k] - base[k] for k in ("emissions_run_total", "abated_run_total", "link_avoided_run_total",
                                           "bau_output_deviation", "bau_lost_to_exits", "bau_entrants",
                                           "bau_normal_first_firms")}
    return {"technology_abatement": -d["abated_run_total"], "link_avoided": -d["link_avoided_run_total"],
            "output_of_staying_firms": d["bau_output_deviation"],
            "exits_net_of_entries": d["bau_entrants"] - d["bau_lost_to_exits"],
            "first_firms_differ": d["bau_normal_first_firms"], "total": d["emissions_run_total"]}
