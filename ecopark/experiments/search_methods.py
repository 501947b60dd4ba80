"""Search methods of a calibration, chosen by name behind one small interface (a registry).

A method proposes the next candidates of a stage from what has been evaluated so far, in
the unit cube of the search (every free parameter's position in [0, 1] of its range, on a
log scale where the spec asks):

    method.sample_batch(batch_size, search_space, existing_points, existing_losses) -> array (n, d)

``existing_points`` are the candidates evaluated so far (unit coordinates, one row each) and
``existing_losses`` their distances D. A method returns at most ``batch_size`` new points (an
empty array: it has nothing more to ask). Methods are registered by name with
:func:`register` (``SEARCH_METHODS``); the spec picks the global stage's method
(``search.sample``) and the region stage's (``region.method``) by name.

Registered:

* ``lhs``, ``sobol`` (global stage): Latin hypercube or scrambled Sobol sample of the box
  (``scipy.stats.qmc``), space-filling and independent of the losses.
* ``expand`` (region stage, :class:`RegionExpansion`): after the search, walks every edge of
  the interval region {D_R <= max(chi2_level(m), min D_R + chi2_level(1))} outward until a
  candidate just beyond it is rejected (see :func:`region_cut` for why that region gives
  intervals of at least nominal coverage), so that an interval is bounded by the data rather than by where the
  search happened to go.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

#: A side of an interval is "range" when it sits at the end of the searched range, "data" when a
#: rejected candidate lies within the resolution just beyond it, "search" when neither (the budget
#: ran out, or the stage was not run: the interval may be too short on that side).
BOUNDS = ("range", "data", "search")
#: How close to the end of its range (unit coordinates) an edge counts as at the end.
AT_LIMIT = 1e-6


@dataclass(frozen=True)
class SearchSpace:
    """The box searched, in unit coordinates, and the finest step that changes a candidate.

    ``resolution[j]``: the step below which parameter j's region edge is taken as found (the
    spec's ``region.resolution``, at least one whole number for an integer parameter).
    """

    resolution: np.ndarray

    @property
    def dims(self) -> int:
        return len(self.resolution)


class SearchMethod(Protocol):
    """What every registered method provides."""

    name: str
    stage: str  # "global" or "region"

    def sample_batch(self, batch_size: int, search_space: SearchSpace, existing_points: np.ndarray,
                     existing_losses: np.ndarray) -> np.ndarray: ...


SEARCH_METHODS: dict[str, Callable[..., SearchMethod]] = {}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: make a search method available by ``name``."""
    def wrap(cls: type) -> type:
        cls.name = name
        SEARCH_METHODS[name] = cls
        return cls
    return wrap


def methods(stage: str) -> tuple[str, ...]:
    """Names of the registered methods of a stage ("global" or "region")."""
    return tuple(name for name, cls in SEARCH_METHODS.items() if cls.stage == stage)


def make(name: str, **options: object) -> SearchMethod:
    """The registered method ``name`` built with ``options`` (a seed, the level...)."""
    return SEARCH_METHODS[name](**options)


# -- the global stage ------------------------------------------------------------------------------------
@register("lhs")
class LatinHypercube:
    """Latin hypercube sample of the unit box (``scipy.stats.qmc.LatinHypercube``), fixed by the seed."""

    stage = "global"

    def __init__(self, seed: int, **_: object) -> None:
        self.seed = seed

    def sample_batch(self, batch_size: int, search_space: SearchSpace, existing_points: np.ndarray,
                     existing_losses: np.ndarray) -> np.ndarray:
        from scipy.stats import qmc

        return qmc.LatinHypercube(search_space.dims, seed=self.seed).random(batch_size)


@register("sobol")
class Sobol:
    """Scrambled Sobol sample of the unit box, ``batch_size`` rounded up to a power of 2."""

    stage = "global"

    def __init__(self, seed: int, **_: object) -> None:
        self.seed = seed

    def sample_batch(self, batch_size: int, search_space: SearchSpace, existing_points: np.ndarray,
                     existing_losses: np.ndarray) -> np.ndarray:
        from scipy.stats import qmc

        m = math.ceil(math.log2(max(batch_size, 1)))
        return qmc.Sobol(search_space.dims, scramble=True, seed=self.seed).random_base2(m)


