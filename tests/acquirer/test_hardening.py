"""Hostile input: broken and oversize frames, undecodable messages, idle and
excess connections, and a fuzz run of more than 10,000 random and mutated
frames after which the host still answers valid requests correctly."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poslab.iso8583 import (
    BatchDetail,
    Card,
    CardTotals,
    EmptyFrame,
    Framer,
    IsoMessage,
    OriginalRef,
    SettlementTotals,
    batch_upload_request,
    decode,
    encode,
    frame,
    reversal_request,
    sale_request,
    settlement_request,
    sign,
    sign_on_request,
    void_request,
)
from tests.acquirer.conftest import Stack, start_stack
from tests.acquirer.terminal_client import TerminalClient


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def _connect(stack: Stack) -> socket.socket:
    return socket.create_connection(("127.0.0.1", stack.acquirer.main), timeout=5)


def test_oversize_and_empty_frames_close_the_connection(host: Stack) -> None:
    with _connect(host) as sock:
        sock.sendall(b"\xff\xff" + b"\x00" * 100)
        assert _closed_within(sock, 2)
    with _connect(host) as sock:
        sock.sendall(b"\x00\x00")
        assert _closed_within(sock, 2)
    assert host.acquirer.get("/health").status_code == 200


def test_undecodable_message_is_answered_30_when_it_can_be_addressed(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    payload = bytearray(
        encode(sale_request(client.identity, "123456", client.batch, 100, client.card(card)))
    )
    # field 4 (amount) sits after 2 (LLVAR), 3 and 11... corrupt a BCD digit of the amount
    payload[-5] = 0xAB
    client.send_raw(frame(bytes(payload)))
    raw = client.read_payload()
    assert raw is not None
    reply = decode(raw)
    assert reply.mti == "0210" and reply.text(39) == "30"
    # an MTI that is not even BCD cannot be answered: the connection goes
    client.send_raw(
        frame(b"\x60\x00\x03\x00\x00" + b"\x60\x31\x00\x02\x01\x00" + b"\xff\xff" + b"\x00" * 8)
    )
    assert client.read_payload() is None


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(
        tmp_path_factory.mktemp("hardened"),
        {"day_seconds": 86400.0, "idle_timeout_s": 0.4, "max_connections": 3},
    )
    yield running
    running.stop()


def test_idle_connections_are_closed(hardened: Stack) -> None:
    with _connect(hardened) as sock:
        started = time.monotonic()
        assert _closed_within(sock, 5)
        assert 0.35 <= time.monotonic() - started < 2.5


def test_a_connection_over_the_cap_takes_the_place_of_the_quietest(hardened: Stack) -> None:
    """At the cap a new connection is not refused while an idle one can make
    room: the one quiet longest is closed (held sockets lock no terminal out)."""
    clients = [hardened.client(hardened.take()) for _ in range(3)]
    for client in clients:
        assert client.sign_on().text(39) == "00"
    with _connect(hardened) as extra:
        assert not _closed_within(extra, 0.1)  # admitted
        assert _closed_within(clients[0].connect(), 1)  # the quietest made room
    clients[0].close()
    time.sleep(0.05)  # the host notices the close
    again = hardened.client(clients[0].terminal)
    assert again.sign_on().text(39) == "00"
    for client in [again, *clients[1:]]:
        client.close()


# -- fuzz ---------------------------------------------------------------------

FRAMES_PER_EXAMPLE = 100
EXAMPLES = 110
HANDLED: list[int] = [0]  # frames the host answered or refused


def _seeds(stack: Stack) -> list[bytes]:
    """Valid payloads of every request type, signed with a real session."""
    client = stack.signed_on()
    keys = client.keys
    assert keys is not None
    card = stack.cards(client.terminal)[0]
    ident, batch = client.identity, client.batch
    sale = sale_request(
        ident, "000500", batch, 1234, Card(card.pan, expiry=card.expiry), client.pin_block(card)
    )
    messages: list[IsoMessage] = [
        sign_on_request(ident, "000501", batch, "004"),
        sign(sale, keys.mak),
        sign(
            void_request(
                ident,
                "000502",
                batch,
                1234,
                Card(card.pan),
                "000000000001",
                OriginalRef(batch, "000500"),
            ),
            keys.mak,
        ),
        sign(reversal_request(sale, "98"), keys.mak),
        sign(
            settlement_request(ident, "000503", batch, SettlementTotals(CardTotals(1, 1, 0, 0))),
            keys.mak,
        ),
        sign(
            batch_upload_request(
                ident, "000504", batch, [BatchDetail("00", "000500", card.pan, 1234)]
            ),
            keys.mak,
        ),
    ]
    return [encode(m) for m in messages]


_MUTATIONS = ("flip", "byte", "truncate", "insert", "bitmap", "length")


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    payload = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(_MUTATIONS)
        position = rng.randrange(max(1, len(payload)))
        if kind == "flip" and payload:
            payload[position] ^= 1 << rng.randrange(8)
        elif kind == "byte" and payload:
            payload[position] = rng.randrange(256)
        elif kind == "truncate":
            del payload[position:]
        elif kind == "insert":
            payload[position:position] = rng.randbytes(rng.randint(1, 8))
        elif kind == "bitmap" and len(payload) > 20:
            payload[13 + rng.randrange(8)] = rng.randrange(256)
        elif kind == "length" and len(payload) > 40:
            payload[rng.randrange(21, len(payload))] = rng.choice((0x00, 0x99, 0xFF))
    return bytes(payload)


def _frames(seed: int, noise: bytes, seeds: list[bytes]) -> list[bytes]:
    """``FRAMES_PER_EXAMPLE`` frames from one hypothesis draw: mutated valid
    requests (60 %), framed random bytes (30 %) and unframed bytes (10 %)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for _ in range(FRAMES_PER_EXAMPLE):
        choice = rng.randrange(10)
        if choice < 6:
            mutated = _mutate(rng, rng.choice(seeds))
            out.append(frame(mutated) if mutated else b"\x00\x00")  # nothing left: an empty frame
            continue
        size = rng.randint(1, 200)
        start = rng.randrange(len(noise)) if noise else 0
        body = (noise[start:] + rng.randbytes(size))[:size]
        out.append(frame(body) if choice < 9 else body[:64])
    return out


