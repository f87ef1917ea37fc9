"""An async client for the Toxiproxy HTTP API, used by the rest of the lab.

It speaks only the documented API, so it works the same against the embedded
server and a real Toxiproxy (``toxiproxy-server`` or its container): the
caller passes the URL (the CLI reads ``TOXIPROXY_URL``; this module never
reads the environment). Every error is a :class:`poslab.errors.ProxyError`
carrying the HTTP status (0 when the server could not be reached) and the
server's own message::

    async with ToxiproxyClient("http://127.0.0.1:8474") as toxiproxy:
        await toxiproxy.create_proxy("issuer", upstream="127.0.0.1:9100")
        await toxiproxy.add_toxic("issuer", "latency", attributes={"latency": 300})
        ...
        await toxiproxy.reset()
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from poslab.errors import ProxyError

__all__ = ["PopulateError", "ProxyInfo", "ToxicInfo", "ToxiproxyClient"]

DEFAULT_URL = "http://127.0.0.1:8474"


@dataclass(frozen=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(
            name=str(data.get("name", "")),
            listen=str(data.get("listen", "")),
            upstream=str(data.get("upstream", "")),
            enabled=bool(data.get("enabled", False)),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or []),
        )

    @property
    def port(self) -> int:
        """The port the proxy listens on (from ``listen``)."""
        return int(self.listen.rsplit(":", 1)[1])


class PopulateError(ProxyError):
    """``/populate`` failed part-way; ``created`` are the proxies it made."""

    def __init__(self, message: str, status: int, created: Sequence[ProxyInfo]) -> None:
        super().__init__(message, status)
        self.created = tuple(created)


class ToxiproxyClient:
    """One Toxiproxy server. Use as ``async with`` or call :meth:`close`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout_s: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> ToxiproxyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # --- transport ------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, body: object = None, *, ok: tuple[int, ...]
    ) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            async with self._session.request(
                method, self.url + path, data=data, headers=headers
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise ProxyError(
                f"toxiproxy at {self.url} unreachable ({method} {path}): {reason}", 0
            ) from exc
        text = raw.decode("utf-8", errors="replace")
        try:
            payload: Any = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            payload = None
        if status in ok:
            return status, payload
        message = text.strip() or f"HTTP {status}"
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = payload["error"]
        if isinstance(payload, dict) and "proxies" in payload:
            created = [ProxyInfo.from_json(p) for p in payload.get("proxies") or []]
            raise PopulateError(f"{method} {path}: HTTP {status}: {message}", status, created)
        raise ProxyError(f"{method} {path}: HTTP {status}: {message}", status)

    @staticmethod
    def _name(name: str) -> str:
        return quote(name, safe="")

    # --- server ----------------------------------------------------------------------

    async def version(self) -> str:
        _, payload = await self._request("GET", "/version", ok=(200,))
        return str(payload.get("version", "")) if isinstance(payload, dict) else str(payload)

    async def reset(self) -> None:
        """Every proxy enabled and every toxic removed (proxies are kept)."""
        await self._request("POST", "/reset", ok=(204,))

    # --- proxies ---------------------------------------------------------------------

    async def proxies(self) -> dict[str, ProxyInfo]:
        _, payload = await self._request("GET", "/proxies", ok=(200,))
        return {name: ProxyInfo.from_json(data) for name, data in (payload or {}).items()}

    async def get_proxy(self, name: str) -> ProxyInfo:
        _, payload = await self._request("GET", f"/proxies/{self._name(name)}", ok=(200,))
        return ProxyInfo.from_json(payload)

    async def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", *, enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        _, payload = await self._request("POST", "/proxies", body, ok=(201,))
        return ProxyInfo.from_json(payload)

    async def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> ProxyInfo:
        body: dict[str, Any] = {}
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        if enabled is not None:
            body["enabled"] = enabled
        _, payload = await self._request("PATCH", f"/proxies/{self._name(name)}", body, ok=(200,))
        return ProxyInfo.from_json(payload)

    async def enable(self, name: str) -> ProxyInfo:
        return await self.update_proxy(name, enabled=True)

    async def disable(self, name: str) -> ProxyInfo:
        """Close the proxy's listener and every open connection (the "down" fault)."""
        return await self.update_proxy(name, enabled=False)

    async def delete_proxy(self, name: str) -> None:
        await self._request("DELETE", f"/proxies/{self._name(name)}", ok=(204,))

    async def populate(self, proxies: Sequence[Mapping[str, Any]]) -> list[ProxyInfo]:
        """Create or replace proxies (``name``, ``listen``, ``upstream``,
        optional ``enabled``); identical ones are left untouched."""
        _, payload = await self._request("POST", "/populate", list(proxies), ok=(201,))
        items = (payload or {}).get("proxies") or []
        return [ProxyInfo.from_json(p) for p in items]

    # --- toxics ----------------------------------------------------------------------

    async def toxics(self, proxy: str) -> list[ToxicInfo]:
        _, payload = await self._request("GET", f"/proxies/{self._name(proxy)}/toxics", ok=(200,))
        return [ToxicInfo.from_json(t) for t in payload or []]

    async def get_toxic(self, proxy: str, name: str) -> ToxicInfo:
        path = f"/proxies/{self._name(proxy)}/toxics/{self._name(name)}"
        _, payload = await self._request("GET", path, ok=(200,))
        return ToxicInfo.from_json(payload)

    async def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> ToxicInfo:
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name:
            body["name"] = name
        path = f"/proxies/{self._name(proxy)}/toxics"
        # Toxiproxy answers 200 here; accept 201 from anything stricter.
        _, payload = await self._request("POST", path, body, ok=(200, 201))
        return ToxicInfo.from_json(payload)

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: Mapping[str, Any] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        """Merge ``attributes`` into the toxic (unmentioned ones keep their
        values) and/or change its toxicity."""
        body: dict[str, Any] = {"attributes": dict(attributes or {})}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{self._name(proxy)}/toxics/{self._name(name)}"
        _, payload = await self._request("PATCH", path, body, ok=(200,))
        return ToxicInfo.from_json(payload)

    async def remove_toxic(self, proxy: str, name: str) -> None:
        path = f"/proxies/{self._name(proxy)}/toxics/{self._name(name)}"
        await self._request("DELETE", path, ok=(204,))
