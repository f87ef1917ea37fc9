"""Data-path differential: the same traffic through the embedded server and
the real Toxiproxy under each toxic, the outcomes compared.

For every case both servers get the same proxy, toxic and traffic (an echo or
a replying upstream on 127.0.0.1, a client socket here). What must match
exactly: the bytes the client and the upstream received, and how the client's
connection ended (``eof``, ``reset``, or still ``open`` when the case stops
reading). Timings (first byte, last byte, end) must agree within the
tolerance Toxiproxy's own tests use, 10 ms, plus the late slack this shared
machine needs (``LATE_MS``) — and plus the toxic's jitter where there is one.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.proxy.proxy_helpers import LATE_MS, SyncApi, TcpServer, connect
from tests.proxy.servers import ServerUnderTest

#: Toxiproxy's tests allow 10 ms; this machine is shared (see LATE_MS).
TOLERANCE_MS = 10 + LATE_MS


@dataclass
class Outcome:
    """What one connection through one server did."""

    to_client: bytes = b""
    to_upstream: bytes = b""
    end: str = "open"  # eof | reset | open
    times_ms: dict[str, float] = field(default_factory=dict)

    def comparable(self) -> tuple[bytes, bytes, str]:
        return self.to_client, self.to_upstream, self.end


class Upstream:
    """An upstream that records what it got and answers with ``reply(data)``."""

    def __init__(self, reply: Callable[[bytes], bytes] | None, close_after: bool) -> None:
        self.received = bytearray()
        self.reply = reply
        self.close_after = close_after
        self.server = TcpServer(self._handle if reply is not None else self._record_and_echo)

    def _record_and_echo(self, conn: socket.socket) -> None:
        while data := conn.recv(65536):
            self.received += data
            conn.sendall(data)

    def _handle(self, conn: socket.socket) -> None:
        assert self.reply is not None
        data = conn.recv(65536)
        self.received += data
        conn.sendall(self.reply(data))
        if not self.close_after:
            while data := conn.recv(65536):
                self.received += data


def _read(sock: socket.socket, outcome: Outcome, started: float, until_s: float) -> None:
    """Read until EOF/RST or ``until_s`` after ``started``; note when bytes came."""
    received = bytearray()
    while True:
        left = started + until_s - time.perf_counter()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            outcome.end = "reset"
            outcome.times_ms["end"] = (time.perf_counter() - started) * 1000
            break
        now_ms = (time.perf_counter() - started) * 1000
        if not chunk:
            outcome.end = "eof"
            outcome.times_ms["end"] = now_ms
            break
        if not received:
            outcome.times_ms["first"] = now_ms
        received += chunk
        outcome.times_ms["last"] = now_ms
    outcome.to_client = bytes(received)


@dataclass(frozen=True)
class Case:
    name: str
    toxic: dict[str, Any]
    payload: bytes = b"ping"
    reply: Callable[[bytes], bytes] | None = None  # None: echo
    close_after: bool = False
    read_for_s: float = 1.0
    jitter_ms: float = 0.0
    #: An API call made ``at_s`` after the payload was sent (update, remove;
    #: toxic "" is the proxy's toxics, to add one).
    then: tuple[float, str, str, dict[str, Any] | None] | None = None
    #: The toxic is added once the connection is up (not before it opens).
    live: bool = False


CASES = [
    Case("noop", {"type": "noop"}, payload=bytes(range(256)) * 400, read_for_s=0.5),
    Case("latency", {"type": "latency", "attributes": {"latency": 100}}, read_for_s=0.4),
    Case(
        "latency-jitter",
        {"type": "latency", "attributes": {"latency": 100, "jitter": 20}},
        read_for_s=0.4,
        jitter_ms=20,
    ),
    Case(
        "bandwidth",
        {"type": "bandwidth", "stream": "upstream", "attributes": {"rate": 1000}},
        payload=b"x" * 200_000,
        read_for_s=0.6,
    ),
    Case(
        "bandwidth-0-stalls-until-updated",
        {"type": "bandwidth", "attributes": {"rate": 0}},
        read_for_s=0.6,
        then=(0.3, "PATCH", "bandwidth_downstream", {"attributes": {"rate": 1000}}),
    ),
    Case(
        "slow_close",
        {"type": "slow_close", "attributes": {"delay": 200}},
        reply=lambda data: b"bye",
        close_after=True,
    ),
    Case(
        "slow_close-removed-during-delay",
        {"type": "slow_close", "attributes": {"delay": 5000}},
        reply=lambda data: b"bye",
        close_after=True,
        then=(0.2, "DELETE", "slow_close_downstream", None),
    ),
    Case("timeout", {"type": "timeout", "stream": "upstream", "attributes": {"timeout": 150}}),
    Case(
        "timeout-0-removed",
        {"type": "timeout", "attributes": {"timeout": 0}},
        then=(0.2, "DELETE", "timeout_downstream", None),
    ),
    Case("reset_peer", {"type": "reset_peer", "attributes": {"timeout": 100}}),
    Case(
        "reset_peer-upstream",
        {"type": "reset_peer", "stream": "upstream", "attributes": {"timeout": 0}},
    ),
    Case(
        "slicer-1000-1000-1000",
        {
            "type": "slicer",
            "attributes": {"average_size": 1000, "size_variation": 1000, "delay": 1000},
        },
        payload=bytes(range(256)) * 64,
        read_for_s=0.5,
    ),
    Case(
        "slicer-small",
        {
            "type": "slicer",
            "stream": "upstream",
            "attributes": {"average_size": 8, "size_variation": 3},
        },
        payload=bytes(range(200)),
        read_for_s=0.5,
    ),
    Case(
        "limit_data",
        {"type": "limit_data", "attributes": {"bytes": 10}},
        payload=b"0123456789abcdefghij",
    ),
    Case(
        "limit_data-upstream",
        {"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 7}},
        payload=b"0123456789",
    ),
    Case(
        "latency-updated-releases",
        {"type": "latency", "attributes": {"latency": 5000}},
        read_for_s=0.6,
        then=(0.2, "PATCH", "latency_downstream", {"attributes": {"latency": 100}}),
    ),
]


def _run(server: ServerUnderTest, case: Case) -> Outcome:
    upstream = Upstream(case.reply, case.close_after)
    outcome = Outcome()
    with upstream.server, httpx.Client(base_url=server.url, timeout=10) as http:
        api = SyncApi(http)
        name = f"diff-{case.name}"
        port = api.create(name, upstream.server.address)
        try:
            if not case.live:
                reply = http.post(f"/proxies/{name}/toxics", json=case.toxic)
                assert reply.status_code == 200, reply.text
            with connect(port) as sock:
                if case.live:
                    sock.sendall(b"up")
                    assert sock.recv(2) == b"up"
                    reply = http.post(f"/proxies/{name}/toxics", json=case.toxic)
                    assert reply.status_code == 200, reply.text
                started = time.perf_counter()
                reader = threading.Thread(
                    target=_read, args=(sock, outcome, started, case.read_for_s)
                )
                reader.start()
                with contextlib.suppress(OSError):  # a reset may come first
                    sock.sendall(case.payload)
                if case.then is not None:
                    at_s, method, toxic, body = case.then
                    time.sleep(max(0.0, started + at_s - time.perf_counter()))
                    outcome.times_ms["api"] = (time.perf_counter() - started) * 1000
                    path = f"/proxies/{name}/toxics" + (f"/{toxic}" if toxic else "")
                    answer = http.request(method, path, json=body)
                    assert answer.status_code in (200, 204), answer.text
                reader.join(case.read_for_s + 5)
        finally:
            http.delete(f"/proxies/{name}")
        time.sleep(0.05)  # what the upstream got after the client left
        outcome.to_upstream = bytes(upstream.received).removeprefix(b"up" if case.live else b"")
    return outcome


def _timing_gaps(case: Case, embedded: Outcome, real: Outcome) -> list[str]:
    tolerance = TOLERANCE_MS + 2 * case.jitter_ms
    gaps = []
    for moment in sorted(set(embedded.times_ms) | set(real.times_ms)):
        if moment == "api":
            continue
        mine, theirs = embedded.times_ms.get(moment), real.times_ms.get(moment)
        assert mine is not None and theirs is not None, (moment, embedded, real)
        if case.name.startswith("slicer") and moment != "end":
            continue  # piece counts are random draws on either side
        if abs(mine - theirs) > tolerance:
            gaps.append(f"{moment}: embedded {mine:.1f} ms, real {theirs:.1f} ms")
    return gaps


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_traffic_same_outcome_on_both_servers(
    both_servers: tuple[ServerUnderTest, ServerUnderTest], case: Case
) -> None:
    # Bytes and ends must match every time. A timing gap gets one more try:
    # with other engineers' suites on these 2 cores a process can wait 100 ms
    # and more for a core, which says nothing about either proxy.
    for attempt in (1, 2):
        embedded, real = (_run(server, case) for server in both_servers)
        assert embedded.comparable() == real.comparable(), (embedded, real)
        gaps = _timing_gaps(case, embedded, real)
        if not gaps:
            return
        assert attempt == 1, gaps


#: The listed differences of the data path (poslab/proxy/README.md), each
#: asserted as it is on each server: (case, embedded's (end, bytes back),
#: real's (end, bytes back)).
LISTED = [
    (
        # Toxiproxy sets SO_LINGER 0 only on connections opened while a
        # reset_peer existed: one added to a live connection closes with a FIN.
        Case("reset_peer-added-live", {"type": "reset_peer", "attributes": {"timeout": 0}},
             live=True, read_for_s=0.5),
        ("reset", b""),
        ("eof", b""),
    ),
    (
        # Toxiproxy's Cleanup closes every connection on removal, even where
        # the toxicity draw left the timeout inactive (toxicity 0: everywhere).
        Case("timeout-inactive-removed",
             {"type": "timeout", "toxicity": 0.0, "attributes": {"timeout": 0}},
             read_for_s=0.5, then=(0.2, "DELETE", "timeout_downstream", None)),
        ("open", b"ping"),
        ("eof", b"ping"),
    ),
    (
        # Adding a toxic interrupts the last one of the chain on Toxiproxy: a
        # latency toxic lets the chunk it holds go at once (and draws its
        # toxicity again). Here a neighbour's arrival changes nothing.
        Case("latency-then-neighbour-added", {"type": "latency", "attributes": {"latency": 5000}},
             read_for_s=0.6, then=(0.2, "POST", "", {"type": "noop"})),
        ("open", b""),
        ("open", b"ping"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "embedded_end", "real_end"), LISTED, ids=[row[0].name for row in LISTED]
)
def test_listed_data_path_differences_are_exactly_those(
    both_servers: tuple[ServerUnderTest, ServerUnderTest],
    case: Case,
    embedded_end: tuple[str, bytes],
    real_end: tuple[str, bytes],
) -> None:
    embedded, real = (_run(server, case) for server in both_servers)
    assert (embedded.end, embedded.to_client) == embedded_end, embedded
    assert (real.end, real.to_client) == real_end, real
