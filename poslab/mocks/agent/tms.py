"""TMS (terminal management): per-terminal parameters and software.

    GET /tms/software                              the catalogue: latest, minimum, packages
    GET /tms/terminals/{tid}?version=MMmmpp        the terminal's record (what it polls)
    PUT /tms/terminals/{tid}/parameters            operator override for one terminal
    PUT /tms/defaults                              operator override for the whole fleet
    GET /tms/terminals/{tid}/software/{version}    the package; X-Checksum-SHA256 header

Polls are the hot path (every terminal, every few minutes, the whole fleet at
once after an outage): the answer is rendered once per (terminal, reported
version) and kept as bytes until a parameter, a terminal or the catalogue
changes, so a poll costs a dictionary lookup and a socket write.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from poslab.mocks.agent.agent_state import AgentState, agent_state
from poslab.mocks.agent.errors import Conflict, NotFound
from poslab.mocks.agent.lifecycle import REPLACEMENT, TMS_OVERRIDE, new_record, transition
from poslab.world import Terminal

__all__ = ["router"]

router = APIRouter(prefix="/tms", tags=["tms"])

TxnType = Literal["sale", "void", "refund", "balance"]
Tid = Annotated[str, Path(pattern=r"^\d{8}$", description="terminal id, 8 digits")]
Version = Annotated[str, Path(pattern=r"^\d{6}$", description="software version MMmmpp")]
_DEFAULTS_ID = "defaults"


class HostAddress(BaseModel):
    path: str = Field(description="the proxy the terminal reaches the host through")
    address: str | None = Field(description="host:port, when the operator set one")


class TmsParameters(BaseModel):
    response_timeout_s: float
    connect_timeout_s: float
    reversal_tries: int
    sign_on_tries: int
    primary_host: HostAddress
    backup_host: HostAddress
    allowed_types: list[TxnType]


class TmsOverride(BaseModel):
    """Only the fields given change; the rest keep their current values."""

    model_config = ConfigDict(extra="forbid")
    response_timeout_s: float | None = Field(default=None, gt=0, le=120)
    connect_timeout_s: float | None = Field(default=None, gt=0, le=60)
    reversal_tries: int | None = Field(default=None, ge=1, le=9)
    sign_on_tries: int | None = Field(default=None, ge=1, le=9)
    primary_address: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.\-]{1,253}:\d{1,5}$")
    backup_address: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.\-]{1,253}:\d{1,5}$")
    allowed_types: list[TxnType] | None = Field(default=None, min_length=1, max_length=4)


class SoftwareStatus(BaseModel):
    latest: str
    minimum: str
    current: str | None
    update_required: bool | None


class TmsRecord(BaseModel):
    tid: str
    mid: str
    region: str
    status: Literal["active", "retired"]
    replaced_by: str | None
    param_version: int
    parameters: TmsParameters
    software: SoftwareStatus
    latest: str = Field(description="same as software.latest (what a terminal updates to)")


class PackageInfo(BaseModel):
    version: str
    size: int
    sha256: str


class Catalogue(BaseModel):
    latest: str
    minimum: str
    packages: list[PackageInfo]


_BUILT_IN = {
    "response_timeout_s": 5.0,
    "connect_timeout_s": 2.0,
    "reversal_tries": 3,
    "sign_on_tries": 4,
    "primary_address": None,
    "backup_address": None,
}


def _render(agent: AgentState, terminal: Terminal, current: str | None) -> TmsRecord:
    settings: dict[str, object] = dict(_BUILT_IN)
    settings["allowed_types"] = list(terminal.allowed)
    param_version = 0
    for override_id in (_DEFAULTS_ID, terminal.tid):
        override = agent.store.get(TMS_OVERRIDE.entity, override_id)
        if override is not None:
            settings.update({k: v for k, v in override.data.items() if v is not None})
            param_version += override.version + 1
    replacement = agent.store.get(REPLACEMENT.entity, terminal.tid)
    retired = agent.directory.retired(terminal.tid)
    catalogue = agent.catalogue
    return TmsRecord.model_validate(
        {
            "tid": terminal.tid,
            "mid": terminal.mid,
            "region": terminal.region,
            "status": "retired" if retired else "active",
            "replaced_by": replacement.data["new_tid"] if replacement is not None else None,
            "param_version": param_version,
            "parameters": {
                "response_timeout_s": settings["response_timeout_s"],
                "connect_timeout_s": settings["connect_timeout_s"],
                "reversal_tries": settings["reversal_tries"],
                "sign_on_tries": settings["sign_on_tries"],
                "primary_host": {
                    "path": terminal.primary_path or f"region-{terminal.region}",
                    "address": settings["primary_address"],
                },
                "backup_host": {
                    "path": terminal.backup_path,
                    "address": settings["backup_address"],
                },
                "allowed_types": settings["allowed_types"],
            },
            "software": {
                "latest": catalogue.latest,
                "minimum": catalogue.minimum,
                "current": current,
                "update_required": None if current is None else catalogue.update_required(current),
            },
            "latest": catalogue.latest,
        }
    )


def _terminal(agent: AgentState, tid: str) -> Terminal:
    terminal = agent.directory.terminal(tid)
    if terminal is None:
        raise NotFound(f"unknown terminal {tid}")
    return terminal


@router.get("/software", response_model=Catalogue)
async def software_catalogue(agent: Annotated[AgentState, Depends(agent_state)]) -> Catalogue:
    packages = [agent.catalogue.package(v) for v in agent.catalogue.versions]
    return Catalogue(
        latest=agent.catalogue.latest,
        minimum=agent.catalogue.minimum,
        packages=[PackageInfo(version=p.version, size=p.size, sha256=p.sha256) for p in packages],
    )


@router.get("/terminals/{tid}", responses={200: {"model": TmsRecord}})
async def poll(
    tid: Tid,
    agent: Annotated[AgentState, Depends(agent_state)],
    version: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> Response:
    cache = agent.poll_cache
    body = cache.rendered.get((tid, version))
    if body is None:
        record = _render(agent, _terminal(agent, tid), version)
        body = cache.keep((tid, version), record.model_dump_json().encode())
    return Response(content=body, media_type="application/json")


def _override(agent: AgentState, override_id: str, change: TmsOverride) -> None:
    values = change.model_dump(exclude_none=True)
    current = agent.store.get(TMS_OVERRIDE.entity, override_id)
    if current is None:
        record = new_record(
            TMS_OVERRIDE,
            override_id,
            instance=agent.name,
            fingerprint="",
            data=values,
            tid=None if override_id == _DEFAULTS_ID else override_id,
        )
    else:
        record = transition(TMS_OVERRIDE, current, "set", **values)
    agent.save(record)


@router.put("/terminals/{tid}/parameters", response_model=TmsRecord)
async def set_parameters(
    tid: Tid, change: TmsOverride, agent: Annotated[AgentState, Depends(agent_state)]
) -> TmsRecord:
    terminal = _terminal(agent, tid)
    _override(agent, tid, change)
    return _render(agent, terminal, None)


@router.put("/defaults", response_model=TmsParameters)
async def set_defaults(
    change: TmsOverride, agent: Annotated[AgentState, Depends(agent_state)]
) -> TmsParameters:
    _override(agent, _DEFAULTS_ID, change)
    sample = agent.world.terminals[0] if agent.world.terminals else None
    if sample is None:
        raise NotFound("the world has no terminals")
    return _render(agent, sample, None).parameters


@router.get(
    "/terminals/{tid}/software/{version}",
    responses={200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
async def download(
    tid: Tid, version: Version, agent: Annotated[AgentState, Depends(agent_state)]
) -> Response:
    _terminal(agent, tid)
    if agent.directory.retired(tid):
        raise Conflict(f"terminal {tid} is retired")
    package = agent.catalogue.package(version)
    agent.metrics.count("software_downloads")
    return Response(
        content=package.body,
        media_type="application/octet-stream",
        headers={
            "X-Checksum-SHA256": package.sha256,
            "ETag": f'"{package.sha256}"',
            "Content-Disposition": f'attachment; filename="pos-terminal-{version}.pkg"',
        },
    )