# -- the region stage ------------------------------------------------------------------------------------
def region_cut(losses: np.ndarray, level: float, targets: int) -> float:
    """The statistic at or below which a candidate is in the interval region:
    max(chi2_level(m), D_min + chi2_level(1)), m the number of fitted targets.

    ``losses`` are the region statistic D_R = z' R^-1 z (:func:`region_statistic`): z_i the
    standardised differences (m_i - observed_i) / s_i, R the correlation of the targets' errors
    (the spec's ``region.correlation``; the identity when not given, and then D_R = D).
    When the targets' errors are normal with standard errors s_i (the scale of each target,
    recovery's se = s sqrt(1/n_observed + 1/replications)) and correlation R, D_R at the true
    parameters is chi-square with m degrees of freedom, so the set {θ : D_R(θ) <= chi2_level(m)}
    contains the truth with probability ``level`` (test inversion: the candidates the figures do
    not reject). That holds whatever the minimum found, so it is immune to the bias of a minimum
    taken over many candidates of a rough distance surface (common random numbers make D_R a
    step function of θ at fine scales, and the lowest of many steps is lower than D_R at the
    truth): with the likelihood-ratio cut D_min + chi2_level(1) alone, intervals covered their
    truth in 73% of cases on the validation report's small spec (docs/calibration.md). A
    parameter's interval, the set's extent on its axis (its projection), covers its truth at
    least as often as the set, so it is conservative when m exceeds 1. When the model cannot fit
    every target (D_min above chi2_level(m) - chi2_level(1), as for the presets), the set would
    be empty or a few points; the likelihood-ratio region D_min + chi2_level(1) is then used (Wilks:
    the profile statistic at the true θ_j is asymptotically chi-square with 1 degree of freedom,
    and the region's projection on axis j is that profile interval), read with the misfit in mind.
    Why R: the targets of a park move together across seeds (more links, more firms in a link,
    more tonnes reused), so with the diagonal distance one seed's luck counts once per target
    and the set is too narrow. Parameter recovery estimates R from its observed runs
    (independent seeds). The coverage is approximate where the assumptions fail (moments far
    from normal, an observed figure whose noise is not correlated as the model's), which the
    coverage test (``ecopark.experiments.coverage``) measures.
    """
    from scipy.stats import chi2

    finite = losses[np.isfinite(losses)]
    if not len(finite):
        return math.inf
    return float(max(chi2.ppf(level, targets), finite.min() + chi2.ppf(level, 1)))


def pooled_correlation(blocks: list[np.ndarray], m: int) -> np.ndarray:
    """Correlation of m targets' values across independent seeds, from blocks of runs.

    Each block is one parameter set's values (rows: runs on independent seeds, columns: the m
    targets); the deviations from each block's mean are pooled into a covariance with
    sum(n_b - 1) degrees of freedom, turned into a correlation and shrunk towards the identity
    by m / (dof + m) (few runs: little trust in the off-diagonal). With fewer than m + 1 degrees
    of freedom, the identity; a target that never varies is taken as independent of the others.
    (Not for a calibration's candidates: common random numbers give them the same seeds, so
    their deviations are not independent draws.)
    """
    devs = [b - b.mean(axis=0) for b in blocks if len(b) >= 2 and np.all(np.isfinite(b))]
    dof = sum(len(d) - 1 for d in devs)
    if dof < m + 1:
        return np.eye(m)
    stacked = np.vstack(devs)
    cov = stacked.T @ stacked / dof
    sd = np.sqrt(np.diag(cov))
    ok = sd > 1e-12 * max(1.0, float(sd.max()))
    corr = np.eye(m)
    idx = np.flatnonzero(ok)
    corr[np.ix_(idx, idx)] = cov[np.ix_(idx, idx)] / np.outer(sd[idx], sd[idx])
    shrink = m / (dof + m)
    return np.clip((1 - shrink) * corr + shrink * np.eye(m), -1.0, 1.0)  # a rounding above 1 is no correlation


