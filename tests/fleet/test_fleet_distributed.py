"""A distributed fleet: a Locust master and workers over Locust's messages
(issue 16 items 1-3). Real processes on 127.0.0.1, each worker in an empty
working directory of its own: faults reach the workers and the journal comes
back to the master, which alone writes the run directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.fleet import Fleet, LocustOptions, ShapeSpec, journal_files
from poslab.world import World
from tests.fleet.test_fleet_locust import check_record
from tests.support.payment_stack import PaymentHosts, saved_world

WORKERS = 3
TERMINALS = 12


@pytest.fixture(scope="module")
def world12(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    return saved_world(tmp_path_factory.mktemp("world"), 36, TERMINALS)


@pytest.fixture
def hosts(world12: tuple[World, Path], tmp_path: Path) -> Iterator[PaymentHosts]:
    workdir = tmp_path / "hosts"
    workdir.mkdir()
    with PaymentHosts(workdir, world12[1], proxy=True) as stack:
        yield stack


def _config(fleet: Fleet, hosts: PaymentHosts, world: World, world_file: Path, **extra: Any) -> Any:
    regions = {}
    for region in world.regions:
        host, port = hosts.add_proxy(f"region-{region}")
        regions[region] = f"{host}:{port}"
    fields: dict[str, Any] = {
        "world": str(world_file),
        "regions": regions,
        "seed": 36,
        "think_time_s": 0.4,
        "response_timeout_s": 2.0,
        "connect_timeout_s": 1.0,
        "workers": WORKERS,
        "journal_flush_s": 0.5,
        "shape": ShapeSpec("steady", {"duration_s": 14.0, "spawn_rate": 50.0}),
    }
    fields.update(extra)
    return fleet.config_for(**fields)


def _wait_selling(fleet: Fleet, tids: set[str], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if tids <= {r["tid"] for r in fleet.journal() if r["type"] == "sale"}:
            return
        time.sleep(0.2)
    raise AssertionError(f"not selling within {within_s} s: {fleet.log_tail()}")


def _ledger_has_journal(hosts: PaymentHosts, records: list[dict[str, Any]]) -> None:
    """Every ledger row has its terminal record (nothing sent went unjournaled)."""
    journal = {(r["tid"], r["stan"], r["batch"]): r for r in records}
    for row in hosts.export("transactions"):
        key = (row["tid"], row["stan"], row["batch"])
        assert key in journal, ("ledger row without a journal record", row)


@pytest.mark.timeout(120)
def test_three_workers_in_empty_directories_journal_through_the_master(
    hosts: PaymentHosts, world12: tuple[World, Path], tmp_path: Path
) -> None:
    world, world_file = world12
    fleet = Fleet(tmp_path / "run")
    config = _config(fleet, hosts, world, world_file)
    crashed = [world.terminals[0].tid, world.terminals[4].tid]
    fleet.start(config, timeout_s=90)
    try:
        _wait_selling(fleet, set(crashed), 45.0)
        crash_at = time.time()
        fleet.control("crash", {"tids": crashed}, until=crash_at + 2.0)
        fleet.control("throttle", {"factor": 0.5}, until=crash_at + 1.0)
        code = fleet.wait()
    finally:
        if fleet.running:
            fleet.stop()
    assert code == 0, fleet.log_tail()

    # one journal, written by the master alone; no worker wrote into the run dir
    files = journal_files(tmp_path / "run" / "fleet")
    assert len(files) == 1, files
    records = list(fleet.journal())
    for record in records:
        check_record(record)
    assert {r["tid"] for r in records} == {t.tid for t in world.terminals}
    kinds = Counter((r["type"], r["outcome"]) for r in records)
    assert kinds[("sale", "approved")] > 30, kinds
    # the fault reached the workers that run those terminals, by message
    for tid in crashed:
        mine = [r for r in records if r["tid"] == tid]
        assert sum(r["type"] == "sign_on" for r in mine) >= 2, tid
        assert not [r for r in mine if crash_at + 0.6 < r["ts_start"] < crash_at + 1.9]
    # no record twice, and every ledger row has its terminal record
    keys = Counter((r["tid"], r["type"], r["stan"], r["batch"], r["ts_start"]) for r in records)
    assert max(keys.values()) == 1
    _ledger_has_journal(hosts, records)

    report = fleet.workers_report()
    assert report is not None and report["slots"] == WORKERS
    assert sorted(w["index"] for w in report["workers"]) == list(range(WORKERS))
    assert report["lost"] == [] and report["refused"] == []
    # each worker in its own empty directory: the world copy (0600) and its flash
    for index in range(WORKERS):
        here = tmp_path / "run" / "fleet" / "workers" / f"local-{index}"
        assert (here / "world.json").stat().st_mode & 0o777 == 0o600
        assert list((here / "state").glob("terminals-*-of-3.sqlite"))
        assert not list(here.glob("*.jsonl")) and not (here / "journal").exists()


@pytest.mark.timeout(120)
def test_a_worker_killed_mid_run_is_named_with_its_terminals(
    hosts: PaymentHosts, world12: tuple[World, Path], tmp_path: Path
) -> None:
    world, world_file = world12
    fleet = Fleet(tmp_path / "run")
    config = _config(
        fleet,
        hosts,
        world,
        world_file,
        shape=ShapeSpec("steady", {"duration_s": 16.0, "spawn_rate": 50.0}),
    )
    fleet.start(config, timeout_s=90)
    try:
        _wait_selling(fleet, {t.tid for t in world.terminals}, 45.0)
        victim = fleet.workers[1]
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.time()
        code = fleet.wait()
    finally:
        if fleet.running:
            fleet.stop()
    assert code == 0, fleet.log_tail()  # the run went on to its end
    records = list(fleet.journal())
    report = fleet.workers_report()
    assert report is not None and len(report["lost"]) == 1, report
    lost = report["lost"][0]
    assert lost["terminals"] and set(lost["terminals"]) == set(lost["last_records"])
    by_tid = {t: [r for r in records if r["tid"] == t] for t in lost["terminals"]}
    for tid, last in lost["last_records"].items():
        # its last records are the journal's, kept once; nothing after the kill
        assert last and last[-1] in by_tid[tid]
        assert all(r["ts_start"] < killed_at + 0.5 for r in by_tid[tid])
    # the others sold on after the loss
    others = {t.tid for t in world.terminals} - set(lost["terminals"])
    assert any(r["tid"] in others and r["ts_start"] > killed_at + 4 for r in records)
    keys = Counter((r["tid"], r["type"], r["stan"], r["batch"], r["ts_start"]) for r in records)
    assert max(keys.values()) == 1
    # reconciliation stays exact for what was sent: every ledger row of a
    # surviving terminal has its record; a row of a lost terminal without one
    # was booked after the last record workers.json names for it (what the
    # worker still buffered when it died), never an unnamed gap
    journal = {(r["tid"], r["stan"], r["batch"]) for r in records}
    for row in hosts.export("transactions"):
        if (row["tid"], row["stan"], row["batch"]) in journal:
            continue
        assert row["tid"] in lost["terminals"], row
        last = lost["last_records"][row["tid"]][-1]
        assert row["booked_at"] >= last["ts_start"], (row, last)


def _lab_fleet_worker(
    master: str, cwd: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "poslab", "fleet", "worker", "--master", master, *extra],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.timeout(90)
def test_a_mismatched_worker_is_refused_with_the_reason(
    hosts: PaymentHosts, world12: tuple[World, Path], tmp_path: Path
) -> None:
    world, world_file = world12
    fleet = Fleet(tmp_path / "run", options=LocustOptions(local_workers=0))
    # it waits for three workers: a refused one (ready, then gone) never starts it
    config = _config(fleet, hosts, world, world_file)
    fleet.start(config, timeout_s=60)
    try:
        master = f"127.0.0.1:{fleet.master_port}"
        cases = {
            "seed": (("--seed", "7"), {}),
            "world": (("--world-sha256", "0" * 64), {}),
            "lab version": ((), {"LAB_FLEET_WORKER_VERSION": "0.0.1"}),
        }
        for what, (extra, env) in cases.items():
            cwd = tmp_path / what.replace(" ", "-")
            cwd.mkdir()
            worker = _lab_fleet_worker(master, cwd, *extra, env=env)
            out, _ = worker.communicate(timeout=40)
            assert worker.returncode == 2, out
            assert f"refused ({what}:" in out, out
            assert not (cwd / "world.json").exists()
            assert json.loads((cwd / "joined.json").read_text())["refused"].startswith(what)
        report = fleet.workers_report()
        assert report is not None and len(report["refused"]) == 3, report
        assert [r["reason"].split(":")[0] for r in report["refused"]] == list(cases)
    finally:
        fleet.stop(grace_s=5)


@pytest.mark.timeout(60)
def test_an_unreachable_master_is_exit_2_after_a_bounded_retry(tmp_path: Path) -> None:
    from poslab.fleet.runner import free_port

    started = time.monotonic()
    worker = _lab_fleet_worker(f"127.0.0.1:{free_port()}", tmp_path, "--connect-timeout", "3")
    out, _ = worker.communicate(timeout=40)
    assert worker.returncode == 2, out
    assert "cannot reach the master" in out, out
    assert time.monotonic() - started < 30
