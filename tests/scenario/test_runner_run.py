"""The runner against a real stack (real embedded proxy, contract-obeying echo services)
and a small stand-in load that really goes through the proxies.

Checked here: faults of every kind injected and cleared on time (drift from
the journal), rollback on the normal end, on an exception, on cancellation
(Ctrl-C) and on an abort — each time the stack's own proxy is photographed
just before the stack stops: every proxy enabled, no toxic left.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from poslab.scenario import (
    RunDirectory,
    RunEvents,
    RunJournal,
    Runner,
    RunOutcome,
    RunPlan,
    RunSettings,
    load_scenario,
    read_journal,
)
from poslab.stack import default_topology
from tests.scenario.runner_standins import FAKE, EchoLoad, Photographed, make_stack_factory

#: real processes: each test is bounded well under the suite's default timeout
pytestmark = pytest.mark.timeout(60)

HEAD = """\
name: {name}
load: {{terminals: 6, duration: {duration}s}}
drain: 1s
steady_state: {{good_seconds: 1, within: 3s, health: true}}
slo: {{success_ratio: 0.5, p99_ms: 1000}}
recovery: {{target: 1s, good_seconds: 1}}
"""


def _scenario(tmp_path: Path, name: str, body: str, duration: float = 7) -> Any:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name, duration=duration) + body, encoding="utf-8")
    return load_scenario(path, default_topology())


class Harness:
    def __init__(self, tmp_path: Path, scenario: Any, programs: Any = None) -> None:
        settings = RunSettings(
            name=scenario.name, suite=None, seed=7, terminals=None, time_scale=1.0,
            policy="resilient", min_score=80.0,
        )  # fmt: skip
        self.plan = RunPlan(settings, (scenario,), default_topology(), tmp_path / "runs")
        self.rundir = RunDirectory.create(self.plan.runs_dir, scenario.name)
        self.rundir.write_world(7, 6)
        self.events = RunEvents()
        self.stacks: list[Photographed] = []
        self.loads: list[EchoLoad] = []
        self.runner = Runner(
            self.plan,
            self.events,
            self.rundir,
            stack_factory=make_stack_factory(self.stacks, programs),
            load_factory=self._load,
        )

    def _load(self, scenario_dir: Path) -> EchoLoad:
        load = EchoLoad(scenario_dir)
        self.loads.append(load)
        return load

    def run(self, cancel_on: str | None = None) -> RunOutcome:
        with RunJournal(self.rundir.journal, self.events):
            return asyncio.run(self._run(cancel_on))

    async def _run(self, cancel_on: str | None) -> RunOutcome:
        task = asyncio.create_task(self.runner.run())
        if cancel_on is not None:
            seen = asyncio.Event()
            self.events.fault_injected.add_listener(
                lambda **e: seen.set() if e["fault_id"] == cancel_on else None
            )
            await asyncio.wait_for(seen.wait(), 30)
            await asyncio.sleep(0.3)  # well inside the fault's window
            task.cancel()  # what the CLI does on SIGINT/SIGTERM
        return await asyncio.wait_for(task, 90)

    def journal(self, event: str | None = None) -> list[dict[str, Any]]:
        events = read_journal(self.rundir.journal)
        return [e for e in events if event is None or e["event"] == event]

    def assert_proxy_clean(self) -> None:
        stack = self.stacks[-1]
        assert stack.photographed, "the stack was not stopped through the runner"
        assert stack.before_stop, "no proxy to check"
        for proxy in stack.before_stop.values():
            assert proxy.enabled, f"{proxy.name} left disabled"
            assert proxy.toxics == (), f"{proxy.name} left with {proxy.toxics}"


def test_faults_of_every_kind_on_time_then_clean(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "every-kind",
        """\
faults:
  - {id: north-down, kind: network, target: region-north, down: true, at: 3s, for: 1.5s}
  - id: south-slow
    kind: network
    target: region-south
    toxic: {type: latency, attributes: {latency: 40}}
    at: 3.2s
    for: 1.5s
  - {id: issuer-killed, kind: process, target: issuer, action: kill, at: 3s, for: 1s}
  - {id: some-crash, kind: fleet, action: crash, params: {share: 0.5}, at: 3.5s, for: 1s}
