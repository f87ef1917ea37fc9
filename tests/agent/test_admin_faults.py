"""The admin fault API of docs/faults.md on a real process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from poslab.world import World
from tests.agent.conftest import AgentFleet, AgentProcess


@pytest.fixture
def admin(shared_agent: AgentProcess) -> Iterator[httpx.Client]:
    with shared_agent.client() as c:
        yield c
        assert c.post("/admin/reset").status_code == 200


def test_slow_delays_business_requests_only(admin: httpx.Client, agent_world: World) -> None:
    tid = agent_world.terminals[0].tid
    reply = admin.post("/admin/faults/slow", json={"delay_ms": 300})
    assert reply.status_code == 200
    assert reply.json() == {"fault": "slow", "params": {"delay_ms": 300}}
    assert admin.get("/admin/faults").json() == {"active": {"slow": {"delay_ms": 300}}}
    started = time.monotonic()
    assert admin.get(f"/tms/terminals/{tid}").status_code == 200
    slow = time.monotonic() - started
    started = time.monotonic()
    assert admin.get("/health").status_code == 200
    fast = time.monotonic() - started
    assert 0.3 <= slow < 0.3 + 0.5
    assert fast < 0.3  # a delayed /health could not answer before the 300 ms sleep
    assert admin.delete("/admin/faults/slow").status_code == 200
    assert admin.delete("/admin/faults/slow").status_code == 200  # idempotent
    assert admin.get("/admin/faults").json() == {"active": {}}


def test_errors_share(admin: httpx.Client, agent_world: World) -> None:
    tid = agent_world.terminals[0].tid
    admin.post("/admin/faults/errors", json={"share": 1.0})
    reply = admin.get(f"/tms/terminals/{tid}")
    assert reply.status_code == 503 and reply.headers["retry-after"] == "1"
    admin.post("/admin/faults/errors", json={"share": 0.5})
    codes = [admin.get(f"/tms/terminals/{tid}").status_code for _ in range(200)]
    assert set(codes) == {200, 503}
    assert 60 <= codes.count(503) <= 140  # binomial(200, 0.5): far outside ±40 is a bug
    admin.post("/admin/faults/errors", json={"share": 0.0})
    assert admin.get(f"/tms/terminals/{tid}").status_code == 200


def test_subsystem_down_hits_that_subsystem_only(admin: httpx.Client, agent_world: World) -> None:
    tid, mid = agent_world.terminals[0].tid, agent_world.terminals[0].mid
    admin.post("/admin/faults/subsystem_down", json={"subsystem": "tms"})
    assert admin.get(f"/tms/terminals/{tid}").status_code == 503
    assert admin.get("/tms/software").status_code == 503
    ticket = admin.post(
        "/tickets",
        json={"mid": mid, "category": "parameters", "summary": "TMS unreachable"},
        headers={"Idempotency-Key": "fault-test-ticket-1"},
    )
    assert ticket.status_code == 201
    admin.post("/admin/faults/subsystem_down", json={"subsystem": "tickets"})
    assert admin.get(f"/tickets/{ticket.json()['id']}").status_code == 503
    assert admin.get(f"/tms/terminals/{tid}").status_code == 200  # replaced the tms fault
    assert admin.get(f"/terminals/{tid}").status_code == 200


def test_bad_fault_requests(admin: httpx.Client) -> None:
    unknown = admin.post("/admin/faults/meteor", json={})
    # the JSON error shape of every mock's admin API (docs/faults.md)
    assert unknown.status_code == 404 and "subsystem_down" in unknown.json()["error"]
    assert admin.post("/admin/faults/errors", json={"share": 2}).status_code == 422
    assert admin.post("/admin/faults/slow", json={}).status_code == 422
    reply = admin.post("/admin/faults/subsystem_down", json={"subsystem": "coffee"})
    assert reply.status_code == 422 and "subsystem" in reply.json()["error"]
    assert admin.get("/admin/faults").json() == {"active": {}}


def test_metrics_count_requests(admin: httpx.Client, agent_world: World) -> None:
    admin.get(f"/tms/terminals/{agent_world.terminals[0].tid}")
    reply = admin.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    tms = (("instance", "primary"), ("status", "200"), ("subsystem", "tms"))
    assert samples[("agent_requests_total", tms)] >= 1
    timed = (("instance", "primary"), ("le", "+Inf"), ("subsystem", "tms"))
    assert samples[("agent_request_seconds_bucket", timed)] >= 1
    assert ("agent_processing", (("instance", "primary"),)) in samples
    assert samples[("agent_sync_pulls_total", (("instance", "primary"),))] >= 0


def test_off_loopback_the_admin_api_needs_the_token(agents: AgentFleet) -> None:
    # 127.0.0.2 is still this machine, but not the loopback name the agent
    # trusts without a token
    agent = agents.agent("primary", extra=("--host", "127.0.0.2", "--admin-token", "s3cret"))
    agent.start()
    with httpx.Client(base_url=f"http://127.0.0.2:{agent.port}", timeout=5) as c:
        assert c.get("/health").status_code == 200
        refused = c.get("/admin/faults")
        assert refused.status_code == 401 and "Bearer" in refused.json()["error"]
        assert c.get("/sync/changes").status_code == 401
        authorised = {"Authorization": "Bearer s3cret"}
        assert c.get("/admin/faults", headers=authorised).status_code == 200
        assert c.get("/sync/changes", headers=authorised).status_code == 200
