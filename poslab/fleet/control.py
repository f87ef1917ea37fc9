"""The fleet control channel: fleet faults sent to every Locust process.

The lab appends one JSON object per line to ``fleet/control.jsonl``::

    {"seq": 3, "t": 1790000012.5, "action": "crash",
     "params": {"share": 0.1, "regions": ["north"]}, "until": 1790000042.5}

Every Locust process tails the file (≤ 250 ms) and applies each command once,
in ``seq`` order, to the terminals it runs. ``until`` (epoch seconds, or null)
ends a windowed fault: crashed terminals reboot, a pinned backup path is
released, a throttle lifted. ``clear`` with ``{"seq": n}`` ends fault ``n``
early (rollback), ``{"all": true}`` every active one.

Actions and params (docs/faults.md, "Fleet faults"): which terminals a fault
hits is ``tids`` (drawn by the scenario engine), or ``share``/``count``
and/or ``regions`` (drawn identically in every process from the world and
the fleet seed).

Lines are appended with a single ``write`` on an ``O_APPEND`` descriptor, so
a reader never sees two commands interleaved; a torn last line (the lab
killed mid-write) is skipped by readers until it is complete.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poslab.errors import ConfigError

__all__ = ["FLEET_ACTIONS", "INSTANT_ACTIONS", "ControlWriter"]

FLEET_ACTIONS = (
    "crash",
    "power_outage",
    "replace",
    "set_software",
    "force_sign_on",
    "use_backup_path",
    "use_backup_agent",
    "throttle",
    "clear",
)
# applied once; ``until`` means nothing for them
INSTANT_ACTIONS = frozenset({"set_software", "force_sign_on", "clear"})


def _check(action: str, params: Mapping[str, Any]) -> None:
    if action not in FLEET_ACTIONS:
        raise ConfigError(f"unknown fleet action {action!r} (known: {', '.join(FLEET_ACTIONS)})")
    share = params.get("share")
    if share is not None and not (isinstance(share, int | float) and 0 < share <= 1):
        raise ConfigError(f"fleet {action}: share must be in (0, 1], got {share!r}")
    count = params.get("count")
    if count is not None and not (isinstance(count, int) and count >= 1):
        raise ConfigError(f"fleet {action}: count must be ≥ 1, got {count!r}")
    for key in ("regions", "tids"):
        value = params.get(key)
        if value is not None and not (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        ):
            raise ConfigError(f"fleet {action}: {key} must be a list of names")
    if action == "power_outage" and not params.get("regions"):
        raise ConfigError("fleet power_outage needs regions")
    if action == "set_software":
        version = params.get("version")
        if not (isinstance(version, str) and len(version) == 6 and version.isdigit()):
            raise ConfigError(f"fleet set_software: version must be 6 digits, got {version!r}")
    if action == "throttle":
        factor = params.get("factor")
        if not (isinstance(factor, int | float) and 0 < factor <= 1):
            raise ConfigError(f"fleet throttle: factor must be in (0, 1], got {factor!r}")
    if action == "clear" and not (isinstance(params.get("seq"), int) or params.get("all") is True):
        raise ConfigError('fleet clear needs {"seq": n} or {"all": true}')


class ControlWriter:
    """Appends commands to one control file; ``seq`` continues the file's."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seq = self._last_seq()

    def _last_seq(self) -> int:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return 0
        last = 0
        for line in lines:
            try:
                last = max(last, int(json.loads(line)["seq"]))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line from a writer that died
        return last

    def send(
        self, action: str, params: Mapping[str, Any] | None = None, until: float | None = None
    ) -> int:
        """Append one command; returns its ``seq``."""
        params = dict(params or {})
        _check(action, params)
        with self._lock:
            self._seq += 1
            line = json.dumps(
                {
                    "seq": self._seq,
                    "t": time.time(),
                    "action": action,
                    "params": params,
                    "until": None if action in INSTANT_ACTIONS else until,
                },
                separators=(",", ":"),
            )
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)
            return self._seq

    def clear(self, seq: int | None = None) -> int:
        """End fault ``seq`` now (or every active fault)."""
        return self.send("clear", {"seq": seq} if seq is not None else {"all": True})
