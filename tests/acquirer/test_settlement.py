"""Settlement (0500), batch upload (0320), the settlement worker, and the
money: fees and payouts checked to the fen against figures computed here,
independently of the acquirer's code."""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.iso8583 import BatchDetail, CardTotals, SettlementTotals
from tests.acquirer.conftest import Stack, start_stack
from tests.acquirer.terminal_client import TerminalClient

# A business day of 1.5 s, its cut half-way through, T+1 payouts, batches
# closed host-side once they lived through two cuts: a few days per test.
FAST_DAYS: dict[str, Any] = {
    "day_seconds": 1.5,
    "day_cut": "12:00",
    "payout_lag_days": 1,
    "d0_lag_days": 0,
    "batch_max_days": 2,
    "settlement_tick_s": 0.05,
}


def _wait_for(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _batch(stack: Stack, tid: str, batch: str) -> dict[str, Any] | None:
    rows = [b for b in stack.acquirer.export("batches") if b["tid"] == tid and b["batch"] == batch]
    return rows[0] if rows else None


def _codes(reply_48: str) -> tuple[int, int]:
    totals = SettlementTotals.parse(reply_48)
    return totals.domestic.reconciliation, totals.foreign.reconciliation


def _ring_up(client: TerminalClient, stack: Stack) -> tuple[list[tuple[str, int]], CardTotals]:
    """Two sales, a void of one, a refund on the other: the (STAN, amount) rows
    that count and the totals a correct terminal reports."""
    card = stack.cards(client.terminal)[0]
    sale1 = client.sale(card, 1_000)
    sale2 = client.sale(card, 2_500)
    void = client.void(card, 1_000, sale1)
    refund = client.refund(card, 500, sale2)
    assert [r.text(39) for r in (sale1, sale2, void, refund)] == ["00"] * 4
    rows = [
        (r.require(11), amount)
        for r, amount in ((sale1, 1_000), (sale2, 2_500), (void, 1_000), (refund, 500))
    ]
    return rows, CardTotals(3_500, 2, 1_500, 2)


def _details(
    client: TerminalClient, stack: Stack, rows: list[tuple[str, int]]
) -> list[BatchDetail]:
    pan = stack.cards(client.terminal)[0].pan
    return [BatchDetail(card_org="00", stan=stan, pan=pan, amount=amount) for stan, amount in rows]


def test_balanced_settlement_closes_the_batch(host: Stack) -> None:
    client = host.signed_on()
    _, totals = _ring_up(client, host)
    reply = client.settle(totals)
    assert reply.mti == "0510" and reply.text(39) == "00"
    assert _codes(reply.require(48)) == (1, 1)
    batch = _wait_for(
        "the worker to close the batch",
        lambda: (
            (b := _batch(host, client.terminal.tid, client.batch)) and b["status"] == "closed" and b
        ),
    )
    assert batch["closed_by"] == "terminal" and batch["recon_code"] == 1
    assert (batch["host_debit_amount"], batch["host_debit_count"]) == (3_500, 2)
    assert (batch["host_credit_amount"], batch["host_credit_count"]) == (1_500, 2)
    assert batch["terminal_totals"] == {
        "debit_amount": 3_500,
        "debit_count": 2,
        "credit_amount": 1_500,
        "credit_count": 2,
    }
    # a repeated 0500 (its reply was lost) gets the same answer
    again = client.exchange(client.last_request)  # type: ignore[arg-type]
    assert _codes(again.require(48)) == (1, 1)


def test_unbalanced_settlement_resolved_by_batch_upload(host: Stack) -> None:
    client = host.signed_on()
    rows, totals = _ring_up(client, host)
    wrong = CardTotals(totals.debit_amount - 1_000, 1, totals.credit_amount, totals.credit_count)
    reply = client.settle(wrong)
    assert _codes(reply.require(48))[0] == 2
    details = _details(client, host, rows)
    assert client.upload(details[:2]).text(39) == "00"
    assert client.upload(details[2:]).text(39) == "00"
    final = client.upload([], final=True)
    assert final.mti == "0330" and final.text(39) == "00"
    batch = _wait_for(
        "the re-reconciled batch",
        lambda: (
            (b := _batch(host, client.terminal.tid, client.batch)) and b["status"] == "closed" and b
        ),
    )
    assert batch["uploaded"] == 4 and batch["recon_code"] == 1
    assert batch["terminal_totals"]["debit_amount"] == 2_500


def test_upload_that_misses_a_transaction_stays_unbalanced(host: Stack) -> None:
    client = host.signed_on()
    rows, _ = _ring_up(client, host)
    assert _codes(client.settle(CardTotals(1, 1, 0, 0)).require(48))[0] == 2
    client.upload(_details(client, host, rows[:3]))
    # a retransmitted 0320 is not stored twice
    client.exchange(client.last_request)  # type: ignore[arg-type]
    client.upload([], final=True)
    batch = _wait_for("the batch", lambda: _batch(host, client.terminal.tid, client.batch))
    assert batch["uploaded"] == 3 and batch["recon_code"] == 2


def test_forced_mismatch_then_upload(host: Stack) -> None:
    client = host.signed_on()
    rows, totals = _ring_up(client, host)
    host.acquirer.fault("force_mismatch", share=1.0)
    assert _codes(client.settle(totals).require(48))[0] == 2
    client.upload(_details(client, host, rows))
    client.upload([], final=True)
    batch = _wait_for(
        "the batch",
        lambda: (
            (b := _batch(host, client.terminal.tid, client.batch)) and b["status"] == "closed" and b
        ),
    )
    assert batch["recon_code"] == 1


def test_stalled_settlement_queues_batches_without_loss(host: Stack) -> None:
    client = host.signed_on()
    _, totals = _ring_up(client, host)
    host.acquirer.fault("stall_settlement")
    assert _codes(client.settle(totals).require(48)) == (1, 1)
    time.sleep(0.5)  # several worker ticks: nothing may close while stalled
    assert _batch(host, client.terminal.tid, client.batch)["status"] == "open"  # type: ignore[index]
    state = host.acquirer.get("/admin/state").json()
    assert state["settlement_backlog"] >= 1 and state["settlement_stalled"] is True
    assert (
        "acquirer_settlement_backlog 1" in host.acquirer.get("/metrics").text
        or state["settlement_backlog"] > 1
    )
    assert host.acquirer.post("/admin/settlement/run").status_code == 409
    host.acquirer.delete("/admin/faults/stall_settlement")
    batch = _wait_for(
        "the backlog to drain",
        lambda: (
            (b := _batch(host, client.terminal.tid, client.batch)) and b["status"] == "closed" and b
        ),
    )
    assert batch["closed_by"] == "terminal"
    assert host.acquirer.get("/admin/state").json()["settlement_backlog"] == 0


# -- the calendar: day cut, T+1, fees -------------------------------------------


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("fast-days"), FAST_DAYS)
    yield running
    running.stop()


