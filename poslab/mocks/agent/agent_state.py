"""Everything one agent instance holds while it runs, shared by the routers
and the background workers (FastAPI ``app.state.agent``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi import Request

from poslab.mocks.agent.acquirer_admin import AcquirerAdmin
from poslab.mocks.agent.config import AgentConfig
from poslab.mocks.agent.errors import NotFound
from poslab.mocks.agent.faults import AgentFaults
from poslab.mocks.agent.lifecycle import create_once
from poslab.mocks.agent.metrics import AgentCounter, Metrics
from poslab.mocks.agent.peer_sync import PeerLink
from poslab.mocks.agent.record_store import Record, RecordStore
from poslab.mocks.agent.software_catalogue import SoftwareCatalogue
from poslab.mocks.agent.terminal_directory import TerminalDirectory
from poslab.world import World

__all__ = ["AgentState", "PollCache", "agent_state"]

# Records whose change alters what a TMS poll answers.
_POLL_INPUTS = frozenset({"tms", "terminal", "replacement"})


class PollCache:
    """Rendered TMS poll answers by (TID, reported version), dropped whenever
    something they depend on changes (rare: operator overrides, provisioning).
    Bounded: past ``limit`` answers (~0.6 KB each) it starts over, which a
    fleet polling every few minutes refills at no visible cost."""

    def __init__(self, limit: int = 200_000) -> None:
        self.rendered: dict[tuple[str, str | None], bytes] = {}
        self.limit = limit

    def keep(self, key: tuple[str, str | None], body: bytes) -> bytes:
        if len(self.rendered) >= self.limit:
            self.rendered.clear()
        self.rendered[key] = body
        return body

    def on_change(self, record: Record) -> None:
        if record.entity in _POLL_INPUTS:
            self.rendered.clear()

    def fast_path(self, scope: MutableMapping[str, Any]) -> bytes | None:
        """The cached answer to ``GET /tms/terminals/{tid}[?version=V]``, if
        any: the hot path skips routing and validation (a miss goes the
        normal way, which validates and fills the cache)."""
        path: str = scope["path"]
        if scope["method"] != "GET" or len(path) != 23 or not path.startswith("/tms/terminals/"):
            return None
        query: bytes = scope["query_string"]
        version = None
        if query:
            if len(query) != 14 or not query.startswith(b"version="):
                return None
            version = query[8:].decode("ascii", "replace")
        return self.rendered.get((path[15:], version))


@dataclasses.dataclass
class AgentState:
    config: AgentConfig
    world: World
    store: RecordStore
    directory: TerminalDirectory
    faults: AgentFaults
    metrics: Metrics
    acquirer: AcquirerAdmin
    peer: PeerLink
    catalogue: SoftwareCatalogue
    poll_cache: PollCache = dataclasses.field(default_factory=PollCache)
    # called with every record written or merged (caches listen)
    listeners: list[Callable[[Record], None]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.listeners.append(self.poll_cache.on_change)

    @property
    def name(self) -> str:
        return self.config.name

    def changed(self, record: Record) -> None:
        for listener in self.listeners:
            listener(record)

    def accept(self, record: Record, counter: AgentCounter | None = None) -> tuple[Record, bool]:
        """Store a new record once (idempotent create, see ``create_once``);
        the stored record and whether it was new."""
        stored, created = create_once(self.store, record)
        if created:
            if counter is not None:
                self.metrics.count(counter)
            self.changed(stored)
        return stored, created

    def save(self, record: Record) -> Record:
        """Write a transition made here and tell the listeners."""
        self.store.replace(record)
        self.changed(record)
        return record

    def require(self, entity: str, record_id: str, what: str | None = None) -> Record:
        """The record, or a 404 naming it."""
        record = self.store.get(entity, record_id)
        if record is None:
            raise NotFound(f"no {what or entity} {record_id}")
        return record

    def processing(self) -> bool:
        """Whether this instance runs the desk, the reviewer and fulfilment.

        The primary does, once it has caught up with the backup (or the backup
        has been silent for ``takeover_after_s``); the backup only while the
        primary has been silent that long. An instance without a peer is alone
        and processes.
        """
        peer = self.peer
        if not peer.configured:
            return True
        silent = peer.down_for() >= self.config.takeover_after_s
        if self.config.name == "primary":
            return peer.synced_once or silent
        return silent


async def agent_state(request: Request) -> AgentState:
    """FastAPI dependency: the running instance."""
    state: AgentState = request.app.state.agent
    return state
