"""What the terminal's cost cuts (issue 16 items 4 and 6) must not weaken.

- the reversal record is in the flash file, sealed, before the request's
  bytes reach the socket: read through a second connection, as a restarted
  process would;
- an approved sale leaves nothing pending, so the next sale skips the store
  lookup; a reversal still pending is still delivered first;
- a held terminal's memory structures start empty and stay bounded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from poslab.mocks.terminal import (
    Address,
    Outcome,
    SocketChannel,
    TerminalConfig,
    TerminalStore,
    TxnRecord,
)
from poslab.mocks.terminal.terminal_store import fields_from_json
from tests.terminal.terminal_helpers import Act, FakeHost, MakeTerminal, of_type

FAST = TerminalConfig(
    response_timeout_s=0.4, connect_timeout_s=0.3, backoff_base_s=0.01, backoff_cap_s=0.05
)


class WatchingChannel(SocketChannel):
    """A socket channel that looks into the flash file just before each write."""

    def __init__(self, flash: Path) -> None:
        super().__init__(connect_timeout_s=0.3)
        self.flash = flash
        self.seen: list[tuple[str, list[tuple[str, str]]]] = []

    def send(self, address: Address, payload: bytes) -> None:
        # another connection: only what was committed to the file is visible
        db = sqlite3.connect(str(self.flash))
        try:
            rows = db.execute("SELECT stan, fields FROM reversals").fetchall()
        finally:
            db.close()
        self.seen.append((payload[:4].decode("ascii", "replace"), rows))
        super().send(address, payload)


def test_the_reversal_is_on_disk_and_sealed_before_the_socket_write(
    make_terminal: MakeTerminal, store: TerminalStore, fake_host: FakeHost
) -> None:
    channel = WatchingChannel(store.path)
    term = make_terminal(config=FAST, channel=channel)
    term.boot()
    channel.seen.clear()
    record = term.sale(1_234)
    assert record.outcome is Outcome.APPROVED
    sale_writes = [rows for _, rows in channel.seen if rows]
    assert len(sale_writes) == 1, channel.seen  # the 0200's write, and only it
    [(stan, sealed)] = sale_writes[0]
    assert stan == record.stan
    assert sealed.startswith("sealed:v1:")  # no PAN in clear in the file
    fields = fields_from_json(store.unseal(sealed))
    assert fields[39] == "98" and 52 not in fields and 35 not in fields
    # a definite reply removed it from the file
    assert store.execute("SELECT COUNT(*) FROM reversals")[0][0] == 0


def test_after_an_approval_the_next_sale_skips_the_lookup_but_a_kept_reversal_goes_first(
    make_terminal: MakeTerminal, fake_host: FakeHost, records: list[TxnRecord]
) -> None:
    term = make_terminal(config=FAST)
    term.boot()
    assert term.sale(500).outcome is Outcome.APPROVED
    assert not term.reversals_maybe_pending  # nothing left: no SELECT before the next sale
    # the host books the next sale but its reply is lost: the reversal stays
    fake_host.script = lambda msg: Act(drop=True) if msg.mti == "0200" else None
    lost = term.sale(600)
    assert lost.reversal == "pending" and term.reversals_maybe_pending
    fake_host.script = lambda msg: None
    assert term.sale(700).outcome is Outcome.APPROVED
    reversals = [r for r in of_type(records, "reversal") if r.orig_stan == lost.stan]
    assert [r.outcome for r in reversals] == [Outcome.APPROVED]
    assert fake_host.status(term.tid, lost.stan) == "reversed"
    assert not term.reversals_maybe_pending
    assert term.reversals.pending(term.tid) == []


def test_a_till_remembers_a_bounded_number_of_recent_sales(
    make_terminal: MakeTerminal, fake_host: FakeHost
) -> None:
    term = make_terminal(config=FAST)
    assert term.recent_sales == []
    term.boot()
    stans = [term.sale(100 + i).stan for i in range(20)]
    assert [s.stan for s in term.recent_sales] == stans[-16:]


def test_an_approval_is_logged_before_its_record_and_its_log_write_removes_the_reversal(
    make_terminal: MakeTerminal, store: TerminalStore, fake_host: FakeHost
) -> None:
    logged_when_emitted: list[int] = []
    term = make_terminal(config=FAST)
    term.boot()

    def on_record(record: TxnRecord) -> None:
        rows = store.execute(
            "SELECT COUNT(*) FROM batch_log WHERE tid = ? AND stan = ?", (record.tid, record.stan)
        )
        logged_when_emitted.append(int(rows[0][0]))

    term.on_record = on_record
    statements: list[str] = []
    original = store.execute

    def counting(sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        statements.append(sql.split()[0])
        return original(sql, args)

    store.execute = counting  # type: ignore[method-assign]
    try:
        record = term.sale(2_000)
    finally:
        del store.execute
    assert record.outcome is Outcome.APPROVED and logged_when_emitted == [1]
    assert "DELETE" not in statements  # the batch log's insert removed the reversal
    assert store.execute("SELECT COUNT(*) FROM reversals")[0][0] == 0
    # a decline is not logged: its reversal is deleted as before
    fake_host.script = lambda msg: Act(rc="51") if msg.mti == "0200" else None
    assert term.sale(2_100).outcome is Outcome.DECLINED
    assert store.execute("SELECT COUNT(*) FROM reversals")[0][0] == 0