def region_statistic(z: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """D_R = z' R^-1 z per candidate: z (n, m) the standardised differences (m_i - observed_i) / s_i,
    R the targets' correlation. With R the identity (and unit weights) it is the distance D."""
    inv = np.linalg.inv(corr)
    return np.einsum("ni,ij,nj->n", z, inv, z)


def region_edges(points: np.ndarray, losses: np.ndarray, cut: float,
                 resolution: np.ndarray) -> list[tuple[str, str]]:
    """For every dimension, how the region's (low, high) edge is bounded: "range", "data" or "search".

    The region is the candidates with D <= ``cut``. Its low edge on axis j is "range" when it is at
    the start of the range, "data" when a candidate with D > cut lies beyond it by at most
    ``resolution[j]`` with its other coordinates within the region's box (widened by their
    resolutions), and "search" otherwise; the same for the high edge.
    """
    inside = losses <= cut
    region = points[inside]
    lo, hi = region.min(axis=0), region.max(axis=0)
    rejected = points[~inside]
    out = []
    for j in range(points.shape[1]):
        others = np.ones(len(rejected), dtype=bool)
        for k in range(points.shape[1]):
            if k != j:
                others &= (rejected[:, k] >= lo[k] - resolution[k]) & (rejected[:, k] <= hi[k] + resolution[k])
        sides = []
        for edge, sign, limit in ((lo[j], -1.0, 0.0), (hi[j], 1.0, 1.0)):
            if abs(edge - limit) <= AT_LIMIT:
                sides.append("range")
                continue
            gap = sign * (rejected[:, j] - edge)
            sides.append("data" if np.any(others & (gap > 0) & (gap <= resolution[j] + AT_LIMIT)) else "search")
        out.append((sides[0], sides[1]))
    return out


@register("expand")
class RegionExpansion:
    """Walk the interval region's edges outward until the data reject what lies beyond them.

    Each round: the region R = {evaluated candidates with D_R <= :func:`region_cut`} (the cut
    is recomputed as better candidates are found); for every edge of R's box not yet bounded
    (:func:`region_edges`: not at the range's end, no rejected candidate within the resolution
    beyond it), candidates are proposed beyond the edge: the member of R at the edge (lowest D
    among ties) moved outward along the axis by the side's step, and other members of R set to
    the same position on that axis, and copies of the edge member with its other coordinates
    drawn around it (normal, half the region's width or the step): a region tilted by a
    trade-off between parameters continues off the axis. A quarter of the batch is drawn
    uniformly inside the region's box, so that a better minimum the refinement missed is found
    and the cut follows it. The step doubles while such
    candidates are accepted; once a rejected candidate lies beyond the edge, it is half the gap
    to the nearest such candidate (a bisection), until the gap is within the resolution. The
    stage ends when every edge is bounded ("range" or "data") or the budget of rounds runs out
    (the report then says which edges are bounded by the search).
    """

    stage = "region"

    def __init__(self, seed: int, level: float = 0.95, step: float = 0.1, targets: int = 1, **_: object) -> None:
        self.rng = np.random.default_rng(seed)
        self.level, self.first_step, self.targets = level, step, targets
        self.steps: dict[tuple[int, int], float] = {}

    def open_edges(self, search_space: SearchSpace, points: np.ndarray, losses: np.ndarray) -> list[tuple[int, int]]:
        """The (axis, side) pairs not yet bounded; side 0 is the low edge, 1 the high edge."""
        edges = region_edges(points, losses, region_cut(losses, self.level, self.targets), search_space.resolution)
        return [(j, s) for j, pair in enumerate(edges) for s in (0, 1) if pair[s] == "search"]

    def sample_batch(self, batch_size: int, search_space: SearchSpace, existing_points: np.ndarray,
                     existing_losses: np.ndarray) -> np.ndarray:
        points, losses = np.asarray(existing_points, dtype=float), np.asarray(existing_losses, dtype=float)
        cut = region_cut(losses, self.level, self.targets)
        inside = losses <= cut
        region, region_losses = points[inside], losses[inside]
        rejected = points[~inside]
        lo, hi = region.min(axis=0), region.max(axis=0)
        todo = self.open_edges(search_space, points, losses)
        if not todo:
            return np.empty((0, points.shape[1]))
        per_edge = max(1, batch_size // len(todo))
        proposals = []
        for j, s in todo:
            sign = 1.0 if s else -1.0
            edge = hi[j] if s else lo[j]
            beyond = sign * (rejected[:, j] - edge)
            box = np.ones(len(rejected), dtype=bool)
            for k in range(points.shape[1]):
                if k != j:
                    box &= (rejected[:, k] >= lo[k] - search_space.resolution[k]) & \
                           (rejected[:, k] <= hi[k] + search_space.resolution[k])
            bracket = beyond[(beyond > 0) & box]
            if len(bracket):  # a rejected candidate beyond: bisect towards it
                step = max(float(bracket.min()) / 2, search_space.resolution[j])
            else:  # none yet: double the last step (a walk that keeps being accepted speeds up)
                step = self.steps.get((j, s), self.first_step / 2) * 2
            self.steps[(j, s)] = min(step, 1.0)
            target = float(np.clip(edge + sign * step, 0.0, 1.0))
            at_edge = np.flatnonzero(np.isclose(region[:, j], edge))
            first = at_edge[np.argmin(region_losses[at_edge])]
            others = [i for i in self.rng.permutation(len(region)) if i != first][: (per_edge - 1) // 2]
            for i in [first, *others]:
                u = region[i].copy()
                u[j] = target
                proposals.append(u)
            spread = np.maximum(hi - lo, step) / 2  # off the axis: a region tilted by a trade-off continues there
            for _ in range(per_edge - 1 - len(others)):
                u = np.clip(region[first] + self.rng.normal(0.0, spread), 0.0, 1.0)
                u[j] = target
                proposals.append(u)
        seen, batch = set(), []
        for u in proposals:  # each once, in the order proposed
            key = tuple(np.round(u, 12))
            if key not in seen:
                seen.add(key)
                batch.append(u)
        inner = max(1, batch_size // 4) if batch_size > 1 else 0
        box_lo = np.clip(lo - search_space.resolution, 0.0, 1.0)
        box_hi = np.clip(hi + search_space.resolution, 0.0, 1.0)
        interior = box_lo + self.rng.random((inner, points.shape[1])) * (box_hi - box_lo)
        return np.array([*batch[: batch_size - inner], *interior])
