"""The agent backend as a FastAPI application: routers, error answers,
the fault middleware and the background workers (peer sync, support desk)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

from fastapi import FastAPI

from poslab.mocks.agent import (
    admin_api,
    notifications,
    onboarding,
    sync_api,
    terminals,
    tickets,
    tms,
)
from poslab.mocks.agent.acquirer_admin import AcquirerAdmin
from poslab.mocks.agent.agent_state import AgentState
from poslab.mocks.agent.config import AgentConfig
from poslab.mocks.agent.faults import AgentFaults, FaultMiddleware
from poslab.mocks.agent.metrics import Metrics
from poslab.mocks.agent.peer_sync import PeerLink
from poslab.mocks.agent.record_store import RecordStore
from poslab.mocks.agent.software_catalogue import SoftwareCatalogue
from poslab.mocks.agent.support_desk import SupportDesk
from poslab.mocks.agent.terminal_directory import TerminalDirectory
from poslab.mocks.kit.fastapi_admin import ERROR_RESPONSES, install_error_answers, install_guard
from poslab.world import World

__all__ = ["build_state", "create_app"]

_DESCRIPTION = """The agent (代理商, reseller) backend of the POS resilience lab:
merchant onboarding, terminal provisioning and replacement, TMS (parameters and
software), support tickets and merchant notifications. Every create takes an
`Idempotency-Key` header; two instances (primary, backup) converge by
anti-entropy (see docs/agent.md)."""


def build_state(config: AgentConfig, world: World, *, seed: int | None = None) -> AgentState:
    store = RecordStore(config.db)
    metrics = Metrics(config.name)
    holder: list[AgentState] = []
    peer = PeerLink(config, store, metrics, on_merged=lambda r: holder[0].changed(r))
    state = AgentState(
        config=config,
        world=world,
        store=store,
        directory=TerminalDirectory(world, store, config.name),
        faults=AgentFaults(random.Random(seed)),
        metrics=metrics,
        acquirer=AcquirerAdmin(
            config.acquirer_admin, config.acquirer_timeout_s, config.admin_token
        ),
        peer=peer,
        catalogue=SoftwareCatalogue(world.params),
    )
    holder.append(state)
    metrics.gauge(
        "records",
        "records held, by entity and state",
        lambda: {key: float(n) for key, n in store.count_by_state().items()},
        ("entity", "state"),
    )
    metrics.gauge(
        "processing",
        "1 while this instance runs the desk, the reviewer and fulfilment",
        lambda: {(): float(state.processing())},
    )
    metrics.gauge(
        "peer_reachable",
        "1 while the other instance answers",
        lambda: {(): float(peer.reachable())},
    )
    return state


def create_app(state: AgentState, *, admin_token: str | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers = [
            asyncio.create_task(state.peer.run(), name="peer-sync"),
            asyncio.create_task(SupportDesk(state).run(), name="support-desk"),
        ]
        try:
            yield
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await state.peer.close()
            await state.acquirer.close()
            state.store.close()

    app = FastAPI(
        title=f"POS lab agent backend ({state.name})",
        version="1.0.0",
        description=_DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.agent = state
    app.state.admin_token = admin_token

    install_error_answers(app)
    for module in (admin_api, tms, tickets, notifications, terminals, onboarding, sync_api):
        app.include_router(module.router)
    app.include_router(admin_api.health_router)
    app.add_middleware(
        FaultMiddleware,
        board=state.faults,
        metrics=state.metrics,
        fast_path=state.poll_cache.fast_path,
    )
    config = state.config
    # Uploads stream through the cap: the documents an application may carry
    # and its form fields, no more, reach the multipart parser's spool.
    documents = (3 + config.max_shop_photos) * config.max_document_bytes
    install_guard(
        app,
        admin_token,
        larger_bodies={
            "/onboarding/applications": documents + 64 * 1024,
            # a peer's push: up to 1000 records of a few KiB
            "/sync/records": 8 * 1024 * 1024,
        },
    )
    return app
