"""The peer protocol's server side (see :mod:`poslab.mocks.agent.peer_sync`). Not
in the public OpenAPI document: only the other instance calls it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import NotFound
from poslab.mocks.agent.peer_sync import SyncRecord

__all__ = ["router"]

# behind the kit's token guard, as every path but /health (see admin_api)
router = APIRouter(prefix="/sync", include_in_schema=False)


class Changes(BaseModel):
    upto: int
    records: list[dict[str, Any]]


class Pushed(BaseModel):
    records: list[SyncRecord] = Field(max_length=1000)


@router.get("/changes", response_model=Changes)
async def changes(
    agent: Annotated[AgentState, Depends(agent_state)],
    since: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Changes:
    upto, records = agent.store.changes_since(since, limit)
    return Changes(upto=upto, records=[r.to_json() for r in records])


@router.post("/records", response_model=Changes)
async def push(body: Pushed, agent: Annotated[AgentState, Depends(agent_state)]) -> Changes:
    """Merge the peer's copies; answer ours after the merge (a claim of ours
    that wins tells the peer to let the record go)."""
    answers = []
    for item in body.records:
        record = item.to_record()
        if agent.store.merge(record):
            agent.changed(record)
        stored = agent.store.get(record.entity, record.id)
        if stored is not None:
            answers.append(stored.to_json())
    agent.peer.heard_from()
    return Changes(upto=agent.store.last_seq(), records=answers)


@router.get("/records/{entity}/{record_id}")
async def record(
    entity: Annotated[str, Path(pattern="^[a-z]{1,20}$")],
    record_id: Annotated[str, Path(min_length=1, max_length=80)],
    agent: Annotated[AgentState, Depends(agent_state)],
) -> dict[str, Any]:
    return agent.require(entity, record_id).to_json()


@router.get("/documents/{sha256}")
async def document(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    agent: Annotated[AgentState, Depends(agent_state)],
) -> Response:
    found = agent.store.document(sha256)
    if found is None:
        raise NotFound(f"no document {sha256}")
    content_type, body = found
    return Response(content=body, media_type=content_type)
