"""The few Toxiproxy API calls the stack makes: reset, create, list, version.

Works against the embedded proxy and a real Toxiproxy alike (the API contract
of docs toxiproxy-contract.md). Errors become :class:`lab.errors.ProxyError`
carrying the HTTP status and Toxiproxy's own message.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.errors import ProxyError


class ToxicInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Any] = Field(default_factory=dict)


class ProxyInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: list[ToxicInfo] = Field(default_factory=list)

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


class ProxyAPI:
    """An async client for one Toxiproxy API endpoint (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ProxyAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def version(self) -> str:
        body = await self._call("GET", "/version")
        return str(body.get("version", "")) if isinstance(body, dict) else str(body)

    async def reset(self) -> None:
        """Every proxy enabled, every toxic gone (proxies kept)."""
        await self._call("POST", "/reset")

    async def proxies(self) -> dict[str, ProxyInfo]:
        body = await self._call("GET", "/proxies")
        try:
            return {name: ProxyInfo.model_validate(p) for name, p in dict(body).items()}
        except (ValidationError, TypeError, ValueError) as exc:
            raise ProxyError(f"{self.url}/proxies: unexpected answer: {exc}") from exc

    async def create(self, name: str, listen: str, upstream: str) -> ProxyInfo:
        """Create a proxy, or replace one of the same name left by an earlier run."""
        payload = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        try:
            body = await self._call("POST", "/proxies", payload)
        except ProxyError as exc:
            if exc.status != 409:
                raise
            await self._call("DELETE", f"/proxies/{name}")
            body = await self._call("POST", "/proxies", payload)
        try:
            return ProxyInfo.model_validate(body)
        except ValidationError as exc:
            raise ProxyError(f"{self.url}: proxy {name}: unexpected answer: {exc}") from exc

    async def delete(self, name: str) -> None:
        await self._call("DELETE", f"/proxies/{name}")

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=self._timeout, headers={"User-Agent": "lab-stack"}
            )
        return self._http

    async def _call(self, method: str, path: str, payload: object = None) -> Any:
        url = self.url + path
        try:
            async with self._session().request(method, url, json=payload) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise ProxyError(
                        f"{method} {url} → {resp.status}: {_message(text)}", resp.status
                    )
                if not text.strip():
                    return None
                try:
                    return await resp.json(content_type=None)
                except ValueError as exc:
                    raise ProxyError(f"{method} {url}: answer is not JSON: {text[:200]!r}") from exc
        except aiohttp.ClientError as exc:
            raise ProxyError(f"{method} {url}: {exc}") from exc
        except TimeoutError as exc:
            raise ProxyError(f"{method} {url}: no answer in time") from exc


def _message(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return text.strip()[:200]
