"""Slow and idle clients cannot starve the acquirer or the proxy's API: a
bounded slowloris on 127.0.0.1 (a fixed number of sockets, a deadline, all
closed by the test) while a real terminal or API client is served.

Before: while 4,096 idle connections were held the acquirer refused every
terminal; one byte every 20 s kept a socket forever; 500 half-sent requests
held the proxy API's sockets for aiohttp's default hour.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import poslab.proxy.server
from tests.acquirer.conftest import Stack, start_stack
from tests.e2e.e2e_helpers import OwnedProxy

pytestmark = pytest.mark.timeout(120)

CAP = 64
HELD = 3 * CAP  # more idle sockets than the acquirer will hold
TRICKLERS = 20
FRAME_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def acquirer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = {
        "day_seconds": 86400.0,
        "idle_timeout_s": 60.0,  # long: the held sockets are not swept by idling
        "frame_timeout_s": FRAME_TIMEOUT_S,
        "max_connections": CAP,
    }
    running = start_stack(tmp_path_factory.mktemp("slowloris"), config)
    yield running
    running.stop()


def _open(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


def test_held_idle_sockets_lock_no_terminal_out(acquirer: Stack) -> None:
    held = _open(acquirer.acquirer.main, HELD)
    try:
        # half of them even start a frame and stop after its first byte
        for sock in held[::2]:
            sock.send(b"\x01")
        started = time.monotonic()
        for _ in range(3):  # terminals keep getting in while the sockets are held
            client = acquirer.signed_on()
            assert client.echo().text(39) == "00"
            client.close()
        served_in = time.monotonic() - started
        assert served_in < 5, served_in
        # the acquirer held its cap, no more: the oldest held sockets made room
        assert sum(_closed(s) for s in held) >= HELD - CAP
    finally:
        _close_all(held)


def test_a_frame_trickled_a_byte_at_a_time_is_cut_off(acquirer: Stack) -> None:
    tricklers = _open(acquirer.acquirer.main, TRICKLERS)
    try:
        for sock in tricklers:
            sock.send(b"\x01")  # a 256+ byte frame announced, never finished
        started = time.monotonic()
        deadline = started + FRAME_TIMEOUT_S + 4
        open_ = list(tricklers)
        while open_ and time.monotonic() < deadline:
            time.sleep(0.2)
            for sock in open_:
                with contextlib.suppress(OSError):
                    sock.send(b"\x00")  # one more byte: activity, but no frame
            open_ = [s for s in open_ if not _closed(s)]
        cut_after = time.monotonic() - started
        assert open_ == [], f"{len(open_)} trickling sockets still open after {cut_after:.1f} s"
        assert cut_after >= FRAME_TIMEOUT_S * 0.9
        # a terminal is served meanwhile and after
        client = acquirer.signed_on()
        assert client.echo().text(39) == "00"
        client.close()
    finally:
        _close_all(tricklers)


PER_PEER = 16


@pytest.fixture(scope="module")
def shared_acquirer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = {"day_seconds": 86400.0, "idle_timeout_s": 60.0, "max_connections_per_peer": PER_PEER}
    running = start_stack(tmp_path_factory.mktemp("per-peer"), config)
    yield running
    running.stop()


def test_one_peer_recycles_its_own_sockets_not_the_others(shared_acquirer: Stack) -> None:
    """A second address on this machine (127.0.0.2, connecting to 127.0.0.1)
    holding more than its share loses its own oldest sockets, never a
    terminal's connection from another peer."""
    terminal = shared_acquirer.signed_on()  # from 127.0.0.1, then idle
    hog: list[socket.socket] = []
    try:
        for _ in range(3 * PER_PEER):
            sock = socket.create_connection(
                ("127.0.0.1", shared_acquirer.acquirer.main),
                timeout=5,
                source_address=("127.0.0.2", 0),
            )
            sock.setblocking(False)
            hog.append(sock)
        time.sleep(0.2)
        assert sum(not _closed(s) for s in hog) <= PER_PEER
        assert terminal.echo().text(39) == "00"  # the same connection, still open
    finally:
        terminal.close()
        _close_all(hog)


HALF_SENT = 500
API_IDLE_S = 1.5


@pytest.fixture
def proxy_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnedProxy]:
    # the API's header/idle timeout, shortened so the test waits seconds
    monkeypatch.setattr(poslab.proxy.server, "API_IDLE_S", API_IDLE_S)
    with OwnedProxy() as proxy:
        yield proxy


def test_half_sent_requests_do_not_hold_the_proxy_api(
    proxy_api: OwnedProxy, tmp_path: Path
) -> None:
    port = int(proxy_api.url.rsplit(":", 1)[1])
    held = _open(port, HALF_SENT)
    try:
        for sock in held:
            sock.send(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        reply = httpx.get(f"{proxy_api.url}/version", timeout=5)
        assert reply.status_code == 200 and time.monotonic() - started < 2
        deadline = started + API_IDLE_S + 5
        still = list(held)
        while still and time.monotonic() < deadline:
            time.sleep(0.2)
            still = [s for s in still if not _closed(s)]
        freed_after = time.monotonic() - started
        assert still == [], f"{len(still)} half-sent requests still held after {freed_after:.1f} s"
        print(f"{HALF_SENT} half-sent requests freed after {freed_after:.1f} s")
    finally:
        _close_all(held)
