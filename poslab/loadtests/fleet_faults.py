"""Fleet faults inside one Locust process: which terminals, for how long.

Every process reads the same commands and the same world, so it computes
the same set of terminals for a fault — ``tids`` when the scenario engine
drew them, otherwise a seeded draw of ``share``/``count`` from the fleet's
terminals (in ``regions`` if given) — and acts on the ones it runs.

:class:`FaultBoard` is plain state: the control greenlet feeds it commands
and expiries, the users ask it whether their terminal is down, how hard to
throttle, and which path to use; live terminals are told at once about
crashes, forced sign-ons, pinned paths and software changes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .control import FleetCommand

__all__ = ["ActiveFault", "FaultBoard", "FleetTerminal", "RetiringTerminal", "retire"]

log = logging.getLogger(__name__)

# A crash or a power cut kills the device mid-transaction (what the durable
# reversal store is tested against). Broken hardware (screen, keys, printer)
# shows when the merchant next uses the device: ``replace`` takes effect
# between customers, once the in-flight transaction and its reversal are done
# (see :func:`retire`) — a device dying with a reversal on it that no reboot
# ever delivers is a fault of the lab, not of the system under test.
_CRASH = frozenset({"crash", "power_outage"})
_DOWN = _CRASH | {"replace"}
_WINDOWED = _DOWN | {"use_backup_path", "use_backup_agent", "throttle"}


class FleetTerminal(Protocol):
    """What a fault acts on (``poslab.mocks.terminal.Terminal`` fits)."""

    @property
    def tid(self) -> str: ...

    def crash(self) -> None: ...
    def force_sign_on(self) -> None: ...
    def use_backup_path(self, pinned: bool) -> None: ...
    def set_software(self, version: str) -> None: ...


class RetiringTerminal(Protocol):
    """A device the merchant takes out of service (``poslab.mocks.terminal.Terminal`` fits)."""

    @property
    def crashed(self) -> bool: ...

    def drain(self) -> None: ...
    def crash(self) -> None: ...


def retire(terminal: RetiringTerminal) -> None:
    """A device broken for good (fault ``replace``), noticed between customers:
    what it still holds — a reversal waiting for its next try, a queued
    refund — is delivered first (within the drain's budget), then it dies.
    A device that already crashed keeps what it lost."""
    if terminal.crashed:
        return
    terminal.drain()
    terminal.crash()


@dataclasses.dataclass(frozen=True, slots=True)
class ActiveFault:
    seq: int
    action: str
    tids: frozenset[str]
    until: float | None  # None: until cleared (replace: for good)
    params: Mapping[str, Any]


class FaultBoard:
    def __init__(self, fleet: Iterable[tuple[str, str]], seed: int) -> None:
        """``fleet``: (tid, region) of every terminal of the run, all processes."""
        self.fleet = sorted(fleet)
        self.seed = seed
        self.active: dict[int, ActiveFault] = {}
        self.live: dict[str, FleetTerminal] = {}
        self.software: dict[str, str] = {}  # set_software for terminals not yet on

    # -- which terminals -------------------------------------------------------

    def select(self, seq: int, params: Mapping[str, Any]) -> frozenset[str]:
        tids = params.get("tids")
        if tids:
            return frozenset(str(t) for t in tids)
        regions = params.get("regions")
        pool = [tid for tid, region in self.fleet if not regions or region in regions]
        share, count = params.get("share"), params.get("count")
        if share is None and count is None:
            return frozenset(pool)
        n = (
            int(count)
            if count is not None
            else max(1, math.floor(float(share or 0) * len(pool) + 0.5))
        )
        rng = random.Random(f"{self.seed}/fleet/{seq}")
        return frozenset(rng.sample(pool, min(n, len(pool))))

    # -- commands ----------------------------------------------------------------

    def apply(self, command: FleetCommand) -> None:
        action, params = command.action, command.params
        if action == "clear":
            if params.get("all"):
                for seq in list(self.active):
                    self._end(seq)
            elif isinstance(params.get("seq"), int):
                self._end(int(params["seq"]))
            return
        tids = self.select(command.seq, params)
        live = [self.live[tid] for tid in tids if tid in self.live]
        if action in _WINDOWED:
            self.active[command.seq] = ActiveFault(command.seq, action, tids, command.until, params)
        if action in _CRASH:
            for terminal in live:
                terminal.crash()
        elif action == "use_backup_path":
            for terminal in live:
                terminal.use_backup_path(True)
        elif action == "force_sign_on":
            for terminal in live:
                terminal.force_sign_on()
        elif action == "set_software":
            version = str(params["version"])
            for tid in tids:
                self.software[tid] = version
            for terminal in live:
                terminal.set_software(version)
        elif action not in _WINDOWED:
            log.warning("fleet control: unknown action %r (seq %d) ignored", action, command.seq)

    def expire(self, now: float) -> None:
        for seq, fault in list(self.active.items()):
            if fault.until is not None and fault.until <= now:
                self._end(seq)

    def _end(self, seq: int) -> None:
        fault = self.active.pop(seq, None)
        if fault is None or fault.action != "use_backup_path":
            return
        for tid in fault.tids:
            terminal = self.live.get(tid)
            if terminal is not None and not self.backup_pinned(tid):
                terminal.use_backup_path(False)  # fail back

    # -- what users ask ----------------------------------------------------------

    def down_until(self, tid: str) -> float | None:
        """When this terminal may power on again: None = it is up; ``inf`` =
        not before the fault is cleared."""
        ends = [
            math.inf if f.until is None else f.until
            for f in self.active.values()
            if f.action in _DOWN and tid in f.tids
        ]
        return max(ends) if ends else None

    def replaced(self, tid: str) -> bool:
        """Broken for good (fault ``replace``): the merchant needs a new device."""
        return any(f.action == "replace" and tid in f.tids for f in self.active.values())

    def backup_pinned(self, tid: str) -> bool:
        return any(f.action == "use_backup_path" and tid in f.tids for f in self.active.values())

    def backup_agent(self) -> bool:
        return any(f.action == "use_backup_agent" for f in self.active.values())

    def throttle(self) -> float:
        """Factor of the normal transaction rate (1.0 = not throttled)."""
        factors = [
            float(f.params["factor"]) for f in self.active.values() if f.action == "throttle"
        ]
        return min(factors) if factors else 1.0

    # -- terminals coming and going ------------------------------------------

    def register(self, terminal: FleetTerminal) -> None:
        """A terminal powered on in this process: give it the pushed settings."""
        self.live[terminal.tid] = terminal
        version = self.software.get(terminal.tid)
        if version is not None:
            terminal.set_software(version)
        if self.backup_pinned(terminal.tid):
            terminal.use_backup_path(True)

    def unregister(self, tid: str) -> None:
        self.live.pop(tid, None)
