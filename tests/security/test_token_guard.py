"""Off loopback every mutating or secret-revealing endpoint needs the token, by
the kit's one rule (every path but /health); services that call each other
carry it; a bare token (no "Bearer") is refused like a wrong one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import BEARER, TOKEN, GuardedStack

pytestmark = pytest.mark.timeout(120)

WRONG: list[dict[str, Any]] = [
    {},
    {"Authorization": TOKEN},  # bare token
    {"Authorization": f"bearer {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": "Basic " + TOKEN},
    {"Authorization": b"Bearer \xe9\xff"},  # not even text
]

AIOHTTP_ROUTES = {
    "acquirer": [
        ("GET", "/metrics"),
        ("GET", "/admin/faults"),
        ("POST", "/admin/faults/issuer_timeout"),
        ("DELETE", "/admin/faults/issuer_timeout"),
        ("POST", "/admin/reset"),
        ("POST", "/admin/terminals"),
        ("GET", "/admin/terminals/10000001"),
        ("POST", "/admin/terminals/10000001/retire"),
        ("GET", "/admin/state"),
        ("GET", "/admin/batches"),
        ("GET", "/admin/payouts"),
        ("GET", "/admin/export/transactions"),
        ("GET", "/admin/settlement"),
        ("POST", "/admin/settlement/run"),
        ("GET", "/no/such/path"),
    ],
    "issuer": [
        ("GET", "/metrics"),
        ("GET", "/admin/faults"),
        ("POST", "/admin/faults/slow"),
        ("POST", "/admin/reset"),
        ("GET", "/admin/state"),
        ("GET", "/admin/export/issuer"),
    ],
}


def _agent_routes(agent_url: str) -> list[tuple[str, str]]:
    """Every operation of the agent's OpenAPI document, with example path
    values, plus what the document leaves out (/metrics, the peer protocol)."""
    document = httpx.get(f"{agent_url}/openapi.json", headers=BEARER, timeout=10).json()
    samples = {
        "tid": "10000001",
        "mid": "898000000000001",
        "order_id": "OR-0123456789ABCDEF",
        "app_id": "AP-0123456789ABCDEF",
        "ticket_id": "TK-0123456789ABCDEF",
        "sha256": "0" * 64,
        "version": "020000",
        "name": "slow",
    }
    routes = []
    for path, operations in document["paths"].items():
        for method in operations:
            concrete = path
            for name, value in samples.items():
                concrete = concrete.replace("{" + name + "}", value)
            assert "{" not in concrete, f"no sample for {path}"
            routes.append((method.upper(), concrete))
    return [*routes, ("GET", "/metrics"), ("GET", "/sync/changes"), ("GET", "/nowhere")]


def _refused_everywhere(base: str, routes: list[tuple[str, str]]) -> list[str]:
    """What answered anything but 401 to a request without the right token."""
    wrong = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for method, path in routes:
            if path == "/health":
                continue
            for headers in WRONG:
                reply = client.request(method, path, headers=headers, json={})
                if reply.status_code != 401 or "error" not in reply.json():
                    wrong.append(f"{method} {path} {headers!r} → {reply.status_code}")
    return wrong


def test_every_path_but_health_needs_the_token(guarded: GuardedStack) -> None:
    agent_routes = _agent_routes(guarded.agent.url)
    # the secret-revealing and mutating business routes are among them
    for route in (
        ("POST", "/terminals/10000001/replacement"),
        ("GET", "/terminals/10000001/replacement"),
        ("POST", "/terminals/orders"),
        ("PUT", "/tms/defaults"),
    ):
        assert route in agent_routes, route
    wrong = _refused_everywhere(guarded.agent.url, agent_routes)
    wrong += _refused_everywhere(guarded.acquirer_admin, AIOHTTP_ROUTES["acquirer"])
    wrong += _refused_everywhere(guarded.issuer_admin, AIOHTTP_ROUTES["issuer"])
    assert wrong == [], "\n".join(wrong)
    for base in (guarded.agent.url, guarded.acquirer_admin, guarded.issuer_admin):
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        metrics = httpx.get(f"{base}/metrics", headers=BEARER, timeout=10)
        assert metrics.status_code == 200 and "# TYPE" in metrics.text


def test_a_replacement_needs_the_token_and_reaches_the_acquirer_with_it(
    guarded: GuardedStack,
) -> None:
    old = guarded.world.terminals[5]
    url = f"{guarded.agent.url}/terminals/{old.tid}/replacement"
    body = {"reason": "screen cracked"}
    refused = httpx.post(url, json=body, headers={"Idempotency-Key": "replace-5"}, timeout=10)
    assert refused.status_code == 401 and "tmk" not in refused.text
    # nothing was started by the refused request
    assert httpx.get(url, headers=BEARER, timeout=10).status_code == 404

    headers = {**BEARER, "Idempotency-Key": "replace-5"}
    reply = httpx.post(url, json=body, headers=headers, timeout=10)
    assert reply.status_code == 201, reply.text
    replacement = reply.json()
    # the agent carried the token to the acquirer: registered and retired there
    assert replacement["state"] == "completed", replacement["last_error"]
    new_tid = replacement["new_tid"]
    seen = httpx.get(f"{guarded.acquirer_admin}/admin/terminals/{new_tid}", headers=BEARER)
    assert seen.status_code == 200, seen.text


def test_the_agent_client_carries_the_token(guarded: GuardedStack, tmp_path: object) -> None:
    from pathlib import Path

    from poslab.mocks.terminal.agent_client import AgentClient

    old = guarded.world.terminals[6]
    outbox = Path(str(tmp_path)) / "outbox.sqlite"
    client = AgentClient(guarded.agent.url, None, outbox_path=str(outbox), token=TOKEN)
    try:
        assert client.poll_tms(old.tid).latest
        replacement = client.request_replacement(old.tid, "keypad dead")
        assert len(bytes.fromhex(replacement.tmk)) == 16
    finally:
        client.close()
    # the outbox kept the proof of delivery, not the key (WAL included)
    stored = b"".join(p.read_bytes() for p in outbox.parent.glob("outbox.sqlite*"))
    assert replacement.tmk.encode() not in stored.upper()
    assert b"keypad dead" in stored  # the request itself is kept
