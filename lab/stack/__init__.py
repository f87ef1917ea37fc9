"""The payment world's stack: its topology and the launchers that bring it up.

Public API (import from the modules; this package imports nothing so that
``lab.stack.topology`` stays cheap for scenario validation):

- :mod:`lab.stack.topology` — services, proxies, regions (the typed model);
- :mod:`lab.stack.stack` — :class:`~lab.stack.stack.Stack`: ``up()`` /
  ``async with``, ``addresses``, ``proxy_api``, ``kill``, ``restart``,
  ``health``, ``stop``, ``detach``, ``attach``/``attach_file``;
- :mod:`lab.stack.state` — the state file (``runs/.stack.json``) and
  :class:`~lab.stack.state.StackAddresses`;
- :mod:`lab.stack.status` — health records (``StackHealth``);
- :mod:`lab.stack.external` — pointing a topology at services the lab does not start;
- :mod:`lab.stack.compose` — container mode (``deploy/compose.yaml``);
- :mod:`lab.stack.commands` — the command line every embedded service implements;
- :mod:`lab.stack.process`, :mod:`lab.stack.service`, :mod:`lab.stack.health` —
  the generic launcher (process groups, ready files, probes).

Errors are :class:`lab.errors.StackError` (a service would not start: its name
and log tail; the CLI exits 2) and :class:`lab.errors.ConfigError`.
"""
