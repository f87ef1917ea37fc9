"""The payment world's wiring: which services run, where, and the proxies between them.

DESIGN.md's picture as data. Five services — the fault ``proxy``, the
``acquirer`` host, the ``issuer``, ``agent-primary`` and ``agent-backup`` — each
either ``embedded`` (the lab starts it on 127.0.0.1, port 0 = a free port) or
``external`` (an address the user gives: their own acquirer front-end, a real
Toxiproxy). Between them the named proxies of docs/faults.md:

    region-<r>       that region's terminals → acquirer   (primary host path)
    acquirer-backup  every terminal's backup host path → acquirer
    issuer           acquirer → issuer
    agent            terminals/merchants → agent-primary
    agent-backup     terminals/merchants → agent-backup

This module is a pure model: it opens no socket and starts nothing (the
launchers do). :func:`default_topology` builds the picture from the world's
regions; :func:`load_topology` overrides it from a YAML/JSON file
(``lab up --topology FILE``)::

    regions: [north, south]              # optional; the world's by default
    services:
      acquirer: {mode: external, address: "10.0.0.5:5000", admin: "10.0.0.5:8080"}
      proxy:    {mode: external, address: "127.0.0.1:8474"}
    proxies:
      - {name: region-north, listen: "127.0.0.1:26001"}

A service the lab does not own (docs/external.md) may also carry ``hooks``
(:mod:`poslab.stack.hook_model`: kill, start, restart, reset, application
faults) and the ``settings`` it runs with; the topology may carry a
``ledger`` source (:mod:`poslab.ledger_sources`), ``require: [integrity]``
and the terminals' dialect (``terminal``: :class:`TerminalDialect`).

A bad file raises :class:`poslab.errors.ConfigError` naming the file and field.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    model_validator,
)

from poslab.errors import ConfigError
from poslab.ledger_sources.config import LedgerSource
from poslab.stack.hook_model import ServiceHooks

#: The world's default regions (docs/faults.md); a world file may name others.
DEFAULT_REGIONS: tuple[str, ...] = ("north", "south", "east")
LOCALHOST = "127.0.0.1"
REGION_PREFIX = "region-"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class ServiceName(StrEnum):
    PROXY = "proxy"
    ACQUIRER = "acquirer"
    ISSUER = "issuer"
    AGENT_PRIMARY = "agent-primary"
    AGENT_BACKUP = "agent-backup"


class Mode(StrEnum):
    EMBEDDED = "embedded"  # started by the lab on 127.0.0.1
    EXTERNAL = "external"  # already running at an address the user gives


class PathRole(StrEnum):
    """What a proxy carries, so the fleet and the mocks know which address to use."""

    PRIMARY_HOST = "primary-host"
    BACKUP_HOST = "backup-host"
    ISSUER = "issuer"
    AGENT = "agent"
    AGENT_BACKUP = "agent-backup"


def _parse_endpoint(value: object) -> object:
    """``"host:port"`` / ``"[::1]:8474"`` → ``{"host", "port"}`` (mappings pass through)."""
    if not isinstance(value, str):
        return value
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"bad address {value!r}: expected host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return {"host": host, "port": int(port)}


class Endpoint(BaseModel):
    """A TCP address. Port 0 means "any free port" and only makes sense embedded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=0, le=65535)

    @model_validator(mode="after")
    def _host_is_a_host(self) -> Endpoint:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            labels = self.host.rstrip(".").split(".")
            if not all(
                re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", x) for x in labels
            ):
                raise ValueError(
                    f"bad host {self.host!r}: not an IP address or host name"
                ) from None
        return self

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


Address = Annotated[Endpoint, BeforeValidator(_parse_endpoint)]


def _any_port() -> Endpoint:
    return Endpoint(host=LOCALHOST, port=0)


