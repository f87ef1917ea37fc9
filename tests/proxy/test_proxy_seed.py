"""``--seed`` makes toxicity and jitter draws repeatable, derived as
poslab/proxy/draws.py documents: one generator per (seed, proxy, connection
ordinal, direction, toxic)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.proxy.proxy_helpers import (
    LATE_MS,
    ProxyProcess,
    SyncApi,
    TcpServer,
    connect,
    recv_exactly,
)

SEED = 7


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncApi]:
    server = ProxyProcess(tmp_path_factory.mktemp("seeded"), "--seed", str(SEED))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield SyncApi(http)
    server.stop()


def _expected_active(proxy: str, ordinal: int, toxicity: float) -> bool:
    key = f"{SEED}/{proxy}/{ordinal}/downstream/latency_downstream/toxicity/0"
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < toxicity


def _delayed_pattern(seeded: SyncApi, echo_address: str, connections: int) -> list[bool]:
    """Which connections a 150 ms latency toxic with toxicity 0.5 delays. Two
    round trips each, the faster one counts: a stall of the machine cannot
    make a connection look delayed."""
    port = seeded.create("dice", echo_address)
    seeded.add("dice", "latency", latency=150, toxicity=0.5)
    pattern = []
    for _ in range(connections):
        with connect(port) as sock:
            fastest = 1.0
            for _ in range(2):
                started = time.perf_counter()
                sock.sendall(b"?")
                recv_exactly(sock, 1)
                fastest = min(fastest, time.perf_counter() - started)
            pattern.append(fastest > 0.1)
    assert seeded.http.delete("/proxies/dice").status_code == 204
    return pattern


def test_toxicity_draws_repeat_with_the_seed(seeded: SyncApi, echo_server: TcpServer) -> None:
    expected = [_expected_active("dice", n, 0.5) for n in range(8)]
    assert 0 < sum(expected) < 8  # seed 7 gives a mix: the check can tell
    assert _delayed_pattern(seeded, echo_server.address, 8) == expected
    # the same proxy name again: ordinals from 0, the same draws
    assert _delayed_pattern(seeded, echo_server.address, 8) == expected


def test_jitter_draws_repeat_with_the_seed(seeded: SyncApi, echo_server: TcpServer) -> None:
    port = seeded.create("jitter", echo_server.address)
    seeded.add("jitter", "latency", latency=60, jitter=50)
    draws = random.Random(f"{SEED}/jitter/0/downstream/latency_downstream/data")
    with connect(port) as sock:
        for _ in range(6):
            expected_ms = 60 + draws.randrange(100) - 50
            started = time.perf_counter()
            sock.sendall(b"!")
            recv_exactly(sock, 1)
            measured_ms = (time.perf_counter() - started) * 1000
            # never early (jitter is whole milliseconds); at most LATE_MS late
            assert expected_ms - 1 <= measured_ms <= expected_ms + LATE_MS, (
                measured_ms,
                expected_ms,
            )
