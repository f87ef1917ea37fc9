"""Merchant onboarding: applications with their documents, reviewed by the
desk: submitted → reviewing → approved (a MID and an order for its
terminals) or rejected (every reason, in words).

    POST /onboarding/applications              multipart form + files (Idempotency-Key)
    GET  /onboarding/applications?state=
    GET  /onboarding/applications/{id}
    GET  /onboarding/applications/{id}/documents/{sha256}
    GET  /merchants/{mid}                      a world or onboarded merchant

Uploads are stored content-addressed (SHA-256) in the instance's database and
typed by their bytes, not by what the client claims; an application names its
documents by digest, so the peer copies exactly the files it needs.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Response, UploadFile, status
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUploadFile

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import Invalid, NotFound
from poslab.mocks.agent.lifecycle import APPLICATION, fingerprint, id_from_key, new_record
from poslab.mocks.agent.record_store import Record
from poslab.mocks.agent.review_rules import sniff_content_type
from poslab.mocks.agent.tickets import IdempotencyKey
from poslab.world import MCC_PROFILES

__all__ = ["router"]

router = APIRouter(tags=["onboarding"])

AppId = Annotated[str, Path(pattern=r"^AP-[0-9A-F]{16}$")]
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


class DocumentOut(BaseModel):
    kind: str
    filename: str
    content_type: str
    size: int
    sha256: str


class ApplicationOut(BaseModel):
    id: str
    state: Literal["submitted", "reviewing", "approved", "rejected"]
    merchant_name: str
    region: str
    province: str
    mcc: str
    terminal_count: int
    documents: list[DocumentOut]
    submitted_at: float
    decided_at: float | None
    rejection_reasons: list[str]
    mid: str | None = Field(description="assigned on approval")
    order_id: str | None = Field(description="the order for its terminals, on approval")
    accepted_by: str
    reviewed_by: str | None


class MerchantOut(BaseModel):
    mid: str
    name: str
    region: str
    mcc: str
    source: Literal["world", "onboarded"]


def _out(record: Record) -> ApplicationOut:
    d = record.data
    return ApplicationOut(
        id=record.id,
        state=record.state,  # type: ignore[arg-type]
        merchant_name=d["merchant_name"],
        region=d["region"],
        province=d["province"],
        mcc=d["mcc"],
        terminal_count=d["terminal_count"],
        documents=[DocumentOut.model_validate(doc) for doc in d["documents"]],
        submitted_at=record.created_at,
        decided_at=d.get("decided_at"),
        rejection_reasons=d.get("rejection_reasons", []),
        mid=record.mid,
        order_id=d.get("order_id"),
        accepted_by=record.origin,
        reviewed_by=record.claimed_by,
    )


async def _read_upload(
    agent: AgentState, kind: str, upload: StarletteUploadFile
) -> dict[str, object]:
    limit = agent.config.max_document_bytes
    body = await upload.read(limit + 1)
    if len(body) > limit:
        raise Invalid(f"{kind}: {upload.filename!r} is larger than {limit} bytes")
    sha = hashlib.sha256(body).hexdigest()
    content_type = sniff_content_type(body[:16])
    agent.store.put_document(sha, content_type, body)
    return {
        "kind": kind,
        "filename": (upload.filename or kind)[:120],
        "content_type": content_type,
        "size": len(body),
        "sha256": sha,
    }


@router.post(
    "/onboarding/applications",
    response_model=ApplicationOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": ApplicationOut, "description": "replayed"}},
)
async def submit_application(
    idempotency_key: IdempotencyKey,
    response: Response,
    agent: Annotated[AgentState, Depends(agent_state)],
    merchant_name: Annotated[str, Form(min_length=2, max_length=100)],
    legal_person: Annotated[str, Form(min_length=2, max_length=50)],
    legal_person_id: Annotated[str, Form(pattern=r"^\d{17}[\dXx]$")],
    licence_no: Annotated[str, Form(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")],
    settlement_account: Annotated[str, Form(pattern=r"^\d{12,19}$")],
    mcc: Annotated[str, Form(pattern=r"^\d{4}$")],
    region: Annotated[str, Form(pattern=r"^[a-z][a-z0-9-]{0,30}$")],
    province: Annotated[str, Form(min_length=2, max_length=20)],
    address: Annotated[str, Form(min_length=4, max_length=200)],
    phone: Annotated[str, Form(pattern=r"^[\d\-+ ]{7,20}$")],
    terminal_count: Annotated[int, Form(ge=1, le=20)] = 1,
    business_licence: UploadFile | None = None,
    legal_person_id_card: UploadFile | None = None,
    settlement_card: UploadFile | None = None,
    shop_photos: list[UploadFile] | None = None,
) -> ApplicationOut:
    if mcc not in MCC_PROFILES:
        raise Invalid(f"mcc: {mcc} is not a merchant category this agent signs up")
    if region not in agent.world.regions:
        raise Invalid(f"region: unknown region {region!r}")
    if province not in agent.directory.provinces(region):
        raise Invalid(f"province: {province!r} is not in region {region}")
    photos = shop_photos or []
    if len(photos) > agent.config.max_shop_photos:
        raise Invalid(f"shop_photos: at most {agent.config.max_shop_photos} photos")
    documents = []
    for kind, upload in (
        ("business_licence", business_licence),
        ("legal_person_id_card", legal_person_id_card),
        ("settlement_card", settlement_card),
        *(("shop_photo", p) for p in photos),
    ):
        # a form field sent as plain text instead of a file is no document
        if isinstance(upload, StarletteUploadFile):
            documents.append(await _read_upload(agent, kind, upload))
    fields = {
        "merchant_name": merchant_name,
        "legal_person": legal_person,
        "legal_person_id": legal_person_id.upper(),
        "licence_no": licence_no,
        "settlement_account": settlement_account,
        "mcc": mcc,
        "region": region,
        "province": province,
        "address": address,
        "phone": phone,
        "terminal_count": terminal_count,
    }
    digest = fingerprint({**fields, "documents": [(d["kind"], d["sha256"]) for d in documents]})
    record = new_record(
        APPLICATION,
        id_from_key("AP", idempotency_key),
        instance=agent.name,
        fingerprint=digest,
        data={**fields, "documents": documents},
    )
    stored, created = agent.accept(record, counter="applications_accepted")
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(stored)


@router.get("/onboarding/applications", response_model=list[ApplicationOut])
async def list_applications(
    agent: Annotated[AgentState, Depends(agent_state)],
    state: Annotated[str | None, Query(pattern="^(submitted|reviewing|approved|rejected)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ApplicationOut]:
    states = (state,) if state else ()
    return [_out(r) for r in agent.store.select(APPLICATION.entity, states=states, limit=limit)]


@router.get("/onboarding/applications/{app_id}", response_model=ApplicationOut)
async def get_application(
    app_id: AppId, agent: Annotated[AgentState, Depends(agent_state)]
) -> ApplicationOut:
    return _out(agent.require(APPLICATION.entity, app_id))


@router.get(
    "/onboarding/applications/{app_id}/documents/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_document(
    app_id: AppId, sha256: Sha, agent: Annotated[AgentState, Depends(agent_state)]
) -> Response:
    record = agent.require(APPLICATION.entity, app_id)
    if all(d["sha256"] != sha256 for d in record.data["documents"]):
        raise NotFound(f"application {app_id} has no document {sha256}")
    found = agent.store.document(sha256)
    if found is None:
        raise NotFound(f"document {sha256} not stored here")
    content_type, body = found
    return Response(content=body, media_type=content_type)


@router.get("/merchants/{mid}", response_model=MerchantOut)
async def get_merchant(
    mid: Annotated[str, Path(pattern=r"^\d{15}$")],
    agent: Annotated[AgentState, Depends(agent_state)],
) -> MerchantOut:
    merchant = agent.world.merchant(mid)
    if merchant is not None:
        return MerchantOut(
            mid=mid, name=merchant.name, region=merchant.region, mcc=merchant.mcc, source="world"
        )
    approved = agent.store.select(APPLICATION.entity, mid=mid, states=("approved",), limit=1)
    if not approved:
        raise NotFound(f"unknown merchant {mid}")
    d = approved[0].data
    return MerchantOut(
        mid=mid, name=d["merchant_name"], region=d["region"], mcc=d["mcc"], source="onboarded"
    )
