"""``python -m poslab.mocks.agent --world W --host 127.0.0.1 --port 0 --db FILE
--name primary|backup --acquirer-admin URL [--peer URL] --ready-file F``

Binds first (port 0 picks a free port), then serves; once the server is
listening it writes the ready file ``{"pid", "ports": {"main": P}}``
atomically (temporary file + rename). Without ``--peer``, the peer is found
through its ready file: ``--peer-ready-file``, or by the stack's naming
convention next to our own (``agent-backup.ready.json`` beside
``agent-primary.ready.json``). SIGTERM and SIGINT stop it gracefully.
Logs go to stderr; keys and card numbers never appear in them.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import socket
import sqlite3
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from poslab.common import write_ready_file
from poslab.common.shutdown import DRAIN_LIMIT_S, exit_backstop, pending_tasks
from poslab.errors import LabError
from poslab.mocks.agent.app import build_state, create_app
from poslab.mocks.agent.config import INSTANCE_NAMES, AgentConfig
from poslab.mocks.kit import admin_token_for
from poslab.world import load

log = logging.getLogger("poslab.mocks.agent")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m poslab.mocks.agent", description=__doc__.split("\n")[0]
    )
    p.add_argument("--world", required=True, type=Path, help="world file (lab world generate)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--db", required=True, type=Path, help="this instance's SQLite file")
    p.add_argument("--name", required=True, choices=INSTANCE_NAMES)
    p.add_argument("--acquirer-admin", default=None, help="base URL of the acquirer admin API")
    p.add_argument("--peer", default=None, help="base URL of the other instance")
    p.add_argument("--peer-ready-file", type=Path, default=None)
    p.add_argument("--ready-file", type=Path, default=None)
    p.add_argument("--admin-token", default=os.environ.get("LAB_ADMIN_TOKEN"))
    p.add_argument("--takeover-after", type=float, default=3.0, metavar="S")
    p.add_argument("--sync-interval", type=float, default=0.5, metavar="S")
    p.add_argument("--seed", type=int, default=None, help="seed of the errors fault's draws")
    p.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser (auto: httptools when installed)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def _conventional_peer_ready(ready: Path | None, name: str) -> Path | None:
    if ready is None or not ready.name.startswith(f"agent-{name}."):
        return None
    peer = "backup" if name == "primary" else "primary"
    return ready.with_name(ready.name.replace(f"agent-{name}.", f"agent-{peer}.", 1))


class _Server(uvicorn.Server):
    """uvicorn's server with a limit on its stop (poslab.common.shutdown): in-flight
    requests get DRAIN_LIMIT_S (``timeout_graceful_shutdown``; uvicorn's own has
    none, and a request under the ``slow`` fault sleeps up to 600 s), and a
    backstop armed at the first SIGTERM ends a stop that hangs all the same."""

    loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            loop = self.loop
            exit_backstop(log, still_running=lambda: pending_tasks(loop))
        super().handle_exit(sig, frame)


class _QuietCancelAtStop(logging.Filter):
    """Requests cut off at the drain limit are cancelled by uvicorn, which logs
    each as "Exception in ASGI application" with a traceback; its own line
    "Cancel N running task(s), timeout graceful shutdown exceeded" already says
    what could not finish, so those tracebacks are dropped."""

    def __init__(self, server: uvicorn.Server) -> None:
        super().__init__()
        self.server = server

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (self.server.should_exit and isinstance(exc, asyncio.CancelledError))


async def _serve(server: uvicorn.Server, sock: socket.socket, ready: Path | None) -> None:
    if isinstance(server, _Server):
        server.loop = asyncio.get_running_loop()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started and ready is not None:
        write_ready_file(ready, {"main": sock.getsockname()[1]})
        log.info("ready: listening on %s:%d", *sock.getsockname()[:2])
    await task


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = AgentConfig(
            name=args.name,
            db=args.db,
            acquirer_admin=args.acquirer_admin,
            peer_url=args.peer,
            peer_ready_file=args.peer_ready_file
            or _conventional_peer_ready(args.ready_file, args.name),
            admin_token=args.admin_token or None,
            takeover_after_s=args.takeover_after,
            sync_interval_s=args.sync_interval,
        )
        world = load(args.world)
        token = admin_token_for(args.host, args.admin_token)
    except LabError as exc:
        print(f"poslab.mocks.agent: {exc}", file=sys.stderr)
        return 2
    try:
        state = build_state(config, world, seed=args.seed)
    except (sqlite3.DatabaseError, OSError) as exc:  # corrupt, unreadable, not a database
        print(f"poslab.mocks.agent: cannot open the database {args.db}: {exc}", file=sys.stderr)
        return 2
    app = create_app(state, admin_token=token)
    # The world (hundreds of thousands of records) lives as long as the
    # process: out of the collector's sight, full collections stay short and
    # do not show up as latency spikes.
    gc.collect()
    gc.freeze()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # proto given explicitly: asyncio sets TCP_NODELAY on accepted connections
    # only when the listening socket says IPPROTO_TCP; without it every kept
    # connection waits out the peer's delayed ACK (~40 ms) on each response
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"poslab.mocks.agent: cannot bind {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    server = _Server(
        uvicorn.Config(
            app,
            http=args.http,
            log_level="warning",
            access_log=False,
            lifespan="on",
            backlog=2048,
            timeout_graceful_shutdown=int(DRAIN_LIMIT_S),
        )
    )
    logging.getLogger("uvicorn.error").addFilter(_QuietCancelAtStop(server))
    asyncio.run(_serve(server, sock, args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
