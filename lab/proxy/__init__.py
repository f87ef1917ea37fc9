"""The lab's fault proxy: an embedded Toxiproxy-compatible server and a client.

- :class:`ToxiproxyClient` — async client for any Toxiproxy API (this server
  or a real Toxiproxy); errors are :class:`lab.errors.ProxyError`.
- :class:`EmbeddedProxyServer` — run the server in-process on a free port.
- :func:`serve` — run it as a process (``python -m lab.proxy``,
  ``lab proxy serve``).

See ``lab/proxy/README.md`` for the extensions (seed, ISO 8583 toxics,
refused values).
"""

from __future__ import annotations

from lab.proxy.api import TOXIPROXY_VERSION
from lab.proxy.client import PopulateError, ProxyInfo, ToxicInfo, ToxiproxyClient
from lab.proxy.server import EmbeddedProxyServer, ProxyServer, serve

__all__ = [
    "TOXIPROXY_VERSION",
    "EmbeddedProxyServer",
    "PopulateError",
    "ProxyInfo",
    "ProxyServer",
    "ToxicInfo",
    "ToxiproxyClient",
    "serve",
]
