"""Two instances on real processes: the backup serves when the primary is
down; with both down tickets wait in the client's outbox and are delivered
later exactly once; the instances converge by anti-entropy."""

from __future__ import annotations

import random
from pathlib import Path

from poslab.mocks.terminal.agent_client import AgentClient, AgentUnavailable
from poslab.world import World
from tests.agent.conftest import AgentFleet, AgentProcess, wait_until


def _tickets(agent: AgentProcess) -> list[dict[str, object]]:
    with agent.client() as c:
        found: list[dict[str, object]] = c.get("/tickets").json()
        return found


def _pair(agents: AgentFleet) -> tuple[AgentProcess, AgentProcess]:
    primary = agents.agent("primary").start()
    backup = agents.agent("backup").start()
    wait_until(lambda: backup.status()["peer_reachable"] and primary.status()["processing"])
    return primary, backup


def test_backup_serves_tickets_and_tms_while_the_primary_is_down(
    agents: AgentFleet, agent_world: World, tmp_path: Path
) -> None:
    primary, backup = _pair(agents)
    terminal = agent_world.terminals[0]
    client = AgentClient(
        primary.url,
        backup.url,
        timeout_s=1.0,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        rng=random.Random(1),
    )
    assert client.poll_tms(terminal.tid).path == "primary"
    before = client.file_ticket(terminal.mid, "transactions_failing", "before", tid=terminal.tid)
    assert before.delivered and before.path == "primary"
    wait_until(lambda: before.ticket_id in {t["id"] for t in _tickets(backup)})  # anti-entropy

    primary.kill()
    record = client.poll_tms(terminal.tid)
    assert record.path == "backup" and record.mid == terminal.mid
    package = client.download_software(terminal.tid, record.latest)
    assert package.path == "backup" and len(package.body) > 0
    during = client.file_ticket(terminal.mid, "device_broken", "screen dead", tid=terminal.tid)
    assert during.delivered and during.path == "backup"
    # the primary being silent, the backup's desk takes over and answers the new one
    ids = {t["id"] for t in _tickets(backup)}
    assert {before.ticket_id, during.ticket_id} <= ids

    def answered() -> bool:
        found = {t["id"]: t for t in _tickets(backup)}
        return found[during.ticket_id]["state"] != "open"

    wait_until(answered)
    assert {t["id"]: t for t in _tickets(backup)}[during.ticket_id]["handled_by"] == "backup"

    # the primary comes back on the same port: it catches up, the client fails back
    primary.start()
    wait_until(lambda: {t["id"] for t in _tickets(primary)} >= ids)
    client._instances[0].skip_until = 0.0  # skip the remaining backoff: fail back now
    assert client.poll_tms(terminal.tid).path == "primary"
    client.close()


def test_both_down_the_outbox_delivers_later_exactly_once(
    agents: AgentFleet, agent_world: World, tmp_path: Path
) -> None:
    primary, backup = _pair(agents)
    merchant = agent_world.merchants[0]
    outbox = str(tmp_path / "outbox.sqlite")
    client = AgentClient(
        primary.url, backup.url, timeout_s=0.5, outbox_path=outbox, rng=random.Random(2)
    )
    primary.kill()
    backup.kill()
    receipts = [client.file_ticket(merchant.mid, "settlement", f"no payout {i}") for i in range(3)]
    assert all(not r.delivered for r in receipts)
    assert client.pending() == 3
    try:
        client.poll_tms(agent_world.terminals[0].tid)
        raise AssertionError("expected AgentUnavailable")
    except AgentUnavailable as exc:
        assert "primary" in str(exc) and "backup" in str(exc)
    client.close()

    # a new client on the same outbox (a rebooted terminal) delivers them
    backup.start()
    later = AgentClient(
        primary.url,
        backup.url,
        timeout_s=0.5,
        outbox_path=outbox,
        rng=random.Random(3),
        backoff_base_s=0.01,
        backoff_cap_s=0.05,
    )

    def flushed() -> bool:
        later.flush_outbox()
        return later.pending() == 0

    wait_until(flushed, timeout_s=15)
    assert later.flush_outbox() == []  # nothing left, nothing sent twice
    on_backup = [t for t in _tickets(backup) if t["category"] == "settlement"]
    assert sorted(str(t["summary"]) for t in on_backup) == [
        "no payout 0",
        "no payout 1",
        "no payout 2",
    ]

    primary.start()
    wait_until(lambda: len(_tickets(primary)) == len(_tickets(backup)) == 3, timeout_s=15)
    assert {t["id"] for t in _tickets(primary)} == {t["id"] for t in on_backup}
    later.close()


def test_a_request_replayed_on_the_other_instance_is_one_ticket(
    agents: AgentFleet, agent_world: World
) -> None:
    """The primary accepted a ticket but its answer was lost; the client sent
    the same key to the backup before any sync: the two converge to one."""
    primary, backup = _pair(agents)
    merchant = agent_world.merchants[1]
    body = {"mid": merchant.mid, "category": "other", "summary": "receipt printer jams"}
    key = {"Idempotency-Key": "lost-answer-0001"}
    with primary.client() as p, backup.client() as b:
        first = p.post("/tickets", json=body, headers=key)
        second = b.post("/tickets", json=body, headers=key)
    assert first.status_code in (200, 201) and second.status_code in (200, 201)
    assert first.json()["id"] == second.json()["id"]
    wait_until(lambda: len(_tickets(primary)) == len(_tickets(backup)) == 1)

    def settled() -> bool:
        p_state = _tickets(primary)[0]
        b_state = _tickets(backup)[0]
        return p_state["state"] == b_state["state"] == "resolved" and p_state == b_state

    wait_until(settled, timeout_s=15)
    assert _tickets(primary)[0]["handled_by"] == "primary"
