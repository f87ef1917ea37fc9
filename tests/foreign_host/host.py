"""A CUP-style acquirer host the lab did not write (issue 13's foreign host).

Built from docs/pos-domain.md and docs/run-directory.md alone: it must not
import the lab's mocks or codec. One thread per connection, one lock around
the books; a request is answered after its changes are committed (unless the
``reply-before-durable`` defect is on).

What it does, per request (MAC checked on 0200/0220/0400/0500/0320, replies
signed with the terminal's MAK; no session or a bad MAC → A0 and "sign on
again" in the header):

- 0800 sign-on: fresh working keys under the TMK in field 62, the terminal's
  batch adopted as the host's, date and time in 12/13;
- 0200 sale: known, active card → approved, booked and a cardholder hold;
  0200 void: the sale named by 61 (batch + trace) → voided, hold released;
  0220 refund: the sale named by 61 → a refund row;
  0200 balance: answered, booked as a balance row;
- a request repeating F41 + F11 + batch is a duplicate: its first answer is
  replayed (``rebook-duplicates`` books it again instead);
- 0400 reversal: the original by F41 + F11 + batch; 25 when unknown; applied
  once, answered 00 every time (``ack-reversal-without-applying`` answers 00
  and changes nothing);
- 0500 settlement: the terminal's field 48 against the books' totals of that
  batch → 1 balanced / 2 not; the batch is closed; 0320 details are counted;
- a business-day cut every ``day_s`` pays every unpaid money row out (one
  payout per merchant and day, fees by the world's schedule); a paid row
  reversed later is taken back out of its payout.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.foreign_host import crypto
from tests.foreign_host.books import HOLDS, JOURNAL, SETTLEMENTS, Books, business_day
from tests.foreign_host.wire import PREFIX_LEN, Message, decode, encode, frame, read_frame

DEFECTS = ("rebook-duplicates", "reply-before-durable", "ack-reversal-without-applying")
MACED = frozenset({"0200", "0220", "0400", "0500", "0320"})
CODES = {"000000": "SALE", "200000": "VOID", "310000": "BAL"}


def mask(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


@dataclass(frozen=True, slots=True)
class World:
    tmks: dict[str, bytes]
    mids: dict[str, str]
    cards: dict[str, tuple[str, str]]  # pan → (kind, status)
    fee_class: dict[str, str]
    fees: dict[str, int]

    @classmethod
    def load(cls, path: Path) -> World:
        doc = json.loads(path.read_text(encoding="utf-8"))

        def table(name: str) -> list[dict[str, Any]]:
            t = doc[name]
            return [dict(zip(t["columns"], row, strict=True)) for row in t["rows"]]

        terminals = table("terminals")
        return cls(
            tmks={t["tid"]: bytes.fromhex(t["tmk"]) for t in terminals},
            mids={t["tid"]: t["mid"] for t in terminals},
            cards={c["pan"]: (c["kind"], c["status"]) for c in table("cards")},
            fee_class={m["mid"]: m["fee_class"] for m in table("merchants")},
            fees=dict(doc["fees"]),
        )

    def fee(self, signed: int, kind: str, mid: str) -> int:
        """Fees as docs/run-directory.md states them: parts per million, rounded
        half away from zero; the debit cap on that; a D0 surcharge on top."""

        def ppm(amount: int, rate: int) -> int:
            whole, rest = divmod(abs(amount) * rate, 1_000_000)
            value = whole + (1 if 2 * rest >= 1_000_000 else 0)
            return value if amount >= 0 else -value

        f = ppm(signed, self.fees[f"{kind}_ppm"])
        if kind == "debit":
            cap = self.fees["debit_cap_fen"]
            f = max(-cap, min(cap, f))
        if self.fee_class.get(mid) == "d0":
            f += ppm(signed, self.fees["d0_surcharge_ppm"])
        return f


@dataclass(slots=True)
class Answer:
    rc: str
    fields: dict[int, str] = field(default_factory=dict)
    sign_on_again: bool = False


_ECHOED = (2, 3, 4, 11, 25, 41, 42, 49, 60, 61)
_KIND_CODE = {"credit": "C", "debit": "D", "qr": "Q"}
_KIND_NAME = {v: k for k, v in _KIND_CODE.items()}


class ForeignHost:
    def __init__(
        self,
        world: World,
        books: Books,
        defects: frozenset[str],
        day_s: float | None,
        mac: str = "cup-ecb",
    ) -> None:
        self.world = world
        self.mac = mac
        self.books = books
        self.defects = defects
        self.sessions: dict[str, bytes] = {}  # tid → MAK (lost on restart, as in real hosts)
        self._rrn = int(time.time() * 1000) % 10**9 * 1000
        self._rrn_lock = threading.Lock()
        self.day_s = day_s
        self._day = 0
        self._start_day = date.today()

    # -- the connection ------------------------------------------------------------------

    def serve(self, sock: socket.socket) -> None:
        while True:
            try:
                payload = read_frame(sock)
            except OSError:
                return
            if payload is None:
                return
            try:
                reply = self.handle(payload)
            except Exception:  # an undecodable or unexpected message: drop the connection
                return
            try:
                sock.sendall(frame(reply))
            except OSError:
                return

    def handle(self, payload: bytes) -> bytes:
        msg = decode(payload)
        tid = msg.get(41) or ""
        if msg.mti == "0800":
            return self._sign_on(msg)
        mak = self.sessions.get(tid)
        maced = msg.mti in MACED
        if maced and (mak is None or not crypto.mac_ok(payload, mak, PREFIX_LEN, self.mac)):
            return self._reply(msg, Answer("A0", sign_on_again=True), None)
        if msg.mti == "0820":
            return self._reply(msg, Answer("00"), None)
        answer = self._dispatch(msg)
        return self._reply(msg, answer, mak)

    def _reply(self, msg: Message, answer: Answer, mak: bytes | None) -> bytes:
        fields = {
            n: msg.fields[n] for n in (2, 3, 4, 11, 25, 41, 42, 49, 60, 61) if n in msg.fields
        }
        now = time.localtime()
        fields |= {12: time.strftime("%H%M%S", now), 13: time.strftime("%m%d", now)}
        fields |= answer.fields
        fields[39] = answer.rc
        signing = mak is not None and msg.mti in MACED
        if signing:
            fields[64] = "00" * 8
        reply_mti = f"{int(msg.mti) + 10:04d}"
        raw = encode(Message(reply_mti, msg.reply_prefix(answer.sign_on_again), fields))
        return crypto.signed(raw, mak, PREFIX_LEN, self.mac) if signing and mak else raw

    def _sign_on(self, msg: Message) -> bytes:
        tid = msg.need(41)
        tmk = self.world.tmks.get(tid)
        f60 = msg.need(60)
        mode = f60[8:11]
        if tmk is None or mode not in crypto.KEY_LEN or (self.mac == "x9.19" and mode == "001"):
            return self._reply(msg, Answer("97" if tmk is None else "30"), None)
        keys = crypto.working_keys(mode)
        self.sessions[tid] = keys[1]
        # the terminal's own batch is adopted: a host that forced its own would
        # orphan the terminal's open batch
        return self._reply(
            msg,
            Answer("00", {37: self._next_rrn(), 62: crypto.field62(keys, tmk).hex().upper()}),
            None,
        )

    def _next_rrn(self) -> str:
        with self._rrn_lock:
            self._rrn += 1
            return f"{self._rrn % 10**12:012d}"

    # -- requests ------------------------------------------------------------------------

    def _dispatch(self, msg: Message) -> Answer:
        mti = msg.mti
        if mti == "0200":
            code = CODES.get(msg.get(3) or "")
            return Answer("12") if code is None else self._money(msg, code)
        if mti == "0220":
            return self._money(msg, "RFND")
        if mti == "0400":
            return self._reversal(msg)
        if mti == "0500":
            return self._settle(msg)
        if mti == "0320":
            return self._upload(msg)
        return Answer("12")

    def _key(self, msg: Message) -> tuple[str, int, int]:
        return msg.need(41), int(msg.need(11)), int(msg.need(60)[2:8])

    def _money(self, msg: Message, code: str) -> Answer:
        tid, trace, batch = self._key(msg)
        mid = self.world.mids.get(tid, msg.get(42) or "")
        with self.books.unit() as c:
            first = (
                c.execute(
                    sa.select(JOURNAL)
                    .where(
                        JOURNAL.c.terminal_no == tid,
                        JOURNAL.c.trace_no == trace,
                        JOURNAL.c.batch_no == batch,
                    )
                    .order_by(JOURNAL.c.seq)
                )
                .mappings()
                .first()
            )
            if first is not None and "rebook-duplicates" not in self.defects:
                # a duplicate: the original answer again, nothing booked
                replay = {37: first["retrieval_ref"]} if first["retrieval_ref"] else {}
                return Answer(first["resp_code"], replay)
            self._open_batch(c, tid, mid, batch)
            pan = msg.get(2) or (msg.get(35) or "").partition("D")[0]
            amount = int(msg.get(4) or "0")
            kind, status = self.world.cards.get(pan, ("", "unknown"))
            rc = {"active": "00", "lost": "41", "unknown": "14"}.get(status, "54")
            orig = None
            if rc == "00" and code in ("VOID", "RFND"):
                orig, rc = self._original(c, msg, tid, code, amount)
            rrn = self._next_rrn() if rc == "00" else None
            row = {
                "terminal_no": tid,
                "merchant_no": mid,
                "trace_no": trace,
                "batch_no": batch,
                "txn_code": code,
                "state": "OK" if rc == "00" else "DECL",
                "amt_minor": amount,
                "card_mask": mask(pan) if len(pan) >= 12 else None,
                "card_type": _KIND_CODE.get(kind),
                "retrieval_ref": rrn,
                "resp_code": rc,
                "orig_trace": None if orig is None else orig["trace_no"],
                "orig_batch": None if orig is None else orig["batch_no"],
                "orig_ref": None if orig is None else orig["retrieval_ref"],
                "booked_ts": time.time(),
            }
            c.execute(JOURNAL.insert().values(**row))
            if rc == "00":
                self._after_approval(c, code, row, orig)
        return Answer(rc, {37: rrn} if rrn else {})

    def _original(
        self, c: sa.Connection, msg: Message, tid: str, code: str, amount: int
    ) -> tuple[Mapping[str, Any] | None, str]:
        ref = msg.get(61) or ""
        if len(ref) < 12:
            return None, "12"
        orig = (
            c.execute(
                sa.select(JOURNAL).where(
                    JOURNAL.c.terminal_no == tid,
                    JOURNAL.c.batch_no == int(ref[0:6]),
                    JOURNAL.c.trace_no == int(ref[6:12]),
                    JOURNAL.c.txn_code == "SALE",
                )
            )
            .mappings()
            .first()
        )
        if orig is None or orig["state"] == "DECL":
            return orig, "25" if orig is None else "12"
        if code == "VOID":
            if orig["state"] == "VOID":
                return orig, "C9"
            if orig["state"] == "REVD":
                return orig, "CA"
            if orig["amt_minor"] != amount:
                return orig, "13"
        elif amount > orig["amt_minor"]:
            return orig, "13"
        return orig, "00"

    def _after_approval(
        self, c: sa.Connection, code: str, row: Mapping[str, Any], orig: Mapping[str, Any] | None
    ) -> None:
        now = row["booked_ts"]
        if code == "SALE":
            c.execute(
                HOLDS.insert().values(
                    acq_ref=_ref(row["terminal_no"], row["trace_no"], row["batch_no"]),
                    card_mask=row["card_mask"],
                    amt_minor=row["amt_minor"],
                    hold_state="HELD",
                    created_ts=now,
                    updated_ts=now,
                )
            )
        elif code == "VOID" and orig is not None:
            c.execute(JOURNAL.update().where(JOURNAL.c.seq == orig["seq"]).values(state="VOID"))
            self._hold(c, orig, "RELEASED", now)

    def _hold(self, c: sa.Connection, sale: Mapping[str, Any], state: str, now: float) -> None:
        c.execute(
            HOLDS.update()
            .where(HOLDS.c.acq_ref == _ref(sale["terminal_no"], sale["trace_no"], sale["batch_no"]))
            .values(hold_state=state, updated_ts=now)
        )

    def _reversal(self, msg: Message) -> Answer:
        tid, trace, batch = self._key(msg)
        with self.books.unit() as c:
            rows = list(
                c.execute(
                    sa.select(JOURNAL)
                    .where(
                        JOURNAL.c.terminal_no == tid,
                        JOURNAL.c.trace_no == trace,
                        JOURNAL.c.batch_no == batch,
                    )
                    .order_by(JOURNAL.c.seq)
                ).mappings()
            )
            if not rows:
                return Answer("25")
            if "ack-reversal-without-applying" in self.defects:
                return Answer("00")
            now = time.time()
            for row in rows:
                if row["state"] != "OK":
                    continue  # declined: nothing to undo; reversed already: idempotent
                c.execute(
                    JOURNAL.update()
                    .where(JOURNAL.c.seq == row["seq"])
                    .values(state="REVD", reversed_ts=now)
                )
                self.books.adjust_payout(c, row, self._fee_of)
                if row["txn_code"] == "SALE":
                    self._hold(c, row, "REVERSED", now)
                elif row["txn_code"] == "VOID" and row["orig_trace"] is not None:
                    c.execute(
                        JOURNAL.update()
                        .where(
                            JOURNAL.c.terminal_no == tid,
                            JOURNAL.c.trace_no == row["orig_trace"],
                            JOURNAL.c.batch_no == row["orig_batch"],
                            JOURNAL.c.txn_code == "SALE",
                            JOURNAL.c.state == "VOID",
                        )
                        .values(state="OK")
                    )
                    sale = {"terminal_no": tid, "trace_no": row["orig_trace"]}
                    self._hold(c, sale | {"batch_no": row["orig_batch"]}, "HELD", now)
        return Answer("00")

    def _totals(self, c: sa.Connection, tid: str, batch: int) -> tuple[int, int, int, int]:
        rows = c.execute(
            sa.select(JOURNAL.c.txn_code, JOURNAL.c.state, JOURNAL.c.amt_minor).where(
                JOURNAL.c.terminal_no == tid, JOURNAL.c.batch_no == batch
            )
        )
        debit = [a for code, st, a in rows if code == "SALE" and st in ("OK", "VOID")]
        rows = c.execute(
            sa.select(JOURNAL.c.txn_code, JOURNAL.c.state, JOURNAL.c.amt_minor).where(
                JOURNAL.c.terminal_no == tid, JOURNAL.c.batch_no == batch
            )
        )
        credit = [a for code, st, a in rows if code in ("VOID", "RFND") and st == "OK"]
        return sum(debit), len(debit), sum(credit), len(credit)

    def _settle(self, msg: Message) -> Answer:
        tid, _, batch = self._key(msg)
        f48 = msg.get(48) or ""
        if len(f48) < 31 or not f48.isdigit():
            return Answer("30")
        theirs = (int(f48[0:12]), int(f48[12:15]), int(f48[15:27]), int(f48[27:30]))
        mid = self.world.mids.get(tid, msg.get(42) or "")
        with self.books.unit() as c:
            ours = self._totals(c, tid, batch)
            recon = 1 if ours == theirs else 2
            self._open_batch(c, tid, mid, batch)
            c.execute(
                SETTLEMENTS.update()
                .where(SETTLEMENTS.c.terminal_no == tid, SETTLEMENTS.c.batch_no == batch)
                .values(phase="CLOSED", closed_ts=time.time(), f48=f48[:31], recon=recon)
            )
        answer = f48[:30] + str(recon) + f48[31:]
        return Answer("00", {48: answer})

    def _upload(self, msg: Message) -> Answer:
        tid, _, batch = self._key(msg)
        details = msg.get(48) or ""
        count = int(details[:2]) if details[:2].isdigit() else 0
        with self.books.unit() as c:
            c.execute(
                SETTLEMENTS.update()
                .where(SETTLEMENTS.c.terminal_no == tid, SETTLEMENTS.c.batch_no == batch)
                .values(uploads=SETTLEMENTS.c.uploads + count)
            )
        return Answer("00")

    def _open_batch(self, c: sa.Connection, tid: str, mid: str, batch: int) -> None:
        exists = c.execute(
            sa.select(SETTLEMENTS.c.phase).where(
                SETTLEMENTS.c.terminal_no == tid, SETTLEMENTS.c.batch_no == batch
            )
        ).first()
        if exists is None:
            c.execute(
                SETTLEMENTS.insert().values(
                    terminal_no=tid,
                    batch_no=batch,
                    merchant_no=mid,
                    phase="OPEN",
                    opened_ts=time.time(),
                    uploads=0,
                )
            )

    # -- the business day ------------------------------------------------------------------

    def _fee_of(self, row: Mapping[str, Any], signed: int) -> tuple[str, int]:
        kind = _KIND_NAME.get(row["card_type"] or "", "credit")
        return kind, self.world.fee(signed, kind, row["merchant_no"])

    def day_cut(self) -> int:
        """Close the business day: pay out every unpaid money row."""
        paid = self.books.pay_out(business_day(self._start_day, self._day + 1), self._fee_of)
        self._day += 1
        return paid

    def run_days(self, stop: threading.Event) -> None:
        if self.day_s is None:
            return
        while not stop.wait(self.day_s):
            self.day_cut()


def _ref(tid: str, trace: int, batch: int) -> str:
    return f"{tid}{trace:06d}{batch:06d}"


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(host: ForeignHost, port: int) -> Server:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            host.serve(self.request)

    return Server(("127.0.0.1", port), Handler)
