import numpy as np
import pandas as pd
import pytest

from ecopark.ledger import MONEY_KINDS, Ledger


def make():
    ledger = Ledger()
    out = ledger.open_account("outside", "outside")
    firms = ledger.open_accounts(["a", "b", "c"], "enterprise")
    gov = ledger.open_account("government", "government")
    return ledger, out, firms, gov


def test_vectorised_transfer_moves_exact_cents_and_sums_to_zero():
    ledger, out, firms, gov = make()
    moved = ledger.transfer("sale", out, firms, [100.004, 200.006, 0.0])
    assert moved == pytest.approx(300.01)
    assert list(ledger.balance(firms)) == [100.0, 200.01, 0.0]
    ledger.transfer("landfill_tax", firms, gov, 12.34)
    assert ledger.balance(gov) == pytest.approx(3 * 12.34)  # firm c pays too, going below zero
    assert ledger.total() == 0


def test_transfer_signed_books_both_directions_under_their_kinds():
    ledger, out, firms, _ = make()
    ledger.transfer_signed("disposal", "salvage", firms, out, np.array([50.0, -20.0, 0.0]))
    assert ledger.paid(firms[0], "disposal") == 50.0
    assert ledger.received(firms[1], "salvage") == 20.0
    assert ledger.flow("disposal", "enterprise", "outside") == 50.0
    assert ledger.flow("salvage", "outside", "enterprise") == 20.0
    assert ledger.total() == 0


def test_rejects_negative_amounts_and_unknown_kinds():
    ledger, out, firms, _ = make()
    with pytest.raises(ValueError, match="sale"):
        ledger.transfer("sale", out, firms[0], -1.0)
    with pytest.raises(KeyError, match="bribe"):
        ledger.transfer("bribe", out, firms[0], 1.0)


def test_summary_and_by_step_group_by_kind_and_party():
    ledger, out, firms, gov = make()
    ledger.step = 1
    ledger.transfer("sale", out, firms, 10.0)
    ledger.step = 2
    ledger.transfer("sale", out, firms, 5.0)
    ledger.transfer("landfill_tax", firms[0], gov, 1.0)
    summary = ledger.summary().set_index("kind")
    assert summary.loc["sale", "amount_yuan"] == 45.0
    assert summary.loc["landfill_tax", "payee"] == "government"
    steps = ledger.by_step()
    assert steps.groupby("step")["amount_yuan"].sum().to_dict() == {1: 30.0, 2: 16.0}
    assert ledger.flow("sale", step=2) == 15.0


def test_every_kind_is_documented():
    assert all(isinstance(v, str) and len(v) > 10 for v in MONEY_KINDS.values())


def test_one_transfer_at_a_time_books_what_one_vectorised_call_books():
    payers, payees = [1, 1, 2, 0, 3], [4, 2, 1, 1, 0]
    amounts = [10.0, 2.345, 0.0, 7.5, 1.01]
    books = []
    for one_by_one in (False, True):
        ledger, out, firms, gov = make()
        accounts = np.r_[out, firms, gov]
        ledger.step = 3
        if one_by_one:
            moved = sum(ledger.transfer("rent", int(accounts[p]), int(accounts[q]), a)
                        for p, q, a in zip(payers, payees, amounts, strict=True))
        else:
            moved = ledger.transfer("rent", accounts[payers], accounts[payees], amounts)
        books.append((moved, ledger.balance(accounts), ledger.paid(accounts, "rent"),
                      ledger.received(accounts, "rent"), ledger.by_step()))
        assert ledger.total() == 0
    (moved_v, *tables_v, steps_v), (moved_1, *tables_1, steps_1) = books
    assert moved_v == pytest.approx(moved_1) == pytest.approx(20.86)
    for vectorised, single in zip(tables_v, tables_1, strict=True):
        np.testing.assert_array_equal(vectorised, single)
    pd.testing.assert_frame_equal(steps_v, steps_1)
