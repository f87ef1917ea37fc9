"""A throwaway Toxiproxy stand-in for the stack tests (stdlib only).

    python tests/stack/fake_toxiproxy.py --host 127.0.0.1 --port 0 --ready-file F

Speaks the slice of the Toxiproxy API the stack uses — ``GET /version``,
``POST /reset``, ``GET/POST /proxies``, ``GET/POST(update)/DELETE
/proxies/{name}``, ``POST /proxies/{name}/toxics`` (recorded, not applied) —
and forwards TCP like Toxiproxy: the upstream is dialled per client
connection; a failed dial closes the client; ``enabled: false`` closes the
listener and every connection. Writes the proxy's ready file
``{"pid": …, "ports": {"api": P}}``. The stack tests use it so they do not
depend on the embedded proxy's progress; one test runs the real one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from poslab.common import write_ready_file


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name, self.listen, self.upstream = name, listen, upstream
        self.enabled = False
        self.toxics: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics,
        }

    async def start(self) -> None:
        host, _, port = self.listen.rpartition(":")
        self.server = await asyncio.start_server(self.client, host, int(port))
        self.listen = f"{host}:{self.server.sockets[0].getsockname()[1]}"
        self.enabled = True

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.conns):
            writer.close()
        self.enabled = False

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = self.upstream.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        self.conns.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.conns.difference_update((writer, up_writer))


class Api:
    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}

    async def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "GET" and parts == ["version"]:
            return 200, {"version": "fake-2.12.0"}
        if method == "POST" and parts == ["reset"]:
            for proxy in self.proxies.values():
                proxy.toxics = []
                if not proxy.enabled:
                    await proxy.start()
            return 204, None
        if parts == ["proxies"]:
            if method == "GET":
                return 200, {n: p.as_json() for n, p in self.proxies.items()}
            if method == "POST":
                if body["name"] in self.proxies:
                    return 409, {"error": "proxy already exists", "status": 409}
                proxy = Proxy(body["name"], body.get("listen", "127.0.0.1:0"), body["upstream"])
                try:
                    await proxy.start()
                except OSError as exc:
                    return 500, {"error": str(exc), "status": 500}
                self.proxies[proxy.name] = proxy
                return 201, proxy.as_json()
        if len(parts) >= 2 and parts[0] == "proxies":
            proxy_or_none = self.proxies.get(parts[1])
            if proxy_or_none is None:
                return 404, {"error": "proxy not found", "status": 404}
            proxy = proxy_or_none
            if len(parts) == 2 and method == "GET":
                return 200, proxy.as_json()
            if len(parts) == 2 and method == "DELETE":
                await proxy.stop()
                del self.proxies[proxy.name]
                return 204, None
            if len(parts) == 2 and method in ("POST", "PATCH"):
                if body.get("enabled") is False and proxy.enabled:
                    await proxy.stop()
                elif body.get("enabled") is True and not proxy.enabled:
                    await proxy.start()
                return 200, proxy.as_json()
            if parts[2:] == ["toxics"] and method == "POST":
                stream = body.get("stream", "downstream")
                toxic = {
                    "attributes": body.get("attributes", {}),
                    "name": body.get("name") or f"{body['type']}_{stream}",
                    "type": body["type"],
                    "stream": stream,
                    "toxicity": body.get("toxicity", 1.0),
                }
                proxy.toxics.append(toxic)
                return 200, toxic
        return 404, {"error": "not found", "status": 404}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            length = int(headers.get("content-length", "0") or 0)
            raw = await reader.readexactly(length) if length else b""
            status, answer = await self.handle(method, path, json.loads(raw) if raw else {})
        except (asyncio.IncompleteReadError, ValueError, KeyError) as exc:
            status, answer = 400, {"error": f"bad request: {exc}", "status": 400}
        text = "" if answer is None else json.dumps(answer) + "\n"
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n{text}".encode()
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()


async def main(args: argparse.Namespace) -> int:
    api = Api()
    server = await asyncio.start_server(api.serve, args.host, args.port)
    port = server.sockets[0].getsockname()[1]
    write_ready_file(Path(args.ready_file), {"api": port})
    print(f"fake toxiproxy API on {args.host}:{port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8474)
    parser.add_argument("--seed")
    parser.add_argument("--ready-file", required=True)
    sys.exit(asyncio.run(main(parser.parse_args())))