def _ppm(amount: int, ppm: int) -> int:
    """amount × ppm / 10⁶, half up, symmetric: written here, not imported."""
    sign = -1 if amount < 0 else 1
    q, r = divmod(abs(amount) * ppm, 1_000_000)
    return sign * (q + (1 if r * 2 >= 1_000_000 else 0))


def _expected_fee(stack: Stack, amount: int, kind: str, mid: str) -> int:
    fees = stack.world.fees
    if kind == "credit":
        fee = _ppm(amount, fees.credit_ppm)
    else:
        fee = max(-fees.debit_cap_fen, min(fees.debit_cap_fen, _ppm(amount, fees.debit_ppm)))
    if stack.world.merchant(mid).fee_class == "d0":  # type: ignore[union-attr]
        fee += _ppm(amount, fees.d0_surcharge_ppm)
    return fee


def _sale_until_booked(client: TerminalClient, card: Any, amount: int) -> Any:
    """A sale; a 77 (the cut closed the batch meanwhile) means sign on and retry."""
    for _ in range(5):
        reply = client.sale(card, amount)
        if reply.text(39) != "77":
            return reply
        client.sign_on()
    raise AssertionError("the batch kept closing under the test")


def test_fees_and_payouts_are_exact_to_the_fen(fast: Stack) -> None:
    world = fast.world

    def rich_debit(t: Any) -> Any:
        return next(
            (c for c in fast.cards(t) if c.kind == "debit" and c.balance_fen > 700_000), None
        )

    def pick(fee_class: str) -> Any:
        return next(
            t
            for t in world.terminals[3:33]
            if world.merchant(t.mid).fee_class == fee_class  # type: ignore[union-attr]
            and rich_debit(t)
        )

    d0, standard = pick("d0"), pick("standard")
    amounts = [1, 2, 83, 167, 199, 999, 12_345]  # the half-fen rounding edges
    for terminal in (d0, standard):
        client = TerminalClient(fast.acquirer.main, terminal)
        client.sign_on()
        cards = fast.cards(terminal)
        for i, amount in enumerate(amounts):
            reply = _sale_until_booked(client, cards[i % len(cards)], amount)
            assert reply.text(39) == "00", reply
        # 0.50 % of 6,000 yuan is above the 25-yuan debit cap
        assert _sale_until_booked(client, rich_debit(terminal), 600_001).text(39) == "00"
        # a void and a refund move money back, with negative fees
        card = cards[0]
        sale = _sale_until_booked(client, card, 40_000)
        if sale.text(39) == "00":
            assert client.void(card, 40_000, sale).text(39) in ("00", "77")
        sale = _sale_until_booked(client, card, 30_000)
        if sale.text(39) == "00":
            assert client.refund(card, 10_000, sale).text(39) in ("00", "77")
    mids = {d0.mid, standard.mid}

    def settled() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        rows = [r for r in fast.acquirer.export("transactions") if r["mid"] in mids]
        money = [r for r in rows if _signed(r) != 0]
        if not money or any(r["settle_date"] is None for r in money):
            return None
        return rows, [p for p in fast.acquirer.export("payouts") if p["mid"] in mids]

    rows, payouts = _wait_for("every row to be paid out", settled, timeout=30)
    expected: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"gross": 0, "fees": 0, "fee_detail": {"credit": 0, "debit": 0, "qr": 0}}
    )
    for row in rows:
        signed = _signed(row)
        if not signed:
            assert row["settle_date"] is None or row["type"] in ("sale", "void", "refund")
            continue
        fee = _expected_fee(fast, signed, row["card_kind"], row["mid"])
        bucket = expected[(row["mid"], row["settle_date"])]
        bucket["gross"] += signed
        bucket["fees"] += fee
        bucket["fee_detail"][row["card_kind"]] += fee
    paid: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"gross": 0, "fees": 0, "net": 0, "fee_detail": {"credit": 0, "debit": 0, "qr": 0}}
    )
    for payout in payouts:
        bucket = paid[(payout["mid"], payout["settle_date"])]
        for name in ("gross", "fees", "net"):
            bucket[name] += payout[name]
        for kind, fee in payout["fee_detail"].items():
            bucket["fee_detail"][kind] += fee
        assert payout["net"] == payout["gross"] - payout["fees"]
    assert set(paid) == set(expected)
    for key, want in expected.items():
        got = paid[key]
        assert (got["gross"], got["fees"], got["fee_detail"]) == (
            want["gross"],
            want["fees"],
            want["fee_detail"],
        ), key
        assert got["net"] == want["gross"] - want["fees"]
    # the debit cap was hit (and the D0 surcharge came on top of it)
    capped = [r for r in rows if r["amount"] == 600_001]
    assert len(capped) == 2
    assert {_expected_fee(fast, 600_001, "debit", r["mid"]) for r in capped} == {
        world.fees.debit_cap_fen,
        world.fees.debit_cap_fen + _ppm(600_001, world.fees.d0_surcharge_ppm),
    }


