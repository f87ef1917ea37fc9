"""Helpers of the terminal tests; mainly a tiny CUP host on 127.0.0.1.

It does what a host does to the extent the terminal can observe — sign-on
with real keys under the TMK, MAC checked and replies signed, sales booked,
reversals idempotent with 25 for unknown originals, settlement totals
compared — and lets a test script misbehaviour the real acquirer cannot be
made to show on demand (a reply with a bad MAC, a late reply, a silent drop).
Integration tests use the real acquirer (``python -m poslab.mocks.acquirer``).
"""

from __future__ import annotations

import dataclasses
import itertools
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from poslab.iso8583 import (
    CardTotals,
    Field60,
    Framer,
    IsoMessage,
    ReconciliationCode,
    SettlementTotals,
    WorkingKeys,
    build_field62,
    classify,
    decode,
    encode,
    frame,
    generate_working_keys,
    parse_amount,
    reply_to,
    sign,
    verify,
)
from poslab.iso8583.messages import TransactionType
from poslab.mocks.terminal import Terminal, TxnRecord


@dataclasses.dataclass
class Act:
    """What the host does with one request instead of its normal answer."""

    rc: str | None = None  # answer with this code (no booking)
    drop: bool = False  # process it, never answer (a lost reply)
    close: bool = False  # close the connection without answering
    bad_mac: bool = False  # answer normally, with a MAC that does not verify
    nibble: int = 0  # processing requirement in the reply header
    delay_s: float = 0.0
    stale_first: bool = False  # send an unrelated reply first (a late answer)
    recon: int | None = None  # 0510: force this reconciliation code


Script = Callable[[IsoMessage], Act | None]
MakeTerminal = Callable[..., Terminal]


def of_type(records: list[TxnRecord], kind: str) -> list[TxnRecord]:
    return [r for r in records if r.type.value == kind]


class FakeHost:
    def __init__(self, tmks: dict[str, bytes], batch: str = "000001", port: int = 0) -> None:
        self.tmks = tmks
        self.batch = batch
        self.keys: dict[str, WorkingKeys] = {}
        self.received: list[IsoMessage] = []
        # (tid, stan, batch) → {"amount", "status", "type"}
        self.ledger: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.script: Script = lambda msg: None
        self.uploads: list[IsoMessage] = []
        self.connections = 0
        self._rrn = itertools.count(1)
        self._lock = threading.Lock()
        host = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                host._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.address = ("127.0.0.1", self.port)
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def mtis(self) -> list[str]:
        return [m.mti for m in self.received]

    # -- the connection -----------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        framer = Framer()
        with self._lock:
            self.connections += 1
        with sock:
            while True:
                try:
                    data = sock.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for payload in framer.feed(data):
                    msg = decode(payload)
                    with self._lock:
                        self.received.append(msg)
                    act = self.script(msg) or Act()
                    if act.delay_s:
                        time.sleep(act.delay_s)
                    if act.close:
                        return
                    reply = self._answer(msg, payload, act)  # booked even if never sent
                    if act.drop:
                        continue
                    out = b""
                    if act.stale_first:
                        stale = dataclasses.replace(reply, fields={**reply.fields, 11: "999999"})
                        out += frame(encode(stale))
                    out += frame(encode(reply))
                    try:
                        sock.sendall(out)
                    except OSError:
                        return

    # -- the host -----------------------------------------------------------

    def _answer(self, msg: IsoMessage, payload: bytes, act: Act) -> IsoMessage:
        tid = msg.require(41)
        kind = classify(msg)
        now = time.localtime()
        extra: dict[int, str | bytes | None] = {
            12: time.strftime("%H%M%S", now),
            13: time.strftime("%m%d", now),
        }
        if kind is TransactionType.SIGN_ON:
            keys = generate_working_keys("003")
            self.keys[tid] = keys
            extra.update({39: "00", 62: build_field62(keys, self.tmks[tid])})
            extra[60] = Field60("00", self.batch, "003").format()
            return reply_to(msg, fields=extra)
        held = self.keys.get(tid)
        if held is None or (64 in msg.fields and not verify(payload, held.mak)):
            return reply_to(msg, fields={**extra, 39: "A0"}, processing_requirement=3)
        if act.rc is not None:
            rc, booked = act.rc, dict[int, str | bytes | None]()
        else:
            rc, booked = self._book(tid, kind, msg, act)
        extra.update(booked)
        extra[39] = rc
        if rc == "00" and kind in (TransactionType.SALE, TransactionType.VOID):
            extra[37] = f"{next(self._rrn):012d}"
        reply = reply_to(msg, fields=extra, processing_requirement=act.nibble)
        signed = sign(reply, held.mak)
        if act.bad_mac:
            signed.fields[64] = bytes(8)
        return signed

    def _book(
        self, tid: str, kind: TransactionType, msg: IsoMessage, act: Act
    ) -> tuple[str, dict[int, str | bytes | None]]:
        stan, batch = msg.require(11), Field60.parse(msg.require(60)).batch
        if kind in (TransactionType.SALE, TransactionType.VOID, TransactionType.REFUND):
            self.ledger[(tid, stan, batch)] = {
                "amount": parse_amount(msg.require(4)),
                "status": "approved",
                "type": kind.value,
            }
            return "00", {}
        if kind is TransactionType.REVERSAL:
            row = self.ledger.get((tid, stan, batch))
            if row is None:
                return "25", {}
            row["status"] = "reversed"
            return "00", {}
        if kind is TransactionType.SETTLEMENT:
            theirs = SettlementTotals.parse(msg.require(48)).domestic
            ours = self.totals(tid, batch)
            code = act.recon
            if code is None:
                code = (
                    ReconciliationCode.BALANCED
                    if theirs == ours
                    else ReconciliationCode.NOT_BALANCED
                )
            totals = SettlementTotals(domestic=theirs.with_reconciliation(code))
            return "00", {48: totals.format()}
        if kind is TransactionType.BATCH_UPLOAD:
            self.uploads.append(msg)
            return "00", {}
        return "00", {}

    def totals(self, tid: str, batch: str) -> CardTotals:
        rows = [r for (t, _, b), r in self.ledger.items() if t == tid and b == batch]
        booked = [r for r in rows if r["status"] == "approved"]
        debits = [r["amount"] for r in booked if r["type"] == "sale"]
        credits = [r["amount"] for r in booked if r["type"] != "sale"]
        return CardTotals(sum(debits), len(debits), sum(credits), len(credits))

    def status(self, tid: str, stan: str, batch: str = "000001") -> str | None:
        row = self.ledger.get((tid, stan, batch))
        return None if row is None else str(row["status"])
