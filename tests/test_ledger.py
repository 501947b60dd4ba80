import numpy as np
import pandas as pd
import pytest

from ecopark.ledger import LEDGER_LIMIT, MONEY_KINDS, Ledger, LedgerOverflowError


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


def _state(ledger: Ledger) -> tuple:
    return (ledger._balance.tolist(), ledger._paid.tolist(), ledger._received.tolist(), ledger.moved,
            {s: f.tolist() for s, f in ledger._flows.items()})


@pytest.mark.parametrize("amount", [12.345, 0.005, 0.015, 7, np.float32(2.5), np.int64(3), -0.004, 0.0, True])
def test_plain_number_transfer_books_what_an_array_transfer_books(amount):
    # the scalar fast path (no arrays) rounds half to even and books exactly like the array path
    fast, out, firms, _ = make()
    slow, *_ = make()
    moved_fast = fast.transfer("sale", out, int(firms[1]), amount)
    moved_slow = slow.transfer("sale", np.array([out]), np.array([firms[1]]), np.array([amount], dtype=float))
    moved_array = slow.transfer("sale", out, firms[1:2], np.array([amount], dtype=float))
    assert moved_fast == moved_slow == moved_array
    slow_once, *_ = make()
    slow_once.transfer("sale", np.array([out]), np.array([firms[1]]), np.array([amount], dtype=float))
    assert _state(fast) == _state(slow_once)


def test_float_between_plain_ids_books_what_numpy_ids_book():
    # a float (or np.float64) between two Python int ids takes the quickest path; the same transfers between
    # numpy integer ids take the general plain-number path: the same books, totals, errors and overflow
    rng = np.random.default_rng(3)
    amounts = [*np.round(rng.uniform(0, 1e6, 200), 3).tolist(), 0.005, 0.015, 0.025, 0.0, 1e-9, 3e13]
    books = []
    for plain in (True, False):
        ledger, out, firms, gov = make()
        ids = [out, *firms.tolist(), gov] if plain else [np.int64(out), *firms, np.int64(gov)]
        moved = []
        for i, amount in enumerate(amounts):
            ledger.step = i % 3
            value = np.float64(amount) if i % 2 else amount
            moved.append(ledger.transfer("sale", ids[i % 5], ids[(i * 3 + 1) % 5], value))
        books.append((moved, _state(ledger)))
        for bad in (-0.01, np.nan, np.inf, np.float64(-np.inf)):
            with pytest.raises(ValueError, match="sale"):
                ledger.transfer("sale", ids[0], ids[1], bad)
        ledger.moved = LEDGER_LIMIT - 10**6
        with pytest.raises(LedgerOverflowError):
            ledger.transfer("sale", ids[0], ids[1], 1e5)
        assert ledger.transfer("sale", ids[0], ids[1], 1.0) == 1.0 and ledger.moved == LEDGER_LIMIT - 10**6 + 100
        with pytest.raises(LedgerOverflowError):  # the array path's overflow test, the same
            ledger.transfer("sale", np.array(ids[:2] * 6), ids[2], np.full(12, 1e3))
        assert ledger.transfer("sale", np.array(ids[:2] * 6), ids[2], np.full(12, 1.0)) == 12.0
        assert ledger.moved == LEDGER_LIMIT - 10**6 + 1300
    assert books[0] == books[1]


@pytest.mark.parametrize("amount", [12.345, 0.005, 0.015, 7, np.float32(2.5), -0.004, 0.0, True])
def test_one_element_arrays_book_what_the_array_path_books(amount):
    # arrays of one element take the plain-number path: the same books as the array path, which a second,
    # zero transfer in the same call forces
    single, out, firms, _ = make()
    padded, *_ = make()
    moved_single = single.transfer("sale", np.array([out]), firms[1:2], np.array([amount], dtype=float))
    moved_padded = padded.transfer("sale", np.array([out, out]), firms[1:3], np.array([amount, 0.0], dtype=float))
    assert moved_single == moved_padded
    assert _state(single) == _state(padded)


def test_a_few_amounts_book_what_the_array_path_books():
    # up to _FEW amounts are booked one by one in plain Python; padded past _FEW with zero amounts, the same
    # transfers take the numpy path: the books, totals and returned sums must agree (accounts repeat)
    rng = np.random.default_rng(5)
    pad, zeros = [0] * 12, np.zeros(12)
    for _ in range(50):
        n = int(rng.integers(2, 8))
        amounts = np.round(rng.uniform(0, 100, n), int(rng.integers(1, 5)))
        amounts[rng.random(n) < 0.2] = 0.0
        picks = rng.integers(0, 5, (2, n))
        books = []
        for padded in (False, True):
            ledger, out, firms, gov = make()
            accounts = np.r_[out, firms, gov]
            ledger.step = 2
            payers, payees = accounts[picks[0]], accounts[picks[1]]
            extra = (lambda x, fill: np.r_[x, fill]) if padded else (lambda x, fill: x)
            moved = [ledger.transfer("rent", extra(payers, pad), extra(payees, pad), extra(amounts, zeros)),
                     ledger.transfer("sale", int(payers[0]), extra(payees, pad), extra(amounts, zeros)),
                     ledger.transfer("purchase", extra(payers, pad), int(payees[0]), extra(amounts, zeros))]
            books.append((moved, _state(ledger)))
        assert books[0] == books[1]


