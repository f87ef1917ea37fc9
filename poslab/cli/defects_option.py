"""``--defect SERVICE:NAME`` of lab run and verify-catalogue (docs/defects.md).

A defect is planted by the service's own settings: the acquirer's reach it as
``defects`` in its ``--config`` file, which a restart reads again, the terminals'
as ``defects`` in the fleet's terminal config (a defect that
vanished with an ``acquirer-crash-restart`` would prove nothing). The scenario's
resolved settings carry it, so run.json records which defects the run was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from pydantic import JsonValue

from poslab.defects import DEFECTS, Defect, UnknownDefect, parse_ref
from poslab.errors import ConfigError
from poslab.scenario.spec.resolved import ResolvedScenario
from poslab.stack.topology import Mode, ServiceName, Topology

__all__ = ["defect_option", "parse_defects", "with_defects"]


def parse_defects(refs: Sequence[str]) -> tuple[Defect, ...]:
    """``SERVICE:NAME`` references → defects; an unknown one is exit 2 naming those known."""
    try:
        return tuple(dict.fromkeys(parse_ref(ref) for ref in refs))
    except UnknownDefect as exc:
        raise ConfigError(str(exc)) from None


def with_defects(
    scenarios: Sequence[ResolvedScenario], topology: Topology, defects: Sequence[Defect]
) -> list[ResolvedScenario]:
    """Each scenario with ``defects`` planted in the services that carry them."""
    if not defects:
        return list(scenarios)
    for defect in defects:
        if defect.service == "terminal":
            continue  # the fleet is always the lab's own, whatever the topology
        service = topology.service(ServiceName(defect.service))
        if service.mode is not Mode.EMBEDDED:
            raise ConfigError(
                f"defect {defect.ref}: the {defect.service} is {service.mode.value} here — the "
                "lab cannot plant defects in a system it does not own"
            )
    out = []
    for scenario in scenarios:
        update = {
            "acquirer": _planted(scenario.acquirer, defects, "acquirer"),
            "terminal": _planted(scenario.terminal, defects, "terminal"),
        }
        out.append(scenario.model_copy(update=update))
    return out


def _planted(
    settings: dict[str, JsonValue], defects: Sequence[Defect], service: str
) -> dict[str, JsonValue]:
    """A service's settings with ``defects`` of that service added to its ``defects``."""
    names = [d.name for d in defects if d.service == service]
    if not names:
        return settings
    planted = settings.get("defects")
    already = [str(n) for n in planted] if isinstance(planted, list) else []
    merged: list[JsonValue] = [*sorted({*already, *names})]
    return {**settings, "defects": merged}


def defect_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    refs = ", ".join(f"{s}:{n}" for s, table in DEFECTS.items() for n in table)
    return click.option(
        "--defect",
        "defects",
        multiple=True,
        metavar="SERVICE:NAME",
        help=f"Plant a known defect in a service the lab starts (repeatable; docs/defects.md): "
        f"{refs}.",
    )
