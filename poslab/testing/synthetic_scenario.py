"""One scenario of a synthetic run, as a test or a benchmark orders it.

The defaults make a small, clean run with one fault; every field that differs
from them changes what :func:`poslab.testing.write_run` writes (more load, a
recovery delay, an integrity failure injected — :data:`poslab.testing.INJECTIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class SyntheticScenario:
    """One scenario of a synthetic run (defaults: small, clean, one fault)."""

    name: str = "synthetic"
    transactions: int = 3000
    duration_s: int = 60
    drain_s: float = 5.0
    regions: tuple[str, ...] = ("north", "south", "east")
    terminals: int = 30
    fault: tuple[float, float] | None = (20.0, 10.0)
    fault_regions: tuple[str, ...] | None = None
    fault_failure_share: float = 1.0
    recovery_delay_s: float = 0.0
    decline_share: float = 0.05
    latency_ms: float = 150.0
    success_ratio: float = 0.95
    p99_ms: float = 1000.0
    recovery_target_s: float = 10.0
    good_seconds: int = 3
    weight: float = 1.0
    min_score: float = 0.0
    expectations: list[dict[str, Any]] = field(default_factory=list)
    unavoidable: list[dict[str, float]] = field(default_factory=list)
    inject: dict[str, int] = field(default_factory=dict)
    status: str = "completed"
    write_ledger: bool = True
    fleet_files: int = 2
    torn_last_line: bool = False
    backup_during_fault: bool = False
    sign_on_storm_spread_s: float | None = None
    tickets: int = 0
    tms: int = 0
    probes: list[tuple[str, bool]] = field(default_factory=list)
