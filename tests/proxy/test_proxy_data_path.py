"""The data path with real sockets: the proxy runs as its own process, the
upstream servers and clients here, all on 127.0.0.1. Timing checks use
Toxiproxy's own tolerances (latency within ±(jitter + 10 ms), 480 KB through
1000 KB/s in 480 ms ± 10 ms, reset within timeout + 10 ms)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import httpx
import pytest

from tests.proxy.proxy_helpers import (
    LATE_MS,
    Recorder,
    SyncApi,
    TcpServer,
    connect,
    recv_exactly,
    recv_until_closed,
)


@pytest.fixture
def proxies(proxy_api: httpx.Client) -> SyncApi:
    return SyncApi(proxy_api)


def _rtt_ms(sock: socket.socket, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return (time.perf_counter() - started) * 1000


def test_bytes_cross_both_ways_without_toxics(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("plain", echo_server.address)
    payload = bytes(range(256)) * 4096  # 1 MiB
    with connect(port) as sock:
        reader = threading.Thread(target=lambda: received.append(recv_exactly(sock, len(payload))))
        received: list[bytes] = []
        reader.start()
        sock.sendall(payload)
        reader.join(10)
    assert received == [payload]


def test_latency_within_jitter_plus_10ms(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("lat", echo_server.address)
    proxies.add("lat", "latency", latency=100, jitter=20)
    with connect(port) as sock:
        samples = [_rtt_ms(sock) for _ in range(5)]
    assert all(80 <= ms <= 120 + LATE_MS for ms in samples), samples


def test_stacked_latencies_add(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("stack", echo_server.address)
    proxies.add("stack", "latency", "upstream", latency=30)
    proxies.add("stack", "latency", "downstream", latency=30)
    proxies.add("stack", "latency", "downstream", name="more", latency=40)
    with connect(port) as sock:
        samples = [_rtt_ms(sock) for _ in range(3)]
    assert all(100 <= ms <= 100 + LATE_MS for ms in samples), samples


def test_latency_is_pipelined_not_a_throughput_cap(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("pipe", echo_server.address)
    proxies.add("pipe", "latency", "upstream", latency=50)
    payload = b"x" * (8 << 20)
    with connect(port) as sock:
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(recv_exactly(sock, len(payload))))
        started = time.perf_counter()
        reader.start()
        sock.sendall(payload)
        reader.join(20)
        elapsed = time.perf_counter() - started
    assert received and received[0] == payload
    # 8 MiB with a 50 ms delay per chunk: capped it would take minutes.
    assert elapsed < 1.5, elapsed


def test_bandwidth_480kb_at_1000kbps_takes_480ms(proxies: SyncApi) -> None:
    payload = b"hello world " * 40000  # 480 KB
    recorder = Recorder(expected=len(payload))
    with TcpServer(recorder) as upstream:
        port = proxies.create("bw", upstream.address)
        proxies.add("bw", "bandwidth", "upstream", rate=1000)
        with connect(port) as sock:
            started = time.perf_counter()
            sock.sendall(payload)
            assert recorder.done.wait(5)
    elapsed_ms = (recorder.done_at - started) * 1000
    assert bytes(recorder.data) == payload
    assert 470 <= elapsed_ms <= 480 + LATE_MS, elapsed_ms


def test_reset_peer_gives_econnreset_within_timeout_plus_10ms(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("rst", echo_server.address)
    proxies.add("rst", "reset_peer", timeout=100)
    with connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert 99 <= elapsed_ms <= 100 + LATE_MS, elapsed_ms


def test_reset_peer_upstream_resets_both_sides(proxies: SyncApi) -> None:
    outcome: list[str] = []

    def upstream_side(conn: socket.socket) -> None:
        try:
            outcome.append("eof" if conn.recv(10) == b"" else "data")
        except ConnectionResetError:
            outcome.append("reset")

    with TcpServer(upstream_side) as upstream:
        port = proxies.create("rst-up", upstream.address)
        proxies.add("rst-up", "reset_peer", "upstream", timeout=0)
        with connect(port) as sock:
            sock.sendall(b"hello")
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
        upstream.wait_closed(1)
    assert outcome == ["reset"]


def test_no_byte_lost_across_65535_writes_while_latency_comes_and_goes(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("churn", echo_server.address)
    expected = b"".join(struct.pack(">H", i) for i in range(65535))
    stop = threading.Event()
    toggles = 0

    def churn() -> None:
        nonlocal toggles
        while not stop.is_set():
            proxies.add("churn", "latency", "upstream", latency=1)
            proxies.add("churn", "latency", "downstream", latency=1, jitter=1)
            proxies.remove("churn", "latency_upstream")
            proxies.remove("churn", "latency_downstream")
            toggles += 1

    with connect(port, timeout=30) as sock:
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(recv_exactly(sock, len(expected))))
        reader.start()
        churner = threading.Thread(target=churn)
        churner.start()
        try:
            for offset in range(0, len(expected), 2):
                sock.sendall(expected[offset : offset + 2])
            reader.join(30)
        finally:
            stop.set()
            churner.join(10)
    assert received and received[0] == expected
    assert toggles >= 10, toggles


def test_removing_a_timeout_toxic_closes_its_connections(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("hold", echo_server.address)
    proxies.add("hold", "timeout", timeout=0)
    with connect(port) as sock:
        sock.sendall(b"into the void")
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.settimeout(2)
        proxies.remove("hold", "timeout_downstream")
        assert recv_until_closed(sock) == b""
    echo_server.wait_closed(1, timeout=2)


def test_timeout_closes_after_the_last_chunk(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("tmo", echo_server.address)
    proxies.add("tmo", "timeout", "upstream", timeout=150)
    with connect(port) as sock:
        time.sleep(0.1)
        started = time.perf_counter()
        sock.sendall(b"restart the timer")
        assert recv_until_closed(sock) == b""
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert 145 <= elapsed_ms <= 150 + LATE_MS, elapsed_ms


def test_removing_other_toxics_flushes_what_they_held(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("flush", echo_server.address)
    proxies.add("flush", "latency", latency=5000)
    with connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"held")
        time.sleep(0.1)
        proxies.remove("flush", "latency_downstream")
        assert recv_exactly(sock, 4) == b"held"
        assert time.perf_counter() - started < 0.5


def test_update_releases_the_held_chunk_and_restarts_with_new_values(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    """Toxiproxy's latency toxic writes the chunk it is delaying when it is
    interrupted: an update lets it go at once; later chunks get the new delay."""
    port = proxies.create("upd", echo_server.address)
    proxies.add("upd", "latency", latency=5000)
    with connect(port) as sock:
        sock.sendall(b"held")
        time.sleep(0.1)
        updated = time.perf_counter()
        proxies.update("upd", "latency_downstream", {"attributes": {"latency": 200}})
        assert recv_exactly(sock, 4) == b"held"
        # Held to the new latency it would come 100 ms after the update (sent
        # 100 ms before it); let go, it comes with the answer (+ API call slack).
        assert time.perf_counter() - updated <= (LATE_MS + 40) / 1000
        assert 199 <= _rtt_ms(sock) <= 200 + LATE_MS


def _open_connections(port: int, count: int) -> list[socket.socket]:
    socks = [connect(port) for _ in range(count)]
    for sock in socks:
        assert _rtt_ms(sock, b"up") >= 0
    return socks


def test_disabling_closes_every_socket(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("down", echo_server.address)
    socks = _open_connections(port, 5)
    try:
        proxies.set_enabled("down", False)
        for sock in socks:
            with contextlib.suppress(ConnectionResetError):  # a reset is closed too
                assert sock.recv(10) == b""
        echo_server.wait_closed(5, timeout=2)
        with pytest.raises(ConnectionRefusedError):
            connect(port)
        proxies.set_enabled("down", True)
        with connect(port) as again:
            assert _rtt_ms(again) >= 0
    finally:
        for sock in socks:
            sock.close()


def test_deleting_closes_every_socket(proxy_api: httpx.Client, echo_server: TcpServer) -> None:
    port = SyncApi(proxy_api).create("gone", echo_server.address)
    socks = _open_connections(port, 3)
    assert proxy_api.delete("/proxies/gone").status_code == 204
    for sock in socks:
        with sock:
            assert recv_until_closed(sock) == b""
    echo_server.wait_closed(3, timeout=2)


def test_a_refusing_upstream_closes_the_client(proxies: SyncApi) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        dead = placeholder.getsockname()[1]
    port = proxies.create("refused", f"127.0.0.1:{dead}")
    with connect(port) as sock:
        assert recv_until_closed(sock) == b""


def test_a_toxic_added_live_reaches_every_connection(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("live", echo_server.address)
    socks = _open_connections(port, 50)
    try:
        proxies.add("live", "latency", latency=100)
        samples = [_rtt_ms(sock) for sock in socks[::7]]
        # The point is that every connection has it (>= 100 ms), once (a
        # toxic applied twice would make it >= 200 ms).
        assert all(99 <= ms < 200 for ms in samples), samples
    finally:
        for sock in socks:
            sock.close()


def test_toxicity_is_drawn_per_connection_and_redrawn_on_update(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("dice", echo_server.address)
    proxies.add("dice", "latency", latency=150, toxicity=0.5)
    socks = [connect(port) for _ in range(16)]
    try:
        delayed = []
        for sock in socks:
            first, second = _rtt_ms(sock), _rtt_ms(sock)
            assert (first > 100) == (second > 100), (first, second)  # same draw for both
            delayed.append(first > 100)
        assert 0 < sum(delayed) < len(socks), delayed
        proxies.update("dice", "latency_downstream", {"toxicity": 1.0})
        assert all(_rtt_ms(sock) > 100 for sock in socks[:6])
        proxies.update("dice", "latency_downstream", {"toxicity": 0.0})
        assert all(_rtt_ms(sock) < 100 for sock in socks[:6])
    finally:
        for sock in socks:
            sock.close()


def _reply_and_close(conn: socket.socket) -> None:
    conn.recv(10)
    conn.sendall(b"bye")


@pytest.mark.parametrize("remove_during_delay", [False, True])
def test_slow_close_delays_the_close(proxies: SyncApi, remove_during_delay: bool) -> None:
    """The close waits ``delay``; removing the toxic meanwhile hands the EOF on."""
    with TcpServer(_reply_and_close) as upstream:
        port = proxies.create("slow", upstream.address)
        proxies.add("slow", "slow_close", delay=5000 if remove_during_delay else 200)
        with connect(port) as sock:
            started = time.perf_counter()
            sock.sendall(b"hi")
            assert recv_exactly(sock, 3) == b"bye"
            if remove_during_delay:
                time.sleep(0.1)  # the EOF is held by slow_close now
                proxies.remove("slow", "slow_close_downstream")
            assert recv_until_closed(sock) == b""
            elapsed_ms = (time.perf_counter() - started) * 1000
    if remove_during_delay:
        assert elapsed_ms < 1000, elapsed_ms
    else:
        assert 195 <= elapsed_ms <= 230, elapsed_ms


def test_limit_data_forwards_that_many_bytes_then_closes(
    proxies: SyncApi, echo_server: TcpServer
) -> None:
    port = proxies.create("cap", echo_server.address)
    proxies.add("cap", "limit_data", bytes=10)
    with connect(port) as sock:
        sock.sendall(b"0123456789abcdefghij")
        assert recv_until_closed(sock) == b"0123456789"


def test_slicer_cuts_and_paces(proxies: SyncApi) -> None:
    recorder = Recorder(expected=200)
    with TcpServer(recorder) as upstream:
        port = proxies.create("slices", upstream.address)
        proxies.add("slices", "slicer", "upstream", average_size=20, size_variation=5, delay=3000)
        with connect(port) as sock:
            started = time.perf_counter()
            sock.sendall(bytes(range(200)))
            assert recorder.done.wait(3)
    assert bytes(recorder.data) == bytes(range(200))
    # Pieces of 15-25 bytes, 3 ms apart; a reader woken late (a loaded
    # machine) may get two or three at once, so the median read is what counts.
    reads = sorted(recorder.sizes)
    assert len(reads) >= 5 and reads[len(reads) // 2] <= 50, recorder.sizes
    assert recorder.done_at - started >= 0.02
