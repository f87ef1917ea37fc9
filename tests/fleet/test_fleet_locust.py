"""Locust as the lab runs it: a short headless run of the real locustfile in
two worker processes against the real acquirer (through the fault proxy),
steered through the control file, and the runner's outer timeout."""

from __future__ import annotations

import json
import re
import stat
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.errors import ConfigError
from poslab.fleet import (
    Fleet,
    FleetError,
    LocustOptions,
    ShapeSpec,
    journal_files,
    read_load_started,
)
from poslab.world import World
from tests.support.payment_stack import PaymentHosts, saved_world

FIELDS: dict[str, tuple[type, ...]] = {
    "ts_start": (float,),
    "ts_end": (float,),
    "tid": (str,),
    "mid": (str,),
    "region": (str,),
    "type": (str,),
    "stan": (str,),
    "batch": (str,),
    "amount": (int,),
    "pan": (str, type(None)),
    "rc": (str, type(None)),
    "outcome": (str,),
    "attempts": (int,),
    "path": (str,),
    "rrn": (str, type(None)),
    "reason": (str, type(None)),
    "reversal": (str, type(None)),
    "orig_stan": (str, type(None)),
    "orig_batch": (str, type(None)),
    "saf": (str, type(None)),
    "retransmission": (bool,),
    "latency_ms": (float, int),
    "policy": (str,),
}
TYPES = {"sale", "void", "refund", "balance", "reversal", "sign_on", "settlement", "tms", "ticket"}
OUTCOMES = {"approved", "declined", "failed", "reversed", "unresolved"}
MASKED = re.compile(r"^\d{6}\*+\d{4}$")


def check_record(record: dict[str, Any]) -> None:
    """One fleet journal record against docs/run-directory.md."""
    assert set(record) == set(FIELDS), sorted(set(record) ^ set(FIELDS))
    for name, types in FIELDS.items():
        assert isinstance(record[name], types), (name, record[name])
    assert record["type"] in TYPES and record["outcome"] in OUTCOMES
    assert re.fullmatch(r"\d{6}", record["stan"]) and re.fullmatch(r"\d{6}", record["batch"])
    assert record["pan"] is None or MASKED.match(record["pan"]), record["pan"]
    assert record["path"] in ("primary", "backup")
    assert record["policy"] == "resilient"
    assert record["ts_end"] >= record["ts_start"]
    expected = (record["ts_end"] - record["ts_start"]) * 1000.0
    assert abs(record["latency_ms"] - expected) < 0.01
    assert record["reversal"] in (None, "pending")
    assert record["saf"] in (None, "pending")
    assert not record["retransmission"] or record["type"] == "refund"
    if record["type"] == "reversal":
        assert (record["orig_stan"], record["orig_batch"]) == (record["stan"], record["batch"])


@pytest.fixture(scope="module")
def locust_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    return saved_world(tmp_path_factory.mktemp("world"), 33, 12)


@pytest.fixture
def hosts(locust_world: tuple[World, Path], tmp_path: Path) -> Iterator[PaymentHosts]:
    workdir = tmp_path / "hosts"
    workdir.mkdir()
    with PaymentHosts(workdir, locust_world[1], proxy=True) as stack:
        yield stack


@pytest.mark.timeout(90)
def test_headless_run_in_two_processes_writes_a_valid_journal(
    hosts: PaymentHosts, locust_world: tuple[World, Path], tmp_path: Path
) -> None:
    world, world_file = locust_world
    regions = {}
    for region in world.regions:
        host, port = hosts.add_proxy(f"region-{region}")
        regions[region] = f"{host}:{port}"
    backup_host, backup_port = hosts.add_proxy("acquirer-backup")
    fleet = Fleet(tmp_path / "run")
    config = fleet.config_for(
        world=str(world_file),
        regions=regions,
        backup=f"{backup_host}:{backup_port}",
        seed=33,
        think_time_s=0.4,
        response_timeout_s=2.0,
        connect_timeout_s=1.0,
        processes=2,
        shape=ShapeSpec("steady", {"duration_s": 12.0, "spawn_rate": 50.0}),
        terminal={"settle_every": 8},
    )
    crashed = [world.terminals[0].tid, world.terminals[5].tid]
    started = time.time()
    fleet.start(config, timeout_s=60)
    try:
        # crash them once they are on and selling (Locust takes a while to start)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            sold = {r["tid"] for r in fleet.journal() if r["type"] == "sale"}
            if set(crashed) <= sold:
                break
            time.sleep(0.2)
        crash_at = time.time()
        fleet.control("crash", {"tids": crashed}, until=crash_at + 2.0)
        code = fleet.wait()
    finally:
        if fleet.running:
            fleet.stop()
    assert code == 0, fleet.log_tail()
    assert time.time() - started < 40

    records = list(fleet.journal())
    assert len(records) > 100
    for record in records:
        check_record(record)
    # the shape's zero, written once by the process that runs the shape
    load_started = read_load_started(tmp_path / "run" / "fleet")
    assert load_started is not None and started < load_started
    assert load_started <= min(r["ts_start"] for r in records)
    # one journal per worker process, each with its own terminals
    per_file = [
        {json.loads(line)["tid"] for line in path.read_text().splitlines()}
        for path in journal_files(tmp_path / "run" / "fleet")
    ]
    assert len(per_file) == 2 and not per_file[0] & per_file[1]
    assert per_file[0] | per_file[1] == {t.tid for t in world.terminals}

    kinds = Counter((r["type"], r["outcome"]) for r in records)
    assert kinds[("sale", "approved")] > 50
    assert kinds[("settlement", "approved")] >= 1
    # the crashed terminals were down for the window and signed on again after it
    for tid in crashed:
        mine = [r for r in records if r["tid"] == tid]
        assert sum(r["type"] == "sign_on" for r in mine) >= 2
        assert not [r for r in mine if crash_at + 0.6 < r["ts_start"] < crash_at + 1.9], (
            "a crashed terminal transacted during its window"
        )

    # no lost approvals: what the terminals saw approved is booked, and what
    # the host booked was seen approved (or is being reversed)
    ledger = {(r["tid"], r["stan"], r["batch"]): r for r in hosts.export("transactions")}
    journal = {(r["tid"], r["stan"], r["batch"]): r for r in records if r["type"] == "sale"}
    for key, record in journal.items():
        if record["outcome"] == "approved":
            assert ledger[key]["status"] in ("approved", "voided"), key
    for key, row in ledger.items():
        if row["type"] == "sale" and row["status"] in ("approved", "voided"):
            assert key in journal and (
                journal[key]["outcome"] == "approved" or journal[key]["reversal"] == "pending"
            ), key

    stats = {row["Name"]: row for row in fleet.stats()}
    assert int(stats["sale"]["Request Count"]) > 50
    assert int(stats["sign_on"]["Request Count"]) >= 12


