"""The credit market's live-loan index, per-firm loan sums and batched credit-line draws (issue 28):
each gives what a full scan of the loan book, or drawing one firm after another, gives, bit for bit."""

import numpy as np
import pytest

from ecopark.markets.credit import PURPOSES, STATUSES, CreditMarket, LoanBook, Offer
from ecopark.markets.secured_lending import ALLOWANCE, RECEIPT
from ecopark.model import ParkModel
from ecopark.scenario import load_scenario

#: Every path of the credit market: secured lending of both kinds and risk-priced loans, carbon-efficiency
#: pricing, sustainability-linked loans, relending, subsidies and loss cover, and a slump that breaks firms.
CREDIT = {"credit.sustainability_linked": True, "credit.carbon_efficiency_bp": 100.0,
          "policies.green_relending.enabled": True, "policies.interest_subsidy.enabled": True,
          "policies.green_loan_loss_cover.enabled": True, "credit.secured.warehouse_receipts": True,
          "credit.secured.carbon_pledge": True, "credit.secured.risk_priced_lending": True,
          "economy.shock_start": 3, "economy.shock_months": 18, "economy.shock_depth": 0.5}
#: Three banks, two of them small: their capital and single-borrower limits bind on the credit lines.
BANKS = {"banks": [{"name": "a", "capital": 3e7, "margin_bp": 150, "max_single_exposure": 0.5},
                   {"name": "b", "capital": 5e7, "margin_bp": 120, "max_single_exposure": 0.3},
                   {"name": "c", "capital": 1e9, "margin_bp": 200}]}


