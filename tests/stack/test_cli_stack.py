"""`lab up` / `lab status` / `lab down` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.support.processes import alive, lab

HERE = Path(__file__).parent
REPO = HERE.parents[1]
PY = sys.executable
FAKE = f"{PY} {HERE / 'fake_service.py'}"


def _programs(**extra: str) -> list[str]:
    programs = {
        "proxy": f"{PY} {HERE / 'fake_toxiproxy.py'}",
        "issuer": FAKE,
        "acquirer": FAKE,
        "agent-primary": f"{FAKE} --http-main",
        "agent-backup": f"{FAKE} --http-main",
    }
    programs.update({k.replace("_", "-"): v for k, v in extra.items()})
    args = []
    for name, command in programs.items():
        args += ["--program", f"{name}={command}"]
    return args


def _lab(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "COLUMNS": "160"}
    return lab(*args, cwd=cwd, env=env, timeout=timeout)


def _pids(state_file: Path) -> list[int]:
    state = json.loads(state_file.read_text())
    return [s["process"]["pid"] for s in state["services"].values() if s.get("process")]


def _wait_gone(pids: list[int], timeout: float = 5) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def _up_with_a_hanging_acquirer(cwd: Path, state: Path) -> subprocess.Popen[bytes]:
    """`lab up` in the background, stuck waiting for an acquirer that never gets ready."""
    cmd = [PY, "-m", "poslab", "up", "--state", str(state), "--terminals", "8", "--timeout", "60",
           *_programs(acquirer=f"{FAKE} --hang")]  # fmt: skip
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_acquirer(state: Path) -> list[int]:
    """Pids of the stack once the (hanging) acquirer has been started."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if state.exists():
            services = json.loads(state.read_text())["services"]
            if "acquirer" in services and services["acquirer"].get("process"):
                pids = _pids(state)
                assert len(pids) == 3, "proxy, issuer and the hanging acquirer"
                return pids
        time.sleep(0.05)
    raise AssertionError("the acquirer was never started")


def _post(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status in (200, 201)


def test_up_status_down_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    up = _lab(tmp_path, "up", "--seed", "5", "--terminals", "12", "--state", str(state),
              "--run-dir", "runs/r1", *_programs())  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert "stack up in" in up.stdout and "terminals north" in up.stdout
    pids = _pids(state)
    assert len(pids) == 5 and all(alive(p) for p in pids), "services outlive `lab up`"
    assert (tmp_path / "runs/r1/world.json").is_file()
    assert (tmp_path / "runs/r1/services/acquirer.log").is_file()

    status = _lab(tmp_path, "status", "--state", str(state))
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("proxy", "issuer", "acquirer", "agent-primary", "region-east", "agent-backup"):
        assert name in status.stdout

    # A fault in place shows up in status: a toxic, and a proxy switched off.
    api = json.loads(state.read_text())["addresses"]["proxy_api"]
    _post(f"{api}/proxies/region-north/toxics", {"type": "latency", "attributes": {"latency": 300}})
    _post(f"{api}/proxies/agent", {"enabled": False})
    status = _lab(tmp_path, "status", "--state", str(state), "--json")
    assert status.returncode == 1, "something unhealthy → exit 1"
    report = json.loads(status.stdout)
    assert report["proxies"]["agent"]["enabled"] is False and not report["proxies"]["agent"]["ok"]
    toxics = report["proxies"]["region-north"]["toxics"]
    assert [t["type"] for t in toxics] == ["latency"] and toxics[0]["attributes"]["latency"] == 300
    assert report["services"]["acquirer"]["ok"]
    table = _lab(tmp_path, "status", "--state", str(state)).stdout
    assert "latency downstream latency=300" in table and "disabled" in table

    down = _lab(tmp_path, "down", "--state", str(state))
    assert down.returncode == 0, down.stderr
    assert not _wait_gone(pids), "a service survived `lab down`"
    assert not state.exists()
    again = _lab(tmp_path, "down", "--state", str(state))
    assert again.returncode == 0 and "no stack is up" in again.stdout
    gone = _lab(tmp_path, "status", "--state", str(state))
    assert gone.returncode == 2 and "no stack is up" in gone.stderr


def test_up_with_a_service_that_fails_exits_2_with_its_log(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    up = _lab(tmp_path, "up", "--state", str(state), "--terminals", "8",
              *_programs(agent_backup=f"{FAKE} --http-main --fail-start"))  # fmt: skip
    assert up.returncode == 2
    assert "agent-backup exited with code 3" in up.stderr and "disk on fire" in up.stderr
    assert not state.exists(), "nothing is left to stop"


def test_down_cleans_up_after_a_crashed_lab(tmp_path: Path) -> None:
    """`lab up` killed mid-start: the state file written so far lets `lab down` clean up."""
    state = tmp_path / "state.json"
    lab = _up_with_a_hanging_acquirer(tmp_path, state)
    try:
        pids = _wait_for_acquirer(state)
        lab.send_signal(signal.SIGKILL)
        lab.wait(5)
        assert all(alive(p) for p in pids), "detached services survive the crash"
        down = _lab(tmp_path, "down", "--state", str(state), "--grace", "1")
        assert down.returncode == 0, down.stderr
        assert not _wait_gone(pids)
    finally:
        lab.kill()
        lab.wait()
        for pid in _pids(state) if state.exists() else []:
            if alive(pid):
                psutil.Process(pid).kill()


def test_world_and_seed_together_is_a_usage_error(tmp_path: Path) -> None:
    world = tmp_path / "w.json"
    world.write_text("{}")
    result = _lab(tmp_path, "up", "--world", str(world), "--seed", "1")
    assert result.returncode == 2 and "either --world or --seed" in result.stderr


@pytest.mark.parametrize("bad", ["ledger=/bin/true", "acquirer", "acquirer="])
def test_bad_program_option_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    result = _lab(tmp_path, "up", "--program", bad)
    assert result.returncode == 2 and "--program" in result.stderr


def test_sigterm_during_up_stops_what_had_started(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    lab = _up_with_a_hanging_acquirer(tmp_path, state)
    try:
        pids = _wait_for_acquirer(state)
        lab.send_signal(signal.SIGTERM)
        _, err = lab.communicate(timeout=20)
        assert lab.returncode == 130, err
        assert b"interrupted" in err
        assert not _wait_gone(pids), "a service outlived the interrupted start"
        assert not state.exists()
    finally:
        lab.kill()
        lab.wait()
