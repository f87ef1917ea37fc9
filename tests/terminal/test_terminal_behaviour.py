"""The terminal against a scripted host on real sockets: what it does when
the host or the network misbehaves in each way the domain names."""

from __future__ import annotations

import socket
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from poslab.iso8583 import IsoMessage, verify
from poslab.mocks.terminal import (
    ConnectionMode,
    Outcome,
    Terminal,
    TerminalConfig,
    TerminalCrashed,
    TerminalStore,
    TransactionMix,
    TxnRecord,
)
from poslab.mocks.terminal.terminal_store import fields_from_json
from poslab.world import World
from tests.terminal.terminal_helpers import Act, FakeHost, MakeTerminal, of_type

FAST = {"response_timeout_s": 0.4, "connect_timeout_s": 0.3, "backoff_base_s": 0.01}
FAST_CAP = {"backoff_cap_s": 0.05}


def config(**overrides: Any) -> TerminalConfig:
    return TerminalConfig(**{**FAST, **FAST_CAP, **overrides})


def once(mti: str, act: Act, *, proc: str | None = None) -> Any:
    """A script that applies ``act`` to the first request with that MTI (and F3)."""
    used: list[bool] = []

    def script(msg: IsoMessage) -> Act | None:
        if msg.mti == mti and (proc is None or msg.text(3) == proc) and not used:
            used.append(True)
            return act
        return None

    return script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_boot_signs_on_and_the_host_verifies_the_sale_mac(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config())
    term.boot()
    sale = term.sale(1_234)
    assert sale.outcome is Outcome.APPROVED and sale.rc == "00" and sale.rrn
    assert fake_host.mtis() == ["0800", "0200"]
    request = fake_host.received[1]
    assert 64 in request.fields and fake_host.status(term.tid, sale.stan) == "approved"
    assert records[0].type.value == "sign_on" and records[0].outcome is Outcome.APPROVED
    assert sale.pan is not None and "*" in sale.pan


def test_a_wrong_check_value_rejects_the_keys(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config(sign_on_tries=2))
    fake_host.tmks[term.tid] = bytes(16)  # the host encrypts under another TMK
    term.boot()
    sign_ons = of_type(records, "sign_on")
    assert sign_ons[0].outcome is Outcome.FAILED and sign_ons[0].reason == "bad_keys"
    assert sign_ons[0].attempts == 2
    sale = term.sale(100)
    assert sale.outcome is Outcome.FAILED and sale.reason == "sign_on"
    assert "0200" not in fake_host.mtis()  # nothing is sent without verified keys


def test_a_reply_whose_mac_fails_is_reversed_with_a0(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config())
    term.boot()
    fake_host.script = once("0200", Act(bad_mac=True))
    sale = term.sale(5_000)
    assert sale.outcome is Outcome.FAILED and sale.reason == "bad_mac"
    assert sale.reversal == "pending"
    balance = term.balance()
    assert balance.outcome is Outcome.APPROVED
    # bad MAC → sign on again, then the reversal (reason A0), then the inquiry
    assert fake_host.mtis()[-3:] == ["0800", "0400", "0200"]
    reversal_msg = fake_host.received[-2]
    assert reversal_msg.text(39) == "A0" and reversal_msg.text(11) == sale.stan
    assert fake_host.status(term.tid, sale.stan) == "reversed"
    reversal = of_type(records, "reversal")[0]
    assert (reversal.outcome, reversal.orig_stan, reversal.rc) == (
        Outcome.APPROVED,
        sale.stan,
        "00",
    )


def test_no_reply_times_out_and_the_reversal_goes_before_the_next_sale(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config(response_timeout_s=0.3))
    term.boot()
    fake_host.script = once("0200", Act(drop=True))
    started = time.monotonic()
    sale = term.sale(7_700)
    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 1.0
    assert (sale.outcome, sale.reason, sale.reversal) == (Outcome.FAILED, "timeout", "pending")
    assert fake_host.status(term.tid, sale.stan) == "approved"  # the customer is debited...
    assert term.sale(100).outcome is Outcome.APPROVED
    assert fake_host.status(term.tid, sale.stan) == "reversed"  # ...until the reversal
    reversal_msg = next(m for m in fake_host.received if m.mti == "0400")
    assert reversal_msg.text(39) == "98" and reversal_msg.text(4) == "000000007700"
    assert 35 not in reversal_msg.fields and 52 not in reversal_msg.fields  # no track, no PIN
    assert verify(_encoded(reversal_msg), term.keys.mak if term.keys else b"")


