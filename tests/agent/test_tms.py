"""TMS on a real process: polls, operator overrides, software packages."""

from __future__ import annotations

import hashlib
import random

import httpx

from poslab.mocks.terminal.agent_client import AgentClient, AgentRejected
from poslab.world import World
from tests.agent.conftest import AgentProcess


def test_poll_gives_parameters_and_software(shared_agent: AgentProcess, agent_world: World) -> None:
    terminal = agent_world.terminals[3]
    client = AgentClient(shared_agent.url, timeout_s=2.0, rng=random.Random(1))
    record = client.poll_tms(terminal.tid, version="010805")
    assert record.mid == terminal.mid and record.status == "active"
    assert record.latest == agent_world.params.latest_software
    assert record.minimum == agent_world.params.min_software
    assert record.update_required is True  # 010805 is below the minimum
    p = record.parameters
    assert p["allowed_types"] == list(terminal.allowed)
    assert p["primary_host"]["path"] == f"region-{terminal.region}"
    assert p["backup_host"]["path"] == "acquirer-backup"
    assert client.poll_tms(terminal.tid, version=record.latest).update_required is False
    client.close()


def test_overrides_change_the_poll_answer(shared_agent: AgentProcess, agent_world: World) -> None:
    tid = agent_world.terminals[4].tid
    with shared_agent.client() as c:
        before = c.get(f"/tms/terminals/{tid}").json()
        reply = c.put(
            "/tms/defaults", json={"reversal_tries": 2, "backup_address": "10.0.0.9:7001"}
        )
        assert reply.status_code == 200 and reply.json()["reversal_tries"] == 2
        reply = c.put(f"/tms/terminals/{tid}/parameters", json={"response_timeout_s": 3.5})
        assert reply.status_code == 200
        after = c.get(f"/tms/terminals/{tid}").json()
        assert after["param_version"] > before["param_version"]
        assert after["parameters"]["reversal_tries"] == 2
        assert after["parameters"]["response_timeout_s"] == 3.5
        assert after["parameters"]["backup_host"]["address"] == "10.0.0.9:7001"
        other = c.get(f"/tms/terminals/{agent_world.terminals[5].tid}").json()
        assert other["parameters"]["response_timeout_s"] == 5.0  # the fleet default
        bad = c.put(f"/tms/terminals/{tid}/parameters", json={"reversal_tries": 0, "x": 1})
        assert bad.status_code == 422
        assert {e["loc"][-1] for e in bad.json()["fields"]} == {"reversal_tries", "x"}


def test_download_is_verified_and_identical_for_every_instance(
    shared_agent: AgentProcess, agent_world: World
) -> None:
    tid = agent_world.terminals[0].tid
    client = AgentClient(shared_agent.url, timeout_s=2.0, rng=random.Random(2))
    latest = client.poll_tms(tid).latest
    package = client.download_software(tid, latest)
    assert hashlib.sha256(package.body).hexdigest() == package.sha256
    with shared_agent.client() as c:
        catalogue = c.get("/tms/software").json()
    listed = {p["version"]: p["sha256"] for p in catalogue["packages"]}
    assert listed[latest] == package.sha256
    # packages are a function of the version: what any instance serves
    from poslab.mocks.agent.software_catalogue import SoftwareCatalogue

    assert SoftwareCatalogue(agent_world.params).package(latest).sha256 == package.sha256
    try:
        client.download_software(tid, "990101")
        raise AssertionError("expected a 404")
    except AgentRejected as exc:
        assert exc.status == 404 and "990101" in exc.detail
    client.close()


def test_unknown_terminal_and_bad_ids(shared_agent: AgentProcess) -> None:
    with httpx.Client(base_url=shared_agent.url) as c:
        assert c.get("/tms/terminals/99999999").status_code == 404
        assert c.get("/tms/terminals/abc").status_code == 422
        assert c.get("/tms/terminals/10000001?version=1.2").status_code == 422
