"""Running hooks (:mod:`poslab.stack.hook_model`): commands and HTTP calls, checked and logged.

A command runs as an argv (no shell) in its own process group, so a hook that
overruns ``timeout_s`` is killed with everything it started; its exit status
must be 0. An HTTP call must answer one of its ``expect`` statuses (any 2xx
by default) within ``timeout_s``. Either way the hook's output is appended to
the run directory's ``services/<service>.hooks.log`` with what was run, when,
and how it ended — the team's evidence of what the lab did to their system.

A hook that fails or times out raises :class:`HookFailed` (a
:class:`~poslab.errors.StackError`): the injector reports that fault as not
injected, and the run's rollback still runs every undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from poslab.errors import StackError
from poslab.stack.hook_model import Hook

#: Bytes of a hook's output kept in its error message (all of it goes to the log).
_TAIL = 400


class HookFailed(StackError):
    """A hook exited non-zero, timed out, or answered an unexpected HTTP status."""


def hooks_log(run_dir: Path, service: str) -> Path:
    return run_dir / "services" / f"{service}.hooks.log"


async def run_hook(
    hook: Hook,
    *,
    service: str,
    what: str,
    log: Path,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Run ``hook`` (``what``: ``kill``, ``fault expire_keys``, ``undo …``); its output.

    Raises :class:`HookFailed` naming the service, what and why.
    """
    began = time.time()
    try:
        if hook.command is not None:
            status, output = await _command(hook, service, what, params or {})
        else:
            status, output = await _http(hook, params or {})
    except HookFailed as exc:
        _append(log, service, what, hook, began, f"FAILED: {exc}", "")
        raise HookFailed(f"{service} {what} hook ({hook.describe()}): {exc}") from None
    _append(log, service, what, hook, began, status, output)
    return output


async def _command(
    hook: Hook, service: str, what: str, params: Mapping[str, Any]
) -> tuple[str, str]:
    assert hook.command is not None
    env = {
        **os.environ,
        **hook.env,
        "LAB_SERVICE": service,
        "LAB_HOOK": what,
        "LAB_FAULT_PARAMS": json.dumps(dict(params), sort_keys=True),
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            *hook.command,
            cwd=hook.cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a timeout kills what the hook started too
        )
    except OSError as exc:
        raise HookFailed(f"cannot run {hook.command[0]}: {exc.strerror or exc}") from None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), hook.timeout_s)
    except TimeoutError:
        _kill_group(proc.pid)
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        raise HookFailed(f"timed out after {hook.timeout_s:g} s{_tail(text)}") from None
    except asyncio.CancelledError:
        _kill_group(proc.pid)  # an interrupted run must not leave a hook running
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise HookFailed(f"exited with status {proc.returncode}{_tail(text)}")
    return "exit 0", text


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


async def _http(hook: Hook, params: Mapping[str, Any]) -> tuple[str, str]:
    call = hook.http
    assert call is not None
    body = call.body if call.body is not None else (dict(params) if call.method != "GET" else None)
    timeout = aiohttp.ClientTimeout(total=hook.timeout_s)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(call.method, call.url, json=body, headers=call.headers) as reply,
        ):
            text = await reply.text(errors="replace")
            status = reply.status
    except TimeoutError:
        raise HookFailed(f"no answer within {hook.timeout_s:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise HookFailed(f"{exc or type(exc).__name__}") from None
    ok = status in call.expect if call.expect else 200 <= status < 300
    if not ok:
        raise HookFailed(f"answered HTTP {status}{_tail(text)}")
    return f"HTTP {status}", text


def _tail(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    return ": " + (text if len(text) <= _TAIL else "…" + text[-_TAIL:])


def _append(
    log: Path, service: str, what: str, hook: Hook, began: float, status: str, output: str
) -> None:
    """One entry per hook run; a log that cannot be written must not fail the fault."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(began))
    took = time.time() - began
    entry = f"== {stamp}Z {service} {what}: {hook.describe()} → {status} ({took:.2f} s)\n"
    if output:
        entry += output if output.endswith("\n") else output + "\n"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as fh:
            fh.write(entry)
    except OSError:
        pass
