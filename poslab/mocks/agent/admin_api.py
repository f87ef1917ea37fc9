"""Health, metrics and the admin API (docs/faults.md's shape).

    GET    /health                 200 {"status":"ok", "instance", "processing", "peer"}
    GET    /metrics                Prometheus text
    GET    /admin/faults           {"active": {name: params}}
    POST   /admin/faults/{name}    params → {"fault", "params"}; unknown 404; bad params 422
    DELETE /admin/faults/{name}    {"fault", "cleared": true}; idempotent
    POST   /admin/reset            every fault cleared → {"reset": true}
    GET    /admin/peer | PUT /admin/peer {"url"}   the other instance's base URL
    GET    /admin/status           what this instance holds and whether it processes

With a token (required when the service is bound to anything but loopback),
every path but ``/health`` needs ``Authorization: Bearer <token>``
(``--admin-token`` / ``LAB_ADMIN_TOKEN``; both instances are given the same
token): the kit's guard in front of the whole app (:func:`create_app`).
Errors are ``{"error": message}`` as in every mock.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.kit import CONTENT_TYPE

__all__ = ["health_router", "router"]

health_router = APIRouter(tags=["health"])
router = APIRouter(prefix="/admin", tags=["admin"])
FaultName = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]


class Health(BaseModel):
    status: str
    instance: str
    processing: bool
    peer: str | None
    peer_reachable: bool


class FaultSet(BaseModel):
    fault: str
    params: dict[str, Any]


class ActiveFaults(BaseModel):
    active: dict[str, dict[str, Any]]


class FaultCleared(BaseModel):
    fault: str
    cleared: bool


class Reset(BaseModel):
    reset: bool


class PeerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(pattern=r"^https?://[A-Za-z0-9.\-\[\]:]+(:\d{1,5})?/?$")


class Status(BaseModel):
    instance: str
    processing: bool
    peer: str | None
    peer_reachable: bool
    peer_silent_s: float
    records: dict[str, dict[str, int]]
    change_seq: int


@health_router.get("/health", response_model=Health)
async def health(agent: Annotated[AgentState, Depends(agent_state)]) -> Health:
    return Health(
        status="ok",
        instance=agent.name,
        processing=agent.processing(),
        peer=agent.peer.url,
        peer_reachable=agent.peer.reachable(),
    )


@health_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
)
async def metrics(agent: Annotated[AgentState, Depends(agent_state)]) -> Response:
    return Response(agent.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/faults", response_model=ActiveFaults)
async def faults(agent: Annotated[AgentState, Depends(agent_state)]) -> ActiveFaults:
    return ActiveFaults(active=agent.faults.snapshot())


@router.post("/faults/{name}", response_model=FaultSet)
async def set_fault(
    name: FaultName,
    agent: Annotated[AgentState, Depends(agent_state)],
    params: Annotated[dict[str, Any] | None, Body()] = None,
) -> FaultSet:
    fault = agent.faults.parse(name, params)
    agent.faults.set(fault)
    return FaultSet(fault=name, params=fault.to_json())


@router.delete("/faults/{name}", response_model=FaultCleared)
async def clear_fault(
    name: FaultName, agent: Annotated[AgentState, Depends(agent_state)]
) -> FaultCleared:
    agent.faults.clear(name)
    return FaultCleared(fault=name, cleared=True)


@router.post("/reset", response_model=Reset)
async def reset(agent: Annotated[AgentState, Depends(agent_state)]) -> Reset:
    agent.faults.reset()
    return Reset(reset=True)


@router.get("/peer", response_model=PeerIn)
async def get_peer(agent: Annotated[AgentState, Depends(agent_state)]) -> PeerIn:
    return PeerIn(url=agent.peer.url)


@router.put("/peer", response_model=PeerIn)
async def set_peer(body: PeerIn, agent: Annotated[AgentState, Depends(agent_state)]) -> PeerIn:
    agent.peer.set_url(body.url)
    return PeerIn(url=agent.peer.url)


@router.get("/status", response_model=Status)
async def status(agent: Annotated[AgentState, Depends(agent_state)]) -> Status:
    records: dict[str, dict[str, int]] = {}
    for (entity, state), n in agent.store.count_by_state().items():
        records.setdefault(entity, {})[state] = n
    return Status(
        instance=agent.name,
        processing=agent.processing(),
        peer=agent.peer.url,
        peer_reachable=agent.peer.reachable(),
        peer_silent_s=round(agent.peer.down_for(), 3),
        records=records,
        change_seq=agent.store.last_seq(),
    )
