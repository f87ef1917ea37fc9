"""The exit codes of ``lab`` — a contract with the pipelines that gate on them —
and the environment variables it reads, as ``--help`` shows them.

A crash is never 1: 1 means "the system under test failed the gate", and a
pipeline that retries or files a bug on a failed gate must not do so because
the lab itself fell over (3).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ENVIRONMENT", "HELP_EPILOG", "ExitCode"]


class ExitCode(IntEnum):
    PASSED = 0
    GATE_FAILED = 1
    COULD_NOT_RUN = 2  # bad input or option, a service that would not start, an unwritable output
    INTERNAL_ERROR = 3  # a bug in the lab: the traceback is on stderr
    INTERRUPTED = 130  # Ctrl-C or SIGTERM; the run was rolled back and still scored


_MEANINGS = {
    ExitCode.PASSED: "the gate passed",
    ExitCode.GATE_FAILED: "the gate failed (a score, a minimum or integrity)",
    ExitCode.COULD_NOT_RUN: "could not run (bad input or output path, a stack that did not start)",
    ExitCode.INTERNAL_ERROR: "internal error: a bug in the lab (traceback on stderr)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGTERM): rolled back and scored",
}

#: What ``lab run`` reads from the environment (an option, where there is one, wins).
ENVIRONMENT: dict[str, str] = {
    "LAB_SCENARIOS": "scenario directory, as --catalogue (in every command)",
    "LAB_RUNS_DIR": "where run directories go, as --runs-dir",
    "LAB_PLUGINS": "plugin modules (space-separated), as --plugin",
    "LAB_PUSHGATEWAY": "push the run's metrics to this Prometheus Pushgateway, as --pushgateway",
    "TOXIPROXY_URL": "use this Toxiproxy instead of the embedded proxy",
    "LAB_EVENT_LOOP": "the servers' event loop: auto, uvloop or asyncio",
    "LAB_CODEC": "the servers' ISO 8583 codec: compiled or pyiso8583",
    "GITHUB_STEP_SUMMARY": "when set, the run's summary.md is appended to it",
    "CI": "when set, plain progress lines instead of a live display",
}


def _epilog() -> str:
    # "\b" keeps click from re-wrapping the paragraph that follows it
    codes = "\n".join(f"  {int(code):<4} {_MEANINGS[code]}" for code in ExitCode)
    env = "\n".join(f"  {name:<20} {text}" for name, text in ENVIRONMENT.items())
    return f"\b\nExit codes:\n{codes}\n\n\b\nEnvironment:\n{env}"


HELP_EPILOG = _epilog()