class Service(BaseModel):
    """One service: where it listens (``address``) and where its admin API answers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ServiceName
    mode: Mode = Mode.EMBEDDED
    address: Address = Field(default_factory=_any_port)
    # The HTTP admin API (faults, health, ledger export). None for the proxy,
    # whose API *is* its address, and for an external service without one.
    admin: Address | None = None
    # An external service only: how the lab kills, starts and restarts it and
    # switches its application faults (poslab.stack.hook_model), and the
    # settings it runs with (AcquirerConfig names, e.g. day_seconds), which
    # the lab cannot change but a scenario's needs are held against.
    hooks: ServiceHooks | None = None
    settings: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _external_needs_a_real_port(self) -> Service:
        if self.mode is Mode.EXTERNAL:
            for field, endpoint in (("address", self.address), ("admin", self.admin)):
                if endpoint is not None and endpoint.port == 0:
                    raise ValueError(f"an external service needs a real port in {field}")
        elif self.hooks is not None or self.settings:
            raise ValueError("hooks and settings are for an external service (mode: external)")
        return self

    @property
    def has_admin_api(self) -> bool:
        """Can the lab switch application faults on in this service?"""
        return self.name is ServiceName.PROXY or self.admin is not None

    @property
    def can_be_killed(self) -> bool:
        """A process the lab started, or an external one with kill and start hooks."""
        return self.mode is Mode.EMBEDDED or (self.hooks is not None and self.hooks.can_kill)

    @property
    def can_be_restarted(self) -> bool:
        return self.mode is Mode.EMBEDDED or (self.hooks is not None and self.hooks.can_restart)

    def can_inject(self, fault: str) -> bool:
        """Can the lab switch the application fault ``fault`` on here (admin API or hook)?"""
        if self.mode is Mode.EXTERNAL and self.hooks is not None and fault in self.hooks.faults:
            return True
        return self.has_admin_api


class Proxy(BaseModel):
    """One named Toxiproxy proxy in front of a service."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    upstream: ServiceName
    role: PathRole
    region: str | None = None
    listen: Address = Field(default_factory=_any_port)

    @model_validator(mode="after")
    def _not_to_itself(self) -> Proxy:
        if self.upstream is ServiceName.PROXY:
            raise ValueError("a proxy cannot forward to the proxy service itself")
        return self


def region_proxy_name(region: str) -> str:
    return f"{REGION_PREFIX}{region}"


_EMBEDDED_ADMIN = {
    ServiceName.ACQUIRER,
    ServiceName.ISSUER,
    ServiceName.AGENT_PRIMARY,
    ServiceName.AGENT_BACKUP,
}


#: What a run may demand before it passes (``require:`` of a topology or suite).
Requirement = Literal["integrity"]


class TerminalDialect(BaseModel):
    """How the fleet's terminals speak to this acquirer (``TerminalConfig`` names).

    The CUP defaults fit the lab's own host; a team's host may want another key
    mode (field 60.3: 001 single DES, 003 double-length, 004 with a track key),
    MAC algorithm (CUP ECB or ANSI X9.19), the MTIs that carry a MAC, another
    TPDU, header spec version or field-62 layout.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_mode: Literal["001", "003", "004"] | None = None
    mac_algorithm: Literal["cup-ecb", "cup-ecb-left-half", "x9.19"] | None = None
    mac_mtis: tuple[Annotated[str, Field(pattern=r"^\d{4}$")], ...] | None = None
    tpdu_destination: Annotated[str, Field(pattern=r"^[0-9A-F]{4}$")] | None = None
    tpdu_source: Annotated[str, Field(pattern=r"^[0-9A-F]{4}$")] | None = None
    header_spec_version: Annotated[str, Field(pattern=r"^\d{2}$")] | None = None
    #: field 62's slots: {pik|mak|tdk: [offset, key length, check value offset]}
    field62_layout: dict[Literal["pik", "mak", "tdk"], tuple[int, int, int]] | None = None

    def fleet_settings(self) -> dict[str, Any]:
        """The fleet config's ``terminal`` overrides (only what the topology sets)."""
        return self.model_dump(mode="json", exclude_none=True)


