"""Terminal provisioning and replacement.

    POST /terminals/orders              (Idempotency-Key) {mid, count} → 202, fulfilled by the desk
    GET  /terminals/orders/{id}         the order and, once allocated, its terminals (with TMKs)
    GET  /terminals/{tid}               a terminal as the agent knows it
    POST /terminals/{tid}/replacement   (Idempotency-Key) {reason} → the new terminal
    GET  /terminals/{tid}/replacement

A replacement is a pure function of the broken TID (see
:mod:`poslab.mocks.agent.terminal_directory`): whichever instance gets the request,
and however often, the new TID and its key are the same, and the acquirer
calls are idempotent — so a request that failed over from the primary to the
backup mid-way cannot provision a second terminal. The new terminal is
registered first, then the old one retired (the acquirer closes its open batch
host-side); if the acquirer does not answer, the replacement stays
``pending_acquirer`` and the desk retries it.

TMKs appear only in the order and replacement answers: that is the lab's
stand-in for a device arriving key-loaded from the injection facility.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import AgentError, Conflict, Invalid, NotFound
from poslab.mocks.agent.lifecycle import (
    ORDER,
    REPLACEMENT,
    TERMINAL,
    TICKET,
    fingerprint,
    id_from_key,
    new_record,
    transition,
)
from poslab.mocks.agent.record_store import Record, now
from poslab.mocks.agent.terminal_directory import successor_tid
from poslab.mocks.agent.tickets import IdempotencyKey
from poslab.world import Terminal

__all__ = ["complete_replacement", "register_terminal", "router"]

router = APIRouter(prefix="/terminals", tags=["terminals"])

Tid = Annotated[str, Path(pattern=r"^\d{8}$")]
OrderId = Annotated[str, Path(pattern=r"^OR-[0-9A-F]{16}(-\d{1,2})?$")]


class TerminalOut(BaseModel):
    tid: str
    mid: str
    region: str
    status: Literal["registering", "active", "retired"]
    software_version: str
    allowed: list[str]
    replaced_by: str | None


class IssuedTerminal(TerminalOut):
    tmk: str = Field(description="terminal master key, hex (the device arrives key-loaded)")


class ReplacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class ReplacementOut(BaseModel):
    old_tid: str
    new_tid: str
    state: Literal["pending_acquirer", "completed"]
    ticket_id: str
    requested_at: float
    completed_at: float | None
    last_error: str | None
    terminal: IssuedTerminal


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mid: str = Field(pattern=r"^\d{15}$")
    count: int = Field(default=1, ge=1, le=20)


class OrderOut(BaseModel):
    id: str
    mid: str
    count: int
    state: Literal["requested", "allocated"]
    terminals: list[IssuedTerminal]


def _terminal_out(agent: AgentState, terminal: Terminal, cls: type[TerminalOut]) -> TerminalOut:
    record = agent.store.get(TERMINAL.entity, terminal.tid)
    replacement = agent.store.get(REPLACEMENT.entity, terminal.tid)
    fields = {
        "tid": terminal.tid,
        "mid": terminal.mid,
        "region": terminal.region,
        "status": record.state if record is not None else "active",
        "software_version": terminal.software_version,
        "allowed": list(terminal.allowed),
        "replaced_by": replacement.data["new_tid"] if replacement is not None else None,
    }
    if cls is IssuedTerminal:
        fields["tmk"] = agent.directory.tmk(terminal.tid)
    return cls.model_validate(fields)


def _issued(agent: AgentState, tid: str) -> IssuedTerminal:
    terminal = agent.directory.terminal(tid)
    if terminal is None:  # only between a merge of the order and of its terminals
        raise NotFound(f"terminal {tid} not known here yet")
    out = _terminal_out(agent, terminal, IssuedTerminal)
    assert isinstance(out, IssuedTerminal)
    return out


async def register_terminal(agent: AgentState, record: Record) -> Record:
    """Register a ``registering`` terminal at the acquirer; active afterwards."""
    terminal = agent.directory.terminal(record.id)
    assert terminal is not None
    await agent.acquirer.register(terminal)
    current = agent.store.get(TERMINAL.entity, record.id) or record
    if current.state != "registering":
        return current
    updated = transition(TERMINAL, current, "active", registered_at=now())
    agent.save(updated)
    return updated


def _retire_record(agent: AgentState, old: Terminal, new_tid: str) -> None:
    current = agent.store.get(TERMINAL.entity, old.tid)
    if current is None:  # a world terminal: its first record is its retirement
        retired = new_record(
            TERMINAL,
            old.tid,
            instance=agent.name,
            fingerprint="",
            state="retired",
            mid=old.mid,
            tid=old.tid,
            data={
                "mid": old.mid,
                "region": old.region,
                "software_version": old.software_version,
                "allowed": list(old.allowed),
                "replaced_by": new_tid,
            },
        )
    elif current.state != "retired":
        retired = transition(TERMINAL, current, "retired", replaced_by=new_tid)
    else:
        return
    agent.save(retired)


async def complete_replacement(agent: AgentState, record: Record) -> Record:
    """Register the new terminal, retire the old one; idempotent."""
    d = record.data
    old = agent.directory.terminal(d["old_tid"])
    if old is None:
        raise NotFound(f"unknown terminal {d['old_tid']}")
    new = agent.store.get(TERMINAL.entity, d["new_tid"])
    if new is None:
        new = new_record(
            TERMINAL,
            d["new_tid"],
            instance=agent.name,
            fingerprint="",
            mid=old.mid,
            tid=d["new_tid"],
            claimed_by=agent.name,
            data={
                "mid": old.mid,
                "region": old.region,
                "software_version": agent.catalogue.latest,
                "allowed": list(old.allowed),
                "replaces": old.tid,
            },
        )
        agent.save(new)
    try:
        if new.state == "registering":
            await register_terminal(agent, new)
        await agent.acquirer.retire(old.tid)
    except AgentError as exc:
        current = agent.store.get(REPLACEMENT.entity, record.id) or record
        if current.state == "pending_acquirer" and current.data.get("last_error") != exc.message:
            current = transition(REPLACEMENT, current, "pending_acquirer", last_error=exc.message)
            agent.save(current)
        return current
    _retire_record(agent, old, d["new_tid"])
    current = agent.store.get(REPLACEMENT.entity, record.id) or record
    if current.state == "completed":
        return current
    done = transition(REPLACEMENT, current, "completed", completed_at=now(), last_error=None)
    agent.save(done)
    ticket = agent.store.get(TICKET.entity, d["ticket_id"])
    if ticket is not None and ticket.state != "resolved":
        t = now()
        resolved = transition(
            TICKET,
            ticket,
            "resolved",
            claimed_by=agent.name,
            resolved_at=t,
            acknowledged_at=ticket.data.get("acknowledged_at") or t,
            resolution=f"terminal {old.tid} replaced by {d['new_tid']}",
        )
        agent.save(resolved)
    return done


def _replacement_out(agent: AgentState, record: Record) -> ReplacementOut:
    d = record.data
    return ReplacementOut(
        old_tid=d["old_tid"],
        new_tid=d["new_tid"],
        state=record.state,  # type: ignore[arg-type]
        ticket_id=d["ticket_id"],
        requested_at=record.created_at,
        completed_at=d.get("completed_at"),
        last_error=d.get("last_error"),
        terminal=_issued(agent, d["new_tid"]),
    )


def _start_replacement(agent: AgentState, old: Terminal, reason: str) -> Record:
    new_tid = successor_tid(old.tid)
    ticket_id = id_from_key("TK", f"replacement:{old.tid}")
    ticket = new_record(
        TICKET,
        ticket_id,
        instance=agent.name,
        fingerprint="",
        mid=old.mid,
        tid=old.tid,
        data={
            "category": "replacement",
            "summary": f"terminal {old.tid} broken: replacement",
            "detail": reason,
        },
    )
    agent.accept(ticket)
    record = new_record(
        REPLACEMENT,
        old.tid,
        instance=agent.name,
        fingerprint="",
        mid=old.mid,
        tid=old.tid,
        data={"old_tid": old.tid, "new_tid": new_tid, "ticket_id": ticket_id, "reason": reason},
    )
    stored, _ = agent.accept(record, counter="replacements_requested")
    return stored


@router.post(
    "/{tid}/replacement",
    response_model=ReplacementOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ReplacementOut, "description": "already requested"}},
)
async def request_replacement(
    tid: Tid,
    body: ReplacementIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    agent: Annotated[AgentState, Depends(agent_state)],
) -> ReplacementOut:
    old = agent.directory.terminal(tid)
    if old is None:
        raise NotFound(f"unknown terminal {tid}")
    record = agent.store.get(REPLACEMENT.entity, tid) or await agent.peer.lookup(
        REPLACEMENT.entity, tid
    )
    if record is None:
        if agent.directory.retired(tid):
            raise Conflict(f"terminal {tid} is retired")
        record = _start_replacement(agent, old, body.reason)
    else:
        response.status_code = status.HTTP_200_OK
    if record.state == "pending_acquirer":
        record = await complete_replacement(agent, record)
    return _replacement_out(agent, record)


@router.get("/{tid}/replacement", response_model=ReplacementOut)
async def get_replacement(
    tid: Tid, agent: Annotated[AgentState, Depends(agent_state)]
) -> ReplacementOut:
    return _replacement_out(agent, agent.require(REPLACEMENT.entity, tid))


def _order_out(agent: AgentState, record: Record) -> OrderOut:
    tids = record.data.get("tids", [])
    return OrderOut(
        id=record.id,
        mid=record.mid or "",
        count=record.data["count"],
        state=record.state,  # type: ignore[arg-type]
        terminals=[_issued(agent, t) for t in tids if agent.directory.terminal(t) is not None],
    )


def place_order(agent: AgentState, order_id: str, mid: str, count: int, region: str) -> Record:
    record = new_record(
        ORDER,
        order_id,
        instance=agent.name,
        fingerprint=fingerprint({"mid": mid, "count": count}),
        mid=mid,
        data={"count": count, "region": region},
    )
    stored, _ = agent.accept(record)
    return stored


@router.post(
    "/orders",
    response_model=OrderOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"model": OrderOut, "description": "replayed"}},
)
async def order_terminals(
    body: OrderIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    agent: Annotated[AgentState, Depends(agent_state)],
) -> OrderOut:
    merchant = agent.world.merchant(body.mid)
    approved = agent.store.select("application", mid=body.mid, states=("approved",), limit=1)
    if merchant is None and not approved:
        raise Invalid(f"mid: unknown merchant {body.mid}")
    region = merchant.region if merchant is not None else str(approved[0].data["region"])
    order_id = id_from_key("OR", idempotency_key)
    existed = agent.store.get(ORDER.entity, order_id) is not None
    record = place_order(agent, order_id, body.mid, body.count, region)
    if existed:
        response.status_code = status.HTTP_200_OK
    return _order_out(agent, record)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_order(
    order_id: OrderId, agent: Annotated[AgentState, Depends(agent_state)]
) -> OrderOut:
    return _order_out(agent, agent.require(ORDER.entity, order_id))


@router.get("/{tid}", response_model=TerminalOut)
async def get_terminal(tid: Tid, agent: Annotated[AgentState, Depends(agent_state)]) -> TerminalOut:
    terminal = agent.directory.terminal(tid)
    if terminal is None:
        raise NotFound(f"unknown terminal {tid}")
    return _terminal_out(agent, terminal, TerminalOut)
