"""The lab on the real Toxiproxy: one gate scenario with ``TOXIPROXY_URL``
pointing at a real ``toxiproxy-server``, then its score and its rollback.

The stack creates its proxies on the real server, the scenario's faults are
toxics and disabled proxies there, and the run must score as it does on the
embedded proxy and leave the real server clean (every proxy it made gone,
nothing disabled, no toxic).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.e2e_helpers import journal
from tests.proxy.servers import (
    ServerUnderTest,
    real_server_binary,
    real_server_missing,
    start_server,
)
from tests.support.processes import run_lab

pytestmark = pytest.mark.timeout(300)

#: The gate scenario whose faults are all proxy faults (a timeout toxic on 25%
#: of the connections of every host path) plus terminal crashes.
SCENARIO = "response-timeout-reversal"


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[ServerUnderTest]:
    if real_server_binary() is None:
        pytest.skip(real_server_missing())
    server = start_server("real", tmp_path / "toxiproxy")
    yield server
    server.stop()


def test_a_gate_scenario_on_the_real_toxiproxy_scores_and_rolls_back(
    tmp_path: Path, real_server: ServerUnderTest
) -> None:
    runs = tmp_path / "runs"
    log = tmp_path / "lab.log"
    code = run_lab(
        ["run", SCENARIO, "--runs-dir", str(runs), "--seed", "42"],
        log,
        240,
        TOXIPROXY_URL=real_server.url,
    )
    assert code == 0, log.read_text(errors="replace")[-3000:]
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]  # not "latest"
    result = json.loads((run_dir / "result.json").read_text())
    (scored,) = result["scenarios"]
    assert scored["status"] == "scored"
    assert scored["score"] >= 70, scored  # the scenario's own min_score
    assert scored["counts"]["sale"]["approved"] > 50  # the load went through the real proxies

    events = journal(run_dir)
    # One timeout toxic per region's host path, each put on the real server
    # and taken off it again at the end of its window.
    injected = {e["fault_id"] for e in events if e["event"] == "fault_injected"}
    cleared = {e["fault_id"] for e in events if e["event"] == "fault_cleared"}
    toxics = {f for f in injected if f.startswith("replies-lost@region-")}
    assert len(toxics) >= 3 and toxics <= cleared, (injected, cleared)
    (rollback,) = [e for e in events if e["event"] == "rollback"]
    assert rollback["ok"] is True
    # Nothing left behind on the real server: the stack deleted its proxies,
    # and whatever remains is enabled and without toxics.
    for name, state in httpx.get(f"{real_server.url}/proxies", timeout=5).json().items():
        assert state["enabled"] and not state["toxics"], name
