"""Every proxy of a server, by name (Toxiproxy's ``proxy_collection.go``).

Mutations are serialised by one lock, as Toxiproxy serialises them with its
mutexes: two API calls never interleave half-way through a start or a stop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from poslab.proxy import api_error
from poslab.proxy.api_error import ApiError
from poslab.proxy.api_json import GoSlice, GoStruct, GoType, go_decode
from poslab.proxy.draws import Draws
from poslab.proxy.proxy import Proxy

__all__ = ["PopulateResult", "ProxyCollection", "ProxySpec", "parse_proxy_body"]

#: zerolog.Logger has no exported field: any object decodes into it, but a
#: number or a string is a type error naming it (the ``"Logger"`` member every
#: proxy of the real server shows, and reads).
_LOGGER = GoStruct("Logger", "zerolog.Logger")
_PROXY_FIELDS: tuple[tuple[str, GoType], ...] = (
    ("name", "string"),
    ("listen", "string"),
    ("upstream", "string"),
    ("enabled", "bool"),
    ("Logger", _LOGGER),
)
#: ``toxiproxy.Proxy``, as create and update decode it.
PROXY = GoStruct("Proxy", "toxiproxy.Proxy", _PROXY_FIELDS)
#: What ``/populate`` decodes: Proxy with a nullable ``enabled`` (Go's own
#: anonymous struct, whose name appears in its errors).
POPULATE = GoSlice(
    GoStruct("", 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }', _PROXY_FIELDS)
)


@dataclass(frozen=True)
class ProxySpec:
    """A proxy as a create, update or populate request describes it."""

    name: str
    listen: str
    upstream: str
    enabled: bool


def parse_proxy_body(body: object, defaults: ProxySpec) -> ProxySpec:
    """Decode a proxy JSON object over ``defaults``; ``toxics`` is ignored."""
    decoded, error = go_decode(body, PROXY)
    if error is not None:
        raise error
    return _spec(decoded, defaults)


def _spec(decoded: object, defaults: ProxySpec) -> ProxySpec:
    fields = decoded if isinstance(decoded, dict) else {}
    return ProxySpec(
        name=str(fields.get("name", defaults.name)),
        listen=str(fields.get("listen", defaults.listen)),
        upstream=str(fields.get("upstream", defaults.upstream)),
        enabled=bool(fields.get("enabled", defaults.enabled)),
    )


@dataclass
class PopulateResult:
    proxies: list[Proxy]
    error: ApiError | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.error is not None:
            body["error"] = self.error.message
            body["status"] = self.error.status
        # Go marshals an empty result slice as null, and clients cope with it.
        body["proxies"] = [p.to_json() for p in self.proxies] or None
        return body


class ProxyCollection:
    def __init__(self, draws: Draws) -> None:
        self.draws = draws
        self.lock = asyncio.Lock()
        self._proxies: dict[str, Proxy] = {}

    def proxies(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise api_error.PROXY_NOT_FOUND
        return proxy

    def new_proxy(self, spec: ProxySpec) -> Proxy:
        return Proxy(spec.name, spec.listen, spec.upstream, self.draws)

    async def add(self, spec: ProxySpec) -> Proxy:
        if spec.name in self._proxies:
            raise api_error.PROXY_ALREADY_EXISTS
        proxy = self.new_proxy(spec)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def add_or_replace(self, spec: ProxySpec) -> Proxy:
        """Populate's rule: an identical proxy is kept untouched (toxics kept,
        not re-enabled); one whose listen or upstream differs is replaced."""
        existing = self._proxies.get(spec.name)
        if existing is not None:
            if not await existing.differs(spec.listen, spec.upstream):
                return existing
            existing.stop()
        proxy = self.new_proxy(spec)
        if spec.enabled:
            await proxy.start()
        self._proxies[spec.name] = proxy
        return proxy

    async def populate(self, body: object) -> PopulateResult:
        """Create or replace a list of proxies. Every entry is checked before
        any is created; a failure part-way returns those created so far."""
        decoded, error = go_decode(body, POPULATE)
        if error is not None:
            raise error
        empty = ProxySpec(name="", listen="", upstream="", enabled=True)
        entries = decoded if isinstance(decoded, list) else []
        specs = [_spec(entry, empty) for entry in entries]
        for index, spec in enumerate(specs, start=1):
            if not spec.name:
                raise api_error.missing_field(f"name at proxy {index}")
            if not spec.upstream:
                raise api_error.missing_field(f"upstream at proxy {index}")
        done: list[Proxy] = []
        for spec in specs:
            try:
                done.append(await self.add_or_replace(spec))
            except ApiError as exc:
                return PopulateResult(done, exc)
        return PopulateResult(done)

    async def remove(self, name: str) -> None:
        proxy = self.get(name)
        proxy.stop()
        del self._proxies[name]

    async def clear(self) -> None:
        for name in list(self._proxies):
            await self.remove(name)

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed; proxies kept."""
        for proxy in list(self._proxies.values()):
            await proxy.start()
            proxy.toxics.reset()
