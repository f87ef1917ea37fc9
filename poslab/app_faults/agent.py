"""The agent backends' application faults (docs/faults.md, ``agent-*`` rows)."""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from poslab.app_faults.base import AppFault, Millis, ServiceFamily, Share
from poslab.app_faults.registry import register

__all__ = ["SUBSYSTEMS", "AgentErrors", "AgentSlow", "Subsystem", "SubsystemDown"]

Subsystem = Literal["tms", "tickets", "onboarding", "terminals"]
SUBSYSTEMS: tuple[str, ...] = get_args(Subsystem)


class _AgentFault(AppFault):
    family: ClassVar[ServiceFamily] = ServiceFamily.AGENT


@register
class AgentSlow(_AgentFault):
    name = "slow"
    summary = "every request delayed"

    delay_ms: Millis


@register
class AgentErrors(_AgentFault):
    name = "errors"
    summary = "that share answered 503"

    share: Share


@register
class SubsystemDown(_AgentFault):
    name = "subsystem_down"
    summary = "that subsystem answers 503"

    subsystem: Subsystem
