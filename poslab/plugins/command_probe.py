"""The ``command`` probe: a program run without a shell, judged on its exit code.

It runs in the scenario file's folder, so a team's scripts sit beside its
scenarios; the stack's addresses are in its environment as ``POSLAB_<NAME>``
(``POSLAB_ADMIN_ACQUIRER``, ``POSLAB_PROXY_API``, ``POSLAB_SERVICE_ISSUER``…).
A command still running at the probe's timeout is killed: a failed probe.

    probes:
      - name: books-balance
        type: command
        mode: end
        params: {argv: [./check-books.sh, --strict], exit_code: 0}
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field

from poslab.plugins.api import Probe, ProbeContext, ProbeParams, ProbeResult

_OUTPUT_LIMIT = 64 * 1024  # what is kept of the output for `contains` and the detail


class CommandParams(ProbeParams):
    argv: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    exit_code: int = 0
    #: text the output (stdout and stderr) must contain
    contains: str | None = None


def address_env(addresses: Mapping[str, str]) -> dict[str, str]:
    """``admin.acquirer`` → ``POSLAB_ADMIN_ACQUIRER``."""
    return {
        "POSLAB_" + re.sub(r"[^A-Za-z0-9]+", "_", key).upper(): value
        for key, value in addresses.items()
    }


class CommandProbe(Probe[CommandParams]):
    type = "command"
    Params = CommandParams
    summary = "a program (no shell); ok when it exits with `exit_code` (and prints `contains`)"

    async def check(self, ctx: ProbeContext) -> ProbeResult:
        p = self.params
        process = await asyncio.create_subprocess_exec(
            *p.argv,
            cwd=ctx.source_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **address_env(ctx.addresses)},
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), ctx.timeout_s)
        finally:
            if process.returncode is None:  # timed out or cancelled: no orphan left behind
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        text = out[-_OUTPUT_LIMIT:].decode(errors="replace")
        last = (text.strip().splitlines() or [""])[-1][:200]
        code = process.returncode
        said = f"{p.argv[0]} exited {code}" + (f": {last}" if last else "")
        if code != p.exit_code:
            return ProbeResult(False, code, f"{said} (want {p.exit_code})")
        if p.contains is not None and p.contains not in text:
            return ProbeResult(False, code, f"{said}; output lacks {p.contains!r}")
        return ProbeResult(True, code, said)
