"""Running the embedded server: in-process for tests, or as a process.

``ProxyServer`` owns the proxies and the HTTP API; :class:`EmbeddedProxyServer`
runs one on ``127.0.0.1:0`` inside an ``async with`` (tests, the lab's own
in-process use); :func:`serve` is ``python -m poslab.proxy`` and
``lab proxy serve``: it runs until SIGINT/SIGTERM, then stops every proxy
(closing their sockets) and the API.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
from pathlib import Path
from types import TracebackType

from aiohttp import web

from poslab import server_runtime
from poslab.common import write_ready_file
from poslab.errors import ConfigError
from poslab.proxy.api import build_app
from poslab.proxy.api_error import ApiError
from poslab.proxy.collection import ProxyCollection
from poslab.proxy.draws import Draws

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "EmbeddedProxyServer", "ProxyServer", "serve"]

log = logging.getLogger("poslab.proxy")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8474
#: Seconds a connection to the API may sit without completing a request.
API_IDLE_S = 15.0


def _api_host(host: str) -> str:
    # Toxiproxy's "localhost" is its first IPv4 address; aiohttp would bind
    # every address the name has.
    return "127.0.0.1" if host == "localhost" else host


class ProxyServer:
    """The proxies and their API, on the running event loop."""

    def __init__(
        self,
        *,
        seed: int | None = None,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
    ) -> None:
        self.collection = ProxyCollection(Draws(seed))
        self.app = build_app(
            self.collection, proxy_metrics=proxy_metrics, runtime_metrics=runtime_metrics
        )
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def populate_file(self, path: Path) -> int:
        """Create the proxies of a config file (the ``/populate`` shape).
        Returns how many; raises :class:`ConfigError` on a bad file."""
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"proxy config {path}: {exc}") from None
        try:
            async with self.collection.lock:
                result = await self.collection.populate(body)
        except ApiError as exc:
            raise ConfigError(f"proxy config {path}: {exc.message}") from None
        if result.error is not None:
            raise ConfigError(f"proxy config {path}: {result.error.message}")
        return len(result.proxies)

    async def start(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        # keepalive_timeout: aiohttp's keep-alive timer runs from a connection's
        # start and each answer, not reset by bytes that complete no request, so
        # it is also the header timeout that frees half-sent requests (its
        # default, an hour, let 500 of them hold the API's sockets)
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, keepalive_timeout=API_IDLE_S
        )
        await runner.setup()
        site = web.TCPSite(runner, _api_host(host), port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._runner = runner
        bound = runner.addresses[0] if runner.addresses else (host, port)
        self.host, self.port = str(bound[0]), int(bound[1])
        log.info("toxiproxy-compatible API on %s", self.url)

    async def close(self) -> None:
        async with self.collection.lock:
            for proxy in self.collection.proxies().values():
                proxy.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class EmbeddedProxyServer:
    """``async with EmbeddedProxyServer() as srv: srv.url`` — a server on
    127.0.0.1 with a free port, stopped (sockets and all) on exit."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        proxy_metrics: bool = False,
        runtime_metrics: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self.server = ProxyServer(
            seed=seed, proxy_metrics=proxy_metrics, runtime_metrics=runtime_metrics
        )

    @property
    def url(self) -> str:
        return self.server.url

    async def __aenter__(self) -> EmbeddedProxyServer:
        await self.server.start(self._host, self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.server.close()


async def _serve(
    host: str,
    port: int,
    config: Path | None,
    seed: int | None,
    proxy_metrics: bool,
    runtime_metrics: bool,
    ready_file: Path | None,
) -> None:
    server = ProxyServer(seed=seed, proxy_metrics=proxy_metrics, runtime_metrics=runtime_metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if config is not None:
            count = await server.populate_file(config)
            log.info("populated %d proxies from %s", count, config)
        await server.start(host, port)
        log.info("serving on %s", server_runtime.describe())
        # Everything allocated so far (modules, the app) lives as long as the
        # process: keep it out of every later full collection.
        gc.freeze()
        if ready_file is not None:
            write_ready_file(ready_file, {"api": server.port})
        await stop.wait()
        log.info("shutdown started")
    finally:
        await server.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    config: Path | None = None,
    seed: int | None = None,
    proxy_metrics: bool = False,
    runtime_metrics: bool = False,
    ready_file: Path | None = None,
    loop: server_runtime.LoopChoice | str = server_runtime.LoopChoice.AUTO,
) -> None:
    """Run the server in this process until SIGINT or SIGTERM, on the event
    ``loop`` chosen (see :mod:`poslab.server_runtime`). Once the API listens,
    ``ready_file`` (if given) announces the bound port."""
    server_runtime.run(
        _serve(host, port, config, seed, proxy_metrics, runtime_metrics, ready_file), loop
    )
