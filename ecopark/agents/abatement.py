"""Firms' abatement technologies: a step marginal-abatement-cost (MAC) curve per firm.

Each sector has a menu of technologies (``ecopark/data/abatement.toml``); for firm f of
size s_f with business-as-usual emissions at normal output b_f (tCO2e/month) and hurdle
rate r_f, technology j not yet installed abates, on top of those installed,

    a_fj   = share_j * (1 - S_f) * (1 - L_f / e_f) * b_f  tCO2e/month
    MAC_fj = (K_fj * phi_f * A(r_f, life_j) + opex_j * s_f) / a_fj   yuan/tCO2e

with S_f = 1 - prod_{installed i}(1 - share_i) the firm's installed abatement share,
L_f / e_f the share of this month's BAU emissions its links avoid (technologies abate only
what links leave, ``markets/emissions.py``), A
the monthly annuity factor, K_fj = capex_j * s_f less the capex subsidy it would get, and
phi_f the present value of financing a yuan of it (green loan and cash, see
``markets/credit.py``: ``CreditMarket.capex_factor``; 1 without credit). A firm invests in its cheapest technology with
MAC < v_f, the value it expects per tonne abated (allowance price, carbon tax, or offset
credits through the carbon pool), if it can finance it: that is the condition NPV > 0
over the technology's life. An installed technology costs
its opex (``abatement_opex``); it retires after its lifetime. Technologies abate
S_f x (bau - link-avoided) each month (``markets/emissions.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ecopark.markets.byproduct import annuity_factor
from ecopark.markets.emissions import net_share, settle_emissions

if TYPE_CHECKING:
    from ecopark.model import ParkModel


class AbatementPortfolio:
    """Installed technologies of every firm (firms x technologies) and investment decisions."""

    def __init__(self, model: ParkModel) -> None:
        self.model = model
        techs = model.catalogue.technologies
        keys = model.catalogue.sector_keys
        self.sector = np.array([keys.index(t.sector) for t in techs], dtype=np.int64)
        self.capex = np.array([t.capex for t in techs])
        self.opex = np.array([t.opex for t in techs])
        self.share = np.array([t.share for t in techs])
        self.lifetime = np.array([t.lifetime for t in techs])
        self.names = [t.name for t in techs]
        self.installed_at = np.full((0, len(techs)), -1, dtype=np.int64)  # step installed, -1 = not
        # per firm row and technology, what stays fixed over the firm's life (its sector, size and hurdle rate
        # are set when it enters and rows are never reused): the menu's own terms, computed once per row
        self._in_sector = np.zeros((0, len(techs)), dtype=bool)  # technology of the firm's sector
        self._annuity = np.zeros((0, len(techs)))  # A(r_f, life_j), 1/month
        self._capex_size = np.zeros((0, len(techs)))  # capex_j x s_f, yuan (before subsidy and financing)
        self._opex_size = np.zeros((0, len(techs)))  # opex_j x s_f, yuan/month

    def _grow(self) -> None:
        n = self.model.firms.n
        if n > self.installed_at.shape[0]:
            pad = np.full((n - len(self.installed_at), len(self.sector)), -1, dtype=np.int64)
            self.installed_at = np.vstack([self.installed_at, pad])
        done = self._annuity.shape[0]
        if n > done:  # the new rows' fixed terms, element by element the formulas menu() used per call
            firms = self.model.firms
            size = firms.size[done:n][:, None]
            self._in_sector = np.vstack([self._in_sector, self.sector[None, :] == firms.sector[done:n][:, None]])
            self._annuity = np.vstack([self._annuity, annuity_factor(firms.discount_rate[done:n][:, None],
                                                                     self.lifetime[None, :])])
            self._capex_size = np.vstack([self._capex_size, self.capex[None, :] * size])
            self._opex_size = np.vstack([self._opex_size, self.opex[None, :] * size])

    @property
    def installed(self) -> np.ndarray:
        """(firms, technologies) bool: technology in operation."""
        return self.installed_at >= 0

    def installed_share(self, rows: np.ndarray) -> np.ndarray:
        """S_f = 1 - prod over installed technologies of (1 - share_j)."""
        self._grow()
        kept = np.where(self.installed_at[rows] >= 0, 1.0 - self.share, 1.0)
        return 1.0 - np.multiply.reduce(kept, axis=1)  # kept.prod(axis=1), without its Python layers

    def normal_bau(self, rows: np.ndarray) -> np.ndarray:
        """Business-as-usual emissions at normal output (tCO2e/month)."""
        m, firms = self.model, self.model.firms
        s = firms.sector[rows]
        return m.sector_capacity[s] * firms.size[rows] * m.scenario.economy.base_utilisation * m.sector_intensity[s]

    def operate(self) -> None:
        """Phase 2 (after production): set ``firms.abated``, pay opex, retire old technologies."""
        model, firms = self.model, self.model.firms
        self._grow()
        rows = firms.live
        age = model.steps - self.installed_at[rows]
        retire = (self.installed_at[rows] >= 0) & (age >= self.lifetime)
        r_idx, t_idx = np.nonzero(retire)
        self.installed_at[rows[r_idx], t_idx] = -1
        settle_emissions(model, rows)
        model.ledger.transfer("abatement_opex", firms.account[rows], model.outside, self.monthly_opex(rows))

    def monthly_opex(self, rows: np.ndarray) -> np.ndarray:
        """Running cost of the firms' technologies in operation, yuan/month: sum_j opex_j * s_f."""
        self._grow()
        if len(rows) == 1:  # one firm (a lender judging one loan)
            on = (self.installed_at[rows[0]] >= 0).nonzero()[0]
            # at most two terms besides zeros: their sum is one rounding in any order, so 0 + each installed opex
            # in turn is what the pairwise sum gives (0 + x drops a zero's sign there too)
            if len(on) <= 2:
                total = 0.0
                for value in self.opex[on].tolist():
                    total += value
                return np.array([total * float(self.model.firms.size[rows[0]])])
        return np.add.reduce((self.installed_at[rows] >= 0) * self.opex, axis=1) * self.model.firms.size[rows]

    def menu(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(MAC, abatement a) arrays (rows x technologies); NaN where not available to the firm.

        Capex enters net of the capex subsidy the firm could get and valued at what
        financing it costs (x phi_f, ``CreditMarket.capex_factor``).
        """
        model = self.model
        available, a = self._abatement(rows)
        capex = self._capex_size[rows]
        subsidy = model.policy("capex_subsidy")
        if subsidy:
            capex = capex - subsidy.amounts(capex, "abatement")
        capex = capex * model.credit.capex_factor(rows, "abatement")[:, None]
        cost = capex * self._annuity[rows] + self._opex_size[rows]
        ok = available & (a > 0)  # a where ok (else 1) as the divisor: no division by 0 to silence
        mac = np.where(ok, cost / np.where(ok, a, 1.0), np.nan)
        return mac, np.where(available, a, 0.0)

    def _abatement(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(available, a) of :meth:`menu`: the technologies of each firm's sector not yet installed (bool), and
        a_fj = share_j x (1 - S_f) x (1 - L_f / e_f) x b_f for every technology (tCO2e/month, rows x technologies)."""
        self._grow()
        installed = self.installed_at[rows] >= 0
        kept = np.where(installed, 1.0 - self.share, 1.0)  # installed_share(rows), from the same mask
        left = (1.0 - (1.0 - np.multiply.reduce(kept, axis=1))) * net_share(self.model, rows) * self.normal_bau(rows)
        return self._in_sector[rows] & ~installed, self.share[None, :] * left[:, None]

    def steps(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each firm's MAC curve as steps installed one after another: (MAC, technology, a), rows x technologies.

        Technologies are taken in order of their :meth:`menu` MAC; the k-th abates what the
        earlier ones leave, a_(k) = share_(k) x prod_(i<k) (1 - share_(i)) x (1 - S_f) x
        (1 - L_f / e_f) x b_f, so its MAC is its monthly cost / a_(k). Unavailable steps have
        MAC NaN and a 0.
        """
        mac, a = self.menu(rows)
        # the array methods and fancy indexing np.argsort, np.take_along_axis and np.cumprod come down to
        order = np.where(np.isnan(mac), np.inf, mac).argsort(axis=1)
        along = np.arange(len(rows))[:, None], order  # each row's elements in its order
        mac_sorted = mac[along]
        a_sorted = np.where(np.isnan(mac_sorted), 0.0, a[along])
        share = np.where(np.isnan(mac_sorted), 0.0, self.share[order])
        left = (1.0 - share).cumprod(axis=1) / (1.0 - share)  # what earlier steps leave
        with np.errstate(invalid="ignore", divide="ignore"):
            mac_sorted = np.where(a_sorted > 0, mac_sorted / left, np.nan)
        return mac_sorted, order, a_sorted * left

    def project_cash_flow(self, rows: np.ndarray, techs: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Monthly cash flow of technology techs[i] at firm rows[i], what a bank judges a loan on
        (yuan/month): value x a - opex x size, with ``value`` (yuan/tCO2e) what the firm expects
        a tonne abated to earn and a its abatement (tCO2e/month, :meth:`menu`)."""
        available, a = self._abatement(rows)  # menu()'s a, without its cost side
        items = np.arange(len(rows))
        a = np.where(available[items, techs], a[items, techs], 0.0)
        return value * a - self.opex[techs] * self.model.firms.size[rows]

    def financeable(self, rows: np.ndarray, techs: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Mask: firm rows[i] could finance technology techs[i] now, items taken in the given order.

        The same plan :meth:`install` would follow (``Enterprise.financing``: capex subsidy,
        then a loan if a bank approves on the project's cash flow value x a - opex, then cash),
        with each firm's cash put into its earlier items of the list counted as spent. A firm
        asks this before it places orders in a carbon-market session, so it only offers
        abatement it can pay for.
        """
        model, firms = self.model, self.model.firms
        ok = np.zeros(len(rows), dtype=bool)
        if not len(rows):
            return ok
        cash_flow = self.project_cash_flow(rows, techs, value)
        cash = dict.fromkeys(rows.tolist(), 0.0)
        for row in cash:
            cash[row] = model.firm_agents[row].cash
        for i, (row, j) in enumerate(zip(rows.tolist(), techs.tolist(), strict=True)):
            _, _, equity = model.firm_agents[row].financing(float(self.capex[j] * firms.size[row]), "abatement",
                                                            float(cash_flow[i]))
            if cash[row] >= equity:
                ok[i] = True
                cash[row] -= equity
        return ok

    def install(self, rows: np.ndarray, techs: np.ndarray, value: np.ndarray,
                effective_now: bool = False) -> np.ndarray:
        """Install technology techs[i] at firm rows[i] where it can be financed; returns the mask.

        ``value`` (yuan/tCO2e per item) is what the firm expects a tonne abated to earn; the
        project's monthly cash flow value x a - opex is what a bank judges a loan on.
        With ``effective_now`` (commitments made in a carbon-market session) the technology
        already abates this month: the month's emissions are recomputed and its opex paid.
        """
        model, firms = self.model, self.model.firms
        done = np.zeros(len(rows), dtype=bool)
        if not len(rows):
            return done
        cash_flow = self.project_cash_flow(rows, techs, value)
        for i, (row, j) in enumerate(zip(rows, techs, strict=True)):
            if self.installed_at[row, j] < 0 and model.firm_agents[row].invest(
                    float(self.capex[j] * firms.size[row]), "abatement", float(cash_flow[i])):
                self.installed_at[row, j] = model.steps
                done[i] = True
        if effective_now and done.any():
            now = np.unique(rows[done])
            settle_emissions(model, now)
            model.ledger.transfer("abatement_opex", firms.account[rows[done]], model.outside,
                                  self.opex[techs[done]] * firms.size[rows[done]])
        return done

    def decide(self, value: np.ndarray) -> None:
        """Phase 5: each live firm installs its cheapest technology with MAC < value (yuan/t)."""
        rows = self.model.firms.live
        mac, _ = self.menu(rows)
        worth = np.where(mac < value[:, None], mac, np.inf)
        best = np.argmin(worth, axis=1)
        take = np.isfinite(worth[np.arange(len(rows)), best])
        self.install(rows[take], best[take], value[take])