def _signed(row: dict[str, Any]) -> int:
    if row["type"] == "sale" and row["status"] in ("approved", "voided"):
        return int(row["amount"])
    if row["type"] in ("void", "refund") and row["status"] == "approved":
        return -int(row["amount"])
    return 0


def test_a_terminal_that_never_settles_is_paid_and_its_batch_closed_at_the_cut(fast: Stack) -> None:
    terminal = fast.world.terminals[33]
    client = TerminalClient(fast.acquirer.main, terminal)
    client.sign_on()
    card = fast.cards(terminal)[0]
    reply = _sale_until_booked(client, card, 8_800)
    assert reply.text(39) == "00"
    batch = reply.require(60)[2:8]
    closed = _wait_for(
        "the host-side cut",
        lambda: (b := _batch(fast, terminal.tid, batch)) and b["status"] == "closed" and b,
    )
    assert closed["closed_by"] == "host_cut" and closed["recon_code"] is None
    assert closed["terminal_totals"] is None and closed["host_debit_amount"] == 8_800
    assert client.sale(card, 100).text(39) == "77"  # its batch drifted
    _wait_for(
        "the payout",
        lambda: any(
            r["rrn"] == reply.require(37) and r["settle_date"]
            for r in fast.acquirer.export("transactions")
        ),
    )


def test_a_late_reversal_after_payout_is_paid_back_as_an_adjustment(fast: Stack) -> None:
    terminal = fast.world.terminals[34]
    client = TerminalClient(fast.acquirer.main, terminal)
    client.sign_on()
    card = fast.cards(terminal)[0]
    reply = _sale_until_booked(client, card, 6_600)
    assert reply.text(39) == "00"
    request = client.last_request
    rrn = reply.require(37)
    row = _wait_for(
        "the payout",
        lambda: next(
            (
                r
                for r in fast.acquirer.export("transactions")
                if r["rrn"] == rrn and r["settle_date"]
            ),
            None,
        ),
    )
    assert client.reverse(request).text(39) == "00"  # type: ignore[arg-type]

    def adjusted() -> dict[str, Any] | None:
        return next(
            (
                p
                for p in fast.acquirer.export("payouts")
                if p["mid"] == terminal.mid
                and p["settle_date"] == row["settle_date"]
                and p["adjustments"] >= 1
            ),
            None,
        )

    payout = _wait_for("the adjustment", adjusted)
    # the day's one payout row now pays exactly what its rows are worth, without the sale
    rows = [
        r
        for r in fast.acquirer.export("transactions")
        if r["mid"] == terminal.mid and r["settle_date"] == row["settle_date"]
    ]
    assert any(r["rrn"] == rrn and r["status"] == "reversed" for r in rows)
    gross = sum(_signed(r) for r in rows)
    fees = sum(
        _expected_fee(fast, _signed(r), r["card_kind"], r["mid"]) for r in rows if _signed(r)
    )
    assert (payout["gross"], payout["fees"], payout["net"]) == (gross, fees, gross - fees)
    assert payout["count"] == sum(1 for r in rows if _signed(r))
    assert (
        len(
            [
                p
                for p in fast.acquirer.export("payouts")
                if (p["mid"], p["settle_date"]) == (terminal.mid, row["settle_date"])
            ]
        )
        == 1
    )