def full_scan(credit: CreditMarket) -> dict[str, np.ndarray]:
    """The live loans and the per-firm and per-bank sums, from a scan of the whole book (the formulas the
    index and the sums replace)."""
    loans, n = credit.loans, credit.model.firms.n
    live = np.flatnonzero(loans.status[: loans.n] == STATUSES.index("performing"))
    borrower, out = loans.borrower[live], loans.outstanding_fen[live]
    draws = live[loans.purpose[live] == PURPOSES.index("credit_line")]
    late = np.zeros(n, dtype=bool)
    late[borrower[loans.missed[live] > 0]] = True
    banks = range(len(credit.model.banks))
    return {
        "live": live,
        "debt": np.bincount(borrower, out / 100, minlength=n),
        "service": np.bincount(borrower, loans.payment_fen[live] / 100, minlength=n),
        "line": np.bincount(loans.borrower[draws], loans.outstanding_fen[draws] / 100, minlength=n),
        "late": late,
        "exposure": np.array([[float(out[(loans.bank[live] == b) & (borrower == f)].sum() / 100) for f in range(n)]
                              for b in banks]),
        "book": np.array([float(out[loans.bank[live] == b].sum() / 100) for b in banks]),
    }


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """The same dtype, shape and bits."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_index_agrees(credit: CreditMarket) -> None:
    """The index and the sums as the credit market uses them equal the full scan, bit for bit."""
    scan, sums = full_scan(credit), credit.sums()
    assert same(credit.loans.live, scan["live"])
    for name in ("debt", "service", "line", "late"):
        assert same(getattr(sums, name), scan[name]), name
    banks, firms = range(len(credit.model.banks)), range(credit.model.firms.n)
    assert np.array_equal([[credit.exposure(b, f) for f in firms] for b in banks], scan["exposure"])
    assert [credit.book(b) for b in banks] == scan["book"].tolist()


@pytest.mark.parametrize(("preset", "overrides"), [("generic", BANKS), ("yueyang", CREDIT),
                                                   ("liaocheng", {**CREDIT, **BANKS})])
def test_the_index_and_sums_equal_a_full_scan_whenever_the_credit_market_reads_them(monkeypatch, preset, overrides):
    model = ParkModel(load_scenario(preset, overrides), seed=3)
    checked = []
    sums = CreditMarket.sums

    def checking(credit):
        result = sums(credit)
        if len(checked) % 7 == 0:  # every 7th read (a full scan per read is slow): every phase is met
            scan = full_scan(credit)
            assert same(credit.loans.live, scan["live"])
            for name in ("debt", "service", "line", "late"):
                assert same(getattr(result, name), scan[name]), (name, model.steps)
            assert np.array_equal(result.exposure_fen / 100, scan["exposure"])
            assert (result.book_fen / 100).tolist() == scan["book"].tolist()
        checked.append(model.steps)
        return result

    monkeypatch.setattr(CreditMarket, "sums", checking)
    for _ in range(24):
        model.step()
    loans = model.credit.loans
    assert len(checked) > 200 and len(set(checked)) == 24
    assert (loans.status[: loans.n] == STATUSES.index("repaid")).any()  # loans left the index
    if preset != "generic":  # written off, and secured by allowances (and stock) pledged
        assert (loans.status[: loans.n] == STATUSES.index("defaulted")).any()
        assert (loans.collateral[: loans.n] == ALLOWANCE).any()
    if preset == "yueyang":
        assert (loans.collateral[: loans.n] == RECEIPT).any()


def test_the_index_and_sums_agree_after_random_loans_repayments_and_write_offs():
    model = ParkModel(load_scenario("yueyang", CREDIT), seed=4)
    for _ in range(8):
        model.step()
    credit, secured, loans = model.credit, model.secured_lending, model.credit.loans
    rng = np.random.default_rng(0)
    done = {"lend": 0, "draw": 0, "repay": 0, "exit": 0, "service": 0}
    for _ in range(60):
        op = rng.choice(list(done))
        live_firms = model.firms.live
        if op == "lend":  # a new loan of any purpose, from any bank
            row = int(rng.choice(live_firms))
            purpose = str(rng.choice(PURPOSES))
            credit.lend(row, Offer(int(rng.integers(len(model.banks))), float(rng.uniform(1e4, 1e7)),
                                   float(rng.uniform(0.02, 0.09)), int(rng.integers(6, 61)), 0.0), purpose)
        elif op == "draw":  # credit-line draws of many firms at once
            rows = rng.choice(live_firms, size=min(10, len(live_firms)), replace=False)
            credit.draw_lines(rows, rng.uniform(0, 5e6, len(rows)), rng.uniform(0, 1e5, len(rows)))
        elif op == "repay" and len(loans.live):  # a forced repayment: part or all of a loan
            loan = int(rng.choice(loans.live))
            secured.repay(loan, float(loans.outstanding_fen[loan]) / 100 * float(rng.choice([0.3, 1.0])))
        elif op == "exit" and len(loans.live):  # a borrower leaves: its loans are repaid or written off
            model.remove_firms(np.array([int(loans.borrower[rng.choice(loans.live)])]))
        elif op == "service":  # instalments paid, missed and capitalised
            credit.service()
        else:
            continue
        done[op] += 1
        assert_index_agrees(credit)
    assert min(done.values()) > 0
    assert (loans.status[: loans.n] == STATUSES.index("defaulted")).any()


def test_tracked_loan_fields_are_written_only_inside_editing_which_marks_the_index_stale():
    loans = LoanBook(capacity=2)
    rows = [loans.add(borrower=i, outstanding_fen=100 * (i + 1), payment_fen=10) for i in range(3)]  # grows
    assert loans.live.tolist() == rows
    with pytest.raises(ValueError, match="read-only"):
        loans.status[rows[1]] = STATUSES.index("repaid")
    with pytest.raises(ValueError, match="read-only"):
        loans.outstanding_fen[rows[0]] -= 50
    with pytest.raises(ValueError, match="read-only"):
        loans.live[0] = 5  # the index itself
    version = loans.version
    with loans.editing():
        with loans.editing():  # nested: still writable after the inner block
            loans.missed[rows[0]] = 1
        loans.status[rows[1]] = STATUSES.index("repaid")
    assert loans.version > version
    assert loans.live.tolist() == [rows[0], rows[2]]
    with pytest.raises(ValueError, match="read-only"):
        loans.missed[rows[2]] = 1
    new = loans.add_many(borrower=np.array([7, 8]), status=np.array([0, STATUSES.index("defaulted")]))
    assert loans.live.tolist() == [rows[0], rows[2], int(new[0])]


def test_loan_sums_added_in_place_equal_a_new_pass_and_are_read_only():
    model = ParkModel(load_scenario("generic"), seed=1)
    for _ in range(3):
        model.step()
    credit = model.credit
    sums = credit.sums()
    with pytest.raises(ValueError, match="read-only"):
        credit.debt(slice(None))[0] = 1.0  # a view of the sums: a caller cannot change them
    row = int(model.firms.live[0])
    credit.lend(row, Offer(0, 1234.57, 0.05, 12, 0.0), "credit_line")
    credit.lend(row, Offer(0, 0.07, 0.05, 12, 0.0), "link")
    assert credit.sums() is sums  # extended in place, not rebuilt
    assert_index_agrees(credit)


def sequential_draw(credit: CreditMarket, row: int, need: float, rolled: float) -> float:
    """A credit-line draw as the credit market made it one firm at a time before the batched pass."""
    rows = np.array([row])
    if not credit.spec.enabled or need <= 0 or not credit.line_open(rows)[0]:
        return 0.0
    amount = float(min(need, credit.line_limit(rows)[0] - credit.line_used(rows)[0] + rolled))
    if amount < 0.01:
        return 0.0
    margin = credit.model.firms.expected_margin[rows]
    tenor = credit.spec.working_capital_tenor_months
    best = None
    for bank, b in enumerate(credit.model.banks):
        freed = min(rolled, credit.exposure(bank, row))
        room = min(amount, b.spec.max_single_exposure * b.cash - credit.exposure(bank, row) + freed,
                   credit.capital_room(bank) + freed)
        if room < 0.01:
            continue
        rate = float(credit.rates(bank, rows, "credit_line", room, tenor, margin)[0])
        if best is None or (room, -rate) > (best.amount, -best.rate):
            best = Offer(bank, room, rate, tenor, 0.0)
    if best is None:
        return 0.0
    credit.lend(row, best, "credit_line")
    credit.line_draws += 1
    return best.amount


def sequential_finance_shortfalls(credit: CreditMarket, service: bool = False) -> None:
    """``CreditMarket.finance_shortfalls`` as it was before the batched pass: one firm after another."""
    model, firms = credit.model, credit.model.firms
    rows = firms.live
    cash = model.firm_cash(rows)
    due = credit.debt_service(rows) if service else np.zeros(len(rows))
    fixed = model.sector_fixed_cost[firms.sector[rows]] * firms.size[rows]
    need = np.where(cash < due, credit.spec.working_capital_buffer_months * fixed + due - cash, 0.0)
    rolled = credit.line_due(rows) if service else np.zeros(len(rows))
    if service:
        base = np.minimum(credit.line_limit(rows), firms.receivables[rows])
        need = np.maximum(need, base - credit.line_used(rows) + rolled)
    for row, amount, freed, low in zip(rows, need, rolled, cash < due, strict=True):
        if amount < 0.01:
            continue
        rest = float(amount) - sequential_draw(credit, int(row), float(amount), float(freed))
        if low and rest > 0.01 and model.firm_cash(np.array([row]))[0] < due[rows == row][0]:
            model.secured_lending.apply(int(row), rest)
    if service:
        credit.owners_cover(rows, due)


@pytest.mark.parametrize(("preset", "overrides"), [
    ("generic", BANKS),
    ("generic", {"banks[0].capital": 2e7, "banks[0].max_single_exposure": 10.0}),  # the capital room binds
    ("yueyang", {**CREDIT, "banks[0].capital": 5e7}),  # secured lending between the draws
])
def test_drawing_every_short_firms_line_at_once_equals_drawing_one_firm_after_another(preset, overrides):
    batched = ParkModel(load_scenario(preset, overrides), seed=2)
    one_by_one = ParkModel(load_scenario(preset, overrides), seed=2)
    one_by_one.credit.finance_shortfalls = lambda service=False: sequential_finance_shortfalls(one_by_one.credit,
                                                                                                service)
    plans = []
    line_plan = batched.credit._line_plan

    def counting(rows, need, rolled):
        plan = line_plan(rows, need, rolled)
        plans.append(plan[0] < len(rows))  # the capital room narrowed: booked in parts
        return plan

    batched.credit._line_plan = counting
    for _ in range(30):
        batched.step()
        one_by_one.step()
    a, b = batched.credit.loans.frame(), one_by_one.credit.loans.frame()
    assert len(a) > 100
    assert a.equals(b)
    assert batched.ledger.summary().equals(one_by_one.ledger.summary())
    ts_a = batched.datacollector.get_model_vars_dataframe()
    ts_b = one_by_one.datacollector.get_model_vars_dataframe()
    assert ts_a.equals(ts_b)
    if preset == "generic":
        assert any(plans)  # the path where an earlier draw narrows a bank's capital room was taken
    else:  # secured lending (only through finance_shortfalls) lent between the firms' draws
        assert ((a.collateral != "none") | a.risk_priced).any()


def test_a_secured_loan_between_two_draws_narrows_the_next_firms_capital_room(monkeypatch):
    overrides = {"banks[0].capital": 1e8, "banks[0].max_single_exposure": 10.0, "economy.collection_days": 0,
                 "credit.secured.risk_priced_lending": True}  # secured lending may lend to every firm (may_lend)
    drawn = {}
    for way in ("batched", "one_by_one"):
        model = ParkModel(load_scenario("generic", overrides), seed=1)
        model.step()
        credit, firms = model.credit, model.firms
        rows = firms.live[credit.line_open(firms.live) & (credit.line_limit(firms.live) > 2e6)][:2]
        assert len(rows) == 2

        def secured(row, need, credit=credit):  # lends all but 1,000 yuan of the bank's capital room
            credit.lend(row, Offer(0, credit.capital_room(0) - 1000.0, 0.05, 12, 0.0), "working_capital")
            return need

        monkeypatch.setattr(model.secured_lending, "apply", secured)
        need = np.array([float(credit.line_limit(rows[:1])[0]) + 1e6, 1e6])  # the first firm's line is short
        due = np.array([1e12, 0.0])  # the first firm cannot pay what it must: it turns to secured lending
        if way == "batched":
            drawn[way] = credit.draw_lines(rows, need, np.zeros(2), due)
        else:
            first = sequential_draw(credit, int(rows[0]), need[0], 0.0)
            secured(int(rows[0]), need[0] - first)
            drawn[way] = np.array([first, sequential_draw(credit, int(rows[1]), need[1], 0.0)])
        drawn[way, "loans"] = credit.loans.frame()
    assert drawn["batched"][1] == pytest.approx(1000.0, abs=0.01)  # the second firm gets what the room leaves
    with pytest.raises(ValueError, match="each firm draws once"):
        credit.draw_lines(np.r_[rows, rows[:1]], np.ones(3), np.zeros(3))
    assert same(drawn["batched"], drawn["one_by_one"])
    assert drawn["batched", "loans"].equals(drawn["one_by_one", "loans"])


def test_secured_lending_may_lend_exactly_where_apply_can_lend():
    model = ParkModel(load_scenario("yueyang", {"credit.secured.risk_priced_lending": False}), seed=1)
    for _ in range(6):  # the stock-holding firms buy their warehouse stock
        model.step()
    secured, loans, rows = model.secured_lending, model.credit.loans, model.firms.live
    may = secured.may_lend(rows)
    assert may.any() and not may.all()  # receipts only: the firms of the stock-holding sectors
    for row in rows[~may]:
        made = loans.n
        assert secured.apply(int(row), 1e7) == 0.0 and loans.n == made
    assert sum(secured.apply(int(row), 1e6) > 0 for row in rows[may]) > 0
    risk_priced = ParkModel(load_scenario("yueyang"), seed=1)
    assert risk_priced.secured_lending.may_lend(risk_priced.firms.live).all()


def test_add_many_records_what_one_field_at_a_time_records():
    # add_many tells arrays from plain values by their type (isinstance only for an unusual one): loans made
    # with every kind of value (Python and numpy scalars, arrays, an array subclass) hold what a field-by-field
    # write holds, ended -1 and performing unless the status is given, and arrays of two lengths are refused
    book = LoanBook(capacity=2)
    values = [dict(borrower=3, bank=np.int64(1), principal=np.float64(12.5), rate=0.04, sll=True, tenor=12),
              dict(borrower=np.array([4, 5, 6]), principal=np.array([1.0, 2.0, 3.0]), sll=np.bool_(True),
                   status=STATUSES.index("repaid")),
              dict(borrower=np.ma.masked_array([7, 8], mask=[False, False]), rate=np.float32(0.5)),
              dict(borrower=9, ended=4, status=np.array([STATUSES.index("defaulted")]))]
    for kw in values:
        first = book.n
        rows = book.add_many(**kw)
        k = len(rows)
        assert rows.tolist() == list(range(first, first + k))
        for name in LoanBook.FIELDS:
            expected = kw.get(name, {"ended": -1, "status": STATUSES.index("performing")}.get(name, 0))
            assert (getattr(book, name)[first:first + k] == np.broadcast_to(np.asarray(expected), k)).all(), name
    with pytest.raises(ValueError, match="differ in length"):
        book.add_many(borrower=np.array([1, 2]), principal=np.array([1.0, 2.0, 3.0]))


def test_one_loan_added_to_the_sums_in_plain_numbers_equals_a_new_pass():
    # LoanSums._add_one (one loan, Python numbers) against a new pass over the book after each loan: from an
    # empty book (integer zeros of bincount), every purpose and bank, odd fen amounts, a late borrower
    from ecopark.markets.credit import LoanSums

    model = ParkModel(load_scenario("generic", {**BANKS, "credit.enabled": True}), seed=4)
    credit, rng = model.credit, np.random.default_rng(9)
    rows = model.firms.live
    sums = credit.sums()
    assert sums.debt.dtype.kind == "i"  # an empty book: bincount's integer zeros
    for i in range(40):
        purpose = PURPOSES[int(rng.integers(len(PURPOSES)))] if i else "credit_line"
        amount = float(rng.choice([0.01, 0.07, 1234.57, 3e6 + 0.05, float(rng.uniform(1, 1e7))]))
        offer = Offer(int(rng.integers(len(model.banks))), amount, float(rng.uniform(0.0, 0.2)), 12, 0.0)
        row = int(rows[int(rng.integers(len(rows)))])
        if i == 20:  # a missed instalment on a live loan: the firm is late in the sums extended from here on
            loans = credit.loans
            row = int(loans.borrower[loans.live[0]])
            with loans.editing():
                loans.missed[loans.live[:1]] = 1
            sums = credit.sums()
            assert sums.late[row]
        credit.lend(row, offer, purpose)
        assert credit.sums() is sums  # extended in place by _add_one
        fresh = LoanSums(credit.loans, model.firms.n, len(model.banks))
        for name in ("debt", "service", "line", "late", "exposure_fen", "book_fen"):
            got, want = getattr(sums, name), getattr(fresh, name)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (i, name)


def test_the_live_index_appended_in_its_buffer_equals_a_scan_and_views_handed_out_never_change():
    # new loans are appended to the index's buffer (grown by doubling) rather than concatenated: after each
    # addition (one loan, a batch, none, a loan born repaid) the index equals a scan of the statuses, is
    # read-only, and every index handed out before keeps its rows, across growth and rebuilds
    book, rng = LoanBook(capacity=4), np.random.default_rng(17)
    handed = []
    for i in range(300):
        k = int(rng.choice([0, 1, 1, 1, 3, 40]))
        status = rng.choice([STATUSES.index("performing"), STATUSES.index("repaid")], k, p=[0.8, 0.2])
        if k == 1 and i % 2:
            book.add(borrower=i, bank=0, outstanding_fen=100, status=int(status[0]))
        else:
            book.add_many(borrower=np.full(k, i), bank=np.zeros(k, dtype=int), outstanding_fen=np.full(k, 100),
                          status=status)
        if i % 50 == 49:  # some repaid: the index is rebuilt on the next read
            with book.editing():
                book.status[rng.choice(book.n, 5, replace=False)] = STATUSES.index("repaid")
        live = book.live
        assert live.dtype == np.int64 and not live.flags.writeable
        assert live.tolist() == np.flatnonzero(book.status[: book.n] == STATUSES.index("performing")).tolist()
        handed.append((live, live.tolist()))
    assert all(view.tolist() == rows for view, rows in handed)
