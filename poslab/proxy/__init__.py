"""The lab's fault proxy: an embedded Toxiproxy-compatible server and a client.

- :class:`ToxiproxyClient` — async client for any Toxiproxy API (this server
  or a real Toxiproxy); errors are :class:`poslab.errors.ProxyError`.
- :class:`EmbeddedProxyServer` — run the server in-process on a free port.
- :func:`serve` — run it as a process (``python -m poslab.proxy``,
  ``lab proxy serve``).

See ``poslab/proxy/README.md`` for the extensions (seed, ISO 8583 toxics,
refused values).
"""

from __future__ import annotations

from poslab.proxy.api import TOXIPROXY_VERSION
from poslab.proxy.client import PopulateError, ProxyInfo, ToxicInfo, ToxiproxyClient
from poslab.proxy.server import EmbeddedProxyServer, ProxyServer, serve

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