def test_the_scorer_accepts_the_exports(fast: Stack, tmp_path: Path) -> None:
    """The consumer's view: poslab/scoring reads these exports and finds nothing wrong
    (payouts, batch totals, cardholder holds), with payouts actually checked."""
    from poslab.scoring.fees import load_fees
    from poslab.scoring.ledger_side import read_ledger_side

    # let every day that has passed be paid and every owed advice land
    _wait_for("payouts", lambda: fast.acquirer.export("payouts"))
    _wait_for("advices", lambda: fast.acquirer.get("/admin/state").json()["advices_pending"] == 0)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    for name in ("transactions", "batches", "payouts"):
        rows = fast.acquirer.export(name)
        (ledger / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    issuer_rows = fast.issuer.export("issuer")
    (ledger / "issuer.jsonl").write_text("".join(json.dumps(r) + "\n" for r in issuer_rows))
    shutil.copy(fast.world_path, tmp_path / "world.json")
    fees, note = load_fees(tmp_path)
    assert fees is not None, note
    side = read_ledger_side(ledger, fees, note, example_limit=5)
    assert side is not None
    for kind, check in side.checks.items():
        assert (check.status, check.count) == ("passed", 0), (kind, check.examples, check.note)
    assert side.state.payouts_available


def test_settlement_reports_the_work_due_by_a_time_until_it_is_done(fast: Stack) -> None:
    """``GET /admin/settlement?by=T``: what a run's drain waits for before the export."""
    terminal = fast.world.terminals[35]
    client = TerminalClient(fast.acquirer.main, terminal)
    client.sign_on()
    reply = _sale_until_booked(client, fast.cards(terminal)[0], 4_200)
    assert reply.text(39) == "00"
    # Two days and a tick from now: the batch (never settled) is cut host-side
    # and the sale's T+1 payout falls due, whatever the phase of the day.
    by = time.time() + 3 * FAST_DAYS["day_seconds"] + 0.2
    first = fast.acquirer.get("/admin/settlement", params={"by": by}).json()
    assert first["by"] == by and first["stalled"] is False
    assert first["cut_closes"] >= 1 and first["payouts_due"] >= 1 and first["done"] is False
    # Nothing booked now is due at once: T+1 is a day away at least.
    now = fast.acquirer.get("/admin/settlement", params={"by": time.time()}).json()
    assert now["payouts_due"] == 0 or now["payouts_due"] < first["payouts_due"]
    done = _wait_for(
        "the settlement due by then",
        lambda: (
            (s := fast.acquirer.get("/admin/settlement", params={"by": by}).json())["done"] and s
        ),
        timeout=15,
    )
    assert (done["backlog"], done["cut_closes"], done["payouts_due"]) == (0, 0, 0)
    assert time.time() <= by + 2.0, "done only once the work was really done, not long after"
    row = next(r for r in fast.acquirer.export("transactions") if r["rrn"] == reply.require(37))
    assert row["settle_date"] is not None
    batch = _batch(fast, terminal.tid, reply.require(60)[2:8])
    assert batch is not None and batch["status"] == "closed"


def test_settlement_counts_the_backlog_of_settled_batches(host: Stack) -> None:
    client = host.signed_on()
    _, totals = _ring_up(client, host)
    host.acquirer.fault("stall_settlement")
    try:
        assert _codes(client.settle(totals).require(48)) == (1, 1)
        state = host.acquirer.get("/admin/settlement").json()
        assert state["stalled"] is True and state["backlog"] >= 1 and state["done"] is False
    finally:
        host.acquirer.delete("/admin/faults/stall_settlement")
    _wait_for(
        "the backlog to be closed",
        lambda: host.acquirer.get("/admin/settlement").json()["backlog"] == 0,
    )
    for bad in ("soon", "nan", "inf"):
        answer = host.acquirer.get("/admin/settlement", params={"by": bad})
        assert answer.status_code == 400 and "by must be" in answer.json()["error"]
