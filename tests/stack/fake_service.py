"""A throwaway service that obeys the lab's service contract, for launcher tests.

    python tests/stack/fake_service.py --host 127.0.0.1 --port 0 --admin-port 0 \
        --ready-file F [--http-main] [--fail-start] [--ignore-term] [--spawn-child]

- main port: a TCP echo server (or, with ``--http-main``, HTTP like the agent);
- admin port: HTTP, ``GET /health`` → 200 ``{"status":"ok"}``;
- once both listen it writes the ready file atomically;
- ``--fail-start`` prints an error and exits 3 before listening;
- ``--ignore-term`` ignores SIGTERM (the launcher must fall back to SIGKILL);
- ``--spawn-child`` starts a grandchild in the same process group that must
  die with it (its pid is written to ``<ready-file>.child``);
- ``--health-fails`` answers /health with 503 forever;
- ``--hang`` listens but never writes its ready file.
Stdlib only, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from poslab.common import write_ready_file


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def http_handler(health_status: int):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        path = request.split(b" ")[1].decode() if b" " in request else "/"
        status = health_status if path == "/health" else 404
        body = json.dumps({"status": "ok" if status == 200 else "down", "pid": os.getpid()})
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    return handle


async def main(args: argparse.Namespace) -> int:
    print(f"fake service {args.name} starting pid={os.getpid()}", flush=True)
    if args.fail_start:
        print("FATAL: cannot open database: disk on fire", flush=True)
        return 3
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    health = 503 if args.health_fails else 200
    main_handler = http_handler(health) if args.http_main else echo
    main_srv = await asyncio.start_server(main_handler, args.host, args.port)
    ports = {"main": main_srv.sockets[0].getsockname()[1]}
    servers = [main_srv]
    if args.admin_port is not None:
        admin_srv = await asyncio.start_server(http_handler(health), args.host, args.admin_port)
        ports["admin"] = admin_srv.sockets[0].getsockname()[1]
        servers.append(admin_srv)
    if args.hang:
        print("listening, but never ready", flush=True)
        await asyncio.Event().wait()
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(args.ready_file + ".child").write_text(str(child.pid))
    write_ready_file(Path(args.ready_file), ports)
    print(f"listening {ports}", flush=True)
    stop = asyncio.Event()
    if not args.ignore_term:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print("terminated cleanly", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="fake")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--admin-port", type=int, default=None)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--http-main", action="store_true")
    parser.add_argument("--fail-start", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--spawn-child", action="store_true")
    parser.add_argument("--health-fails", action="store_true")
    parser.add_argument("--hang", action="store_true")
    # Accepted and ignored, so the fake can stand in for any mock's command line.
    parser.add_argument("--world")
    parser.add_argument("--db")
    parser.add_argument("--issuer")
    parser.add_argument("--acquirer-admin")
    parser.add_argument("--seed")
    parser.add_argument("--config", type=Path, help="read like the acquirer's: JSON or exit 2")
    options = parser.parse_args()
    if options.config is not None:
        try:
            json.loads(options.config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"--config {options.config}: {exc}")
    sys.exit(asyncio.run(main(options)))
