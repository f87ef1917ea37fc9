"""The link to the other instance: anti-entropy pulls, pushes before side
effects, and the view of whether the peer is alive (which decides takeover).

Peer protocol (``/sync``, not in the public OpenAPI document, never faulted):

    GET  /sync/changes?since=N&limit=M   → {"upto": seq, "records": [Record…]}
    POST /sync/records {"records": […]}  → {"records": [their copies after merging]}
    GET  /sync/records/{entity}/{id}     → Record, or 404
    GET  /sync/documents/{sha256}        → the uploaded file

Every instance pulls its peer's change log from a durable cursor every
``sync_interval_s``; what it merges goes into its own log, and the peer pulls
it back only to find nothing new (a merge that changes nothing logs nothing),
so the exchange settles. Documents of onboarding applications are fetched
before the application is merged, so a merged application always has its
files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from poslab.mocks.agent.config import AgentConfig
from poslab.mocks.agent.lifecycle import (
    APPLICATION,
    NOTIFICATION,
    ORDER,
    REPLACEMENT,
    TERMINAL,
    TICKET,
    TMS_OVERRIDE,
    StateMachine,
)
from poslab.mocks.agent.metrics import Metrics
from poslab.mocks.agent.record_store import Record, RecordStore

__all__ = ["MACHINES", "PeerLink", "SyncRecord"]

log = logging.getLogger("poslab.mocks.agent.sync")

MACHINES: dict[str, StateMachine] = {
    m.entity: m
    for m in (APPLICATION, TICKET, TERMINAL, ORDER, REPLACEMENT, NOTIFICATION, TMS_OVERRIDE)
}


class SyncRecord(BaseModel):
    """A record as it travels between peers, checked before it is merged."""

    model_config = ConfigDict(extra="forbid")
    entity: str
    id: str = Field(min_length=1, max_length=80)
    state: str
    rank: int = Field(ge=0)
    version: int = Field(ge=0)
    created_at: float
    updated_at: float
    origin: str = Field(pattern="^(primary|backup)$")
    claimed_by: str | None = Field(default=None, pattern="^(primary|backup)$")
    fingerprint: str = Field(max_length=128)
    mid: str | None = Field(default=None, max_length=32)
    tid: str | None = Field(default=None, max_length=16)
    data: dict[str, Any]

    @model_validator(mode="after")
    def _known_state(self) -> SyncRecord:
        machine = MACHINES.get(self.entity)
        if machine is None:
            raise ValueError(f"unknown entity {self.entity!r}")
        if self.state not in machine.states or machine.rank(self.state) != self.rank:
            raise ValueError(f"state {self.state!r} / rank {self.rank} invalid for {self.entity}")
        return self

    def to_record(self) -> Record:
        return Record(**self.model_dump())


class PeerLink:
    def __init__(
        self,
        config: AgentConfig,
        store: RecordStore,
        metrics: Metrics,
        on_merged: Callable[[Record], None],
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self._on_merged = on_merged
        self._url = config.peer_url.rstrip("/") if config.peer_url else None
        self._url_from_file = False
        headers = {"Authorization": f"Bearer {config.admin_token}"} if config.admin_token else {}
        self._client = httpx.AsyncClient(timeout=config.peer_timeout_s, headers=headers)
        self._started = time.monotonic()
        self._last_ok: float | None = None
        self.synced_once = False

    # -- who the peer is ---------------------------------------------------

    @property
    def url(self) -> str | None:
        if self._url is None and self.config.peer_ready_file is not None:
            self._url = _url_from_ready_file(self.config.peer_ready_file)
            self._url_from_file = self._url is not None
        return self._url

    def set_url(self, url: str | None) -> None:
        self._url = url.rstrip("/") if url else None
        self._url_from_file = False
        self._last_ok = None
        self._started = time.monotonic()
        self.synced_once = False

    @property
    def configured(self) -> bool:
        return self.url is not None or self.config.peer_ready_file is not None

    def down_for(self) -> float:
        """Seconds since the peer last answered (since start if it never has)."""
        return time.monotonic() - (self._last_ok if self._last_ok is not None else self._started)

    def reachable(self) -> bool:
        return self._last_ok is not None and self.down_for() < self.config.takeover_after_s

    def _ok(self) -> None:
        self._last_ok = time.monotonic()

    def heard_from(self) -> None:
        """The peer pushed to us: it is alive (ends a takeover at once)."""
        self._ok()

    async def close(self) -> None:
        await self._client.aclose()

    # -- anti-entropy -------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self.pull()
            await asyncio.sleep(self.config.sync_interval_s)

    async def pull(self) -> bool:
        """Pull everything new from the peer; False when it did not answer."""
        url = self.url
        if url is None:
            return False
        peer = self.config.peer_name
        try:
            for _ in range(1000):  # bounded: 1000 batches per round at most
                since = self.store.peer_cursor(peer)
                reply = await self._client.get(
                    f"{url}/sync/changes",
                    params={"since": since, "limit": self.config.sync_batch},
                )
                reply.raise_for_status()
                body = reply.json()
                records = [SyncRecord.model_validate(r).to_record() for r in body["records"]]
                for record in records:
                    await self._fetch_documents(url, record)
                    self._merge(record)
                self.store.set_peer_cursor(peer, int(body["upto"]))
                self._ok()
                if not records:
                    break
        except (httpx.HTTPError, ValueError, KeyError, ValidationError) as exc:
            self.metrics.count("sync_failures")
            log.debug("pull from %s failed: %r", peer, exc)
            if self._url_from_file:  # a restarted peer rewrites its ready file
                self._url = None
            return False
        self.synced_once = True
        self.metrics.count("sync_pulls")
        return True

    async def push(self, records: list[Record]) -> bool:
        """Send our copies to the peer before acting on them; merge theirs
        back (a higher-precedence claim there wins). False if unreachable."""
        url = self.url
        if url is None or not records:
            return False
        try:
            reply = await self._client.post(
                f"{url}/sync/records", json={"records": [r.to_json() for r in records]}
            )
            reply.raise_for_status()
            for item in reply.json()["records"]:
                self._merge(SyncRecord.model_validate(item).to_record())
        except (httpx.HTTPError, ValueError, KeyError, ValidationError) as exc:
            log.debug("push to %s failed: %r", self.config.peer_name, exc)
            return False
        self._ok()
        return True

    async def lookup(self, entity: str, record_id: str) -> Record | None:
        """The peer's copy of one record (None if it has none or is down)."""
        url = self.url
        if url is None:
            return None
        try:
            reply = await self._client.get(f"{url}/sync/records/{entity}/{record_id}")
            self._ok()
            if reply.status_code == 404:
                return None
            reply.raise_for_status()
            record = SyncRecord.model_validate(reply.json()).to_record()
            await self._fetch_documents(url, record)
        except (httpx.HTTPError, ValueError, ValidationError):
            return None
        self._merge(record)
        return self.store.get(entity, record_id)

    def _merge(self, record: Record) -> None:
        if self.store.merge(record):
            self.metrics.count("sync_merged")
            self._on_merged(record)

    async def _fetch_documents(self, url: str, record: Record) -> None:
        for doc in record.data.get("documents", []):
            sha = doc["sha256"]
            if self.store.has_document(sha):
                continue
            reply = await self._client.get(f"{url}/sync/documents/{sha}")
            reply.raise_for_status()
            if hashlib.sha256(reply.content).hexdigest() != sha:
                raise ValueError(f"document {sha} arrived corrupted")
            self.store.put_document(sha, doc["content_type"], reply.content)


def _url_from_ready_file(path: Path) -> str | None:
    try:
        ready = json.loads(path.read_text())
        return f"http://127.0.0.1:{int(ready['ports']['main'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return None
