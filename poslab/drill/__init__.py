"""poslab/drill: incident drills (应急演练) on a running payment world.

A team is handed a stack under steady load with a fault hidden in it; the lab
serves an operations dashboard, records what the team does, acts on the stack
when they mitigate, and writes a post-incident report when they end it.

Modules (import from them; this package imports nothing, so ``lab drill
--help`` stays cheap):

- :mod:`poslab.drill.playbook` — failure mode → right / acceptable mitigations, signals;
- :mod:`poslab.drill.plan` — the hidden plan: which faults, when (seeded, rebuildable);
- :mod:`poslab.drill.session` — the drill's files (``drill.json``, the 0600
  ``facilitator.json`` and ``journal.jsonl``, ``timeline.jsonl``, ``metrics.jsonl``);
- :mod:`poslab.drill.controller` — the detached process that owns the timeline;
- :mod:`poslab.drill.runtime` — the live stack as mitigations and checks see it;
- :mod:`poslab.drill.mitigations` — the catalogue of mitigations (each acts on the stack);
- :mod:`poslab.drill.checks` — diagnosis checks (network, device, software, host, agent,
  settlement);
- :mod:`poslab.drill.metrics` — one sample per second from the fleet journal and admin APIs;
- :mod:`poslab.drill.dashboard.server` — the dashboard and the participants' API (aiohttp);
- :mod:`poslab.drill.console` — the same figures in a terminal (rich);
- :mod:`poslab.drill.client` — the CLI's side of the API;
- :mod:`poslab.drill.launch`, :mod:`poslab.drill.teardown` — start, end, and end without a
  controller;
- :mod:`poslab.drill.incident`, :mod:`poslab.drill.money`, :mod:`poslab.drill.runbooks`,
  :mod:`poslab.drill.actions` — the analysis behind the report;
- :mod:`poslab.drill.postmortem` — the report: its content (``model``), rendered by
  ``markdown`` and ``html``.

Errors derive from :class:`poslab.errors.LabError` (see :mod:`poslab.drill.errors`).
"""
