"""AgentClient and Merchant without an agent process: tiny stdlib HTTP
servers on 127.0.0.1:0 play the instances."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from poslab.mocks.terminal.agent_client import (
    AgentClient,
    AgentRejected,
    AgentUnavailable,
    ChecksumMismatch,
    TicketReceipt,
)
from poslab.mocks.terminal.merchant import Merchant

Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class _Server:
    def __init__(self, handle: Handler) -> None:
        self.hits = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(length)
                status, headers, body = handle(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _any

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], _Server]]:
    servers: list[_Server] = []

    def start(handle: Handler) -> _Server:
        servers.append(_Server(handle))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


PACKAGE = b"POSPKG\x01\n" + bytes(1000)


def _package(corrupt: bool) -> Handler:
    def handle(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        body = PACKAGE[:-1] + b"X" if corrupt else PACKAGE
        return 200, {"X-Checksum-SHA256": hashlib.sha256(PACKAGE).hexdigest()}, body

    return handle


def test_a_corrupt_package_fails_over_to_the_other_instance(
    serve: Callable[[Handler], _Server],
) -> None:
    bad, good = serve(_package(corrupt=True)), serve(_package(corrupt=False))
    client = AgentClient(bad.url, good.url, timeout_s=1, rng=random.Random(1))
    package = client.download_software("10000001", "020100")
    assert package.path == "backup" and package.body == PACKAGE
    with pytest.raises(ChecksumMismatch):
        AgentClient(bad.url, timeout_s=1).download_software("10000001", "020100")


def test_backoff_skips_a_failed_primary_then_fails_back(
    serve: Callable[[Handler], _Server],
) -> None:
    state = {"primary_up": False}

    def primary(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return (200, {}, b"[]") if state["primary_up"] else (503, {}, b"{}")

    p, b = serve(primary), serve(lambda req: (200, {}, b"[]"))
    now = [100.0]
    client = AgentClient(
        p.url, b.url, timeout_s=1, rng=random.Random(2), backoff_base_s=1.0, clock=lambda: now[0]
    )
    assert client.notifications("898110054110001") == [] and client.last_path == "backup"
    assert p.hits == 1
    client.notifications("898110054110001")
    assert p.hits == 1 and client.last_path == "backup"  # primary skipped while backing off
    state["primary_up"] = True
    now[0] += 1.0  # past the (jittered, ≤ 1 s) backoff
    client.notifications("898110054110001")
    assert client.last_path == "primary" and p.hits == 2


def test_nothing_answers_and_4xx_is_not_failover(
    serve: Callable[[Handler], _Server], tmp_path: Path
) -> None:
    refusing = serve(lambda req: (422, {}, json.dumps({"error": "mid: unknown merchant"}).encode()))
    other = serve(lambda req: (201, {}, b"{}"))
    client = AgentClient(refusing.url, other.url, timeout_s=1, outbox_path=str(tmp_path / "o.db"))
    with pytest.raises(AgentRejected) as caught:
        client.file_ticket("898110054110001", "other", "x")
    assert caught.value.status == 422 and "unknown merchant" in caught.value.detail
    assert other.hits == 0 and client.pending() == 0  # refused once, not retried elsewhere
    dead = AgentClient("http://127.0.0.1:9", timeout_s=0.2)
    with pytest.raises(AgentUnavailable, match="primary"):
        dead.poll_tms("10000001")


def test_the_outbox_survives_the_client_and_keeps_the_key(
    serve: Callable[[Handler], _Server], tmp_path: Path
) -> None:
    keys: list[str] = []

    def accept(req: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        keys.append(req.headers["Idempotency-Key"])
        return 201, {}, json.dumps({"id": "TK-0000000000000001", "state": "open"}).encode()

    outbox = str(tmp_path / "outbox.sqlite")
    first = AgentClient("http://127.0.0.1:9", timeout_s=0.2, outbox_path=outbox)
    queued = first.file_ticket("898110054110001", "other", "printer")
    assert not queued.delivered and first.pending() == 1
    first.close()
    server = serve(accept)
    second = AgentClient(server.url, timeout_s=1, outbox_path=outbox, backoff_cap_s=0.01)
    import poslab.mocks.terminal.agent_outbox as ob

    ob.open_outbox(outbox).retry_later(queued.key, 0.0, "test: due now")
    delivered = second.flush_outbox()
    assert [d.key for d in delivered] == [queued.key] and keys == [queued.key]
    assert delivered[0].ticket_id == "TK-0000000000000001" and delivered[0].path == "primary"
    assert second.flush_outbox() == [] and keys == [queued.key]


class _Desk:
    def __init__(self) -> None:
        self.tickets: list[tuple[str, str, str | None]] = []

    def file_ticket(
        self, mid: str, category: str, summary: str, *, tid: str | None = None, detail: str = ""
    ) -> TicketReceipt:
        self.tickets.append((mid, category, tid))
        return TicketReceipt(f"k{len(self.tickets)}", True, "TK-1", "open", "primary", 1)

    def request_replacement(self, tid: str, reason: str) -> object:
        raise AgentUnavailable("both down")

    def notifications(self, mid: str, since: float = 0.0) -> list[dict[str, object]]:
        return [{"published_at": 5.0, "kind": "settlement_delayed"}] if since < 5.0 else []


def test_merchant_files_one_ticket_per_failure_streak() -> None:
    desk = _Desk()
    merchant = Merchant("898110054110001", desk, failure_threshold=3)  # type: ignore[arg-type]
    results = [
        merchant.transaction_result("10000001", failed=True, reason="timeout") for _ in range(5)
    ]
    assert [r is not None for r in results] == [False, False, True, False, False]
    merchant.transaction_result("10000001", failed=False)
    assert merchant.streak("10000001") == 0
    for _ in range(3):
        merchant.transaction_result("10000001", failed=True)
    assert desk.tickets == [("898110054110001", "transactions_failing", "10000001")] * 2
    outcome = merchant.device_broken("10000001")
    assert outcome.queued and outcome.replacement is None
    assert len(merchant.check_notifications()) == 1 and merchant.check_notifications() == []
