"""Merchant support tickets: open → acknowledged → resolved, with the
response-time figures a support desk is judged by.

    POST /tickets                      (Idempotency-Key) → 201 new, 200 replayed
    GET  /tickets?mid=&state=          newest last
    GET  /tickets/stats                counts and time-to-acknowledge / -resolve
    GET  /tickets/{id}
    POST /tickets/{id}/acknowledge     an operator takes it
    POST /tickets/{id}/resolve         an operator closes it

The desk (:mod:`poslab.mocks.agent.support_desk`) acknowledges and resolves tickets
by itself on the processing instance; operators may act on either instance.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import Invalid
from poslab.mocks.agent.lifecycle import (
    TICKET,
    fingerprint,
    id_from_key,
    new_record,
    transition,
)
from poslab.mocks.agent.record_store import Record, now

__all__ = ["IdempotencyKey", "TicketCategory", "TicketOut", "router", "ticket_out"]

router = APIRouter(prefix="/tickets", tags=["tickets"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="client-generated; a retry with the same key is answered, not repeated",
    ),
]
TicketId = Annotated[str, Path(pattern=r"^TK-[0-9A-F]{16}$")]


class TicketCategory(StrEnum):
    TRANSACTIONS_FAILING = "transactions_failing"
    DEVICE_BROKEN = "device_broken"
    REPLACEMENT = "replacement"
    PARAMETERS = "parameters"
    SOFTWARE = "software"
    SETTLEMENT = "settlement"
    OTHER = "other"


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mid: str = Field(pattern=r"^\d{15}$")
    tid: str | None = Field(default=None, pattern=r"^\d{8}$")
    category: TicketCategory
    summary: str = Field(min_length=1, max_length=200)
    detail: str = Field(default="", max_length=2000)


class TicketAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="operator", min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)


class TicketOut(BaseModel):
    id: str
    state: str
    mid: str
    tid: str | None
    category: TicketCategory
    summary: str
    detail: str
    created_at: float
    acknowledged_at: float | None
    resolved_at: float | None
    resolution: str | None
    accepted_by: str = Field(description="the instance that accepted the ticket first")
    handled_by: str | None = Field(description="the instance whose desk processes it")


class Figures(BaseModel):
    count: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None


class TicketStats(BaseModel):
    by_state: dict[str, int]
    time_to_acknowledge: Figures
    time_to_resolve: Figures


def ticket_out(record: Record) -> TicketOut:
    d = record.data
    return TicketOut(
        id=record.id,
        state=record.state,
        mid=record.mid or "",
        tid=record.tid,
        category=d["category"],
        summary=d["summary"],
        detail=d.get("detail", ""),
        created_at=record.created_at,
        acknowledged_at=d.get("acknowledged_at"),
        resolved_at=d.get("resolved_at"),
        resolution=d.get("resolution"),
        accepted_by=record.origin,
        handled_by=record.claimed_by,
    )


def open_ticket(agent: AgentState, key: str, body: TicketIn) -> tuple[Record, bool]:
    """Create (or find) the ticket for idempotency key ``key``."""
    if not agent.directory.merchant_known(body.mid):
        raise Invalid(f"mid: unknown merchant {body.mid}")
    if body.tid is not None:
        terminal = agent.directory.terminal(body.tid)
        if terminal is None or terminal.mid != body.mid:
            raise Invalid(f"tid: terminal {body.tid} does not belong to merchant {body.mid}")
    payload = body.model_dump(mode="json")
    record = new_record(
        TICKET,
        id_from_key("TK", key),
        instance=agent.name,
        fingerprint=fingerprint(payload),
        data={k: v for k, v in payload.items() if k not in ("mid", "tid")},
        mid=body.mid,
        tid=body.tid,
    )
    return agent.accept(record, counter="tickets_accepted")


@router.post(
    "",
    response_model=TicketOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": TicketOut, "description": "replayed: the key was seen before"}},
)
async def create_ticket(
    body: TicketIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    agent: Annotated[AgentState, Depends(agent_state)],
) -> TicketOut:
    stored, created = open_ticket(agent, idempotency_key, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ticket_out(stored)


@router.get("", response_model=list[TicketOut])
async def list_tickets(
    agent: Annotated[AgentState, Depends(agent_state)],
    mid: Annotated[str | None, Query(pattern=r"^\d{15}$")] = None,
    state: Annotated[str | None, Query(pattern="^(open|acknowledged|resolved)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TicketOut]:
    states = (state,) if state else ()
    return [
        ticket_out(r) for r in agent.store.select("ticket", mid=mid, states=states, limit=limit)
    ]


def _figures(values: list[float]) -> Figures:
    if not values:
        return Figures(count=0, p50_s=None, p95_s=None, max_s=None)
    values.sort()

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return Figures(count=len(values), p50_s=at(0.5), p95_s=at(0.95), max_s=values[-1])


@router.get("/stats", response_model=TicketStats)
async def ticket_stats(agent: Annotated[AgentState, Depends(agent_state)]) -> TicketStats:
    records = agent.store.select("ticket", limit=1_000_000)
    by_state = {s: 0 for s in TICKET.states}
    to_ack: list[float] = []
    to_resolve: list[float] = []
    for r in records:
        by_state[r.state] += 1
        if (t := r.data.get("acknowledged_at")) is not None:
            to_ack.append(t - r.created_at)
        if (t := r.data.get("resolved_at")) is not None:
            to_resolve.append(t - r.created_at)
    return TicketStats(
        by_state=by_state,
        time_to_acknowledge=_figures(to_ack),
        time_to_resolve=_figures(to_resolve),
    )


@router.get("/{ticket_id}", response_model=TicketOut)
async def get_ticket(
    ticket_id: TicketId, agent: Annotated[AgentState, Depends(agent_state)]
) -> TicketOut:
    return ticket_out(agent.require(TICKET.entity, ticket_id))


def acknowledge(agent: AgentState, record: Record, by: str, note: str = "") -> Record:
    updated = transition(
        TICKET,
        record,
        "acknowledged",
        claimed_by=agent.name,
        acknowledged_at=now(),
        acknowledged_by=by,
        note=note,
    )
    agent.save(updated)
    return updated


def resolve(agent: AgentState, record: Record, by: str, resolution: str) -> Record:
    t = now()
    changes = {"resolved_at": t, "resolved_by": by, "resolution": resolution}
    if record.data.get("acknowledged_at") is None:  # resolving implies taking it
        changes["acknowledged_at"] = t
    updated = transition(TICKET, record, "resolved", claimed_by=agent.name, **changes)
    agent.save(updated)
    return updated


@router.post("/{ticket_id}/acknowledge", response_model=TicketOut)
async def acknowledge_ticket(
    ticket_id: TicketId, action: TicketAction, agent: Annotated[AgentState, Depends(agent_state)]
) -> TicketOut:
    return ticket_out(
        acknowledge(agent, agent.require(TICKET.entity, ticket_id), action.by, action.note)
    )


@router.post("/{ticket_id}/resolve", response_model=TicketOut)
async def resolve_ticket(
    ticket_id: TicketId, action: TicketAction, agent: Annotated[AgentState, Depends(agent_state)]
) -> TicketOut:
    resolution = action.note or f"resolved by {action.by}"
    return ticket_out(
        resolve(agent, agent.require(TICKET.entity, ticket_id), action.by, resolution)
    )
