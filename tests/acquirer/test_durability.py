"""Crash safety: SIGKILL under load loses no approval a terminal received and
books nothing twice; SIGTERM finishes what is in flight; sessions, batches
and owed reversals survive a restart."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from poslab.iso8583 import IsoMessage, encode, frame, sale_request, sign
from tests.acquirer.conftest import Stack, start_stack
from tests.acquirer.services import restart
from tests.acquirer.terminal_client import TerminalClient

THREADS = 4
LOAD_S = 1.5


class _Till(threading.Thread):
    """One terminal selling as fast as it can until the host goes away."""

    def __init__(self, stack: Stack, client: TerminalClient, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.client = client
        self.stop_event = stop
        self.approved: list[tuple[str, str, str]] = []  # (stan, batch, rrn)
        self.unanswered: IsoMessage | None = None

    def run(self) -> None:
        client = self.client
        cards = self.stack.cards(client.terminal)
        deadline = time.monotonic() + 30
        i = 0
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            card = cards[i % len(cards)]
            i += 1
            msg = sale_request(
                client.identity, client.next_stan(), client.batch, 100 + i, client.card(card)
            )
            try:
                reply = client.exchange(msg)
            except OSError:
                self.unanswered = client.last_request
                return
            if reply.text(39) == "00":
                self.approved.append((reply.require(11), client.batch, reply.require(37)))


def test_sigkill_under_load_loses_no_acknowledged_approval(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        clients = [stack.signed_on() for _ in range(THREADS)]
        stop = threading.Event()
        tills = [_Till(stack, client, stop) for client in clients]
        for till in tills:
            till.start()
        time.sleep(LOAD_S)  # load for a while; there is no readiness to wait for here
        stack.acquirer.stop(signal.SIGKILL)
        stop.set()
        for till in tills:
            till.join(timeout=30)
        approved = {
            (t.client.terminal.tid, stan, batch): rrn
            for t in tills
            for stan, batch, rrn in t.approved
        }
        assert len(approved) > 50, "too little load before the kill to prove anything"
        stack.acquirer = restart(stack.acquirer)
        rows = stack.acquirer.export("transactions")
        booked: dict[tuple[str, str, str], list[dict[str, object]]] = {}
        for row in rows:
            booked.setdefault((str(row["tid"]), str(row["stan"]), str(row["batch"])), []).append(
                row
            )
        for key, rrn in approved.items():
            assert key in booked, f"approval {key} was acknowledged but is not in the ledger"
            [row] = booked[key]
            assert (row["status"], row["rrn"]) == ("approved", rrn)
        assert all(len(v) == 1 for v in booked.values())
        assert len({row["rrn"] for row in rows}) == len(rows)
        # the request that was in flight at the kill: resent with the same keys
        # (the session survived), it is answered once and booked at most once
        for till in tills:
            if till.unanswered is None:
                continue
            client = TerminalClient(stack.acquirer.main, till.client.terminal)
            client.keys, client.batch = till.client.keys, till.client.batch
            reply = client.exchange(till.unanswered, mac=False)
            # 51: never sent upstream before the kill, and the load had spent the
            # card's funds by then (a faster host sells more in the same seconds)
            assert reply.text(39) in ("00", "51")
            key = (client.terminal.tid, reply.require(11), client.batch)
            again = [
                r
                for r in stack.acquirer.export("transactions")
                if (r["tid"], r["stan"], r["batch"]) == key
            ]
            assert len(again) == 1
    finally:
        stack.stop()


def test_sigterm_finishes_in_flight_requests_and_restart_keeps_state(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        client = stack.signed_on()
        card = stack.cards(client.terminal)[0]
        first = client.sale(card, 1_000)
        assert first.text(39) == "00"
        first_request = client.last_request
        # a sale stuck at a slow issuer when SIGTERM arrives still gets its answer
        stack.issuer.fault("slow", delay_ms=600)
        msg = sign(
            sale_request(
                client.identity, client.next_stan(), client.batch, 2_000, client.card(card)
            ),
            client.keys.mak,  # type: ignore[union-attr]
        )
        client.send_raw(frame(encode(msg)))
        time.sleep(0.2)  # let it reach the issuer
        stack.acquirer.proc.send_signal(signal.SIGTERM)
        payload = client.read_payload()
        assert payload is not None
        from poslab.iso8583 import decode

        assert decode(payload).text(39) == "00"
        assert stack.acquirer.proc.wait(timeout=20) == 0
        stack.issuer.delete("/admin/faults/slow")
        stack.acquirer = restart(stack.acquirer, stack.acquirer.ports)  # the same ports
        # same keys, same batch, same ledger
        client.close()
        # the journal came back from the ledger: a retransmission is replayed
        replayed = client.exchange(first_request, mac=False)  # type: ignore[arg-type]
        assert (replayed.text(39), replayed.text(37), replayed.text(38)) == (
            "00",
            first.text(37),
            first.text(38),
        )
        assert client.sale(card, 3_000).text(39) == "00"
        rows = [r for r in stack.acquirer.export("transactions") if r["tid"] == client.terminal.tid]
        assert [r["amount"] for r in rows] == [1_000, 2_000, 3_000]
        assert {r["batch"] for r in rows} == {client.batch}
    finally:
        stack.stop()


def test_reversal_owed_to_the_issuer_survives_a_crash(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    try:
        client = stack.signed_on()
        card = stack.cards(client.terminal)[0]
        assert client.sale(card, 5_500).text(39) == "00"
        sale = client.last_request
        ref = client.terminal.tid + sale.require(11) + client.batch  # type: ignore[union-attr]
        stack.issuer.fault("unavailable")  # the reversal cannot be delivered now
        assert client.reverse(sale).text(39) == "00"  # type: ignore[arg-type]
        stack.acquirer.stop(signal.SIGKILL)
        stack.issuer.delete("/admin/faults/unavailable")
        [auth] = [a for a in stack.issuer.export("issuer") if a["acquirer_ref"] == ref]
        assert auth["status"] == "held"
        stack.acquirer = restart(stack.acquirer)
        deadline = time.monotonic() + 10
        while True:
            [auth] = [a for a in stack.issuer.export("issuer") if a["acquirer_ref"] == ref]
            if auth["status"] == "reversed":
                break
            assert time.monotonic() < deadline, "the owed reversal was not delivered after restart"
            time.sleep(0.05)
    finally:
        stack.stop()
