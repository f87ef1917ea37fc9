"""Hooks for services the lab does not own: commands and HTTP calls, checked and logged,
and the external launcher that kills, starts, restarts and resets through them."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from poslab.errors import ConfigError, StackError
from poslab.stack import topology_from_mapping
from poslab.stack.external import ExternalLauncher
from poslab.stack.hook_model import Hook, ServiceHooks
from poslab.stack.hooks import HookFailed, hooks_log, run_hook
from poslab.stack.probe import Prober

pytestmark = pytest.mark.anyio

PY = sys.executable


def _cmd(code: str, timeout_s: float = 10.0) -> Hook:
    return Hook(command=(PY, "-c", code), timeout_s=timeout_s)


async def test_a_command_hook_runs_and_its_output_is_kept(tmp_path: Path) -> None:
    log = hooks_log(tmp_path, "acquirer")
    code = "import os; print('expired for', os.environ['LAB_FAULT_PARAMS'])"
    out = await run_hook(
        _cmd(code), service="acquirer", what="fault expire_keys", log=log, params={"tids": ["1"]}
    )
    assert out.strip() == 'expired for {"tids": ["1"]}'
    text = log.read_text()
    assert "acquirer fault expire_keys:" in text and "→ exit 0" in text
    assert 'expired for {"tids": ["1"]}' in text


async def test_a_failing_command_is_a_hook_failure_with_its_output(tmp_path: Path) -> None:
    log = hooks_log(tmp_path, "acquirer")
    with pytest.raises(
        HookFailed, match=r"acquirer kill hook .*exited with status 3: no such host"
    ):
        await run_hook(
            _cmd("import sys; print('no such host'); sys.exit(3)"),
            service="acquirer",
            what="kill",
            log=log,
        )
    assert "FAILED: exited with status 3" in log.read_text()


async def test_a_hook_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    # the hook starts a child of its own and hangs: both must be gone after the timeout
    code = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    began = time.monotonic()
    with pytest.raises(HookFailed, match=r"timed out after 1 s"):
        await run_hook(
            _cmd(code, timeout_s=1.0), service="acquirer", what="start", log=tmp_path / "h.log"
        )
    assert time.monotonic() - began < 5
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{child}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{child}").exists(), "the hook's child outlived its timeout"


async def test_a_missing_program_is_a_hook_failure(tmp_path: Path) -> None:
    hook = Hook(command=("/nonexistent/hostctl", "kill"))
    with pytest.raises(HookFailed, match=r"cannot run /nonexistent/hostctl"):
        await run_hook(hook, service="acquirer", what="kill", log=tmp_path / "h.log")


@pytest.fixture
async def ops_api() -> AsyncIterator[tuple[str, list[tuple[str, object]]]]:
    """A team's operations API: records what it was asked; /broken answers 500."""
    calls: list[tuple[str, object]] = []

    async def ok(request: web.Request) -> web.Response:
        calls.append((request.method, await request.json() if request.can_read_body else None))
        return web.json_response({"ok": True})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="settlement daemon unreachable")

    app = web.Application()
    app.router.add_route("*", "/ops/settlement", ok)
    app.router.add_route("*", "/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        await runner.cleanup()


async def test_an_http_hook_sends_the_fault_params_unless_it_has_a_body(
    tmp_path: Path, ops_api: tuple[str, list[tuple[str, object]]]
) -> None:
    base, calls = ops_api
    log = tmp_path / "h.log"
    plain = Hook.model_validate({"http": {"url": f"{base}/ops/settlement"}})
    await run_hook(plain, service="acquirer", what="fault", log=log, params={"share": 0.2})
    body = Hook.model_validate(
        {"http": {"url": f"{base}/ops/settlement", "method": "PUT", "body": {"on": False}}}
    )
    await run_hook(body, service="acquirer", what="undo", log=log, params={"share": 0.2})
    assert calls == [("POST", {"share": 0.2}), ("PUT", {"on": False})]
    broken = Hook.model_validate({"http": {"url": f"{base}/broken"}})
    with pytest.raises(HookFailed, match=r"answered HTTP 500: settlement daemon unreachable"):
        await run_hook(broken, service="acquirer", what="fault", log=log)
    unanswered = Hook.model_validate({"http": {"url": "http://127.0.0.1:9/x"}, "timeout_s": 1})
    with pytest.raises(HookFailed, match=r"acquirer fault hook \(POST http://127\.0\.0\.1:9/x\)"):
        await run_hook(unanswered, service="acquirer", what="fault", log=log)


def test_hook_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one of command or http"):
        Hook.model_validate({"timeout_s": 3})
    with pytest.raises(ValueError, match="non-empty argv"):
        Hook.model_validate({"command": []})
    with pytest.raises(ValueError, match="cwd and env are for a command"):
        Hook.model_validate({"http": {"url": "http://h:1/x"}, "cwd": "/tmp"})
    hooks = ServiceHooks.model_validate({"kill": {"command": ["k"]}})
    assert not hooks.can_kill, "a kill without a way back is no kill fault"
    assert ServiceHooks.model_validate(
        {"kill": {"command": ["k"]}, "restart": {"command": ["r"]}}
    ).can_kill


def test_hooks_and_settings_belong_to_external_services() -> None:
    with pytest.raises(ConfigError, match=r"services\.issuer.*hooks and settings are for an ext"):
        topology_from_mapping({"services": {"issuer": {"hooks": {"kill": {"command": ["k"]}}}}})
    with pytest.raises(ConfigError, match=r"services\.acquirer\.hooks\.faults.*unknown field"):
        topology_from_mapping(
            {
                "services": {
                    "acquirer": {
                        "mode": "external",
                        "address": "127.0.0.1:5000",
                        "hooks": {"faults": {"expire_keys": {"do": {"command": ["x"]}, "un": 1}}},
                    }
                }
            }
        )


async def test_the_external_launcher_breaks_a_service_only_through_its_hooks(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "did.txt"

    def note(word: str) -> dict[str, object]:
        code = f"open({str(journal)!r}, 'a').write({word!r} + '\\n')"
        return {"command": [PY, "-c", code]}

    topology = topology_from_mapping(
        {
            "services": {
                "acquirer": {
                    "mode": "external",
                    "address": "127.0.0.1:5000",
                    "hooks": {"kill": note("kill"), "start": note("start"), "reset": note("reset")},
                }
            }
        }
    )
    prober = Prober()
    launcher = ExternalLauncher(topology.service("acquirer"), prober, tmp_path)
    try:
        await launcher.start(time.monotonic() + 5)  # a fresh stack: the reset hook
        await launcher.kill()
        await launcher.restart(time.monotonic() + 5)  # after a kill: start
        await launcher.restart(time.monotonic() + 5)  # no restart hook: kill, then start
        await launcher.kill()
        await launcher.stop(1.0)  # the lab never leaves a host it killed down
        assert journal.read_text().split() == [
            "reset", "kill", "start", "kill", "start", "kill", "start",
        ]  # fmt: skip
        assert "acquirer.hooks.log" in await launcher.logs()
    finally:
        await prober.close()
    bare = ExternalLauncher(
        topology_from_mapping(
            {"services": {"acquirer": {"mode": "external", "address": "127.0.0.1:5000"}}}
        ).service("acquirer"),
        Prober(),
        tmp_path,
    )
    with pytest.raises(StackError, match=r"cannot kill it \(give services\.acquirer\.hooks\.kill"):
        await bare.kill()
    await bare.prober.close()
