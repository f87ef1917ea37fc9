"""The run's event bus and the journal that records it (``journal.jsonl``).

The runner does not call the journal, the live console or the probes: it
*fires events*, in Locust's style, and they listen. Each event is a
documented attribute of :class:`RunEvents`; a listener is any callable taking
the event's fields as keyword arguments::

    events = RunEvents()
    events.fault_injected.add_listener(lambda **e: print(e["fault_id"]))
    events.fault_injected.fire(scenario="s", fault_id="f", ...)

A listener that raises is logged and skipped (as Locust's ``EventHook`` does):
a broken console must never stop a rollback. :class:`RunJournal` subscribes to
every event that docs/run-directory.md lists and appends one JSON line per
event, flushed at once, so a run killed at any moment leaves every event it
had fired on disk (a torn last line is ignored by readers).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger("poslab.scenario.events")

Listener = Callable[..., None]


class EventHook:
    """One event: listeners are called in the order they were added."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> Listener:
        """Subscribe (usable as a decorator); returns the listener."""
        self._listeners.append(listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def fire(self, **fields: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(**fields)
            except Exception:
                log.exception("listener %r of event %s failed", listener, self.name)


#: event name → what it means and the fields it carries (besides ``scenario``;
#: ``t`` is added by whoever fires it, epoch seconds). The journal writes the
#: ones marked journaled; the others are for live listeners only.
EVENTS: dict[str, tuple[str, bool]] = {
    "run_started": ("the run began: name, seed", True),
    "stack_up": ("a scenario's fresh stack is ready: seconds, services", True),
    "scenario_started": ("the scenario clock's zero: t0", True),
    "phase": ("the runner entered a phase (stack, steady_state, load, drain, ...)", False),
    "load_started": ("the fleet was started: shape, users", True),
    "load_stopped": ("the fleet stopped: shape, users", True),
    "fault_injected": (
        "a fault is in place: fault_id, kind, target, action, params, planned_t, drift_ms",
        True,
    ),
    "fault_cleared": ("a fault was undone: fault_id, planned_t, drift_ms, reason", True),
    "probe": ("a check's verdict: name, ok, value, detail", True),
    "sample": ("one second of fleet figures for live views: second, tps, ratio, p99", False),
    "abort": ("an abort condition held: reason", True),
    "rollback": ("every fault undone and the proxy verified clean: ok, detail", True),
    "drain_finished": ("the drain period ended: pending_reversals, pending_saf", True),
    "scenario_finished": ("status completed/aborted/error/interrupted, detail", True),
    "run_finished": ("the run's verdict: status, exit_code", True),
}


class RunEvents:
    """The catalogue of events a run fires (see :data:`EVENTS`)."""

    run_started: EventHook
    stack_up: EventHook
    scenario_started: EventHook
    phase: EventHook
    load_started: EventHook
    load_stopped: EventHook
    fault_injected: EventHook
    fault_cleared: EventHook
    probe: EventHook
    sample: EventHook
    abort: EventHook
    rollback: EventHook
    drain_finished: EventHook
    scenario_finished: EventHook
    run_finished: EventHook

    def __init__(self) -> None:
        for name, (doc, _) in EVENTS.items():
            setattr(self, name, EventHook(name, doc))

    def hooks(self) -> dict[str, EventHook]:
        return {name: getattr(self, name) for name in EVENTS}


class RunJournal:
    """Appends every journaled event to ``journal.jsonl`` (one flushed line each)."""

    def __init__(self, path: Path, events: RunEvents, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = path.open("a", encoding="utf-8")
        self._events = events
        self._subscribed: list[tuple[EventHook, Listener]] = []
        for name, hook in events.hooks().items():
            if EVENTS[name][1]:
                listener = self._writer(name)
                hook.add_listener(listener)
                self._subscribed.append((hook, listener))

    def _writer(self, name: str) -> Listener:
        def write(**fields: Any) -> None:
            self.write(name, **fields)

        return write

    def write(self, event: str, **fields: Any) -> None:
        """One line: ``t``, ``event``, ``scenario`` first, then the event's fields."""
        if self._file is None:
            return
        record: dict[str, Any] = {
            "t": fields.pop("t", None) or time.time(),
            "event": event,
            "scenario": fields.pop("scenario", None),
        }
        record.update(fields)
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        for hook, listener in self._subscribed:
            hook.remove_listener(listener)
        self._subscribed.clear()
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_lines(data: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of complete lines (a line that does not parse is skipped)."""
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(value, dict):
            yield value


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a journal (a torn last line is skipped)."""
    try:
        return list(parse_lines(path.read_bytes()))
    except FileNotFoundError:
        return []
