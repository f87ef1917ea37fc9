"""Start, run and stop the acquirer: the service contract of poslab/stack.

Start-up: load the world and the config, open the ledger and rebuild the
journal, registry, key sessions and pending advices from it, start the group
committer, dial the issuer, listen for terminals and serve the admin API,
then atomically write the ready file ``{"pid", "ports": {"main", "admin"}}``.

SIGTERM/SIGINT: stop accepting, let in-flight requests finish and their
bookings commit, stop the workers, flush the ledger, exit 0. SIGKILL loses
nothing acknowledged: no reply leaves before its booking is committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import signal
import sqlite3
import time
from pathlib import Path

from aiohttp import web

from poslab import server_runtime
from poslab.common import write_ready_file
from poslab.common.shutdown import DRAIN_LIMIT_S, exit_backstop, pending_tasks
from poslab.mocks.kit import admin_token_for
from poslab.mocks.kit.aiohttp_admin import SERVER_LIMITS
from poslab.world import load

from .admin import build_app
from .advices import AdviceQueue
from .business_day import BusinessCalendar, anchor_for
from .config import AcquirerConfig
from .group_commit import GroupCommitter
from .host import Host
from .issuer_link import IssuerLink
from .keystore import Keystore
from .ledger import connect, load_state, meta_value, pan_secret, registry_sealer
from .metrics import Metrics
from .registry import Registry
from .settlement_worker import SettlementWorker
from .terminal_server import IsoServer

__all__ = ["Options", "run"]

log = logging.getLogger("acquirer")


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    world: Path
    host: str
    port: int
    admin_port: int
    db: Path
    issuer: tuple[str, int]
    ready_file: Path | None
    config: AcquirerConfig
    admin_token: str | None


def _calendar(conn: sqlite3.Connection, config: AcquirerConfig) -> BusinessCalendar:
    epoch, base = anchor_for(time.time(), config.day_seconds)
    epoch = float(meta_value(conn, "calendar_epoch", repr(epoch)))
    base_date = dt.date.fromisoformat(meta_value(conn, "calendar_base_date", base.isoformat()))
    day_seconds = float(meta_value(conn, "calendar_day_seconds", repr(config.day_seconds)))
    if day_seconds != config.day_seconds:
        log.warning(
            "ledger was started with %.0f-second business days; keeping them (config says %.0f)",
            day_seconds,
            config.day_seconds,
        )
    return BusinessCalendar(epoch, base_date, day_seconds, config.cut_fraction)


async def run(options: Options) -> int:
    config = options.config
    token = admin_token_for(options.host, options.admin_token)
    world = load(options.world)
    loop = asyncio.get_running_loop()
    conn = connect(options.db)
    state = load_state(conn, registry_sealer(world))
    calendar = _calendar(conn, config)
    metrics = Metrics()
    committer = GroupCommitter(
        conn,
        options.db,
        fsync=config.ledger_synchronous == "FULL",
        on_commit=metrics.committed,
        on_fsync=metrics.fsynced,
    )
    registry = Registry(world)
    registry.restore(state.provisioned, state.retired)
    keystore = Keystore(dict(config.key_layouts), config.key_lifetime_s)
    restored = keystore.restore(state.sessions, {t.tid: t.tmk for t in registry})
    issuer = IssuerLink(
        options.issuer[0],
        options.issuer[1],
        pool_size=config.issuer_pool_size,
        connect_timeout_s=config.issuer_connect_timeout_ms / 1000,
        reconnect_max_s=config.issuer_reconnect_max_ms / 1000,
        institution_id=config.institution_id,
        on_late=lambda msg: log.warning(
            "late issuer reply %s rc=%s for %s/%s (already answered 98; reversal queued)",
            msg.mti,
            msg.fields.get(39),
            msg.fields.get(41),
            msg.fields.get(11),
        ),
    )
    host = Host(
        config,
        world,
        registry,
        keystore,
        state.journal,
        committer,
        issuer,
        AdviceQueue(
            issuer,
            committer,
            metrics,
            config.institution_id,
            config.advice_retry_s,
            lambda: host.issuer_timeout_s(),
        ),
        calendar,
        pan_secret(conn),
        metrics,
        options.db,
    )
    host.advices.restore(state.advices, state.next_advice_id)
    host.uploads, host.upload_stans = state.uploads, state.upload_stans
    worker = SettlementWorker(host, conn)
    issuer.start()
    iso = IsoServer(host)
    main_port = await iso.start(options.host, options.port)
    # shutdown_timeout: an admin request still running at stop gets 0.5 s, not 60
    runner = web.AppRunner(
        build_app(host, iso, worker, token), access_log=None, shutdown_timeout=0.5, **SERVER_LIMITS
    )
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.admin_port)
    await site.start()
    admin_port = int(runner.addresses[0][1])
    metrics.gauge(
        "acquirer_open_connections", "terminal connections open", lambda: len(iso.connections)
    )
    metrics.gauge("acquirer_settlement_backlog", "settled batches not yet closed", worker.backlog)
    metrics.gauge(
        "acquirer_advices_pending",
        "reversals/advices owed to the issuer",
        lambda: len(host.advices),
    )
    metrics.gauge("acquirer_issuer_links", "issuer connections up", lambda: issuer.connected)
    background = [
        loop.create_task(host.advices.run(), name="advices"),
        loop.create_task(worker.run(), name="settlement"),
    ]
    # Give the issuer link a moment so the first sales are not answered 91.
    deadline = loop.time() + config.issuer_connect_timeout_ms / 1000
    while issuer.connected == 0 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if options.ready_file is not None:
        write_ready_file(options.ready_file, {"main": main_port, "admin": admin_port})
    log.info(
        "acquirer ready: ISO %s:%d, admin %s:%d, %d terminals, %d ledger rows, "
        "%d sessions restored, issuer %s:%d (%d links); %s",
        options.host,
        main_port,
        options.host,
        admin_port,
        len(registry),
        len(state.journal.by_id),
        restored,
        options.issuer[0],
        options.issuer[1],
        issuer.connected,
        server_runtime.describe(),
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Out within 5 s of SIGTERM whatever the faults (poslab.common.shutdown):
    # each step below is bounded, and the backstop ends a stop that hangs.
    disarm = exit_backstop(log, still_running=lambda: pending_tasks(loop))
    drain = min(config.drain_timeout_s, DRAIN_LIMIT_S)
    log.info("stopping: finishing in-flight requests (up to %.1f s)", drain)
    await iso.stop(drain)
    for task in background:
        task.cancel()
    _, late = await asyncio.wait(background, timeout=0.5)
    if late:
        log.warning("stopping: %s did not stop", ", ".join(t.get_name() for t in late))
    await runner.cleanup()
    await issuer.close(timeout=0.5)
    await committer.close()
    conn.close()
    disarm()
    log.info("acquirer stopped")
    return 0
