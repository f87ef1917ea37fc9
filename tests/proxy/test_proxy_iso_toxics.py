"""The ISO 8583-aware toxics on real sockets: a scripted host behind the
proxy, a terminal-side client in front of it."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import httpx
import pytest

from poslab.iso8583.framing import Framer, frame
from poslab.iso8583.mac import sign, verify
from poslab.iso8583.message import IsoMessage, decode, encode
from tests.proxy.proxy_helpers import SyncApi, TcpServer, connect, recv_exactly

MAK = bytes(range(16))


def wire(mti: str, rc: str | None = None, stan: str = "000001", *, mac: bool = False) -> bytes:
    fields: dict[int, str | bytes] = {11: stan, 41: "12345678", 42: "123456789012345"}
    if rc is not None:
        fields[39] = rc
    message = IsoMessage(mti, fields)
    if mac:
        message = sign(message, MAK)
    return frame(encode(message))


class ScriptedHost:
    """Answers the first bytes it gets with ``replies`` (one write each)."""

    def __init__(self, replies: Sequence[bytes], gap_s: float = 0.0) -> None:
        self.replies = list(replies)
        self.gap_s = gap_s
        self.requests: list[bytes] = []

    def __call__(self, conn: socket.socket) -> None:
        request = conn.recv(65536)
        self.requests.append(request)
        for reply in self.replies:
            conn.sendall(reply)
            if self.gap_s:
                time.sleep(self.gap_s)
        while conn.recv(65536):
            pass


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    framer = Framer(0xFFFF)
    payloads: list[bytes] = []
    while len(payloads) < count:
        chunk = sock.recv(65536)
        assert chunk, f"EOF after {len(payloads)} of {count} messages"
        payloads += framer.feed(chunk)
    return [frame(p) for p in payloads]


def assert_silent(sock: socket.socket, seconds: float = 0.2) -> None:
    sock.settimeout(seconds)
    with pytest.raises(TimeoutError):
        sock.recv(65536)
    sock.settimeout(5)


@pytest.fixture
def proxies(api: httpx.Client) -> SyncApi:
    return SyncApi(api)


def test_host_approved_but_the_terminal_never_heard(proxies: SyncApi) -> None:
    approval = wire("0210", "00", "000007")
    host = ScriptedHost([approval])
    with TcpServer(host) as upstream:
        port = proxies.create("region-north", upstream.address)
        proxies.add("region-north", "iso_drop", mti=210, rc=0)
        with connect(port) as terminal:
            terminal.sendall(wire("0200", stan="000007"))
            assert_silent(terminal, 0.3)
    assert host.requests == [wire("0200", stan="000007")]  # the host got it and answered


def test_iso_drop_drops_only_matching_messages(proxies: SyncApi) -> None:
    replies = [
        wire("0810", "00", "000001"),
        wire("0210", "00", "000002"),
        wire("0210", "05", "000003"),
        wire("0210", "A0", "000004"),
        wire("0210", "00", "000005"),
        wire("0230", "00", "000006"),
    ]
    with TcpServer(ScriptedHost([b"".join(replies)])) as upstream:
        port = proxies.create("drop", upstream.address)
        proxies.add("drop", "iso_drop", mti="0210", rc="00")  # the string forms work too
        with connect(port) as terminal:
            terminal.sendall(wire("0200"))
            got = read_frames(terminal, 4)
            assert_silent(terminal)
    assert got == [replies[0], replies[2], replies[3], replies[5]]


def test_iso_drop_alphanumeric_code_and_mti_only(proxies: SyncApi) -> None:
    replies = [wire("0210", "A0", "000001"), wire("0210", "00", "000002"), wire("0810", "A0")]
    with TcpServer(ScriptedHost(replies)) as upstream:
        port = proxies.create("a0", upstream.address)
        proxies.add("a0", "iso_drop", rc="A0")
        with connect(port) as terminal:
            terminal.sendall(wire("0200"))
            assert read_frames(terminal, 1) == [replies[1]]
            assert_silent(terminal)


def test_iso_drop_reassembles_frames_cut_into_pieces(proxies: SyncApi) -> None:
    replies = [
        wire("0210", "00", f"00000{i}") if i % 2 else wire("0210", "51", f"00000{i}")
        for i in range(6)
    ]
    with TcpServer(ScriptedHost([b"".join(replies)])) as upstream:
        port = proxies.create("cut", upstream.address)
        proxies.add("cut", "slicer", average_size=7, size_variation=3)
        proxies.add("cut", "iso_drop", mti=210, rc=0)
        with connect(port) as terminal:
            terminal.sendall(wire("0200"))
            assert read_frames(terminal, 3) == replies[0::2]
            assert_silent(terminal)


def test_removing_an_iso_toxic_mid_frame_loses_nothing(proxies: SyncApi) -> None:
    message = wire("0210", "05")
    with TcpServer(ScriptedHost([message[:10], message[10:]], gap_s=0.3)) as upstream:
        port = proxies.create("half", upstream.address)
        proxies.add("half", "iso_drop", mti=210, rc=0)
        with connect(port) as terminal:
            terminal.sendall(wire("0200"))
            time.sleep(0.15)  # the first half is held, waiting for the rest
            proxies.remove("half", "iso_drop_downstream")
            assert recv_exactly(terminal, len(message)) == message


def test_iso_delay_delays_matching_messages_in_order(proxies: SyncApi) -> None:
    replies = [wire("0810", "00"), wire("0210", "00", "000002"), wire("0830", "00")]
    with TcpServer(ScriptedHost(replies)) as upstream:
        port = proxies.create("slowapprove", upstream.address)
        proxies.add("slowapprove", "iso_delay", mti=210, rc=0, latency=200)
        with connect(port) as terminal:
            started = time.perf_counter()
            terminal.sendall(wire("0200"))
            first = read_frames(terminal, 1)
            first_ms = (time.perf_counter() - started) * 1000
            rest = read_frames(terminal, 2)
            rest_ms = (time.perf_counter() - started) * 1000
    assert first + rest == replies
    assert first_ms < 100, first_ms
    assert 195 <= rest_ms <= 230, rest_ms


def test_iso_corrupt_mac_breaks_only_the_mac(proxies: SyncApi) -> None:
    approval = wire("0210", "00", mac=True)
    sign_on = wire("0810", "00", mac=True)
    with TcpServer(ScriptedHost([approval, sign_on])) as upstream:
        port = proxies.create("mac", upstream.address)
        proxies.add("mac", "iso_corrupt_mac", mti=210)
        with connect(port) as terminal:
            terminal.sendall(wire("0200"))
            corrupted, untouched = read_frames(terminal, 2)
    assert untouched == sign_on and verify(sign_on[2:], MAK)
    assert corrupted != approval and not verify(corrupted[2:], MAK)
    assert corrupted[:-8] == approval[:-8]
    original, changed = decode(approval[2:]), decode(corrupted[2:])
    assert {k: v for k, v in changed.fields.items() if k != 64} == {
        k: v for k, v in original.fields.items() if k != 64
    }


def test_a_stream_that_is_not_iso_passes_through(proxies: SyncApi, echo_server: TcpServer) -> None:
    port = proxies.create("plain", echo_server.address)
    proxies.add("plain", "iso_drop", stream="upstream")
    with connect(port) as sock:
        sock.sendall(b"\x00\x00GET / HTTP/1.0\r\n\r\n")
        assert recv_exactly(sock, 20) == b"\x00\x00GET / HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize(
    ("attributes", "shown"),
    [
        ({"mti": 210, "rc": 0}, {"mti": 210, "rc": 0}),
        ({"mti": "0210", "rc": "05"}, {"mti": 210, "rc": 5}),
        ({"rc": "a0"}, {"mti": 0, "rc": "A0"}),
        ({}, {"mti": 0, "rc": -1}),
    ],
)
def test_iso_attributes_are_normalised(
    api: httpx.Client, attributes: dict[str, object], shown: dict[str, object]
) -> None:
    SyncApi(api).create("attrs", "127.0.0.1:9")
    reply = api.post("/proxies/attrs/toxics", json={"type": "iso_drop", "attributes": attributes})
    assert reply.status_code == 200
    assert reply.json()["attributes"] == shown


@pytest.mark.parametrize(
    "attributes",
    [
        {"mti": "21"},
        {"mti": 10000},
        {"rc": "ABC"},
        {"rc": -2},
        {"rc": 100},
        {"rc": True},
        {"mti": 2.1},
    ],
)
def test_iso_attributes_are_checked(api: httpx.Client, attributes: dict[str, object]) -> None:
    SyncApi(api).create("attrs", "127.0.0.1:9")
    reply = api.post("/proxies/attrs/toxics", json={"type": "iso_drop", "attributes": attributes})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"].startswith("bad request body: ")
