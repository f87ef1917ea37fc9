"""The terminal fleet from the lab's side: Locust as a subprocess.

    fleet = Fleet(run_dir)
    config = fleet.config_for(world=..., regions={...}, backup=..., shape=ShapeSpec("lunch-peak"))
    fleet.start(config, timeout_s=600)
    fleet.control("crash", {"share": 0.1}, until=time.time() + 30)
    code = fleet.wait()
    for record in fleet.journal(): ...

The standard library (and psutil, for the load's identity) only, never
``locust``/``gevent`` (they monkey-patch whatever imports them). The files
between the two sides are contracts:
``fleet/config.json`` (:mod:`poslab.fleet.config`), ``fleet/control.jsonl``
(:mod:`poslab.fleet.control`), ``fleet/load-started.json``
(:mod:`poslab.fleet.load_marker`), ``fleet/locust.pid.json`` (:class:`LoadRecord`),
``fleet/<host>-<pid>.jsonl``
(docs/run-directory.md) and ``locust/locust_stats.csv``.
"""

from __future__ import annotations

from .config import CONFIG_ENV, FLEET_CONFIG_FORMAT, POLICIES, SHAPES, FleetConfig, ShapeSpec
from .control import FLEET_ACTIONS, INSTANT_ACTIONS, ControlWriter
from .load_marker import LOAD_STARTED_FILE, read_load_started, write_load_started
from .readers import iter_journal, journal_files, read_locust_stats
from .runner import (
    DEFAULT_LOCUSTFILE,
    PID_RECORD,
    Fleet,
    FleetError,
    LoadRecord,
    LocustOptions,
    read_load_records,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_LOCUSTFILE",
    "FLEET_ACTIONS",
    "FLEET_CONFIG_FORMAT",
    "INSTANT_ACTIONS",
    "LOAD_STARTED_FILE",
    "PID_RECORD",
    "POLICIES",
    "SHAPES",
    "ControlWriter",
    "Fleet",
    "FleetConfig",
    "FleetError",
    "LoadRecord",
    "LocustOptions",
    "ShapeSpec",
    "iter_journal",
    "journal_files",
    "read_load_records",
    "read_load_started",
    "read_locust_stats",
    "write_load_started",
]
