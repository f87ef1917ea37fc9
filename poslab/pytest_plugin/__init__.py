"""The lab in a team's own pytest suite (a ``pytest11`` entry point: installed, it is on).

    def test_our_terminals_ride_out_an_acquirer_outage(run_scenario):
        assert run_scenario("acquirer-outage").score >= 90

    def test_issuer_link_slow(pos_stack, toxiproxy):
        issuer = toxiproxy.get_proxy("issuer")
        issuer.add_toxic(type="latency", attributes={"latency": 500})
        ...

Fixtures (docs/pytest.md):

- ``pos_world`` (session) — the deterministic world of ``--pos-seed``
  (:class:`PosWorld`: ``.path`` of world.json, ``.world``);
- ``pos_stack`` (module by default; ini ``pos_stack_scope``) — a running stack on
  that world (:class:`PosStack`: ``.addresses``, ``.kill``, ``.restart``,
  ``.health``), embedded processes on 127.0.0.1, or containers with
  ``--pos-containers`` or a ``pos_containers`` marker;
- ``toxiproxy`` — toxiproxy-python's ``Toxiproxy`` pointed at the stack's proxy
  API (the lab's embedded proxy or the real Toxiproxy); reset after each test;
- ``run_scenario`` — ``run_scenario(name_or_path, **options)`` runs one scenario
  as ``lab run`` does (a fresh stack, the fleet, rollback, scoring) and returns
  its :class:`ScenarioScore` (``.score``, ``.passed``, ``.checks``,
  ``.expectations``, ``.reason``, ``.run_dir``).

Options: ``--pos-time-scale``, ``--pos-terminals``, ``--pos-seed``,
``--pos-catalogue``, ``--pos-plugin``, ``--pos-runs-dir``, ``--pos-containers``
(each also an ini value ``pos_…``). Nothing of the lab is imported until a
fixture is used: the plugin costs a suite that does not use it nothing.
"""

from __future__ import annotations

from poslab.pytest_plugin.options import (
    PosSettings,
    pos_settings,
    pytest_addoption,
    pytest_configure,
)
from poslab.pytest_plugin.scenario import ScenarioScore, run_scenario
from poslab.pytest_plugin.stack import PosStack, PosWorld, pos_stack, pos_world, toxiproxy

# pytest finds the hooks and fixtures as attributes of this module (the entry point)
__all__ = [
    "PosSettings",
    "PosStack",
    "PosWorld",
    "ScenarioScore",
    "pos_settings",
    "pos_stack",
    "pos_world",
    "pytest_addoption",
    "pytest_configure",
    "run_scenario",
    "toxiproxy",
]
