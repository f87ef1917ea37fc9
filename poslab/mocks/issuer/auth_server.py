"""The issuer's TCP port: the acquirer's connections (docs/issuer-protocol.md).

Same framing and codec as the terminals' side (2-byte length, TPDU, CUP
header, ISO 8583). Requests on one connection are handled independently and
answered as they finish, possibly out of order: the acquirer matches replies
by MTI + F41 + F11 + batch.

=======  ======  ====================================================
request  reply   meaning
=======  ======  ====================================================
0100     0110    authorisation: F3 000000 purchase (hold), 310000 balance
0400     0410    reversal of an authorisation (hold cancelled)
0120     0130    void advice (hold released)
0420     0430    reversal of a void advice (funds held again)
0820     0830    echo (link check), never delayed
=======  ======  ====================================================

A broken frame closes the connection; a payload that does not decode is
dropped (the acquirer times out and reverses, which is safe); a decoded
request missing what it needs is answered 30.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

from poslab.iso8583 import (
    DecodeError,
    Field60,
    FieldError,
    Framer,
    FramingError,
    IsoMessage,
    decode,
    encode,
    frame,
    parse_amount,
    reply_to,
)

from .accounts import Accounts, Decision
from .faults import IssuerFaults
from .holds_store import HoldsStore
from .metrics import IssuerMetrics

__all__ = ["AuthServer"]

log = logging.getLogger("issuer.port")

_ECHO = (3, 4, 11, 32, 41, 60)
_REQUESTS = frozenset({"0100", "0400", "0120", "0420", "0820"})


def acquirer_ref(msg: IsoMessage) -> str:
    """F41 + F11 + batch (60.2): the acquirer's name for an authorisation."""
    return msg.require(41) + msg.require(11) + Field60.parse(msg.require(60)).batch


class _AcquirerConnection(asyncio.Protocol):
    def __init__(self, server: AuthServer) -> None:
        self._server = server
        self._framer = Framer(server.max_frame)
        self.transport: asyncio.Transport | None = None
        self._out: list[bytes] = []

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport.
        transport = cast(asyncio.Transport, base)
        if self._server.faults.unavailable:
            transport.abort()
            return
        self.transport = transport
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            payloads = self._framer.feed(data)
        except FramingError as exc:
            log.warning("closing an acquirer connection: %s", exc)
            if self.transport is not None:
                self.transport.close()
            return
        server = self._server
        for payload in payloads:
            try:
                msg = decode(payload)
            except DecodeError as exc:
                log.warning("undecodable request dropped: %s", exc)
                continue
            if msg.mti not in _REQUESTS:
                log.warning("MTI %s is not an issuer request: dropped", msg.mti)
                continue
            if msg.mti == "0820":
                self._send(reply_to(msg, fields={39: "00"}, echo=_ECHO))
                continue
            task = asyncio.get_running_loop().create_task(self._serve(msg))
            server.tasks.add(task)
            task.add_done_callback(server.tasks.discard)

    async def _serve(self, msg: IsoMessage) -> None:
        server = self._server
        delay = server.faults.delay_s()
        if delay:
            await asyncio.sleep(delay)
        try:
            decision = server.decide(msg)
        except DecodeError as exc:  # FieldError too: a request we cannot act on
            log.info("format error in %s: %s", msg.mti, exc)
            decision = Decision("30")
        except Exception:
            log.exception("cannot decide on %r", msg)
            decision = Decision("96")
        if decision.auth is not None or decision.tombstone is not None:
            try:
                await server.store.write(decision.auth, decision.tombstone)
            except Exception as exc:
                log.error("not answering %s: its change is not durable (%s)", msg.mti, exc)
                return
        fields: dict[int, str | bytes | None] = {39: decision.rc}
        if decision.auth_code:
            fields[38] = decision.auth_code
        if decision.balance:
            fields[54] = decision.balance
        server.metrics.answered(msg.mti, decision.rc)
        self._send(reply_to(msg, fields=fields, echo=_ECHO))

    def _send(self, reply: IsoMessage) -> None:
        # Replies finished in the same turn of the loop leave in one write.
        if not self._out:
            asyncio.get_running_loop().call_soon(self._write_out)
        self._out.append(frame(encode(reply)))

    def _write_out(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AuthServer:
    def __init__(self, accounts: Accounts, store: HoldsStore, faults: IssuerFaults) -> None:
        self.accounts = accounts
        self.store = store
        self.faults = faults
        self.max_frame = 4096
        self.connections: set[_AcquirerConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.metrics = IssuerMetrics(
            holds=lambda: sum(1 for a in accounts.auths.values() if a.status == "held"),
            connections=lambda: len(self.connections),
        )
        self._server: asyncio.Server | None = None

    async def start(self, bind: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _AcquirerConnection(self), bind, port, backlog=512, reuse_address=True
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    def drop_connections(self) -> None:
        """The ``unavailable`` fault: every open connection goes."""
        for conn in list(self.connections):
            conn.abort()

    def decide(self, msg: IsoMessage) -> Decision:
        accounts = self.accounts
        now = time.time()
        ref = acquirer_ref(msg)
        if msg.mti == "0100":
            pan = msg.require(2)
            pin_block = msg.binary(52)
            processing = msg.require(3)
            if processing == "310000":
                return accounts.balance(pan, pin_block)
            if processing != "000000":
                return Decision("12")
            share, rc = self.faults.decline()
            accounts.decline_share, accounts.decline_rc = share, rc
            return accounts.purchase(ref, pan, parse_amount(msg.require(4)), pin_block, now)
        if msg.mti == "0400":
            return accounts.reverse(ref, now)
        if msg.mti == "0120":
            return accounts.release(ref, now)
        if msg.mti == "0420":
            return accounts.rehold(ref, now)
        raise FieldError(f"MTI {msg.mti} is not part of the issuer protocol")

    async def stop(self, timeout: float) -> None:
        if self._server is not None:
            self._server.close()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        self.drop_connections()
