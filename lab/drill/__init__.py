"""lab/drill: incident drills (应急演练) on a running payment world.

A team is handed a stack under steady load with a fault hidden in it; the lab
serves an operations dashboard, records what the team does, acts on the stack
when they mitigate, and writes a post-incident report when they end it.

Modules (import from them; this package imports nothing, so ``lab drill
--help`` stays cheap):

- :mod:`lab.drill.playbook` — failure mode → right / acceptable mitigations, signals;
- :mod:`lab.drill.plan` — the hidden plan: which faults, when (seeded, rebuildable);
- :mod:`lab.drill.session` — the drill's files (``drill.json``, the 0600
  ``facilitator.json`` and ``journal.jsonl``, ``timeline.jsonl``, ``metrics.jsonl``);
- :mod:`lab.drill.controller` — the detached process that owns the timeline;
- :mod:`lab.drill.runtime` — the live stack as mitigations and checks see it;
- :mod:`lab.drill.mitigations` — the catalogue of mitigations (each acts on the stack);
- :mod:`lab.drill.checks` — diagnosis checks (network, device, software, host, agent,
  settlement);
- :mod:`lab.drill.metrics` — one sample per second from the fleet journal and admin APIs;
- :mod:`lab.drill.dashboard.server` — the dashboard and the participants' API (aiohttp);
- :mod:`lab.drill.console` — the same figures in a terminal (rich);
- :mod:`lab.drill.client` — the CLI's side of the API;
- :mod:`lab.drill.launch`, :mod:`lab.drill.teardown` — start, end, and end without a
  controller;
- :mod:`lab.drill.incident`, :mod:`lab.drill.money`, :mod:`lab.drill.runbooks`,
  :mod:`lab.drill.actions` — the analysis behind the report;
- :mod:`lab.drill.postmortem` (+ ``postmortem_md``, ``postmortem_html``) — the report.

Errors derive from :class:`lab.errors.LabError` (see :mod:`lab.drill.errors`).
"""
