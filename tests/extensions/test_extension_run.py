"""A scenario's own probes and a plugin's fault action through the real runner
(real embedded proxy, the stack tests' echo services, a stand-in load): a probe
that raises is a failed probe in the journal and the report, and the run goes
on to its end; the plugin's fault is injected and cleared on its window."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from poslab.plugins import load_plugins
from poslab.scenario import (
    RunDirectory,
    RunEvents,
    RunJournal,
    Runner,
    RunPlan,
    RunSettings,
    load_scenario,
    read_journal,
)
from poslab.scoring import score_run
from poslab.stack import default_topology
from tests.scenario.runner_standins import EchoLoad, Photographed, make_stack_factory

pytestmark = pytest.mark.timeout(90)

SCENARIO = """\
name: probed
load: {terminals: 6, duration: 7s}
drain: 1s
steady_state: {good_seconds: 1, within: 2s, health: true}
slo: {success_ratio: 0.5, p99_ms: 1000}
recovery: {target: 1s, good_seconds: 1}
faults:
  - id: marked
    kind: plugin
    action: mark
    target: acquirer
    at: 2s
    for: 2s
    params: {label: hello}
probes:
  - {name: admin, type: http, interval: 1s, params: {url: "{admin.acquirer}/health"}}
  - {name: broken, type: flaky, interval: 1s, params: {behave: raise}}
  - {name: stuck, type: flaky, mode: start, timeout: 0.3s, params: {behave: hang}}
  - {name: last, type: flaky, mode: end, params: {behave: ok}}
  - {name: outage-only, type: flaky, mode: during_fault, interval: 0.5s}
expectations:
  - kind: attempts_at_least
    params: {min: 1}
"""


def test_probes_and_a_plugin_fault_through_the_runner(tmp_path: Path) -> None:
    load_plugins(["tests.extensions.sample_plugin"])
    path = tmp_path / "probed.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    scenario = load_scenario(path, default_topology())
    settings = RunSettings(
        name="probed", suite=None, seed=7, terminals=None, time_scale=1.0,
        policy="resilient", min_score=0.0,
    )  # fmt: skip
    plan = RunPlan(settings, (scenario,), default_topology(), tmp_path / "runs")
    rundir = RunDirectory.create(plan.runs_dir, "probed")
    rundir.write_world(7, 6)
    events = RunEvents()
    stacks: list[Photographed] = []
    runner = Runner(
        plan, events, rundir,
        stack_factory=make_stack_factory(stacks),
        load_factory=lambda d: EchoLoad(d),
    )  # fmt: skip
    with RunJournal(rundir.journal, events):
        outcome = asyncio.run(asyncio.wait_for(runner.run(), 75))

    assert [(s.status, s.detail) for s in outcome.scenarios] == [("completed", "")]
    probes: dict[str, list[dict[str, Any]]] = {}
    for event in read_journal(rundir.journal):
        if event["event"] == "probe":
            probes.setdefault(event["name"], []).append(event)
    assert all(e["ok"] for e in probes["admin"]) and len(probes["admin"]) >= 4
    broken = probes["broken"]
    assert len(broken) >= 4, "a probe that raises is asked again: the run goes on"
    assert not any(e["ok"] for e in broken)
    assert broken[0]["detail"] == "error: RuntimeError: the probe broke"
    assert [(e["ok"], e["detail"]) for e in probes["stuck"]] == [(False, "no answer within 0.3 s")]
    assert [e["ok"] for e in probes["last"]] == [True]
    # only while the plugin's fault is in place (2 s to 4 s of the clock)
    t0 = next(e["t0"] for e in read_journal(rundir.journal) if e["event"] == "scenario_started")
    assert probes["outage-only"] and all(1.9 <= e["t"] - t0 <= 4.6 for e in probes["outage-only"])

    log = (rundir.scenario_dir("probed") / "actions.log").read_text().splitlines()
    assert log == ["inject marked acquirer hello", "clear marked acquirer hello"]
    injected = [e for e in read_journal(rundir.journal) if e["event"] == "fault_injected"]
    assert [(e["kind"], e["action"], e["params"]) for e in injected] == [
        ("plugin", "mark", {"label": "hello", "times": 1})
    ]

    result = score_run(rundir.path)
    checks = {e.name: e for e in result.scenarios[0].expectations}
    assert checks["probe-broken"].held is False and checks["probe-stuck"].held is False
    assert checks["probe-admin"].held and checks["probe-last"].held
    assert checks["attempts-at-least"].held, checks["attempts-at-least"].detail
