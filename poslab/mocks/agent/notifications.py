"""Notifications from the agent to its merchants (settlement delayed, planned
maintenance, a software update to install), by merchant, by region or to all.

    POST /notifications                      (Idempotency-Key) → 201 new, 200 replayed
    GET  /merchants/{mid}/notifications?since=EPOCH   what this merchant should see
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import Invalid, NotFound
from poslab.mocks.agent.lifecycle import NOTIFICATION, fingerprint, id_from_key, new_record
from poslab.mocks.agent.record_store import Record
from poslab.mocks.agent.tickets import IdempotencyKey

__all__ = ["router"]

router = APIRouter(tags=["notifications"])

Mid = Annotated[str, Path(pattern=r"^\d{15}$")]


class NotificationKind(StrEnum):
    SETTLEMENT_DELAYED = "settlement_delayed"
    MAINTENANCE = "maintenance"
    SOFTWARE_UPDATE = "software_update"
    OTHER = "other"


class NotificationIn(BaseModel):
    """Exactly one audience: ``mid``, ``region``, or ``everyone: true``."""

    model_config = ConfigDict(extra="forbid")
    kind: NotificationKind
    message: str = Field(min_length=1, max_length=1000)
    mid: str | None = Field(default=None, pattern=r"^\d{15}$")
    region: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,30}$")
    everyone: bool = False

    @model_validator(mode="after")
    def _one_audience(self) -> NotificationIn:
        chosen = (self.mid is not None) + (self.region is not None) + self.everyone
        if chosen != 1:
            raise ValueError("give exactly one of mid, region, everyone")
        return self


class NotificationOut(BaseModel):
    id: str
    kind: NotificationKind
    message: str
    mid: str | None
    region: str | None
    published_at: float


def _out(record: Record) -> NotificationOut:
    return NotificationOut(
        id=record.id,
        kind=record.data["kind"],
        message=record.data["message"],
        mid=record.mid,
        region=record.data.get("region"),
        published_at=record.created_at,
    )


@router.post(
    "/notifications",
    response_model=NotificationOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": NotificationOut, "description": "replayed"}},
)
async def publish(
    body: NotificationIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    agent: Annotated[AgentState, Depends(agent_state)],
) -> NotificationOut:
    if body.mid is not None and not agent.directory.merchant_known(body.mid):
        raise Invalid(f"mid: unknown merchant {body.mid}")
    if body.region is not None and body.region not in agent.world.regions:
        raise Invalid(f"region: unknown region {body.region!r}")
    payload = body.model_dump(mode="json")
    record = new_record(
        NOTIFICATION,
        id_from_key("NT", idempotency_key),
        instance=agent.name,
        fingerprint=fingerprint(payload),
        data={"kind": payload["kind"], "message": body.message, "region": body.region},
        mid=body.mid,
    )
    stored, created = agent.accept(record)
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(stored)


@router.get("/merchants/{mid}/notifications", response_model=list[NotificationOut])
async def for_merchant(
    mid: Mid,
    agent: Annotated[AgentState, Depends(agent_state)],
    since: Annotated[float, Query(ge=0)] = 0.0,
) -> list[NotificationOut]:
    merchant = agent.world.merchant(mid)
    region = merchant.region if merchant is not None else _onboarded_region(agent, mid)
    found = []
    for record in agent.store.select(NOTIFICATION.entity, limit=1_000_000):
        if record.created_at <= since:
            continue
        audience_region = record.data.get("region")
        if record.mid == mid or (record.mid is None and audience_region in (None, region)):
            found.append(_out(record))
    return found


def _onboarded_region(agent: AgentState, mid: str) -> str:
    approved = agent.store.select("application", mid=mid, states=("approved",), limit=1)
    if not approved:
        raise NotFound(f"unknown merchant {mid}")
    return str(approved[0].data["region"])
