"""The acquirer's persistent connection pool to the issuer.

``pool_size`` TCP connections, each kept up by its own task: connect (with a
timeout), prove the issuer answers with an echo (0820/0830), then carry any
number of requests at once. Replies are matched to requests by reply MTI +
F41 + F11 + batch (60.2), so the issuer may answer out of order; a reply
nobody waits for any more (it came after the deadline) is handed to
``on_late``. A connection that fails or stops answering its keep-alive echo
is dropped and re-dialled with exponential backoff.

What a caller can get back (docs/issuer-protocol.md):

- the reply message;
- :class:`IssuerUnavailable` — no connection to send on (the host answers 91:
  the issuer never saw the request);
- :class:`IssuerTimeout` — sent, no reply within the deadline, or the
  connection died after sending (98: the outcome is unknown, so the host
  reverses it upstream).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import cast

from poslab.iso8583 import (
    DecodeError,
    Field60,
    Framer,
    FramingError,
    Header,
    IsoMessage,
    Tpdu,
    decode,
    encode,
    frame,
)

__all__ = [
    "ISSUER_HEADER",
    "ISSUER_TPDU",
    "IssuerError",
    "IssuerLink",
    "IssuerTimeout",
    "IssuerUnavailable",
    "reply_key",
]

log = logging.getLogger("acquirer.issuer_link")

# NII 0001 is the issuer, 0003 the acquirer (see docs/issuer-protocol.md).
ISSUER_TPDU = Tpdu(destination="0001", source="0003")
ISSUER_HEADER = Header(app_type="60", spec_version="31")
_LINK_TID = "ACQLINK0"
_ECHO_BATCH = "000000"

MatchKey = tuple[str, str, str, str]  # reply MTI, F41, F11, 60.2
# How often deadlines are checked: a timeout fires at most this late.
_SWEEP_S = 0.02


class IssuerError(Exception):
    """The issuer could not give an answer."""


class IssuerUnavailable(IssuerError):
    """No usable connection: the request was not sent."""


class IssuerTimeout(IssuerError):
    """Sent, but no answer in time (or the connection dropped): outcome unknown."""


def _reply_mti(mti: str) -> str:
    return f"{mti[:2]}{int(mti[2]) + 1}{mti[3]}"


def reply_key(msg: IsoMessage, mti: str | None = None) -> MatchKey:
    """The key a request is matched on (``mti``: its reply MTI)."""
    batch = msg.text(60) or ""
    return (mti or msg.mti, msg.text(41) or "", msg.text(11) or "", batch[2:8])


class _Upstream(asyncio.Protocol):
    """One connection to the issuer.

    Requests written in the same turn of the event loop go out in one
    ``send`` (with 50 terminals at once, a turn often carries dozens), and
    deadlines are checked by one sweep every ``_SWEEP_S`` rather than a timer
    per request: both matter at thousands of requests a second.
    """

    def __init__(self, link: IssuerLink) -> None:
        self._link = link
        self._loop = asyncio.get_running_loop()
        self._framer = Framer(link.max_frame)
        self.transport: asyncio.Transport | None = None
        self.pending: dict[MatchKey, tuple[asyncio.Future[IsoMessage], float]] = {}
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self._out: list[bytes] = []
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not subclass asyncio.Transport.
        transport = cast(asyncio.Transport, base)
        self.transport = transport
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def data_received(self, data: bytes) -> None:
        try:
            payloads = self._framer.feed(data)
        except FramingError as exc:
            log.warning("issuer sent a broken frame (%s): dropping the connection", exc)
            self.abort()
            return
        for payload in payloads:
            try:
                msg = decode(payload)
            except DecodeError as exc:
                log.warning("undecodable issuer reply dropped: %s", exc)
                continue
            waiting = self.pending.pop(reply_key(msg), None)
            if waiting is None or waiting[0].done():
                self._link.late(msg)
            else:
                waiting[0].set_result(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        lost = IssuerTimeout("the issuer connection dropped with the request in flight")
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(lost)
        self.pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, msg: IsoMessage, timeout: float) -> asyncio.Future[IsoMessage]:
        future: asyncio.Future[IsoMessage] = self._loop.create_future()
        transport = self.transport
        if transport is None or transport.is_closing():
            future.set_exception(IssuerUnavailable("issuer connection is closing"))
            return future
        self.pending[reply_key(msg, _reply_mti(msg.mti))] = (future, self._loop.time() + timeout)
        if not self._out:
            self._loop.call_soon(self._write_out)
        self._out.append(frame(encode(msg)))
        return future

    def _write_out(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def _sweep(self) -> None:
        now = self._loop.time()
        expired = [key for key, (_, deadline) in self.pending.items() if deadline <= now]
        for key in expired:
            future, _ = self.pending.pop(key)
            if not future.done():
                future.set_exception(IssuerTimeout("no issuer reply before the deadline"))
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class IssuerLink:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        pool_size: int,
        connect_timeout_s: float,
        reconnect_max_s: float,
        institution_id: str,
        echo_interval_s: float = 5.0,
        max_frame: int = 4096,
        on_late: Callable[[IsoMessage], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_max_s = reconnect_max_s
        self.institution_id = institution_id
        self.echo_interval_s = echo_interval_s
        self.max_frame = max_frame
        self._on_late = on_late
        self._ready: list[_Upstream] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._rr = itertools.count()
        self._trace = itertools.count(1)
        self.connects = 0
        self.late_replies = 0
        self._closing = False

    @property
    def connected(self) -> int:
        return len(self._ready)

    def start(self) -> None:
        for slot in range(self.pool_size):
            self._tasks.append(asyncio.create_task(self._keep_up(slot), name=f"issuer-link-{slot}"))

    async def close(self, timeout: float = 1.0) -> None:
        """Stop every link's upkeep and drop its connection, within ``timeout`` s.

        A cancellation alone is not enough on 3.11: ``asyncio.wait_for`` returns
        the inner result instead of raising when the cancel arrives just as a
        dial or echo completes, and the loop would reconnect for ever. So the
        loops also check :attr:`_closing`, and a task is cancelled again until
        it ends; what still runs after ``timeout`` is logged and left behind.
        """
        self._closing = True
        deadline = asyncio.get_running_loop().time() + timeout
        pending = {task for task in self._tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                log.warning("issuer links still running at shutdown: %s", sorted(
                    task.get_name() for task in pending))  # fmt: skip
                break
            _, pending = await asyncio.wait(pending, timeout=min(left, 0.1))
        for conn in list(self._ready):
            conn.abort()
        self._ready.clear()

    def _stopping(self) -> bool:
        """Closing, or this task was asked to cancel: 3.11's ``wait_for`` returns a
        result that was ready instead of raising the cancellation that came with
        it, but the task still counts the request (an acquirer failing to start
        hung in asyncio.run's final cancel here, its links reconnecting)."""
        task = asyncio.current_task()
        return self._closing or (task is not None and task.cancelling() > 0)

    def late(self, msg: IsoMessage) -> None:
        self.late_replies += 1
        if self._on_late is not None:
            self._on_late(msg)

    async def request(self, msg: IsoMessage, timeout: float) -> IsoMessage:
        """Send ``msg`` and wait up to ``timeout`` s for its reply."""
        ready = self._ready
        if not ready:
            raise IssuerUnavailable("no connection to the issuer")
        conn = ready[next(self._rr) % len(ready)]
        return await conn.send(msg, timeout)

    # -- connection upkeep ---------------------------------------------------

    def _echo(self) -> IsoMessage:
        trace = f"{next(self._trace) % 1_000_000:06d}"
        return IsoMessage(
            "0820",
            {
                11: trace,
                32: self.institution_id,
                41: _LINK_TID,
                60: Field60("00", _ECHO_BATCH, "301").format(),
            },
            ISSUER_TPDU,
            ISSUER_HEADER,
        )

    async def _handshake(self, conn: _Upstream) -> bool:
        try:
            reply = await conn.send(self._echo(), self.connect_timeout_s)
        except IssuerError:
            return False
        return reply.text(39) == "00"

    async def _dial(self) -> _Upstream:
        """A new connection that answered its echo, or OSError/TimeoutError."""
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(lambda: _Upstream(self), self.host, self.port),
            self.connect_timeout_s,
        )
        if not await self._handshake(conn):
            conn.abort()
            raise ConnectionError("no echo answer from the issuer")
        return conn

    async def _keep_up(self, slot: int) -> None:
        backoff = 0.02
        while not self._stopping():  # see close(): a swallowed cancel ends here
            try:
                conn = await self._dial()
            except (OSError, TimeoutError) as exc:
                log.debug("issuer link %d: %s; retrying in %.2f s", slot, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.reconnect_max_s)
                continue
            if self._stopping():
                conn.abort()
                return
            backoff = 0.02
            self.connects += 1
            self._ready.append(conn)
            log.info("issuer link %d up (%s:%d)", slot, self.host, self.port)
            try:
                await self._watch(conn)
            finally:
                if conn in self._ready:
                    self._ready.remove(conn)
                conn.abort()
            log.warning("issuer link %d down; reconnecting", slot)

    async def _watch(self, conn: _Upstream) -> None:
        """Return when ``conn`` closes or stops answering its keep-alive echo."""
        while not self._stopping():
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), self.echo_interval_s)
                return
            except TimeoutError:
                pass
            if not await self._handshake(conn):
                return
