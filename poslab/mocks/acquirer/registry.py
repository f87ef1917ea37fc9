"""The terminal registry: who may talk to the host.

The world's terminals are registered from the world file; the agent provisions
more at run time (``POST /admin/terminals``) and retires replaced ones
(``POST /admin/terminals/{tid}/retire``). Both changes are stored in the
ledger so a restarted host still knows them. A retired terminal is answered
97 (terminal not registered), as is any TID the host never heard of.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from poslab.mocks.kit import ServiceError
from poslab.world import TXN_TYPES, Terminal, World

__all__ = ["ProvisionError", "Registry", "TerminalRecord"]


class ProvisionError(ServiceError):
    """A terminal the admin API cannot provision (the message says why; 422
    unless given, answered by the admin API's middleware)."""

    status = 422


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalRecord:
    """What the host needs to know about one terminal."""

    tid: str
    mid: str
    region: str
    tmk: bytes = dataclasses.field(repr=False)
    software_version: str
    allowed: frozenset[str]
    provisioned: bool = False  # True when added through the admin API

    @classmethod
    def from_world(cls, terminal: Terminal) -> TerminalRecord:
        return cls(
            tid=terminal.tid,
            mid=terminal.mid,
            region=terminal.region,
            tmk=bytes.fromhex(terminal.tmk),
            software_version=terminal.software_version,
            allowed=frozenset(terminal.allowed),
        )

    def allows(self, txn_type: str) -> bool:
        return txn_type in self.allowed


def validate_provision(body: object) -> TerminalRecord:
    """A provisioning request body → a record, or :class:`ProvisionError`.

    The merchant need not be in the world file: the agent onboards new
    merchants at run time (they are paid as ``standard`` fee class)."""
    if not isinstance(body, dict):
        raise ProvisionError("body must be a JSON object")
    required = ("tid", "mid", "tmk", "region")
    missing = [name for name in required if name not in body]
    if missing:
        raise ProvisionError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(body) - {*required, "software_version", "allowed"})
    if unknown:
        raise ProvisionError(f"unknown field(s): {', '.join(unknown)}")
    tid, mid, tmk_hex, region = (body[name] for name in required)
    if not (isinstance(tid, str) and len(tid) == 8 and tid.isascii() and tid.isalnum()):
        raise ProvisionError("tid must be 8 letters or digits")
    if not (isinstance(mid, str) and len(mid) == 15 and mid.isascii() and mid.isalnum()):
        raise ProvisionError("mid must be 15 letters or digits")
    if not isinstance(region, str) or not region:
        raise ProvisionError("region must be a non-empty string")
    try:
        tmk = bytes.fromhex(tmk_hex) if isinstance(tmk_hex, str) else b""
    except ValueError:
        tmk = b""
    if len(tmk) not in (8, 16, 24):
        raise ProvisionError("tmk must be an 8, 16 or 24-byte key in hex")
    version = body.get("software_version", "000000")
    if not (isinstance(version, str) and len(version) == 6 and version.isdigit()):
        raise ProvisionError("software_version must be 6 digits")
    allowed = body.get("allowed", list(TXN_TYPES))
    if not (isinstance(allowed, list) and all(a in TXN_TYPES for a in allowed)):
        raise ProvisionError(f"allowed must be a list drawn from {list(TXN_TYPES)}")
    return TerminalRecord(tid, mid, region, tmk, version, frozenset(allowed), provisioned=True)


class Registry:
    """World terminals plus provisioned ones, minus retired ones."""

    def __init__(self, world: World) -> None:
        self._terminals: dict[str, TerminalRecord] = {
            t.tid: TerminalRecord.from_world(t) for t in world.terminals
        }
        self._retired: dict[str, float] = {}
        self._regions = set(world.regions)

    def restore(self, provisioned: Iterable[TerminalRecord], retired: dict[str, float]) -> None:
        """Re-apply what the ledger remembers from earlier runs of this host."""
        for record in provisioned:
            self._terminals[record.tid] = record
        self._retired.update(retired)

    def get(self, tid: str) -> TerminalRecord | None:
        """The terminal if it may transact (None: unknown or retired → 97)."""
        if tid in self._retired:
            return None
        return self._terminals.get(tid)

    def known(self, tid: str) -> TerminalRecord | None:
        """The terminal even when retired."""
        return self._terminals.get(tid)

    def is_retired(self, tid: str) -> bool:
        return tid in self._retired

    def add(self, record: TerminalRecord) -> bool:
        """Register ``record``; False when the same terminal is already there.
        A TID in use with other details, or retired, is a 409."""
        if record.tid in self._retired:
            raise ProvisionError(f"terminal {record.tid} was retired and cannot return", 409)
        existing = self._terminals.get(record.tid)
        if existing is not None:
            same = (existing.mid, existing.tmk, existing.region) == (
                record.mid,
                record.tmk,
                record.region,
            )
            if same:
                return False
            raise ProvisionError(f"terminal {record.tid} already exists with other details", 409)
        self._terminals[record.tid] = record
        return True

    def retire(self, tid: str, when: float) -> bool:
        """Retire ``tid``; False when it already was. KeyError when unknown."""
        if tid not in self._terminals:
            raise KeyError(tid)
        if tid in self._retired:
            return False
        self._retired[tid] = when
        return True

    def select(self, regions: Iterable[str] | None, tids: Iterable[str] | None) -> list[str]:
        """TIDs of active terminals in ``regions`` or listed in ``tids`` (all when both None)."""
        if regions is None and tids is None:
            return [tid for tid in self._terminals if tid not in self._retired]
        chosen: set[str] = set(tids or ())
        wanted_regions = set(regions or ())
        for record in self._terminals.values():
            if record.region in wanted_regions:
                chosen.add(record.tid)
        return sorted(t for t in chosen if t in self._terminals and t not in self._retired)

    @property
    def regions(self) -> set[str]:
        return self._regions | {t.region for t in self._terminals.values()}

    def __iter__(self) -> Iterator[TerminalRecord]:
        return iter(self._terminals.values())

    def __len__(self) -> int:
        return len(self._terminals) - len(self._retired)