""",
    )
    h = Harness(tmp_path, scenario)
    outcome = h.run()

    assert [s.status for s in outcome.scenarios] == ["completed"], outcome.scenarios
    injected = {e["fault_id"]: e for e in h.journal("fault_injected")}
    cleared = {e["fault_id"]: e for e in h.journal("fault_cleared")}
    assert set(injected) == set(cleared) == {
        "north-down", "south-slow", "issuer-killed", "some-crash"
    }  # fmt: skip
    for fault_id, event in injected.items():
        # the effect lands within the 50 ms budget (a SIGKILL waits for the exit)
        assert 0 <= event["drift_ms"] < 50, (fault_id, event["drift_ms"])
    for fault_id, event in cleared.items():
        assert event["reason"] == "window_end"
        assert 0 <= event["drift_ms"] < 50, (fault_id, event["drift_ms"])
    assert cleared["issuer-killed"]["ready_ms"] > 0  # started again, then ready

    # the fault was real: north's round trips failed inside its window, not outside
    t_in, t_out = injected["north-down"]["t"], cleared["north-down"]["t"]
    north = [
        json.loads(line)
        for path in (h.rundir.path / "scenarios" / "every-kind" / "fleet").glob("standin-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    north = [r for r in north if r["region"] == "north"]
    inside = [r for r in north if t_in + 0.35 < r["ts_start"] < t_out - 0.05]
    before = [r for r in north if r["ts_end"] < t_in - 0.05]
    assert inside and all(r["outcome"] == "failed" for r in inside)
    assert before and all(r["outcome"] == "approved" for r in before)

    # the fleet fault went out with the terminals drawn from the seed
    (crash,) = [c for c in h.loads[0].commands if c[0] == "crash"]
    assert crash[1]["tids"] and "share" not in crash[1]
    assert injected["some-crash"]["tids"] == crash[1]["tids"]

    (rollback,) = h.journal("rollback")
    assert rollback["ok"] is True
    h.assert_proxy_clean()
    names = [e["event"] for e in h.journal() if e["scenario"] == "every-kind"]
    assert names[:2] == ["stack_up", "scenario_started"]
    assert names[-2:] == ["drain_finished", "scenario_finished"]
    run = json.loads(h.rundir.run_json.read_text())
    assert run["finished_at"] >= run["started_at"] and run["interrupted"] is False
    assert run["scenarios"][0]["name"] == "every-kind"


def test_an_exception_mid_fault_still_rolls_back(tmp_path: Path) -> None:
    # the echo service's admin API has no /admin/faults: the second fault fails
    scenario = _scenario(
        tmp_path,
        "broken-admin",
        """\
faults:
  - {id: north-down, kind: network, target: region-north, down: true, at: 3s, for: 2s}
  - {id: keys, kind: application, target: acquirer, fault: expire_keys, at: 3.5s, for: 1s}
""",
    )
    h = Harness(tmp_path, scenario)
    outcome = h.run()

    (result,) = outcome.scenarios
    assert result.status == "error" and "keys" in result.detail and "404" in result.detail
    (cleared,) = h.journal("fault_cleared")
    assert cleared["fault_id"] == "north-down" and cleared["reason"] == "rollback"
    assert h.journal("rollback")[0]["ok"] is True
    h.assert_proxy_clean()


def test_cancelled_mid_fault_rolls_back_and_says_interrupted(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "ctrl-c",
        """\
faults:
  - id: replies-lost
    kind: network
    target: region-east
    toxic: {type: timeout, attributes: {timeout: 0}}
    at: 3s
    for: 2.5s
""",
        duration=7.5,
    )
    h = Harness(tmp_path, scenario)
    outcome = h.run(cancel_on="replies-lost")

    assert outcome.interrupted
    assert outcome.scenarios[0].status == "interrupted"
    (cleared,) = h.journal("fault_cleared")
    assert cleared["reason"] == "rollback"
    h.assert_proxy_clean()
    assert json.loads(h.rundir.run_json.read_text())["interrupted"] is True
    assert h.journal("scenario_finished")[0]["status"] == "interrupted"


def test_abort_condition_stops_early_and_rolls_back(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        "dark",
        """\
faults:
  - {id: all-down, kind: network, regions: all, down: true, at: 3s, for: 2.5s}
abort:
  - {kind: success_ratio_below, ratio: 0.5, for: 1s}
""",
        duration=7.5,
    )
    h = Harness(tmp_path, scenario)
    outcome = h.run()

    (result,) = outcome.scenarios
    assert result.status == "aborted" and "success ratio below" in result.detail
    (abort,) = h.journal("abort")
    assert abort["t"] < h.journal("scenario_started")[0]["t0"] + 5.5  # before the window ended
    assert {e["reason"] for e in h.journal("fault_cleared")} == {"rollback"}
    h.assert_proxy_clean()
    assert h.journal("drain_finished")  # the drain still ran


def test_a_service_that_will_not_start_ends_the_run_with_its_log(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "no-host", "")
    programs: dict[str, list[str]] = {
        name: [sys.executable, str(FAKE), "--name", name]
        for name in ("issuer", "acquirer", "agent-primary", "agent-backup")
    }
    programs["acquirer"].append("--fail-start")
    h = Harness(tmp_path, scenario, programs)
    outcome = h.run()

    assert outcome.stack_failure is not None
    assert "acquirer" in outcome.stack_failure and "disk on fire" in outcome.stack_failure
    assert outcome.scenarios[0].status == "error"
    assert not h.loads  # no load was started
