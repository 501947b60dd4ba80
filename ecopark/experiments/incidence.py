"""Who gains and who loses: each party's net gain over a run, read from the ledger.

One sign convention for every "who gains" figure of ecopark (``docs/experiments.md``,
"Sign convention"): **a gain is positive when the party is better off**. For party (or
sector) P over a run,

    gain_P = sum over non-financing kinds of (received_P - paid_P)        (yuan)

where *financing* (:data:`FINANCING_KINDS`) is money that is lent, repaid, put in or taken
out by owners (loan principal, bank funding, equity, dividends, liquidation, recapitalisation,
PPP capital and its distributions, the trade credit firms grant their customers): it moves
cash between periods or to owners, it is not earned. Everything else counts: sales,
purchases, fees, taxes, subsidies, interest, capex
(cash basis: an investment is a cost the month it is paid, and its subsidy a gain).

Because every ledger transfer has a payer and a payee, the gains of all parties sum to
exactly zero in every run; the park's firms (split by sector), the operator, the banks and
the government gain at the expense of, or to the benefit of, the rest of the economy
("outside"), split into **outside buyers** (customers who pay for the park's products,
salvaged and recycled material: :data:`BUYER_KINDS`) and **outside suppliers and
contractors** (everyone else outside: suppliers of inputs, disposal and haulage contractors,
advisers). A comparison's change in gains therefore also sums to zero, the check
``tests/test_compare.py`` makes.

The government's gain is its budget balance: ``gain:government = -fiscal_cost`` (the
government has no financing flows). ``fiscal_cost`` is the *net public cost* (positive:
the state pays), and :func:`public_flows` splits it into ``public:spending`` (everything
government pays) and ``public:revenue`` (everything it collects):
``fiscal_cost = public:spending - public:revenue``.

``surplus_government_total`` (``ecopark/metrics/exchange.py``) is a different quantity with the
same "gain" sign: the government's stake *in the park's links*, relative to the same firms
without their links (subsidies and top-ups paid to links, landfill tax no longer collected
on reused tonnes, quota fines avoided), not its budget. Under a landfill tax both can be
true at once: the tax raises money (``fiscal_cost`` < 0, government gains) while every
tonne a link reuses is a tonne no longer taxed (``surplus_government_total`` < 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ecopark.model import ParkModel

#: Ledger kinds that finance rather than earn: excluded from gains.
FINANCING_KINDS = ("equity", "dividend", "liquidation", "recapitalisation", "bank_funding",
                   "bank_funding_repayment", "loan_disbursement", "loan_repayment", "infrastructure_loan",
                   "infrastructure_loan_repayment", "ppp_investment", "ppp_distribution", "trade_credit",
                   "receivable_collection")
#: Kinds by which an outside buyer pays for what the park sells (products, salvage, recovered material).
BUYER_KINDS = ("sale", "salvage", "recycling_revenue")
#: The parties of the who-gains table, in display order (sectors of the firms come first).
PARTIES = ("firms", "operator", "bank", "government", "outside_buyers", "outside_suppliers")
#: Words for the parties in tables and figures.
PARTY_LABELS = {"firms": "firms (all sectors)", "operator": "park operator", "bank": "banks",
                "government": "government budget", "outside_buyers": "buyers outside the park",
                "outside_suppliers": "suppliers and contractors outside"}


def _net_by_account(model: ParkModel, kinds: tuple[str, ...]) -> np.ndarray:
    """received - paid over the run under ``kinds``, per ledger account (yuan)."""
    ledger = model.ledger
    accounts = np.arange(len(ledger.names))
    net = np.zeros(len(accounts))
    for kind in kinds:
        net += ledger.received(accounts, kind) - ledger.paid(accounts, kind)
    return net


def gains(model: ParkModel) -> dict[str, float]:
    """Each party's and each firm sector's net gain over the run (yuan; module docstring).

    Keys ``gain:<party>`` for :data:`PARTIES` and ``gain:sector:<sector>`` for every sector of
    the catalogue (firms that ever existed, exited ones included); the sectors sum to
    ``gain:firms`` and the parties to 0.
    """
    ledger = model.ledger
    earning = tuple(k for k in ledger.kinds if k not in FINANCING_KINDS)
    net = _net_by_account(model, earning)
    party = ledger.accounts()["party"].to_numpy()
    outside = np.flatnonzero(party == "outside")
    buyers = -sum(float(ledger.paid(outside, k).sum()) for k in BUYER_KINDS)
    out = {
        "gain:firms": float(net[party == "enterprise"].sum()),
        "gain:operator": float(net[party == "operator"].sum()),
        "gain:bank": float(net[party == "bank"].sum()),
        "gain:government": float(net[party == "government"].sum()),
        "gain:outside_buyers": buyers,
        "gain:outside_suppliers": float(net[outside].sum()) - buyers,
    }
    firms, cat = model.firms, model.catalogue
    rows = np.arange(firms.n)
    by_sector = np.bincount(firms.sector[rows], weights=net[firms.account[rows]], minlength=len(cat.sector_keys))
    out.update({f"gain:sector:{name}": float(v) for name, v in zip(cat.sector_keys, by_sector, strict=True)})
    return out


def public_flows(model: ParkModel) -> dict[str, float]:
    """``public:spending`` (all the government paid) and ``public:revenue`` (all it collected)
    over the run, yuan; their difference is ``fiscal_cost``."""
    gov = model.government.account
    ledger = model.ledger
    return {"public:spending": float(sum(ledger.paid(gov, k) for k in ledger.kinds)),
            "public:revenue": float(sum(ledger.received(gov, k) for k in ledger.kinds))}


def measure(model: ParkModel) -> dict[str, float]:
    """The extra columns a comparison or design records per run: gains and public flows."""
    return {**public_flows(model), **gains(model)}