@pytest.mark.timeout(90)
def test_sigterm_lets_the_terminals_drain_into_the_journal(
    hosts: PaymentHosts, locust_world: tuple[World, Path], tmp_path: Path
) -> None:
    """Every approved sale reply is lost, so terminals always hold a reversal;
    on SIGTERM each user still delivers its reversal in on_stop, and those
    records reach the journal (Locust fires ``quitting`` before it stops users)."""
    world, world_file = locust_world
    regions = {}
    for region in world.regions:
        name = f"drain-{region}"
        host, port = hosts.add_proxy(name)
        hosts.add_toxic(name, "iso_drop", {"mti": 210, "rc": 0}, "downstream")
        regions[region] = f"{host}:{port}"
    fleet = Fleet(tmp_path / "run")
    config = fleet.config_for(
        world=str(world_file),
        regions=regions,
        seed=34,
        think_time_s=0.3,
        response_timeout_s=1.0,
        connect_timeout_s=1.0,
        shape=ShapeSpec("steady", {"duration_s": 60.0, "spawn_rate": 50.0}),
        terminal={"mix": {"sale": 1.0, "balance": 0.0, "void": 0.0, "refund": 0.0}},
    )
    fleet.start(config, timeout_s=60)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            reversed_ = [r for r in fleet.journal() if r["type"] == "reversal"]
            if len(reversed_) >= 5:
                break
            time.sleep(0.2)
        stopped_at = time.time()
        code = fleet.stop(grace_s=20.0)
    finally:
        if fleet.running:
            fleet.stop()
    assert code == 0, fleet.log_tail()
    records = list(fleet.journal())
    for record in records:
        check_record(record)
    left = {(r["tid"], r["stan"], r["batch"]) for r in records if r["reversal"] == "pending"}
    acked = {
        (r["tid"], r["orig_stan"], r["orig_batch"])
        for r in records
        if r["type"] == "reversal" and r["outcome"] == "approved"
    }
    assert left and left <= acked, sorted(left - acked)[:5]
    drained = [r for r in records if r["type"] == "reversal" and r["ts_start"] >= stopped_at]
    assert drained, "no reversal was delivered while the users stopped"
    ledger = hosts.export("transactions")
    mine = {(r["tid"], r["stan"], r["batch"]): r["status"] for r in ledger}
    assert all(mine.get(key) in ("reversed", None) for key in left)


def test_an_overstaying_locust_is_killed_with_its_whole_group(tmp_path: Path) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60 &\nwait\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    fleet = Fleet(tmp_path / "run", python=str(fake), options=LocustOptions(headless=True))
    config = fleet.config_for(world=str(tmp_path / "w.json"), regions={"north": "127.0.0.1:9"})
    fleet.start(config, timeout_s=1.0)
    assert fleet.wait(timeout_s=0.2) is None  # still running, not yet overdue
    started = time.monotonic()
    with pytest.raises(FleetError, match="overstayed"):
        fleet.wait()
    assert time.monotonic() - started < 2.0
    assert fleet.process is not None
    deadline = time.monotonic() + 2.0  # SIGKILL is delivered asynchronously
    while living_in_group(fleet.process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert living_in_group(fleet.process.pid) == []  # the shell's child too


def living_in_group(pgid: int) -> list[int]:
    """Processes of the group that are not dead (zombies wait for a reaper)."""
    living = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            living.append(int(stat_file.parent.name))
    return living


def test_stop_escalates_when_sigterm_is_ignored(tmp_path: Path) -> None:
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60 &\nwait\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    fleet = Fleet(tmp_path / "run", python=str(fake))
    config = fleet.config_for(world=str(tmp_path / "w.json"), regions={"north": "127.0.0.1:9"})
    fleet.start(config, timeout_s=30.0)
    started = time.monotonic()
    assert fleet.stop(grace_s=0.5) != 0
    assert time.monotonic() - started < 2.0
    with pytest.raises(ConfigError):
        fleet.control("explode")
    command = fleet.command(tmp_path / "c.json", config)
    assert command[1:3] == ["-m", "locust"] and "--headless" in command
    assert "--exit-code-on-error" in command and "--stop-timeout" in command
