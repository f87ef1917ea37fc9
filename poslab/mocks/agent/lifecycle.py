"""State machines of the agent's records, and the idempotent create.

A state machine lists its states in order (the order is the merge rank: a copy
further along wins, see :mod:`poslab.mocks.agent.record_store`) and the transitions
allowed from each. Every transition is a new :class:`Record` with ``version``
one higher; nothing is updated in place.

Creates are idempotent (the IETF ``Idempotency-Key`` header's semantics): the
record id is derived from the client's key, the same key with the same request
returns the stored record, the same key with a different request is a 422.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from poslab.mocks.agent.errors import Conflict, Invalid
from poslab.mocks.agent.record_store import Record, RecordStore, now

__all__ = [
    "APPLICATION",
    "NOTIFICATION",
    "ORDER",
    "REPLACEMENT",
    "TERMINAL",
    "TICKET",
    "TMS_OVERRIDE",
    "StateMachine",
    "create_once",
    "fingerprint",
    "id_from_key",
    "new_record",
    "transition",
]


@dataclasses.dataclass(frozen=True)
class StateMachine:
    entity: str
    states: tuple[str, ...]
    transitions: dict[str, frozenset[str]]

    def rank(self, state: str) -> int:
        return self.states.index(state)

    def check(self, record: Record, to_state: str) -> None:
        if to_state not in self.transitions.get(record.state, frozenset()):
            raise Conflict(
                f"{self.entity} {record.id} is {record.state}; it cannot become {to_state}"
            )


def _machine(
    entity: str, states: tuple[str, ...], edges: dict[str, tuple[str, ...]]
) -> StateMachine:
    return StateMachine(entity, states, {k: frozenset(v) for k, v in edges.items()})


APPLICATION = _machine(
    "application",
    ("submitted", "reviewing", "approved", "rejected"),
    {"submitted": ("reviewing",), "reviewing": ("approved", "rejected")},
)
TICKET = _machine(
    "ticket",
    ("open", "acknowledged", "resolved"),
    {"open": ("acknowledged", "resolved"), "acknowledged": ("resolved",)},
)
# A terminal the agent provisioned (world terminals have no record until retired).
TERMINAL = _machine(
    "terminal",
    ("registering", "active", "retired"),
    {"registering": ("active", "retired"), "active": ("retired",)},
)
ORDER = _machine("order", ("requested", "allocated"), {"requested": ("allocated",)})
# pending → pending records the acquirer's latest refusal
REPLACEMENT = _machine(
    "replacement",
    ("pending_acquirer", "completed"),
    {"pending_acquirer": ("pending_acquirer", "completed")},
)
NOTIFICATION = _machine("notification", ("published",), {})
# Operator overrides of a terminal's TMS parameters: one state, versions count.
TMS_OVERRIDE = _machine("tms", ("set",), {"set": ("set",)})


def fingerprint(payload: Any) -> str:
    """A stable digest of a request body (sorted keys, exact values)."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def id_from_key(prefix: str, key: str) -> str:
    """The record id both instances derive from one idempotency key."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16].upper()}"


def new_record(
    machine: StateMachine,
    record_id: str,
    *,
    instance: str,
    fingerprint: str,
    data: dict[str, Any],
    mid: str | None = None,
    tid: str | None = None,
    state: str | None = None,
    claimed_by: str | None = None,
) -> Record:
    state = state or machine.states[0]
    t = now()
    return Record(
        entity=machine.entity,
        id=record_id,
        state=state,
        rank=machine.rank(state),
        version=0,
        created_at=t,
        updated_at=t,
        origin=instance,
        claimed_by=claimed_by,
        fingerprint=fingerprint,
        mid=mid,
        tid=tid,
        data=data,
    )


def transition(
    machine: StateMachine,
    record: Record,
    to_state: str,
    *,
    claimed_by: str | None = None,
    **changes: Any,
) -> Record:
    """The record after one allowed transition (``data`` merged with ``changes``)."""
    machine.check(record, to_state)
    return dataclasses.replace(
        record,
        state=to_state,
        rank=machine.rank(to_state),
        version=record.version + 1,
        updated_at=now(),
        claimed_by=claimed_by if claimed_by is not None else record.claimed_by,
        data={**record.data, **changes},
    )


def create_once(store: RecordStore, record: Record) -> tuple[Record, bool]:
    """Insert ``record`` unless its id exists; a stored record made from a
    different request is the client reusing a key: 422."""
    stored, created = store.insert(record)
    if not created and stored.fingerprint != record.fingerprint:
        raise Invalid(
            f"idempotency key already used for a different request ({stored.entity} {stored.id})"
        )
    return stored, created