class Topology(BaseModel):
    """Every service and proxy of one stack. Immutable; look things up by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    regions: tuple[str, ...]
    services: tuple[Service, ...]
    proxies: tuple[Proxy, ...]
    # The team's books (poslab.ledger_sources): read after each scenario's
    # drain instead of the lab's own acquirer export.
    ledger: LedgerSource | None = None
    require: tuple[Requirement, ...] = ()
    terminal: TerminalDialect = Field(default_factory=TerminalDialect)

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        if not self.regions:
            raise ValueError("regions: at least one region is needed")
        for region in self.regions:
            if not _NAME.fullmatch(region):
                raise ValueError(f"regions: bad region name {region!r}")
        _unique("regions", self.regions)
        _unique("services", [s.name.value for s in self.services])
        _unique("proxies", [p.name for p in self.proxies])
        missing = set(ServiceName) - {s.name for s in self.services}
        if missing:
            raise ValueError(f"services: missing {sorted(m.value for m in missing)}")
        for proxy in self.proxies:
            if proxy.region is not None and proxy.region not in self.regions:
                raise ValueError(f"proxies: {proxy.name} is for unknown region {proxy.region!r}")
        for region in self.regions:
            if region_proxy_name(region) not in self.proxy_names:
                raise ValueError(f"proxies: region {region!r} has no {region_proxy_name(region)}")
        return self

    @property
    def proxy_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.proxies)

    def service(self, name: str | ServiceName) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(f"unknown service {name!r}")

    def proxy(self, name: str) -> Proxy:
        for proxy in self.proxies:
            if proxy.name == name:
                return proxy
        raise KeyError(f"unknown proxy {name!r}")

    def region_proxy(self, region: str) -> Proxy:
        return self.proxy(region_proxy_name(region))

    def proxies_with(self, role: PathRole) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.role is role)

    def proxies_to(self, service: str | ServiceName) -> tuple[Proxy, ...]:
        return tuple(p for p in self.proxies if p.upstream == service)

    def embedded(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.mode is Mode.EMBEDDED)

    def external(self) -> tuple[Service, ...]:
        return tuple(s for s in self.services if s.mode is Mode.EXTERNAL)

    def populate_body(self, upstreams: Mapping[ServiceName, Endpoint]) -> list[dict[str, object]]:
        """The ``POST /populate`` body once every service's real address is known."""
        body: list[dict[str, object]] = []
        for proxy in self.proxies:
            if proxy.upstream not in upstreams:
                raise ConfigError(f"no address known for {proxy.upstream} (proxy {proxy.name})")
            body.append(
                {
                    "name": proxy.name,
                    "listen": str(proxy.listen),
                    "upstream": str(upstreams[proxy.upstream]),
                    "enabled": True,
                }
            )
        return body


