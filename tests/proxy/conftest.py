"""Fixtures of the proxy tests: the server as a real process, in-process
servers for API tests, and upstream TCP servers on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator

import aiohttp
import httpx
import pytest
from proxy_helpers import AsyncApi, ProxyProcess, TcpServer, echo

from poslab.proxy import EmbeddedProxyServer


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