def test_broadcast_transfers_book_what_their_full_arrays_book():
    # one account on a side given once (with many amounts, or one amount for many accounts) books like the same
    # transfer with every side spelled out in full (accounts repeat)
    rng = np.random.default_rng(11)
    amounts = np.round(rng.uniform(0, 50, 20), 3)
    books = []
    for full in (False, True):
        ledger, out, firms, gov = make()
        ledger.step = 4
        spread = np.resize(firms, 20)  # each firm several times
        both = (lambda account: np.full(20, account)) if full else (lambda account: account)
        moved = [ledger.transfer("rent", both(int(firms[0])), both(gov), amounts),
                 ledger.transfer("sale", both(out), spread, 2.345 if not full else np.full(20, 2.345)),
                 ledger.transfer("landfill_tax", spread, both(gov), 0.125 if not full else np.full(20, 0.125)),
                 ledger.transfer("dividend", both(int(firms[1])), both(out), np.zeros(20))]
        books.append((moved, _state(ledger)))
    assert books[0] == books[1]


def test_a_few_amounts_are_all_checked_before_any_is_booked():
    ledger, out, firms, _ = make()
    with pytest.raises(ValueError, match="sale"):
        ledger.transfer("sale", out, firms, np.array([1.0, 2.0, -0.01]))
    with pytest.raises(ValueError, match="sale"):
        ledger.transfer("sale", out, firms, np.array([1.0, np.nan, 2.0]))
    assert ledger.moved == 0 and not ledger.balance(firms).any()


@pytest.mark.parametrize("amount", [-0.01, np.nan, np.inf, -np.inf])
def test_every_form_of_transfer_rejects_a_negative_or_infinite_amount(amount):
    ledger, out, firms, _ = make()
    for payee, value in ((int(firms[0]), amount), (firms, np.array([1.0, amount, 2.0])), (firms[:1], [amount])):
        with pytest.raises(ValueError, match="sale"):
            ledger.transfer("sale", out, payee, value)
    with pytest.raises(ValueError, match="sale"):  # broadcast to no transfer at all: still rejected
        ledger.transfer("sale", out, firms[:0], amount)
    assert ledger.total() == 0 and ledger.moved == 0


def test_one_payer_or_payee_broadcasts_like_numpy():
    ledger, out, firms, gov = make()
    ledger.transfer("sale", out, firms, [1.0, 2.0, 3.0])
    ledger.transfer("landfill_tax", firms, gov, [0.5, 0.25, 0.125])
    ledger.transfer("rent", firms[[0, 0, 1]], gov, 1.0)  # a payer twice: both booked
    assert list(ledger.balance(firms)) == [-1.5, 0.75, 2.88]  # 12.5 fen rounds half to even: 12
    assert ledger.paid(firms[0], "rent") == 2.0
    assert ledger.flow("landfill_tax", "enterprise", "government") == 0.87
    assert ledger.total() == 0


def test_net_received_is_the_kind_by_kind_sum_of_received_less_paid():
    ledger, out, firms, gov = make()
    rng = np.random.default_rng(3)
    kinds = ["sale", "purchase", "rent", "landfill_tax", "dividend"]
    for kind in kinds:
        ledger.transfer(kind, out, firms, rng.uniform(0, 1e6, 3))
        ledger.transfer(kind, firms, gov, rng.uniform(0, 1e6, 3))
    expected = np.zeros(3)
    for kind in kinds:
        expected += ledger.received(firms, kind) - ledger.paid(firms, kind)
    assert ledger.net_received(firms, kinds).tolist() == expected.tolist()  # bit for bit
    assert ledger.net_received(firms[:0], kinds).shape == (0,)
    assert ledger.net_received(firms, []).tolist() == [0.0, 0.0, 0.0]


def test_flows_by_kind_is_flow_of_each_kind():
    ledger, out, firms, gov = make()
    ledger.transfer("sale", out, firms, [1.0, 2.0, 3.0])
    ledger.transfer("reuse_subsidy", gov, firms, [0.5, 0.25, 0.13])
    ledger.step = 1
    ledger.transfer("capex_subsidy", gov, firms[0], 7.77)
    ledger.transfer("landfill_tax", firms, gov, 1.0)
    for parties in ((None, None), ("government", None), (None, "government"), ("outside", "enterprise")):
        for step in (None, 0, 1, 2):
            assert ledger.flows_by_kind(*parties, step=step).tolist() == [
                ledger.flow(k, *parties, step=step) for k in ledger.kinds]


