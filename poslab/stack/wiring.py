"""How the stack's pieces are tied together: addresses, states, proxies, order.

Pure helpers of :class:`poslab.stack.stack.Stack`, kept apart so the stack
itself reads as its lifecycle: which address each client gets
(:func:`addresses_of`), how a proxy is (re)created or forgotten, and in which
order services go up and down. (How each service is recorded in the state
file is its launcher's: :mod:`poslab.stack.launcher`.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterable, Mapping

from poslab.errors import LabError, ProxyError
from poslab.proxy.client import ProxyInfo, ToxiproxyClient
from poslab.stack.state import ProxyState, RegionPaths, ServiceState, StackAddresses
from poslab.stack.topology import Endpoint, PathRole, ServiceName, Topology

# Clients before what they call, so no log ends in alarms about a dependency
# that merely went first: the start order, reversed.
STOP_ORDER = (
    (ServiceName.AGENT_PRIMARY.value, ServiceName.AGENT_BACKUP.value),
    (ServiceName.ACQUIRER.value,),
    (ServiceName.ISSUER.value, ServiceName.PROXY.value),
)


def addresses_of(
    topology: Topology, services: Mapping[str, ServiceState], proxies: Mapping[str, ProxyState]
) -> StackAddresses:
    """Every address a client of the stack needs, from what is known so far."""
    listen = {name: p.listen for name, p in proxies.items()}
    backups = [p.name for p in topology.proxies_with(PathRole.BACKUP_HOST) if p.name in listen]
    backup = listen[backups[0]] if backups else None
    regions = {
        region: RegionPaths(primary=listen[proxy.name], backup=backup)
        for region in topology.regions
        if (proxy := topology.region_proxy(region)).name in listen
    }
    agents = {}
    for key, role in (("primary", PathRole.AGENT), ("backup", PathRole.AGENT_BACKUP)):
        found = [p.name for p in topology.proxies_with(role) if p.name in listen]
        if found:
            agents[key] = f"http://{listen[found[0]]}"
    proxy_service = services.get(ServiceName.PROXY.value)
    api = proxy_service.address if proxy_service and proxy_service.address else None
    return StackAddresses(
        proxy_api=f"http://{api}" if api else "",
        services={n: s.address for n, s in services.items() if s.address},
        admin={n: s.admin_url for n, s in services.items() if s.admin_url},
        proxies=listen,
        regions=regions,
        agents=agents,
    )


def issuer_address_for_acquirer(
    topology: Topology, services: Mapping[str, ServiceState], proxies: Mapping[str, ProxyState]
) -> Endpoint:
    """Where the acquirer dials the issuer: through the issuer proxy when there is one."""
    links = [p.name for p in topology.proxies_with(PathRole.ISSUER) if p.name in proxies]
    if links:
        return endpoint(proxies[links[0]].listen)
    issuer = services[ServiceName.ISSUER.value].address
    assert issuer is not None, "the issuer is ready before the acquirer starts"
    return endpoint(issuer)


async def create_proxy(api: ToxiproxyClient, name: str, listen: str, upstream: str) -> ProxyInfo:
    """Create a proxy, replacing one of the same name an earlier run left behind."""
    try:
        return await api.create_proxy(name, upstream=upstream, listen=listen)
    except ProxyError as exc:
        if exc.status != 409:
            raise
    await api.delete_proxy(name)
    return await api.create_proxy(name, upstream=upstream, listen=listen)


async def restore_proxies(api: ToxiproxyClient, proxies: Iterable[ProxyState]) -> None:
    """Create again, where they were (same listen, same upstream), the proxies a
    restarted Toxiproxy no longer has (one that reads a config file keeps them)."""
    present = await api.proxies()
    for proxy in proxies:
        if proxy.name not in present:
            await create_proxy(api, proxy.name, proxy.listen, proxy.upstream)


async def forget_proxies(api: ToxiproxyClient, names: Iterable[str]) -> None:
    """Remove the stack's proxies from a Toxiproxy that outlived the stack (one it
    shares with others); a Toxiproxy that stopped with the stack took them along."""
    try:
        await api.version()
    except LabError:
        return
    for name in names:
        # Already gone is fine: there is nothing left to clean.
        with contextlib.suppress(LabError):
            await api.delete_proxy(name)


def stop_tiers(names: Iterable[str]) -> list[list[str]]:
    """The services to stop, in tiers stopped one after the other (the start order reversed)."""
    left = list(names)
    tiers = [[n for n in tier if n in left] for tier in STOP_ORDER]
    tiers.append([n for n in left if not any(n in tier for tier in STOP_ORDER)])
    return [tier for tier in tiers if tier]


async def concurrently(*steps: Awaitable[None]) -> None:
    """Run steps concurrently; on the first failure cancel the rest and raise it."""
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(_as_coroutine(step))
    except BaseExceptionGroup as group_error:
        raise _first(group_error.exceptions) from None


async def _as_coroutine(step: Awaitable[None]) -> None:
    await step


def _first(errors: Iterable[BaseException]) -> BaseException:
    flat: list[BaseException] = []
    for err in errors:
        flat.extend(err.exceptions if isinstance(err, BaseExceptionGroup) else [err])
    for err in flat:
        if isinstance(err, LabError):
            return err
    return flat[0]


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def endpoint(address: str) -> Endpoint:
    host, port = split(address)
    return Endpoint(host=host, port=port)


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def loopback_if_wildcard(listen: str, proxy_host: str) -> str:
    """A proxy bound to all interfaces is reached at its API's host."""
    host, port = split(listen)
    if host in ("0.0.0.0", "::", ""):
        return f"{bracket(proxy_host)}:{port}"
    return listen
