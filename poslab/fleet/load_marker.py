"""The fleet's "load started" marker: the zero of the load shape's own clock.

Locust's shape starts its clock (``LoadTestShape.reset_time``) a moment
before the first user spawns, and the first transaction reaches the journal
a second or more later (spawning, boot and sign-on, the first think time,
the journal's flush interval). A scenario runner that started its clock at
that first transaction had to run the shape a few seconds longer than the
judged window to be sure it covered it. With the marker the runner uses the
shape's zero as its own, so the shape lasts exactly the judged duration.

``fleet/load-started.json`` (not ``.jsonl``: readers of transaction records
never see it) is written once, atomically, by the process that runs the
shape (the only process, or the master of ``--processes``)::

    {"t": 1790000000.125, "pid": 4242, "shape": "steady", "terminals": 150}

``t`` is epoch seconds (UTC) of the shape's zero.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from poslab.common import atomic_write

__all__ = ["LOAD_STARTED_FILE", "read_load_started", "write_load_started"]

LOAD_STARTED_FILE = "load-started.json"


def write_load_started(fleet_dir: Path | str, t: float, **info: Any) -> Path:
    """Write the marker (atomically: a reader never sees half of it)."""
    directory = Path(fleet_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOAD_STARTED_FILE
    atomic_write(path, json.dumps({"t": t, "pid": os.getpid(), **info}))
    return path


def read_load_started(fleet_dir: Path | str) -> float | None:
    """The shape's zero (epoch seconds), or None while there is no usable marker."""
    try:
        data = json.loads((Path(fleet_dir) / LOAD_STARTED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    t = data.get("t") if isinstance(data, dict) else None
    if isinstance(t, int | float) and not isinstance(t, bool) and t > 0:
        return float(t)
    return None
