"""Reading the fleet control channel (``fleet/control.jsonl``).

The writer is :class:`poslab.fleet.ControlWriter`; the line format is
documented there. :class:`ControlReader` is polled by each Locust process
(every 250 ms) and returns each new command once, in ``seq`` order. It keeps
its file offset and any incomplete last line between polls, and skips —
with a log line — anything that is not a valid command, so a bad line never
stops the fleet from obeying the next one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ControlReader", "FleetCommand"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class FleetCommand:
    seq: int
    t: float
    action: str
    params: Mapping[str, Any]
    until: float | None

    @classmethod
    def parse(cls, data: object) -> FleetCommand:
        if not isinstance(data, dict):
            raise ValueError("a command is a JSON object")
        seq, t, action = data.get("seq"), data.get("t"), data.get("action")
        params, until = data.get("params") or {}, data.get("until")
        if not isinstance(seq, int) or not isinstance(action, str):
            raise ValueError("a command needs an integer seq and an action")
        if not isinstance(t, int | float) or not isinstance(params, dict):
            raise ValueError("a command needs a time t and params as an object")
        if until is not None and not isinstance(until, int | float):
            raise ValueError("until must be a time or null")
        return cls(seq, float(t), action, params, None if until is None else float(until))


class ControlReader:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""
        self._last_seq = 0

    def poll(self) -> list[FleetCommand]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        if not data:
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when the data ended with a newline
        commands: list[FleetCommand] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                command = FleetCommand.parse(json.loads(line))
            except (ValueError, UnicodeDecodeError) as exc:
                log.warning("fleet control: skipping a bad line (%s): %.200r", exc, line)
                continue
            if command.seq <= self._last_seq:
                continue
            self._last_seq = command.seq
            commands.append(command)
        return commands
