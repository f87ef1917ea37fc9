"""Who is who: the world's merchants and terminals plus the ones this agent
onboarded and provisioned, TID allocation and terminal master keys.

TIDs are 8 digits read as a generation digit and a 7-digit slot
(``g·10⁷ + slot``). The world's terminals are generation 1 with slots from 1.
- A replacement keeps the slot and takes the next generation
  (``10000123`` → ``20000123``): the new TID is a function of the old one, so
  the primary and the backup compute the same replacement without talking to
  each other, and a replayed or failed-over request can never make a second
  terminal. A till can be replaced 8 times (generation 9 is the last).
- Terminals for newly onboarded merchants are generation 1 in slots no world
  uses (the world holds at most 10⁶ terminals): the primary allocates from
  5,000,000, the backup from 7,500,000, so their allocations never collide.

Terminal master keys are derived, never stored: TMK = HMAC-SHA256(BDK, TID)
with DES odd parity, the BDK derived from the world's seed and the agent
company. This is how DUKPT gives each device its initial key from a base
derivation key and the device's serial number; here it lets both instances
hand out the same key for the same TID, and keeps keys out of the database.
"""

from __future__ import annotations

import hashlib
import hmac

from poslab.mocks.agent.errors import Conflict, Invalid
from poslab.mocks.agent.lifecycle import TERMINAL
from poslab.mocks.agent.record_store import RecordStore
from poslab.world import Merchant, Terminal, World
from poslab.world.places import AREA_CODES, provinces_by_region

__all__ = [
    "NEW_SLOT_START",
    "TerminalDirectory",
    "derive_tmk",
    "successor_tid",
]

NEW_SLOT_START = {"primary": 5_000_000, "backup": 7_500_000}
_SLOT_END = {"primary": 7_499_999, "backup": 9_999_999}
# MID sequence (last 4 digits) ranges for onboarded merchants, per instance.
_MID_SEQ = {"primary": (5000, 7499), "backup": (7500, 9999)}
_ODD_PARITY = bytes(b ^ 1 if b.bit_count() % 2 == 0 else b for b in range(256))


def successor_tid(tid: str) -> str:
    """The TID that replaces ``tid`` (same slot, next generation)."""
    if len(tid) != 8 or not tid.isdigit():
        raise Invalid(f"TID must be 8 digits, got {tid!r}")
    generation = int(tid[0])
    if generation >= 9:
        raise Conflict(f"terminal {tid} was replaced too often: order a new terminal instead")
    return f"{generation + 1}{tid[1:]}"


def derive_tmk(bdk: bytes, tid: str) -> str:
    """The 16-byte double-length TMK for ``tid``, hex, odd parity."""
    raw = hmac.new(bdk, b"TMK:" + tid.encode(), hashlib.sha256).digest()[:16]
    return raw.translate(_ODD_PARITY).hex().upper()


class TerminalDirectory:
    """Lookups over the world and this agent's records."""

    def __init__(self, world: World, store: RecordStore, instance: str) -> None:
        self.world = world
        self.store = store
        self.instance = instance
        company = world.agents[0].company_id if world.agents else "AG0000"
        self._bdk = hashlib.sha256(f"agent-bdk:{world.seed}:{company}".encode()).digest()
        self._provinces = provinces_by_region(world.regions)

    def tmk(self, tid: str) -> str:
        return derive_tmk(self._bdk, tid)

    def terminal(self, tid: str) -> Terminal | None:
        """A terminal by TID, world or provisioned; None if unknown."""
        record = self.store.get(TERMINAL.entity, tid)
        if record is not None:
            d = record.data
            return Terminal(
                tid=tid,
                mid=d["mid"],
                region=d["region"],
                tmk=self.tmk(tid),
                software_version=d["software_version"],
                allowed=tuple(d["allowed"]),
                primary_path=f"region-{d['region']}",
            )
        return self.world.terminal(tid)

    def retired(self, tid: str) -> bool:
        record = self.store.get(TERMINAL.entity, tid)
        return record is not None and record.state == "retired"

    def merchant_known(self, mid: str) -> bool:
        if self.world.merchant(mid) is not None:
            return True
        return bool(self.store.select("application", mid=mid, states=("approved",), limit=1))

    def merchant(self, mid: str) -> Merchant | None:
        return self.world.merchant(mid)

    def provinces(self, region: str) -> tuple[str, ...]:
        return self._provinces.get(region, ())

    def allocate_tid(self) -> str:
        slot = self.store.next_counter("tid-slot", NEW_SLOT_START[self.instance])
        if slot > _SLOT_END[self.instance]:
            raise Conflict("this agent instance has no TIDs left to allocate")
        return f"1{slot:07d}"

    def allocate_mid(self, province: str, mcc: str) -> str:
        area = AREA_CODES[province]
        first, last = _MID_SEQ[self.instance]
        while True:
            seq = self.store.next_counter(f"mid:{area}:{mcc}", first)
            if seq > last:
                raise Conflict(f"no merchant numbers left for area {area} and MCC {mcc}")
            mid = f"898{area}{mcc}{seq:04d}"
            # a very large world may already use the high sequence numbers
            if self.world.merchant(mid) is None:
                return mid
