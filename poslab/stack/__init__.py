"""The payment world's stack: its topology and the launchers that bring it up.

Public API (import from the modules; this package imports nothing so that
``poslab.stack.topology`` stays cheap for scenario validation):

- :mod:`poslab.stack.topology` — services, proxies, regions (the typed model);
- :mod:`poslab.stack.stack` — :class:`~poslab.stack.stack.Stack`: ``up()`` /
  ``async with``, ``addresses``, ``proxy_api``, ``kill``, ``restart``,
  ``health``, ``stop``, ``detach``, ``attach``/``attach_file``;
- :mod:`poslab.stack.state` — the state file (``runs/.stack.json``) and
  :class:`~poslab.stack.state.StackAddresses`;
- :mod:`poslab.stack.health` — health records (``StackHealth``);
- :mod:`poslab.stack.external` — pointing a topology at services the lab does not start;
- :mod:`poslab.stack.compose` — container mode (``deploy/compose.yaml``);
- :mod:`poslab.stack.commands` — the command line every embedded service implements;
- :mod:`poslab.stack.process`, :mod:`poslab.stack.service`, :mod:`poslab.stack.probe` —
  the generic launcher (process groups, ready files, probes).

Errors are :class:`poslab.errors.StackError` (a service would not start: its name
and log tail; the CLI exits 2) and :class:`poslab.errors.ConfigError`.
"""