def test_array_transfers_book_alike_whatever_the_arrays_dtype_and_shape():
    # the array path takes int64 ids and float64 amounts as they are (no np.asarray) and 1-D arrays without a
    # reshape: ids of another integer type, amounts of another float type or a list, and 2-D arrays of the
    # same transfers book the same
    rng = np.random.default_rng(8)
    amounts = np.round(rng.uniform(0, 100, 12), 2)
    picks = rng.integers(0, 5, (2, 12))
    books = []
    for form in ("int64", "int32", "2d", "list"):
        ledger, out, firms, gov = make()
        accounts = np.r_[out, firms, gov]
        payers, payees, values = accounts[picks[0]], accounts[picks[1]], amounts
        if form == "int32":
            payers, payees, values = payers.astype(np.int32), payees.astype(np.uint16), amounts.astype(np.longdouble)
        elif form == "2d":
            payers, payees, values = payers.reshape(3, 4), payees.reshape(3, 4), amounts.reshape(3, 4)
        elif form == "list":
            payers, payees, values = payers.tolist(), payees.tolist(), amounts.tolist()
        moved = [ledger.transfer("rent", payers, payees, values),
                 ledger.transfer("sale", int(accounts[1]), payees, values),
                 ledger.transfer("purchase", payers, int(accounts[2]), values)]
        books.append((moved, _state(ledger)))
    assert all(book == books[0] for book in books[1:])


def test_many_amounts_with_int64_ids_book_what_the_general_array_path_books():
    # past _FEW amounts, int64 id arrays (or one id, a Python or numpy int) take _transfer_vector; the same
    # transfers with int32 ids take the general array path: the same books, totals, returns, errors and overflow
    rng = np.random.default_rng(21)
    for case in range(40):
        n = int(rng.integers(9, 30))
        amounts = np.round(rng.uniform(0, 1e4, n), int(rng.integers(1, 5)))
        amounts[rng.random(n) < 0.2] = 0.0
        if case % 7 == 0:
            amounts[:] = 0.0
        picks = rng.integers(0, 5, (2, n))
        books = []
        for ids in (np.int64, np.int32):
            ledger, out, firms, gov = make()
            accounts = np.r_[out, firms, gov].astype(ids)
            one = np.int64(accounts[3]) if case % 2 else int(accounts[3])
            ledger.step = case % 3
            payers, payees = accounts[picks[0]], accounts[picks[1]]
            moved = [ledger.transfer("rent", payers, payees, amounts),
                     ledger.transfer("sale", one, payees, amounts),
                     ledger.transfer("purchase", payers, one, amounts)]
            for bad in (-0.01, np.nan, np.inf):
                values = amounts.copy()
                values[n // 2] = bad
                with pytest.raises(ValueError, match="sale"):
                    ledger.transfer("sale", payers, one, values)
            ledger.moved = LEDGER_LIMIT - 10**7
            with pytest.raises(LedgerOverflowError):
                ledger.transfer("sale", payers, payees, np.full(n, 1e5))
            moved.append(ledger.transfer("sale", one, payees, np.full(n, 1.0)))
            books.append((moved, _state(ledger)))
        assert books[0] == books[1]


def test_signed_transfers_book_alike_with_one_id_kept_or_broadcast():
    # a 1-D float64 array between one id (kept as it is) and int64 ids takes transfer_signed's quick form; the
    # same with int32 ids (or a list of amounts) is broadcast first: the same books and totals, positive,
    # negative and zero amounts, a few and many, all of one sign
    rng = np.random.default_rng(13)
    for case in range(30):
        n = int(rng.choice([1, 3, 8, 9, 20]))
        amounts = np.round(rng.normal(0, 100, n), int(rng.integers(1, 5)))
        amounts[rng.random(n) < 0.2] = 0.0
        if case % 5 == 0:
            amounts = np.abs(amounts) * (1 if case % 10 else -1)
        picks = rng.integers(0, 5, (2, n))
        books = []
        for quick in (True, False):
            ledger, out, firms, gov = make()
            accounts = np.r_[out, firms, gov].astype(np.int64 if quick else np.int32)
            one = int(accounts[case % 5]) if case % 2 else accounts[case % 5]
            values = amounts if quick else amounts.tolist()
            ledger.step = case % 2
            ledger.transfer_signed("byproduct_payment", "gate_fee", accounts[picks[0]], accounts[picks[1]], values)
            ledger.transfer_signed("disposal", "salvage", accounts[picks[0]], one, values)
            ledger.transfer_signed("liquidation", "liquidation", one, accounts[picks[1]], values)
            books.append(_state(ledger))
        assert books[0] == books[1]