def _encoded(msg: IsoMessage) -> bytes:
    from poslab.iso8583 import encode

    return encode(msg)


def test_a0_from_the_host_means_sign_on_then_the_same_sale_approved(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    term = make_terminal(config=config())
    term.boot()
    fake_host.script = once("0200", Act(rc="A0"))
    sale = term.sale(2_000)
    assert (sale.outcome, sale.rc, sale.attempts) == (Outcome.APPROVED, "00", 2)
    assert fake_host.mtis()[-3:] == ["0200", "0800", "0200"]
    stans = [m.text(11) for m in fake_host.received if m.mti == "0200"]
    assert len(set(stans)) == 2  # the retry is a new STAN, never a duplicate


def test_retry_later_codes_are_retried_with_backoff_only_when_resilient(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    answers = iter(["91", "96"])

    def script(msg: IsoMessage) -> Act | None:
        return Act(rc=next(answers, None)) if msg.mti == "0200" else None

    fake_host.script = script
    term = make_terminal(config=config())
    term.boot()
    sale = term.sale(3_000)
    assert (sale.outcome, sale.attempts) == (Outcome.APPROVED, 3)
    naive = make_terminal(1, config=config(policy="naive"))
    naive.boot()
    fake_host.script = lambda msg: Act(rc="91") if msg.mti == "0200" else None
    failed = naive.sale(3_000)
    assert (failed.outcome, failed.attempts, failed.reason) == (Outcome.FAILED, 1, "rc_retry")
    assert failed.reversal is None  # 91 is a definite "not booked"


def test_naive_reversal_counts_every_attempt_and_gives_up_at_once(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config(policy="naive", reversal_tries=3, response_timeout_s=0.2))
    term.boot()
    fake_host.script = lambda msg: Act(drop=True) if msg.mti in ("0200", "0400") else None
    sale = term.sale(900)
    assert sale.reversal == "pending"
    blocked = [term.balance() for _ in range(2)]
    assert all(b.reason == "reversal_pending" for b in blocked)
    fake_host.script = lambda msg: Act(drop=True) if msg.mti == "0400" else None
    last = term.balance()  # third try fails: 冲正不成功, and the till works again
    assert last.outcome is Outcome.APPROVED
    reversals = of_type(records, "reversal")
    assert [r.outcome for r in reversals] == [Outcome.FAILED, Outcome.FAILED, Outcome.UNRESOLVED]
    assert [r.attempts for r in reversals] == [1, 2, 3]
    assert term.reversals.pending(term.tid) == []
    # a blocked transaction never left the till, yet it names a STAN of its own
    till = [r.stan for r in records if r.type.value in ("sale", "balance")]
    assert len(set(till)) == len(till) == 4


def test_resilient_reversal_tries_are_spaced_by_backoff(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    base = 0.3
    term = make_terminal(
        config=config(reversal_tries=3, response_timeout_s=0.2, reversal_backoff_base_s=base)
    )
    term.boot()
    fake_host.script = lambda msg: Act(drop=True) if msg.mti in ("0200", "0400") else None
    sale = term.sale(900)
    assert sale.reversal == "pending"
    tried_at = []
    for step in (1, 2):
        blocked = term.balance()  # the try that is due: sent, lost, counted
        assert blocked.reason == "reversal_pending"
        tried_at.append(time.time())
        pending = term.reversals.pending(term.tid)[0]
        assert pending.tries == step
        wait = pending.retry_at - tried_at[-1]
        # half of the step is fixed, half jittered: step n waits base·2^(n-1) · [0.5, 1]
        ceiling = base * 2 ** (step - 1)
        assert ceiling / 2 - 0.05 <= wait <= ceiling + 0.01, (step, wait)
        sent = fake_host.mtis().count("0400")
        early = term.balance()  # not due yet: the till stays blocked, nothing is sent
        assert early.reason == "reversal_pending" and fake_host.mtis().count("0400") == sent
        time.sleep(max(0.0, pending.retry_at - time.time()) + 0.02)
    fake_host.script = lambda msg: Act(drop=True) if msg.mti == "0400" else None
    last = term.balance()  # third delivered try lost: 冲正不成功, then the inquiry goes
    assert last.outcome is Outcome.APPROVED
    reversals = of_type(records, "reversal")
    assert [r.outcome for r in reversals] == [Outcome.FAILED, Outcome.FAILED, Outcome.UNRESOLVED]
    assert [r.attempts for r in reversals] == [1, 2, 3]
    assert reversals[2].ts_start - reversals[0].ts_end >= 1.5 * base - 0.05  # the tries span time


def test_resilient_reversal_tries_that_never_left_do_not_count(
    small_world: World, make_terminal: MakeTerminal, records: list[TxnRecord]
) -> None:
    tmks = {t.tid: bytes.fromhex(t.tmk) for t in small_world.terminals}
    host = FakeHost(tmks)
    port = host.port
    term = make_terminal(
        primary=host.address,
        config=config(reversal_tries=2, response_timeout_s=0.2, reversal_backoff_base_s=0.05),
    )
    term.boot()
    host.script = once("0200", Act(drop=True))
    sale = term.sale(1_200)
    assert sale.reversal == "pending" and host.status(term.tid, sale.stan) == "approved"
    host.close()  # the host is gone: connections are refused, nothing can leave
    try:
        blocked = [term.balance() for _ in range(4)]
        assert all(b.reason == "reversal_pending" for b in blocked)
        undelivered = of_type(records, "reversal")
        assert len(undelivered) == 4 and {r.reason for r in undelivered} == {"connect"}
        assert [r.outcome for r in undelivered] == [Outcome.FAILED] * 4  # never given up
        assert term.reversals.pending(term.tid)[0].tries == 0
        back = FakeHost(tmks, port=port)  # restarted, with no session for the terminal
        back.ledger = host.ledger
        try:
            after = term.balance()
            # A0 (no keys) is not a try either: sign on, send it again, reversed
            assert after.outcome is Outcome.APPROVED
            assert back.mtis() == ["0400", "0800", "0400", "0200"]
            assert back.status(term.tid, sale.stan) == "reversed"
            assert of_type(records, "reversal")[-1].outcome is Outcome.APPROVED
        finally:
            back.close()
    finally:
        term.channel.close()


def test_failover_to_the_backup_path_and_back(
    small_world: World, store: TerminalStore, records: list[TxnRecord], make_terminal: MakeTerminal
) -> None:
    tmks = {t.tid: bytes.fromhex(t.tmk) for t in small_world.terminals}
    backup = FakeHost(tmks)
    primary_port = free_port()
    try:
        term = make_terminal(
            primary=("127.0.0.1", primary_port),
            backup=backup.address,
            config=config(failover_after=2, fail_back_after_s=0.3, connect_tries=3),
        )
        term.boot()
        sign_on = of_type(records, "sign_on")[0]
        assert (sign_on.outcome, sign_on.path) == (Outcome.APPROVED, "backup")
        assert term.sale(100).path == "backup"
        primary = FakeHost(tmks, port=primary_port)  # the primary path comes back
        try:
            time.sleep(0.35)
            sale = term.sale(200)
            assert (sale.outcome, sale.path) == (Outcome.APPROVED, "primary")
            # the primary never saw this terminal sign on: it asks (A0), the
            # terminal signs on there and the sale goes through
            assert primary.mtis() == ["0200", "0800", "0200"]
        finally:
            primary.close()
        naive = make_terminal(
            1,
            primary=("127.0.0.1", free_port()),
            backup=backup.address,
            config=config(policy="naive"),
        )
        naive.boot()
        failed = naive.sale(100)
        assert (failed.outcome, failed.reason, failed.path) == (
            Outcome.FAILED,
            "sign_on",
            "primary",
        )
    finally:
        backup.close()


def _crash_on_sale(terminal: Terminal, msg: IsoMessage) -> None:
    if msg.mti == "0200":
        terminal.crash()


def test_crash_between_send_and_reply_durable_vs_memory(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    for index, policy, reversed_after in ((0, "resilient", True), (1, "naive", False)):
        term = make_terminal(index, config=config(policy=policy, response_timeout_s=2.0))
        term.boot()
        fake_host.script = lambda msg: Act(delay_s=0.3) if msg.mti == "0200" else None
        term.exchanger.on_sent.append(partial(_crash_on_sale, term))
        started = time.monotonic()
        with pytest.raises(TerminalCrashed):
            term.sale(4_321)
        assert time.monotonic() - started < 1.0  # the crash cut the wait short
        sale = [r for r in of_type(records, "sale") if r.tid == term.tid][-1]
        assert (sale.outcome, sale.reason) == (Outcome.FAILED, "crash")
        assert sale.reversal == ("pending" if reversed_after else None)
        term.exchanger.on_sent.clear()
        fake_host.script = lambda msg: None
        time.sleep(0.35)  # the host books the sale after the device died
        term.reboot()
        assert term.keys is not None
        expected = "reversed" if reversed_after else "approved"
        assert fake_host.status(term.tid, sale.stan) == expected, policy


def test_stan_is_never_reused_after_a_crash(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    term = make_terminal(config=config())
    term.boot()
    used = {term.sale(100).stan for _ in range(3)}
    term.crash()
    term.reboot()
    later = {term.sale(100).stan for _ in range(3)}
    assert not used & later
    sent = [m.text(11) for m in fake_host.received if m.mti in ("0200", "0800")]
    assert len(sent) == len(set(sent))


def test_settlement_balanced_then_mismatch_uploads_details(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=config())
    term.boot()
    for amount in (1_000, 2_000, 3_000):
        term.sale(amount)
    settled = term.settle()
    assert settled.outcome is Outcome.APPROVED and settled.attempts == 1
    assert term.batch == "000002" and term.store.log_entries(term.tid, "000001") == []
    sales = [term.sale(a) for a in range(100, 1_100, 100)]  # 10 records: two 0320s of details
    fake_host.script = once("0500", Act(recon=2))
    mismatch = term.settle()
    assert mismatch.outcome is Outcome.APPROVED and mismatch.batch == "000002"
    uploads = [m for m in fake_host.received if m.mti == "0320"]
    assert [m.text(60)[8:11] for m in uploads] == ["201", "201", "202"]  # type: ignore[index]
    assert uploads[0].text(48).startswith("08") and uploads[1].text(48).startswith("02")  # type: ignore[union-attr]
    assert (
        {s.stan for s in sales}
        <= {m.text(48)[4:10] for m in uploads[:1]}  # type: ignore[index]
        | {
            m.text(48)[2 + 40 * i + 2 : 2 + 40 * i + 8]  # type: ignore[index]
            for m in uploads[:2]
            for i in range(int(m.text(48)[:2]))  # type: ignore[index]
        }
    )
    assert term.batch == "000003"


def test_host_requests_in_the_header_nibble(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    class Agent:
        last_path = "backup"

        def __init__(self) -> None:
            self.fail = True

        def poll_tms(self, tid: str) -> dict[str, str]:
            if self.fail:
                raise ConnectionError("agent down")
            return {"latest_software": "020300"}

        def download_software(self, tid: str, version: str) -> bytes:
            return b"package"

    agent = Agent()
    term = make_terminal(
        config=config(tms_retry_s=0.0, mix=TransactionMix(1.0, 0, 0, 0)),
        agent=agent,
    )  # type: ignore[arg-type]
    term.boot()
    fake_host.script = once("0200", Act(nibble=6))
    assert term.run_next().outcome is Outcome.APPROVED  # the sale is not failed for it
    term.run_next()
    tms = of_type(records, "tms")
    assert tms[0].outcome is Outcome.FAILED and tms[0].reason == "agent: ConnectionError"
    agent.fail = False
    term.run_next()
    assert of_type(records, "tms")[-1].outcome is Outcome.APPROVED
    assert of_type(records, "tms")[-1].path == "backup"
    assert fake_host.received[-1].header.software_version == "020300"
    fake_host.script = once("0200", Act(nibble=3))
    term.sale(100)
    term.sale(100)
    assert fake_host.mtis()[-3:] == ["0200", "0800", "0200"]


def test_kept_connection_skips_a_late_reply(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    term = make_terminal(config=config(connection=ConnectionMode.KEPT))
    term.boot()
    fake_host.script = once("0200", Act(stale_first=True))
    results = [term.sale(100 + i) for i in range(5)]
    assert all(r.outcome is Outcome.APPROVED for r in results)
    assert fake_host.connections == 1
    short = make_terminal(1, config=config())
    short.boot()
    short.sale(100)
    assert fake_host.connections == 3  # short mode: a connection per transaction


def test_store_file_holds_only_what_a_device_may_keep(
    make_terminal: MakeTerminal, fake_host: FakeHost, tmp_path: Path
) -> None:
    term = make_terminal(config=config())
    term.boot()
    fake_host.script = once("0200", Act(drop=True))
    term.sale(100)
    pending = term.reversals.pending(term.tid)[0]
    stored = fields_from_json(pending.fields)
    assert pending.pan is not None and "*" in pending.pan
    assert not {35, 52, 55, 64} & set(stored)
    assert stored[2] == term.shopper.card_for(stored[2]).pan  # type: ignore[arg-type]
