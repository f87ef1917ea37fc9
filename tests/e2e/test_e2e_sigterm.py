"""SIGTERM to a real `lab run` in the middle of a fault: every proxy enabled, no toxic left.

The run is pointed (``TOXIPROXY_URL``) at a fault proxy this test owns, so the
test sees the proxies with its own eyes: while the faults are on (a toxic on
one path, another path down), and as each proxy was at the moment the run's
stack deleted it. Everything else is the real stack and the real fleet.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.e2e.e2e_helpers import (
    OwnedProxy,
    journal,
    only_run_dir,
    service_pids,
    wait_for,
)
from tests.support.processes import start_lab

pytestmark = pytest.mark.timeout(150)

SCENARIO = """\
name: sigterm-mid-fault
load: {terminals: 20, duration: 40s}
drain: 2s
steady_state: null
faults:
  - id: replies-lost
    kind: network
    target: region-north
    toxic: {type: timeout, attributes: {timeout: 0}}
    at: 4s
    for: 30s
  - {id: south-down, kind: network, target: region-south, down: true, at: 4s, for: 30s}
slo: {success_ratio: 0.9, p99_ms: 2000}
recovery: {target: 2s, good_seconds: 2}
"""


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv:
            found.append(argv)
    return found


def test_sigterm_mid_fault_leaves_every_proxy_enabled_and_no_toxic(tmp_path: Path) -> None:
    scenario = tmp_path / "sigterm-mid-fault.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    runs = tmp_path / "runs"
    with OwnedProxy() as proxy:
        lab = start_lab(
            ["run", str(scenario), "--runs-dir", str(runs), "--seed", "3"],
            tmp_path / "lab.log",
            TOXIPROXY_URL=proxy.url,
        )
        try:
            run_dir = only_run_dir(runs)
            wait_for(
                run_dir,
                lambda evs: sum(e["event"] == "fault_injected" for e in evs) == 2,
                60,
                "both faults to be injected",
            )
            live = proxy.proxies()  # mid-fault, as the test's own proxy sees it
            assert [t["type"] for t in live["region-north"]["toxics"]] == ["timeout"]
            assert live["region-south"]["enabled"] is False
            lab.send_signal(signal.SIGTERM)
            code = lab.wait(60)
        finally:
            if lab.poll() is None:
                lab.kill()
        log = (tmp_path / "lab.log").read_text(errors="replace")
        assert code == 130, log[-3000:]

        # the stack deleted its proxies on the way out: each was clean by then
        assert set(proxy.removed) >= {"region-north", "region-south", "acquirer-backup", "issuer"}
        for name, state in proxy.removed.items():
            assert state["enabled"] is True, f"{name} was still disabled"
            assert state["toxics"] == [], f"{name} still had {state['toxics']}"
        for name, state in proxy.proxies().items():  # and nothing left dirty
            assert state["enabled"] and not state["toxics"], name

    events = journal(run_dir)
    cleared = [e for e in events if e["event"] == "fault_cleared"]
    assert sorted(e["fault_id"] for e in cleared) == ["replies-lost", "south-down"]
    assert {e["reason"] for e in cleared} == {"rollback"}
    (rollback,) = [e for e in events if e["event"] == "rollback"]
    assert rollback["ok"] is True
    (finished,) = [e for e in events if e["event"] == "scenario_finished"]
    assert finished["status"] == "interrupted"
    assert events[-1]["event"] == "run_finished" and events[-1]["exit_code"] == 130
    assert json.loads((run_dir / "run.json").read_text())["interrupted"] is True
    assert (run_dir / "result.json").exists() and (run_dir / "junit.xml").exists()
    # no orphan: no service, no Locust still runs on this run's files
    assert service_pids(run_dir)
    assert _processes_mentioning(str(run_dir)) == []
