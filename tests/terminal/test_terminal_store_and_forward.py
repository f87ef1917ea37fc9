"""Refunds without an answer go to store-and-forward (resilient terminals),
against the scripted host on real sockets; the real acquirer's duplicate
replay is in test_terminal_acquirer.py."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from poslab.iso8583 import IsoMessage
from poslab.mocks.terminal import Outcome, Terminal, TerminalConfig, TerminalCrashed, TxnRecord
from tests.terminal.terminal_helpers import Act, FakeHost, MakeTerminal, of_type

FAST = {"response_timeout_s": 0.3, "connect_timeout_s": 0.3, "backoff_base_s": 0.01}


def _terminal(make: MakeTerminal, index: int = 0, **overrides: Any) -> Terminal:
    term = make(index, config=TerminalConfig(**{**FAST, "backoff_cap_s": 0.05, **overrides}))
    term.boot()
    return term


def _refundable(term: Terminal) -> Terminal:
    sale = term.sale(5_000)
    assert sale.outcome is Outcome.APPROVED and term.recent_sales
    return term


def _refund_unanswered(
    make: MakeTerminal, fake_host: FakeHost, amount: int, act: Act | None = None, **config: Any
) -> tuple[Terminal, TxnRecord]:
    """A terminal that sold, then a refund of ``amount`` whose 0220 the host
    meets with ``act`` (default: booked, reply lost) — until the test says otherwise."""
    term = _refundable(_terminal(make, **config))
    lost = act or Act(drop=True)
    fake_host.script = lambda msg: lost if msg.mti == "0220" else None
    return term, term.refund(term.recent_sales[-1], amount)


def _refunds(fake_host: FakeHost) -> list[IsoMessage]:
    return [m for m in fake_host.received if m.mti == "0220"]


def test_a_lost_refund_reply_is_retransmitted_unchanged_before_the_next_sale(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term, refund = _refund_unanswered(make_terminal, fake_host, 1_500)
    assert (refund.outcome, refund.reason, refund.saf) == (Outcome.FAILED, "timeout", "pending")
    assert fake_host.status(term.tid, refund.stan) == "approved"  # the customer is credited
    assert term.recent_sales == type(term.recent_sales)()  # the merchant does not refund it again
    assert [e.stan for e in term.saf.pending(term.tid)] == [refund.stan]  # type: ignore[union-attr]

    fake_host.script = lambda msg: None
    sale = term.sale(700)
    assert sale.outcome is Outcome.APPROVED
    assert fake_host.mtis()[-2:] == ["0220", "0200"]  # the queue goes first
    first, again = _refunds(fake_host)
    for field in (3, 4, 11, 37, 41, 42, 60, 61):
        assert again.fields.get(field) == first.fields.get(field), field
    assert 35 not in again.fields and again.text(2) == first.text(35).partition("D")[0]  # type: ignore[union-attr]
    resend = [r for r in of_type(records, "refund") if r.retransmission]
    assert len(resend) == 1
    assert (resend[0].stan, resend[0].batch, resend[0].amount) == (
        refund.stan,
        refund.batch,
        refund.amount,
    )
    assert (resend[0].outcome, resend[0].saf, resend[0].attempts) == (Outcome.APPROVED, None, 1)
    assert term.saf.pending(term.tid) == []  # type: ignore[union-attr]
    # the refund joined the batch: the settlement totals agree with the host's
    logged = {e.stan: e.type for e in term.store.log_entries(term.tid, term.batch)}
    assert logged[refund.stan] == "refund"
    settled = term.settle()
    assert settled.outcome is Outcome.APPROVED and fake_host.mtis()[-1] == "0500"
    assert not [m for m in fake_host.received if m.mti == "0320"]  # balanced at once


def test_a_refund_the_host_never_saw_is_booked_when_forwarded(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term, refund = _refund_unanswered(make_terminal, fake_host, 900, Act(close=True))
    assert (refund.outcome, refund.reason, refund.saf) == (Outcome.FAILED, "reset", "pending")
    assert fake_host.status(term.tid, refund.stan) is None
    fake_host.script = lambda msg: None
    assert term.balance().outcome is Outcome.APPROVED
    assert fake_host.status(term.tid, refund.stan) == "approved"
    resend = [r for r in of_type(records, "refund") if r.retransmission]
    assert [(r.stan, r.outcome) for r in resend] == [(refund.stan, Outcome.APPROVED)]


def test_the_queue_retries_until_a_definite_answer_without_blocking_the_till(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = _refundable(_terminal(make_terminal))
    answers = iter([Act(drop=True), Act(rc="96"), Act(drop=True)])
    fake_host.script = lambda msg: next(answers, None) if msg.mti == "0220" else None
    refund = term.refund(term.recent_sales[-1], 800)
    assert refund.saf == "pending"
    sales = [term.sale(100 + i) for i in range(3)]
    assert all(s.outcome is Outcome.APPROVED for s in sales)  # the till keeps selling
    resend = [r for r in of_type(records, "refund") if r.retransmission]
    assert [(r.outcome, r.rc, r.saf) for r in resend] == [
        (Outcome.FAILED, "96", "pending"),  # retry later: still queued
        (Outcome.FAILED, None, "pending"),  # lost again
        (Outcome.APPROVED, "00", None),
    ]
    assert [r.attempts for r in resend] == [1, 2, 3]
    assert {r.stan for r in resend} == {refund.stan}


def test_a_definite_decline_ends_the_queue(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = _refundable(_terminal(make_terminal))
    fake_host.script = once_then("0220", Act(drop=True), Act(rc="13"))
    refund = term.refund(term.recent_sales[-1], 800)
    assert refund.saf == "pending"
    term.balance()
    resend = [r for r in of_type(records, "refund") if r.retransmission][-1]
    assert (resend.outcome, resend.rc, resend.saf) == (Outcome.DECLINED, "13", None)
    assert term.saf.pending(term.tid) == []  # type: ignore[union-attr]
    assert all(e.type != "refund" for e in term.store.log_entries(term.tid, term.batch))


def once_then(mti: str, first: Act, then: Act) -> Any:
    seen: list[bool] = []

    def script(msg: IsoMessage) -> Act | None:
        if msg.mti != mti:
            return None
        act = then if seen else first
        seen.append(True)
        return act

    return script


def test_settlement_sends_the_queue_first_and_waits_for_it(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term, refund = _refund_unanswered(make_terminal, fake_host, 2_000)
    settled = term.settle()  # the refund is still unanswered: no 0500 with wrong totals
    assert (settled.outcome, settled.reason) == (Outcome.FAILED, "saf_pending")
    assert "0500" not in fake_host.mtis()
    fake_host.script = lambda msg: None
    settled = term.settle()
    assert settled.outcome is Outcome.APPROVED
    assert fake_host.mtis()[-2:] == ["0220", "0500"]
    assert not [m for m in fake_host.received if m.mti == "0320"]  # the totals agreed
    assert fake_host.totals(term.tid, refund.batch).credit_amount == 2_000


def test_a_queued_refund_survives_a_crash_and_goes_at_boot(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = _refundable(_terminal(make_terminal))
    term.exchanger.on_sent.append(lambda msg: term.crash() if msg.mti == "0220" else None)
    with pytest.raises(TerminalCrashed):
        term.refund(term.recent_sales[-1], 1_000)
    term.exchanger.on_sent.clear()
    refund = of_type(records, "refund")[-1]
    assert (refund.outcome, refund.reason, refund.saf) == (Outcome.FAILED, "crash", "pending")
    sign_ons = fake_host.mtis().count("0800")
    term.reboot()
    resend = [r for r in of_type(records, "refund") if r.retransmission]
    assert [(r.stan, r.outcome) for r in resend] == [(refund.stan, Outcome.APPROVED)]
    # At boot: one sign-on, then the resend. The host may log the crashed
    # connection's 0220 after the new sign-on (two connections race), so the
    # order is checked on what the rebooted terminal sent, not on the host's log.
    mtis = fake_host.mtis()
    last_sign_on = len(mtis) - 1 - mtis[::-1].index("0800")
    assert mtis.count("0800") == sign_ons + 1
    assert mtis[-1] == "0220" and last_sign_on < len(mtis) - 1


def test_a_crash_during_a_retransmission_leaves_the_refund_queued(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term, refund = _refund_unanswered(make_terminal, fake_host, 1_000)
    fake_host.script = lambda msg: None
    term.exchanger.on_sent.append(lambda msg: term.crash() if msg.mti == "0220" else None)
    with pytest.raises(TerminalCrashed):
        term.sale(100)
    term.exchanger.on_sent.clear()
    cut = [r for r in of_type(records, "refund") if r.retransmission]
    assert [(r.outcome, r.reason, r.saf) for r in cut] == [(Outcome.FAILED, "crash", "pending")]
    term.reboot()
    resend = [r for r in of_type(records, "refund") if r.retransmission][-1]
    assert (resend.stan, resend.outcome, resend.saf) == (refund.stan, Outcome.APPROVED, None)


def test_naive_terminals_have_no_queue(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term, refund = _refund_unanswered(make_terminal, fake_host, 1_500, policy="naive")
    assert term.saf is None
    assert (refund.outcome, refund.saf) == (Outcome.FAILED, None)
    fake_host.script = lambda msg: None
    term.sale(300)
    assert len(_refunds(fake_host)) == 1  # never sent again: the merchant thinks it failed
    assert fake_host.status(term.tid, refund.stan) == "approved"
    assert not [r for r in records if r.retransmission]


def test_a_refund_that_never_left_is_not_queued(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    term = _refundable(_terminal(make_terminal))
    with socket.socket() as closed:  # a port nobody listens on: the path is gone
        closed.bind(("127.0.0.1", 0))
        term.paths.addresses[term.paths.current] = closed.getsockname()
    refund = term.refund(term.recent_sales[-1], 1_500)
    assert (refund.outcome, refund.reason, refund.saf) == (Outcome.FAILED, "connect", None)
    assert term.saf.pending(term.tid) == []  # type: ignore[union-attr]
