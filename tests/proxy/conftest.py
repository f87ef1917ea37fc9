"""Fixtures of the proxy tests: the server as a real process, in-process
servers for API tests, and upstream TCP servers on 127.0.0.1.

``proxy_server`` is parametrised over both servers (``servers.py``): the
embedded one and the real Toxiproxy 2.12.0; a test that takes it (or
``proxy_api``) runs against each, and the real leg skips, saying where it
looked, only when there is no real binary."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest

from poslab.proxy import EmbeddedProxyServer
from tests.proxy.proxy_helpers import AsyncApi, ProxyProcess, TcpServer, echo
from tests.proxy.servers import (
    KINDS,
    ServerKind,
    ServerUnderTest,
    real_server_binary,
    real_server_missing,
    start_server,
)


@pytest.fixture
def anyio_backend() -> str | tuple[str, dict[str, bool]]:
    # LAB_EVENT_LOOP=uvloop runs the in-process tests on uvloop too (the
    # proxy processes the tests start follow the same variable).
    if os.environ.get("LAB_EVENT_LOOP") == "uvloop":
        return ("asyncio", {"use_uvloop": True})
    return "asyncio"


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    server = ProxyProcess(tmp_path_factory.mktemp("proxy"))
    yield server
    server.stop()


@pytest.fixture
def api(proxy_process: ProxyProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client on the proxy process; every proxy is deleted after."""
    with httpx.Client(base_url=proxy_process.url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture(scope="module", params=KINDS)
def proxy_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerUnderTest]:
    """The embedded server, then the real Toxiproxy, each as its own process."""
    kind: ServerKind = request.param
    if kind == "real" and real_server_binary() is None:
        pytest.skip(real_server_missing())
    server = start_server(kind, tmp_path_factory.mktemp(f"{kind}-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def both_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerUnderTest, ServerUnderTest]]:
    """The embedded server and the real Toxiproxy at once (differential tests)."""
    if real_server_binary() is None:
        pytest.skip(real_server_missing())
    tmp = tmp_path_factory.mktemp("differential")
    embedded = start_server("embedded", tmp / "embedded")
    real = start_server("real", tmp / "real")
    yield embedded, real
    embedded.stop()
    real.stop()


@pytest.fixture
def proxy_api(proxy_server: ServerUnderTest) -> Iterator[httpx.Client]:
    """A plain HTTP client on either server; every proxy is deleted after."""
    with httpx.Client(base_url=proxy_server.url, timeout=10) as client:
        yield client
        for name in client.get("/proxies").json():
            client.delete(f"/proxies/{name}")


@pytest.fixture
async def server_api(proxy_server: ServerUnderTest) -> AsyncIterator[AsyncApi]:
    """The API of either server (for async tests marked anyio); every proxy
    is deleted after."""
    async with aiohttp.ClientSession(proxy_server.url) as http:
        api = AsyncApi(http, proxy_server.kind)
        yield api
        for name in (await api("GET", "/proxies")).body:
            await api("DELETE", f"/proxies/{name}")


@pytest.fixture
async def inproc_api() -> AsyncIterator[AsyncApi]:
    """The API of an in-process server (for async tests marked anyio)."""
    async with EmbeddedProxyServer() as server, aiohttp.ClientSession(server.url) as http:
        yield AsyncApi(http)


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    with TcpServer(echo) as server:
        yield server


def pytest_report_header(config: pytest.Config) -> str:
    return f"proxy tests: python {sys.version.split()[0]}, pid {os.getpid()}"
