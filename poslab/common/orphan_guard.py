"""Processes the lab starts die with it, even when it is killed outright (``kill -9``).

Two mechanisms, because neither alone covers every case:

- :func:`guarded_argv` wraps a command so that the child asks the kernel
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to be killed the moment its parent
  dies, and bails out if the parent died before the request was in place.
  Instant, but the kernel's "parent" is the *thread* that forked: a child
  started from a short-lived thread would be killed when that thread ends, so
  callers use it only from a thread that lives as long as they do;
- :func:`watch_parent` is a watchdog thread inside the child: when its parent
  pid is no longer the one it was started by (the parent died and the child was
  re-parented to init or a subreaper), it kills its own process group. It also
  reaches processes the child forks itself (Locust's ``--processes`` workers,
  whose death signal the fork clears).

Both are Linux-only; elsewhere they do nothing (the lab's stop paths still
signal whole process groups).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "PARENT_ENV",
    "die_with_parent",
    "guarded_argv",
    "watch_parent",
]

#: The pid a guarded child must keep as its parent (set by the lab in its environment).
PARENT_ENV = "LAB_PARENT_PID"

_PR_SET_PDEATHSIG = 1

# Runs in the child between fork and the real program's exec, in a bare
# interpreter (-I -S: no site, ~15 ms): ask for SIGKILL when the parent dies,
# and bail out if the parent already died before the request was in place.
# The death signal survives execve, so it holds for the program exec'd next.
_GUARD = (
    "import ctypes,os,sys\n"
    "ctypes.CDLL(None).prctl(1, 9)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(70)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def guarded_argv(argv: list[str], parent_pid: int | None = None) -> list[str]:
    """``argv`` run so that it is SIGKILLed when ``parent_pid`` (this process) dies.

    ``argv[0]`` must be a path (``os.execv`` does not search ``PATH``).
    """
    if sys.platform != "linux":
        return list(argv)
    parent = os.getpid() if parent_pid is None else parent_pid
    return [sys.executable, "-I", "-S", "-c", _GUARD, str(parent), *argv]


def die_with_parent(expected_ppid: int) -> bool:
    """Ask for SIGKILL when this process's parent dies; False when the parent is
    already gone (not ``expected_ppid`` any more) — the caller should exit."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() == expected_ppid


def _kill_own_group() -> None:
    """SIGKILL everything of this process's group when it leads its own session
    (as the lab starts it); else only this process, never a shell's group."""
    try:
        # its group leads its session: a group the lab made for it (a shell's
        # job group never is its session's leader group)
        if os.getsid(0) == os.getpgrp():
            os.killpg(os.getpgrp(), signal.SIGKILL)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def watch_parent(
    expected_ppid: int,
    *,
    interval_s: float = 0.2,
    start_thread: Callable[..., Any] | None = None,
    sleep: Callable[[float], None] | None = None,
    on_orphan: Callable[[], None] | None = None,
) -> None:
    """Start a daemon thread that calls ``on_orphan`` (default: SIGKILL this
    process's group) once the parent is no longer ``expected_ppid``.

    ``start_thread`` and ``sleep`` default to the standard library's; a process
    whose ``threading``/``time`` are monkey-patched (gevent) passes the originals,
    so the watchdog is a real thread that a busy or blocked hub cannot starve.
    """
    import _thread
    import time

    start = start_thread or _thread.start_new_thread
    pause = sleep or time.sleep
    act = on_orphan or _kill_own_group

    def watch() -> None:
        while os.getppid() == expected_ppid:
            pause(interval_s)
        act()

    if os.getppid() != expected_ppid:  # orphaned before we looked
        act()
        return
    start(watch, ())
