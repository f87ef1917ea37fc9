"""The payment world's stack: its topology and the launchers that bring it up.

Import what you need from here, not from the modules::

    from poslab.stack import Stack, default_topology, read_state

- the topology — :class:`Topology` of services, proxies and regions
  (:func:`default_topology`, :func:`load_topology`, :func:`topology_from_mapping`),
  :class:`ServiceName`, :class:`Mode`, :class:`Endpoint`, :class:`PathRole`;
- :class:`Stack` — ``up()`` / ``async with``, ``addresses``, ``proxy_api``,
  ``kill``, ``restart``, ``health`` (a :class:`StackHealth`), ``stop``,
  ``detach``, ``attach``/``attach_file``; each service behind a
  :class:`ServiceLauncher`;
- the state file (``runs/.stack.json``): :class:`StackState`,
  :class:`StackAddresses`, :func:`read_state`, :func:`write_state`;
- other modes: :func:`with_external_proxy` (services the lab does not start),
  :class:`ComposeProject` and its helpers (containers, ``deploy/compose.yaml``);
- what drills and the runner keep of a service's process: :class:`ServiceFiles`,
  :class:`ProcessIdentity`, :func:`stop_group`.

Inside the package: ``probe`` asks one service or proxy whether it answers,
``health`` turns those answers into the stack's health, and ``healthcheck`` is
the containers' HEALTHCHECK command (``python -m poslab.stack.healthcheck URL``,
standard library only).

The names are loaded on first use (PEP 562 ``__getattr__``): the containers'
healthcheck and scenario validation (the topology) must not pay for the
stack's launchers and aiohttp.

Errors are :class:`poslab.errors.StackError` (a service would not start: its name
and log tail; the CLI exits 2) and :class:`poslab.errors.ConfigError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poslab.common.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from poslab.stack.commands import Programs, ServiceFiles
    from poslab.stack.compose import (
        DEPLOY_DIR,
        ComposeProject,
        container_topology,
        proxy_upstreams,
        write_toxiproxy_config,
    )
    from poslab.stack.external import toxiproxy_endpoint, with_external_proxy
    from poslab.stack.health import StackHealth
    from poslab.stack.launcher import ServiceLauncher
    from poslab.stack.process import ProcessIdentity, stop_group
    from poslab.stack.stack import DEFAULT_READY_TIMEOUT_S, Stack
    from poslab.stack.state import (
        RegionPaths,
        StackAddresses,
        StackState,
        read_state,
        write_state,
    )
    from poslab.stack.topology import (
        DEFAULT_REGIONS,
        Endpoint,
        Mode,
        PathRole,
        ServiceName,
        Topology,
        default_topology,
        load_topology,
        region_proxy_name,
        topology_from_mapping,
    )

# module → the names it gives this package (the same names as the imports above;
# tests/stack/test_stack_package.py checks that the three lists agree).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "poslab.stack.commands": ("Programs", "ServiceFiles"),
    "poslab.stack.compose": (
        "DEPLOY_DIR",
        "ComposeProject",
        "container_topology",
        "proxy_upstreams",
        "write_toxiproxy_config",
    ),
    "poslab.stack.external": ("toxiproxy_endpoint", "with_external_proxy"),
    "poslab.stack.health": ("StackHealth",),
    "poslab.stack.launcher": ("ServiceLauncher",),
    "poslab.stack.process": ("ProcessIdentity", "stop_group"),
    "poslab.stack.stack": ("DEFAULT_READY_TIMEOUT_S", "Stack"),
    "poslab.stack.state": (
        "RegionPaths",
        "StackAddresses",
        "StackState",
        "read_state",
        "write_state",
    ),
    "poslab.stack.topology": (
        "DEFAULT_REGIONS",
        "Endpoint",
        "Mode",
        "PathRole",
        "ServiceName",
        "Topology",
        "default_topology",
        "load_topology",
        "region_proxy_name",
        "topology_from_mapping",
    ),
}

__all__ = [
    "DEFAULT_READY_TIMEOUT_S",
    "DEFAULT_REGIONS",
    "DEPLOY_DIR",
    "ComposeProject",
    "Endpoint",
    "Mode",
    "PathRole",
    "ProcessIdentity",
    "Programs",
    "RegionPaths",
    "ServiceFiles",
    "ServiceLauncher",
    "ServiceName",
    "Stack",
    "StackAddresses",
    "StackHealth",
    "StackState",
    "Topology",
    "container_topology",
    "default_topology",
    "load_topology",
    "proxy_upstreams",
    "read_state",
    "region_proxy_name",
    "stop_group",
    "topology_from_mapping",
    "toxiproxy_endpoint",
    "with_external_proxy",
    "write_state",
    "write_toxiproxy_config",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
