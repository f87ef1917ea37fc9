"""Command line of the issuer (the contract poslab/stack launches):

    python -m poslab.mocks.issuer --world W --host 127.0.0.1 --port 0 --admin-port 0 \\
        --db FILE --ready-file F [--zpk HEX] [--seed N] [--admin-token T] \\
        [--loop asyncio|uvloop|auto] [--codec compiled|pyiso8583]
    python -m poslab.mocks.issuer export --db FILE --out DIR      # writes issuer.jsonl

Once both ports listen it writes the ready file
``{"pid", "ports": {"main", "admin"}}`` atomically. SIGTERM/SIGINT: stop
accepting, answer what is in flight, commit, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from poslab import server_runtime
from poslab.common import atomic_output, write_ready_file
from poslab.common.shutdown import DRAIN_LIMIT_S, exit_backstop, pending_tasks
from poslab.errors import ConfigError, LabError
from poslab.iso8583 import use_codec
from poslab.mocks.kit import admin_token_for
from poslab.mocks.kit.aiohttp_admin import SERVER_LIMITS
from poslab.world import load

from .accounts import Accounts
from .admin import build_app
from .auth_server import AuthServer
from .faults import IssuerFaults
from .holds_store import HoldsStore, export_rows

log = logging.getLogger("issuer")

# The zone PIN key shared with the acquirer: docs/issuer-protocol.md.
DEFAULT_ZPK_HEX = "3B6E4F2A1C0D9E87A5F1B3C2D4E6F809"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poslab.mocks.issuer", description="Mock card issuer"
    )
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port for the acquirer (0: any)")
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file for holds")
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument(
        "--zpk",
        default=os.environ.get("LAB_ZPK", DEFAULT_ZPK_HEX),
        help="zone PIN key shared with the acquirer (hex)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the decline fault's draws")
    parser.add_argument("--admin-token", default=os.environ.get("LAB_ADMIN_TOKEN"))
    parser.add_argument("--log-level", default=os.environ.get("LAB_LOG_LEVEL", "INFO"))
    server_runtime.add_loop_option(parser)
    server_runtime.add_codec_option(parser)
    return parser


async def _run(args: argparse.Namespace) -> int:
    try:
        zpk = bytes.fromhex(args.zpk)
    except ValueError:
        zpk = b""
    if len(zpk) not in (8, 16, 24):
        raise ConfigError("--zpk must be an 8, 16 or 24-byte key in hex")
    token = admin_token_for(args.host, args.admin_token)
    world = load(args.world)
    store = HoldsStore(args.db)
    accounts = Accounts(world, zpk, args.seed)
    auths, tombstones = store.load()
    accounts.restore(auths, tombstones)
    server = AuthServer(accounts, store, IssuerFaults(args.seed))
    main_port = await server.start(args.host, args.port)
    # shutdown_timeout: an admin request still running at stop gets 0.5 s, not 60
    # SERVER_LIMITS: a half-sent or idle admin connection is closed in seconds
    runner = web.AppRunner(
        build_app(server, token), access_log=None, shutdown_timeout=0.5, **SERVER_LIMITS
    )
    await runner.setup()
    await web.TCPSite(runner, args.host, args.admin_port).start()
    admin_port = int(runner.addresses[0][1])
    if args.ready_file is not None:
        write_ready_file(args.ready_file, {"main": main_port, "admin": admin_port})
    log.info(
        "issuer ready: port %d, admin %d, %d cards, %d authorisations restored; %s",
        main_port,
        admin_port,
        len(world.cards),
        len(auths),
        server_runtime.describe(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Out within 5 s of SIGTERM whatever the faults (poslab.common.shutdown).
    disarm = exit_backstop(log, still_running=lambda: pending_tasks(loop))
    await server.stop(DRAIN_LIMIT_S)
    await runner.cleanup()
    store.close()
    disarm()
    log.info("issuer stopped")
    return 0


def _export(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m poslab.mocks.issuer export")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        n = 0
        with atomic_output(args.out / "issuer.jsonl") as fh:
            for row in export_rows(args.db):
                line = json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"
                fh.write(line.encode("utf-8"))
                n += 1
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    print(f"issuer={n}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["export"]:
        return _export(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        use_codec(args.codec)
        return server_runtime.run(_run(args), args.loop)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
