"""Health probes: is a service answering, and does a proxy really reach it?

Three questions, three probes:

- an HTTP service (an admin API, the proxy API) answers ``GET /health`` (or
  ``/version``) with 200;
- a plain TCP service (an external ISO 8583 host without a health URL) accepts
  a connection;
- a proxy forwards: Toxiproxy dials the upstream only when a client connects
  and, when that dial fails, closes the client connection at once. So a
  connection through the proxy that is *not* closed within a short window
  proves the whole path; for an HTTP upstream a real request through the proxy
  proves it outright.

Probes never raise: every outcome is a :class:`Probe` with a one-line detail,
which is what ``lab status`` prints and what readiness waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

# How long a silent connection through a proxy must stay open to count as
# "upstream reached": the proxy dials its upstream on 127.0.0.1 in well under
# a millisecond, and a failed dial closes the client side straight away.
THROUGH_PROXY_WINDOW_S = 0.15


@dataclass(frozen=True)
class Probe:
    """The outcome of one probe."""

    ok: bool
    detail: str
    latency_ms: float

    @classmethod
    def timed(cls, started: float, ok: bool, detail: str) -> Probe:
        return cls(ok=ok, detail=detail, latency_ms=(time.perf_counter() - started) * 1000)


class Prober:
    """Probes sharing one HTTP connection pool; close it with :meth:`close`."""

    def __init__(self, token: str | None = None) -> None:
        self._http: aiohttp.ClientSession | None = None
        # Admin APIs bound beyond 127.0.0.1 (containers) want a bearer token.
        self._headers = {"User-Agent": "lab-stack-health"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # No keep-alive: a probe must see a restarted service, not a pooled
            # socket to its dead predecessor.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                headers=self._headers,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def http(self, url: str, timeout: float = 2.0) -> Probe:
        """``GET url`` answers 200."""
        started = time.perf_counter()
        try:
            async with self._session().get(
                url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False
            ) as resp:
                await resp.read()
                if resp.status == 200:
                    return Probe.timed(started, True, f"GET {url} → 200")
                return Probe.timed(started, False, f"GET {url} → {resp.status}")
        except (aiohttp.ClientError, OSError) as exc:
            return Probe.timed(started, False, f"GET {url}: {_describe(exc)}")
        except TimeoutError:
            return Probe.timed(started, False, f"GET {url}: no answer within {timeout:g} s")

    async def tcp(self, host: str, port: int, timeout: float = 2.0) -> Probe:
        """A TCP connection to ``host:port`` is accepted."""
        started = time.perf_counter()
        connected = await _connect(host, port, timeout, started)
        if isinstance(connected, Probe):
            return connected
        await _close(connected[1])
        return Probe.timed(started, True, f"connect {host}:{port} accepted")

    async def through_proxy(
        self,
        host: str,
        port: int,
        http_path: str | None = None,
        window: float = THROUGH_PROXY_WINDOW_S,
        timeout: float = 2.0,
    ) -> Probe:
        """The proxy listening on ``host:port`` reaches its upstream.

        With ``http_path`` the upstream is an HTTP service and a real request
        is sent through the proxy; otherwise the connection must stay open for
        ``window`` seconds without being closed by the proxy.
        """
        if http_path is not None:
            return await self.http(f"http://{host}:{port}{http_path}", timeout)
        started = time.perf_counter()
        connected = await _connect(host, port, timeout, started)
        if isinstance(connected, Probe):
            return connected
        reader, writer = connected
        try:
            data = await asyncio.wait_for(reader.read(1), window)
        except TimeoutError:
            return Probe.timed(started, True, f"{host}:{port} forwards (held open)")
        except OSError as exc:
            return Probe.timed(started, False, f"{host}:{port}: {_describe(exc)}")
        finally:
            await _close(writer)
        if data:
            # The upstream spoke first (a banner): it is plainly reached.
            return Probe.timed(started, True, f"{host}:{port} forwards (upstream spoke)")
        return Probe.timed(started, False, f"{host}:{port} closed at once: upstream unreachable")


async def until_ok(
    probe: Callable[[], Awaitable[Probe]], deadline: float, interval: float = 0.05
) -> Probe:
    """Probe until it passes or the monotonic ``deadline`` passes; the last probe."""
    while True:
        result = await probe()
        if result.ok or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))


async def _connect(
    host: str, port: int, timeout: float, started: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | Probe:
    """An open connection, or the failed probe that says why there is none."""
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return Probe.timed(started, False, f"connect {host}:{port}: timed out")
    except OSError as exc:
        return Probe.timed(started, False, f"connect {host}:{port}: {_describe(exc)}")


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # A reset on close says nothing about health.
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
