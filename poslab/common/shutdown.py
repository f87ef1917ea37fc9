"""A service's stop has a limit: every service exits within 5 s of SIGTERM.

The launchers (``lab down``, compose, the stack) give a service 5 s after
SIGTERM before they SIGKILL it. Each service bounds every step of its own stop
to finish well inside that (the drain of in-flight requests first), and arms
:func:`exit_backstop` when the stop begins: should a step hang all the same
(a task that swallowed its cancellation, a peer that never answers), the
backstop logs what was still running and ends the process before the launcher
has to — no worse than the SIGKILL it replaces, which every service must
survive anyway (nothing acknowledged is lost to it).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

__all__ = ["DRAIN_LIMIT_S", "STOP_LIMIT_S", "exit_backstop", "pending_tasks"]

#: Seconds in-flight requests get to finish once a service is told to stop.
DRAIN_LIMIT_S = 2.5
#: Seconds from SIGTERM to exit, whatever happens (the launchers KILL at 5).
STOP_LIMIT_S = 4.5

#: The exit status of a stop that the backstop had to end.
BACKSTOP_EXIT = 70


def exit_backstop(
    log: logging.Logger,
    limit_s: float = STOP_LIMIT_S,
    still_running: Callable[[], str] | None = None,
) -> Callable[[], None]:
    """Arm a daemon thread that ends the process (``os._exit``) ``limit_s``
    seconds from now, after logging ``still_running()`` (what had not finished);
    call the returned function to disarm it once the stop is done."""
    disarmed = threading.Event()

    def fire() -> None:
        if disarmed.wait(limit_s):
            return
        try:
            what = still_running() if still_running is not None else ""
        except Exception as exc:  # a report must not stop the exit
            what = f"(could not tell: {exc})"
        log.error(
            "stop did not finish within %.1f s of SIGTERM; exiting now%s",
            limit_s,
            f"; still running: {what}" if what else "",
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(BACKSTOP_EXIT)

    threading.Thread(target=fire, name="stop-backstop", daemon=True).start()
    return disarmed.set


def pending_tasks(loop: object) -> str:
    """Names of the asyncio tasks still pending on ``loop`` (best effort, any thread)."""
    import asyncio

    if not isinstance(loop, asyncio.AbstractEventLoop):
        return ""
    try:
        tasks = list(asyncio.all_tasks(loop))
    except RuntimeError:  # the set changed while we looked
        return "(changing)"
    names = sorted(task.get_name() for task in tasks if not task.done())
    return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