def _blast(stack: Stack, frames: list[bytes]) -> None:
    """Send each frame and wait for its fate: a reply, or the host closing the
    connection. A frame whose length prefix promises more than was sent gets
    neither; after a short wait the connection is dropped."""
    sock: socket.socket | None = None
    framer = Framer(65535)
    for payload in frames:
        if sock is None:
            sock = _connect(stack)
            sock.settimeout(0.1)
            framer = Framer(65535)
        try:
            sock.sendall(payload)
            while not framer.feed(sock.recv(65536) or b"\x00\x00"):
                pass
            HANDLED[0] += 1
        except EmptyFrame:  # the host closed the connection: the frame was refused
            HANDLED[0] += 1
            sock.close()
            sock = None
        except OSError:  # no answer (a lying length prefix) or reset
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def _handled_by_host(stack: Stack) -> int:
    total = 0
    for line in stack.acquirer.get("/metrics").text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name in (
            "acquirer_requests_total",
            "acquirer_frames_rejected_total",
            "acquirer_undecodable_total",
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_fuzz_then_the_host_still_answers_correctly(stack: Stack) -> None:
    seeds = _seeds(stack)
    handled_before, host_before = HANDLED[0], _handled_by_host(stack)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(seed=st.integers(0, 2**32 - 1), noise=st.binary(max_size=512))
    def blast(seed: int, noise: bytes) -> None:
        _blast(stack, _frames(seed, noise, seeds))

    blast()
    assert HANDLED[0] - handled_before >= 10_000
    assert _handled_by_host(stack) - host_before >= 10_000
    assert stack.acquirer.proc.poll() is None
    assert stack.acquirer.get("/health").status_code == 200
    client: TerminalClient = stack.signed_on()
    card = stack.cards(client.terminal)[0]
    reply = client.sale(card, 4_242)
    assert reply.text(39) == "00"  # and its MAC verified in the client
    assert client.void(card, 4_242, reply).text(39) == "00"
    log = stack.acquirer.log_text()
    assert "Traceback" not in log and "unexpected failure" not in log
    assert card.pan not in log
