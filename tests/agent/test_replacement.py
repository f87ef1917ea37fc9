"""Replacement of a broken terminal: new TID and key, the old one retired at
the acquirer (its open batch closed host-side), exactly once whichever
instance gets the request."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from poslab.mocks.agent.terminal_directory import derive_tmk
from poslab.mocks.terminal import Terminal, TerminalConfig, TerminalProfile, TerminalStore
from poslab.mocks.terminal.agent_client import AgentClient, AgentUnavailable
from poslab.mocks.terminal.merchant import Merchant
from poslab.world import World
from tests.agent.acquirer_stand_in import AcquirerStandIn
from tests.agent.conftest import REPO, AgentFleet, AgentProcess, wait_until


def _replace(agent: AgentProcess, tid: str, key: str = "replace-key-0001") -> httpx.Response:
    with agent.client() as c:
        return c.post(
            f"/terminals/{tid}/replacement",
            json={"reason": "screen cracked"},
            headers={"Idempotency-Key": key},
        )


def test_replacement_registers_the_new_terminal_and_retires_the_old(
    agents: AgentFleet, agent_world: World, acquirer_stand_in: AcquirerStandIn
) -> None:
    agent = agents.agent("primary", acquirer=acquirer_stand_in.url).start()
    old = agent_world.terminals[2]
    reply = _replace(agent, old.tid)
    assert reply.status_code == 201, reply.text
    r = reply.json()
    assert r["state"] == "completed"
    assert r["new_tid"] == "2" + old.tid[1:]  # same slot, next generation
    t = r["terminal"]
    assert (t["mid"], t["region"], t["status"]) == (old.mid, old.region, "active")
    assert t["tmk"] != old.tmk and len(t["tmk"]) == 32
    assert acquirer_stand_in.terminals[r["new_tid"]]["tmk"] == t["tmk"]
    assert acquirer_stand_in.retired == {old.tid: 1}
    # registered before the old one is retired: the merchant is never without a till
    assert acquirer_stand_in.calls == [("register", r["new_tid"]), ("retire", old.tid)]
    # asking again (another key, a retry) gives the same terminal, no new calls
    again = _replace(agent, old.tid, key="replace-key-0002")
    assert again.status_code == 200 and again.json()["new_tid"] == r["new_tid"]
    assert len(acquirer_stand_in.calls) == 2
    with agent.client() as c:
        assert c.get(f"/terminals/{old.tid}").json()["status"] == "retired"
        assert c.get(f"/tms/terminals/{old.tid}").json()["replaced_by"] == r["new_tid"]
        assert c.get(f"/tms/terminals/{r['new_tid']}").json()["status"] == "active"
        ticket = c.get(f"/tickets/{r['ticket_id']}").json()
        assert ticket["state"] == "resolved" and r["new_tid"] in ticket["resolution"]
        # a retired terminal downloads nothing
        latest = agent_world.params.latest_software
        assert c.get(f"/tms/terminals/{old.tid}/software/{latest}").status_code == 409


def test_acquirer_down_leaves_it_pending_then_the_desk_completes_it(
    agents: AgentFleet, agent_world: World, acquirer_stand_in: AcquirerStandIn
) -> None:
    agent = agents.agent("primary", acquirer=acquirer_stand_in.url).start()
    old = agent_world.terminals[3]
    acquirer_stand_in.down = True
    reply = _replace(agent, old.tid)
    assert reply.status_code == 201, reply.text
    r = reply.json()
    assert r["state"] == "pending_acquirer" and "503" in r["last_error"]
    acquirer_stand_in.down = False
    with agent.client() as c:
        wait_until(
            lambda: c.get(f"/terminals/{old.tid}/replacement").json()["state"] == "completed"
        )
    assert old.tid in acquirer_stand_in.retired
    assert r["new_tid"] in acquirer_stand_in.terminals


def test_the_same_replacement_on_both_instances_is_one_terminal(
    agents: AgentFleet, agent_world: World, acquirer_stand_in: AcquirerStandIn, tmp_path: Path
) -> None:
    """The primary did the replacement but the answer was lost; the merchant
    asks the backup: the same new TID and key, nothing provisioned twice."""
    primary = agents.agent("primary", acquirer=acquirer_stand_in.url).start()
    backup = agents.agent("backup", acquirer=acquirer_stand_in.url).start()
    old = agent_world.terminals[4]
    first = _replace(primary, old.tid).json()
    primary.kill()  # before any sync could have carried it
    client = AgentClient(
        primary.url,
        backup.url,
        timeout_s=0.5,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        rng=random.Random(4),
    )
    merchant = Merchant(old.mid, client)
    outcome = merchant.device_broken(old.tid)
    assert outcome.replacement is not None and outcome.replacement.path == "backup"
    assert outcome.replacement.new_tid == first["new_tid"]
    assert outcome.replacement.tmk == first["terminal"]["tmk"]
    assert list(acquirer_stand_in.terminals) == [first["new_tid"]]  # registered once
    client.close()


def test_replacement_queued_while_no_agent_answers(
    agents: AgentFleet, agent_world: World, acquirer_stand_in: AcquirerStandIn, tmp_path: Path
) -> None:
    agent = agents.agent("primary", acquirer=acquirer_stand_in.url).start()
    url = agent.url
    agent.kill()
    old = agent_world.terminals[5]
    client = AgentClient(url, timeout_s=0.3, outbox_path=str(tmp_path / "o.sqlite"))
    outcome = Merchant(old.mid, client).device_broken(old.tid)
    assert outcome.queued and outcome.replacement is None
    with pytest.raises(AgentUnavailable):
        client.get_replacement(old.tid)
    agent.start()
    client._instances[0].skip_until = 0.0
    wait_until(lambda: client.flush_outbox() or client.pending() == 0)
    replacement = client.get_replacement(old.tid)
    assert replacement is not None and replacement.state == "completed"
    client.close()


# -- against the real acquirer ----------------------------------------------------


class _Service:
    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.ready = workdir / f"{name}.ready.json"
        self.log = (workdir / f"{name}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *argv, "--ready-file", str(self.ready)],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not self.ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start (see {self.log.name})")
            time.sleep(0.02)
        self.ports: dict[str, int] = json.loads(self.ready.read_text())["ports"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.log.close()


@pytest.fixture
def payment_hosts(tmp_path: Path, world_path: Path) -> Iterator[tuple[_Service, _Service]]:
    world = ["--world", str(world_path), "--host", "127.0.0.1"]
    issuer = _Service(
        "issuer",
        [
            "poslab.mocks.issuer",
            *world,
            "--port",
            "0",
            "--admin-port",
            "0",
            "--db",
            str(tmp_path / "i.db"),
        ],
        tmp_path,
    )
    try:
        acquirer = _Service(
            "acquirer",
            [
                "poslab.mocks.acquirer", *world, "--port", "0", "--admin-port", "0",
                "--db", str(tmp_path / "a.db"), "--issuer", f"127.0.0.1:{issuer.ports['main']}",
            ],
            tmp_path,
        )  # fmt: skip
    except BaseException:
        issuer.stop()
        raise
    yield issuer, acquirer
    acquirer.stop()
    issuer.stop()


def test_replacement_closes_the_old_batch_at_the_real_acquirer(
    payment_hosts: tuple[_Service, _Service],
    agents: AgentFleet,
    agent_world: World,
    tmp_path: Path,
) -> None:
    _, acquirer = payment_hosts
    admin = f"http://127.0.0.1:{acquirer.ports['admin']}"
    old = agent_world.terminals[6]
    store = TerminalStore(tmp_path / "terminal.sqlite")
    config = TerminalConfig(response_timeout_s=3.0, connect_timeout_s=1.0)
    address = ("127.0.0.1", acquirer.ports["main"])
    terminal = Terminal(
        TerminalProfile.from_world(agent_world, old), config, primary=address, backup=None,
        store=store, rng=random.Random(6),
    )  # fmt: skip
    terminal.boot()
    sales = [terminal.sale(amount) for amount in (1234, 5678)]
    approved = [s for s in sales if s.outcome == "approved"]
    assert approved, [s.rc for s in sales]
    terminal.channel.close()  # the device dies mid-batch

    agent = agents.agent("primary", acquirer=admin).start()
    r = _replace(agent, old.tid).json()
    assert r["state"] == "completed", r.get("last_error")

    with httpx.Client(base_url=admin, timeout=10) as c:
        info = c.get(f"/admin/terminals/{old.tid}").json()
        assert info["retired"] is True
        batches = [
            json.loads(line)
            for line in c.get("/admin/export/batches").text.splitlines()
            if line.strip()
        ]
        new_info = c.get(f"/admin/terminals/{r['new_tid']}").json()
    old_batches = [b for b in batches if b["tid"] == old.tid]
    assert old_batches and all(b["status"] == "closed" for b in old_batches)
    closed = [b for b in old_batches if b["closed_by"] == "replacement"]
    assert len(closed) == 1
    # reconciled: the host's totals of the closed batch are exactly the approved sales
    assert closed[0]["host_debit_count"] == len(approved)
    assert closed[0]["host_debit_amount"] == sum(s.amount for s in approved)
    assert new_info["mid"] == old.mid and new_info["retired"] is False

    # the new terminal signs on with its new key and transacts; the old TID is refused
    assert r["terminal"]["tmk"] == _tmk(agent_world, r["new_tid"])
    profile = dataclasses.replace(
        TerminalProfile.from_world(agent_world, old),
        tid=r["new_tid"],
        tmk=bytes.fromhex(r["terminal"]["tmk"]),
    )
    fresh = Terminal(
        profile, config, primary=address, backup=None,
        store=TerminalStore(tmp_path / "new.sqlite"), rng=random.Random(7),
    )  # fmt: skip
    fresh.boot()
    sale = fresh.sale(999)
    assert sale.outcome in ("approved", "declined") and sale.rc is not None, sale
    fresh.channel.close()
    store.close()


def _tmk(world: World, tid: str) -> str:
    company = world.agents[0].company_id
    return derive_tmk(hashlib.sha256(f"agent-bdk:{world.seed}:{company}".encode()).digest(), tid)
