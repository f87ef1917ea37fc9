"""The fleet config: everything a Locust process needs to be the fleet.

``poslab.fleet`` writes it as ``fleet/config.json`` in the run directory and
passes its path to Locust in the ``LAB_FLEET_CONFIG`` environment variable;
``poslab/loadtests/locustfile.py`` reads it back with :meth:`FleetConfig.read`. The
JSON file is the contract between the two sides (which never import each
other's runtime): one object, ``format`` 1::

    {"format": 1,
     "world": "/…/world.json",
     "regions": {"north": "127.0.0.1:40001", …},     region → primary host path
     "backup": "127.0.0.1:40009",                    shared backup host path (or null)
     "agents": {"primary": "http://…", "backup": "http://…"},
     "policy": "resilient",                          or "naive"
     "seed": 42, "time_scale": 1.0,
     "response_timeout_s": 5.0, "connect_timeout_s": 2.0,
     "think_time_s": 30.0,                           mean pause between a terminal's
                                                     transactions at full intensity
     "shape": {"name": "lunch-peak", "params": {…}},
     "terminals": 200,                               how many of the world's terminals
     "tids": null,                                   or an explicit list
     "processes": 1,                                 Locust --processes (forked, shared files)
     "workers": 0,                                   > 0: a Locust master and this many
                                                     workers over Locust's messages
                                                     (docs/scale.md): faults out, journal
                                                     back, no file shared with a worker
     "journal_dir": "/…/fleet", "control_file": "/…/fleet/control.jsonl",
     "state_dir": "/…/fleet/state",                  the terminals' SQLite "flash"
     "journal_flush_s": 1.0,
     "terminal": {…}}                                TerminalConfig overrides

``time_scale`` multiplies business durations (think time, settlement and
sign-on intervals, TMS retry), not protocol timeouts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from poslab.common import atomic_write
from poslab.errors import ConfigError

__all__ = ["CONFIG_ENV", "FLEET_CONFIG_FORMAT", "POLICIES", "SHAPES", "FleetConfig", "ShapeSpec"]

FLEET_CONFIG_FORMAT = 1
CONFIG_ENV = "LAB_FLEET_CONFIG"
POLICIES = ("resilient", "naive")
# The load shapes poslab/loadtests/shapes.py defines (their parameters live there).
SHAPES = ("steady", "ramp", "lunch-peak", "dinner-peak")


def _address(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"fleet config: {what} must be host:port, got {value!r}")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"fleet config: {what} must be host:port, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class ShapeSpec:
    name: str = "steady"
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in SHAPES:
            raise ConfigError(f"fleet config: unknown shape {self.name!r} (known: {SHAPES})")
        for key, value in self.params.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"fleet config: shape param {key} must be a number")


@dataclasses.dataclass(frozen=True)
class FleetConfig:
    world: str
    regions: Mapping[str, str]
    journal_dir: str
    control_file: str
    state_dir: str
    backup: str | None = None
    agents: Mapping[str, str] = dataclasses.field(default_factory=dict)
    policy: str = "resilient"
    seed: int = 0
    time_scale: float = 1.0
    response_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    think_time_s: float = 30.0
    shape: ShapeSpec = dataclasses.field(default_factory=ShapeSpec)
    terminals: int | None = None
    tids: tuple[str, ...] | None = None
    processes: int = 1
    workers: int = 0
    journal_flush_s: float = 1.0
    terminal: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    format: int = FLEET_CONFIG_FORMAT

    def __post_init__(self) -> None:
        if self.format != FLEET_CONFIG_FORMAT:
            raise ConfigError(f"fleet config: format {self.format}, this lab reads 1")
        if not self.regions:
            raise ConfigError("fleet config: at least one region path is needed")
        for region, address in self.regions.items():
            _address(address, f"regions.{region}")
        if self.backup is not None:
            _address(self.backup, "backup")
        if self.policy not in POLICIES:
            raise ConfigError(f"fleet config: policy must be one of {POLICIES}")
        for name in ("time_scale", "response_timeout_s", "connect_timeout_s", "journal_flush_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"fleet config: {name} must be > 0")
        if self.think_time_s < 0:
            raise ConfigError("fleet config: think_time_s must be ≥ 0")
        if self.terminals is not None and self.terminals < 1:
            raise ConfigError("fleet config: terminals must be ≥ 1")
        if self.processes < 1:
            raise ConfigError("fleet config: processes must be ≥ 1")
        if self.workers < 0:
            raise ConfigError("fleet config: workers must be ≥ 0")
        if self.workers and self.processes > 1:
            raise ConfigError("fleet config: workers and processes exclude each other")
        for key, url in self.agents.items():
            if key not in ("primary", "backup") or not str(url).startswith("http"):
                raise ConfigError(f"fleet config: agents.{key} must be an http(s) URL")

    @property
    def slots(self) -> int:
        """How many Locust processes run terminals: terminal ``i`` belongs to
        worker ``i mod slots`` (workers over messages, else --processes)."""
        return self.workers or self.processes

    # -- JSON ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["regions"] = dict(self.regions)
        data["agents"] = dict(self.agents)
        data["terminal"] = dict(self.terminal)
        data["tids"] = None if self.tids is None else list(self.tids)
        data["shape"] = {"name": self.shape.name, "params": dict(self.shape.params)}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"fleet config: unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        shape = values.get("shape")
        if isinstance(shape, Mapping):
            values["shape"] = ShapeSpec(str(shape.get("name")), dict(shape.get("params") or {}))
        if values.get("tids") is not None:
            values["tids"] = tuple(str(t) for t in values["tids"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"fleet config: {exc}") from None

    def write(self, path: Path) -> Path:
        """Write atomically (a Locust process never reads half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def read(cls, path: Path | str) -> FleetConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"fleet config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"fleet config {path}: not a JSON object")
        return cls.from_dict(data)
