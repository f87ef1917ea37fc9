"""Real TCP servers on 127.0.0.1 for the proxy tests (threads, blocking sockets)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[2]

#: How late a timed event may be. Toxiproxy's own tests allow 10 ms; on this
#: shared 2-core machine, with other benchmarks keeping the load average at 5-6,
#: events were seen 11-12 ms late, so late bounds allow 20 ms. Early bounds stay
#: tight: a toxic must never fire early.
LATE_MS = 20

Handler = Callable[[socket.socket], None]


class TcpServer:
    """Accepts on 127.0.0.1:0 and runs ``handler(conn)`` in a thread per connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.closed_by_peer = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handler(conn)
        with self._lock:
            self.closed_by_peer += 1
        with contextlib.suppress(OSError):
            conn.close()

    def wait_accepted(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.accepted) >= count:
                    return
            time.sleep(0.002)
        raise AssertionError(f"upstream accepted {len(self.accepted)} of {count} connections")

    def wait_closed(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.closed_by_peer >= count:
                    return
            time.sleep(0.002)
        raise AssertionError(f"upstream saw {self.closed_by_peer} of {count} connections end")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            conns = list(self.accepted)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> TcpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


class Recorder:
    """A handler that keeps every byte received and when the last one came."""

    def __init__(self, expected: int = 0) -> None:
        self.data = bytearray()
        self.sizes: list[int] = []
        self.expected = expected
        self.first_at = 0.0
        self.done_at = 0.0
        self.done = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        while chunk := conn.recv(65536):
            if not self.data:
                self.first_at = time.perf_counter()
            self.data += chunk
            self.sizes.append(len(chunk))
            if self.expected and len(self.data) >= self.expected and not self.done.is_set():
                self.done_at = time.perf_counter()
                self.done.set()
        self.done.set()


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def recv_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


class ProxyProcess:
    """``python -m poslab.proxy`` running in its own process (its own core)."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        self.ready_file = tmp / "proxy.ready.json"
        self.log = (tmp / "proxy.log").open("wb")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "poslab.proxy", "--host", "127.0.0.1", "--port", "0"),
                *("--ready-file", str(self.ready_file), "--log-level", "WARNING", *extra),
            ],
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"poslab.proxy did not start: {(tmp / 'proxy.log').read_text()}")
            time.sleep(0.02)
        ready = json.loads(self.ready_file.read_text())
        self.pid: int = ready["pid"]
        self.port: int = ready["ports"]["api"]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.close()
        return code


class SyncApi:
    """The few API calls the data-path tests make, over httpx."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def create(self, name: str, upstream: str) -> int:
        reply = self.http.post(
            "/proxies", json={"name": name, "upstream": upstream, "listen": "127.0.0.1:0"}
        )
        assert reply.status_code == 201, reply.text
        return int(reply.json()["listen"].rsplit(":", 1)[1])

    def add(
        self, proxy: str, toxic_type: str, stream: str = "downstream", **attributes: object
    ) -> dict[str, object]:
        body: dict[str, object] = {"type": toxic_type, "stream": stream, "attributes": attributes}
        for key in ("name", "toxicity"):
            if key in attributes:
                body[key] = attributes.pop(key)
        reply = self.http.post(f"/proxies/{proxy}/toxics", json=body)
        assert reply.status_code == 200, reply.text
        result: dict[str, object] = reply.json()
        return result

    def update(self, proxy: str, toxic: str, body: dict[str, object]) -> None:
        reply = self.http.patch(f"/proxies/{proxy}/toxics/{toxic}", json=body)
        assert reply.status_code == 200, reply.text

    def remove(self, proxy: str, toxic: str) -> None:
        reply = self.http.delete(f"/proxies/{proxy}/toxics/{toxic}")
        assert reply.status_code == 204, reply.text

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        reply = self.http.patch(f"/proxies/{proxy}", json={"enabled": enabled})
        assert reply.status_code == 200, reply.text


@dataclass
class Reply:
    status: int
    headers: Any
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> str:
        # http.Error's text/plain with a newline; /populate writes its errors
        # as JSON answers: application/json, no newline.
        if self.headers.get("Content-Type") == "application/json":
            assert not self.raw.endswith(b"\n"), self.raw
        else:
            assert self.headers.get("Content-Type") == "text/plain; charset=utf-8"
            assert self.raw.endswith(b"\n"), self.raw
        body = self.body
        assert list(body)[:2] == ["error", "status"]
        assert body["status"] == self.status
        return str(body["error"])


class AsyncApi:
    """The HTTP API of a server, raw: status, headers and body bytes.

    ``kind`` says which server it is ("embedded" or "real"), for the tests
    that assert a listed deliberate difference on both."""

    def __init__(self, http: aiohttp.ClientSession, kind: str = "embedded") -> None:
        self.http = http
        self.kind = kind

    async def __call__(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.http.request(method, path, data=data, headers=headers) as response:
            reply = Reply(response.status, response.headers, await response.read())
        # Every routed answer carries a request id; the router's own 404/405
        # (no route, wrong method) come before the middleware on both servers.
        routed = reply.raw not in (b"404 page not found\n", b"") or reply.status < 404
        if routed:
            assert reply.headers.get("X-Toxiproxy-Request-Id"), f"{method} {path}: no request id"
        return reply

    async def proxy(self, name: str = "p", upstream: str = "127.0.0.1:9", **extra: Any) -> Any:
        # An explicit loopback listen: an empty one is a listed difference.
        extra.setdefault("listen", "127.0.0.1:0")
        reply = await self("POST", "/proxies", {"name": name, "upstream": upstream, **extra})
        assert reply.status == 201, reply.raw
        return reply.body