def _unique(field: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{field}: duplicate {name!r}")
        seen.add(name)


def default_proxies(regions: Sequence[str]) -> list[Proxy]:
    proxies = [
        Proxy(
            name=region_proxy_name(r),
            upstream=ServiceName.ACQUIRER,
            role=PathRole.PRIMARY_HOST,
            region=r,
        )
        for r in regions
    ]
    proxies += [
        Proxy(name="acquirer-backup", upstream=ServiceName.ACQUIRER, role=PathRole.BACKUP_HOST),
        Proxy(name="issuer", upstream=ServiceName.ISSUER, role=PathRole.ISSUER),
        Proxy(name="agent", upstream=ServiceName.AGENT_PRIMARY, role=PathRole.AGENT),
        Proxy(name="agent-backup", upstream=ServiceName.AGENT_BACKUP, role=PathRole.AGENT_BACKUP),
    ]
    return proxies


def default_services() -> list[Service]:
    return [
        Service(name=name, admin=_any_port() if name in _EMBEDDED_ADMIN else None)
        for name in ServiceName
    ]


def default_topology(regions: Sequence[str] = DEFAULT_REGIONS) -> Topology:
    """Every service embedded on free ports, one proxy per path, for these regions."""
    try:
        return Topology(
            regions=tuple(regions),
            services=tuple(default_services()),
            proxies=tuple(default_proxies(regions)),
        )
    except ValidationError as exc:
        raise ConfigError(_describe("topology", exc)) from exc


class _ServiceOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    address: Address | None = None
    admin: Address | None = None
    hooks: ServiceHooks | None = None
    settings: dict[str, JsonValue] | None = None


class _ProxyOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    upstream: ServiceName | None = None
    role: PathRole | None = None
    region: str | None = None
    listen: Address | None = None


class _TopologyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    regions: list[str] | None = None
    services: dict[ServiceName, _ServiceOverride] = Field(default_factory=dict)
    proxies: list[_ProxyOverride] = Field(default_factory=list)
    ledger: LedgerSource | None = None
    require: list[Requirement] = Field(default_factory=list)
    terminal: TerminalDialect = Field(default_factory=TerminalDialect)


def topology_from_mapping(
    data: object, regions: Sequence[str] = DEFAULT_REGIONS, source: str = "topology"
) -> Topology:
    """Apply an override document (already parsed) to the defaults for ``regions``.

    Services are merged field by field; a proxy entry whose name exists changes
    that proxy, a new name adds one (it must say its ``upstream``). A proxy
    named twice in the file is an error, not a silent last-one-wins.
    """
    try:
        doc = _TopologyFile.model_validate({} if data is None else data)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from exc
    names = [p.name for p in doc.proxies]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{source}: proxies[{i}].name: duplicate proxy {name!r}")
    use_regions = tuple(doc.regions) if doc.regions is not None else tuple(regions)

    services: list[dict[str, Any]] = [s.model_dump() for s in default_services()]
    for entry in services:
        override = doc.services.get(entry["name"])
        if override is not None:
            entry.update(override.model_dump(exclude_unset=True, exclude={"hooks"}))
            if override.hooks is not None:
                entry["hooks"] = override.hooks
            if override.mode is Mode.EXTERNAL and "address" not in override.model_fields_set:
                field = f"services.{entry['name']}.address"
                raise ConfigError(f"{source}: {field}: an external service needs an address")
            if override.mode is Mode.EXTERNAL and "admin" not in override.model_fields_set:
                entry["admin"] = None  # no admin API unless the user names one

    proxies: dict[str, dict[str, Any]] = {
        p.name: p.model_dump() for p in default_proxies(use_regions)
    }
    for i, proxy_override in enumerate(doc.proxies):
        change = proxy_override.model_dump(exclude_unset=True)
        if proxy_override.name in proxies:
            proxies[proxy_override.name].update(change)
            continue
        if proxy_override.upstream is None:
            raise ConfigError(
                f"{source}: proxies[{i}].upstream: a new proxy needs an upstream service"
            )
        change.setdefault("role", _role_for(proxy_override.upstream))
        if proxy_override.name.startswith(REGION_PREFIX) and "region" not in change:
            region = proxy_override.name.removeprefix(REGION_PREFIX)
            if region not in use_regions:
                raise ConfigError(
                    f"{source}: proxies[{i}].name: {proxy_override.name!r} is for unknown "
                    f"region {region!r} (regions: {', '.join(use_regions)})"
                )
            change["region"] = region
        proxies[proxy_override.name] = change
    proxy_list = list(proxies.values())
    try:
        return Topology.model_validate(
            {
                "regions": use_regions,
                "services": services,
                "proxies": proxy_list,
                "ledger": doc.ledger,
                "require": tuple(dict.fromkeys(doc.require)),
                "terminal": doc.terminal,
            }
        )
    except ValidationError as exc:
        by_index = {
            "services": [str(s["name"]) for s in services],
            "proxies": [str(p["name"]) for p in proxy_list],
        }
        raise ConfigError(_describe(source, exc, by_index)) from exc


def load_topology(path: Path, regions: Sequence[str] = DEFAULT_REGIONS) -> Topology:
    """Read an override file (YAML or JSON) and apply it to the defaults."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read topology file: {exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from exc
    return topology_from_mapping(data, regions, source=str(path))


def _role_for(upstream: ServiceName) -> PathRole:
    return {
        ServiceName.ACQUIRER: PathRole.PRIMARY_HOST,
        ServiceName.ISSUER: PathRole.ISSUER,
        ServiceName.AGENT_PRIMARY: PathRole.AGENT,
        ServiceName.AGENT_BACKUP: PathRole.AGENT_BACKUP,
    }.get(upstream, PathRole.PRIMARY_HOST)


def _describe(
    source: str, exc: ValidationError, names: Mapping[str, list[str]] | None = None
) -> str:
    """One line per error; list indexes of services/proxies replaced by their names."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        if names and len(loc) > 1 and isinstance(loc[1], int) and str(loc[0]) in names:
            loc[1] = names[str(loc[0])][loc[1]]
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be", 1)
        if loc and loc[-1] == "[key]":  # a mapping key that is not a known name
            loc.pop()
            msg = f"unknown name; {msg[0].lower()}{msg[1:]}"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        lines.append(f"{source}: {field}: {msg}" if field else f"{source}: {msg}")
    return "\n".join(lines)
