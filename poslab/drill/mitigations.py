"""The mitigations participants can run, each really acting on the stack.

=====================  =================================================================
``use_backup_path``    terminals (of ``regions``, default all) pinned to the backup host
                       path — the fleet control channel's ``use_backup_path``
``restart_acquirer``   the acquirer process restarted on its ports and database
``resume_settlement``  the settlement worker released (``stall_settlement`` and
                       ``force_mismatch`` cleared on the acquirer) and one tick run
``force_sign_on``      every terminal (of ``regions``) signs on again
``use_backup_agent``   merchants sent to the backup agent backend
``push_software``      terminals (of ``regions``) given ``version`` (default the
                       world's latest) — a remote TMS push
``rollback_software``  the host stops requiring a minimum software version
``throttle``           the fleet's transaction rate cut to ``factor`` (default 0.5)
``escalate_upstream``  the issuer/switch team is called: what is wrong on their side
                       (the issuer link, the issuer's own faults) gets fixed
``end_cutover``        the host's operators finish a stuck day-end cut-over
=====================  =================================================================

Fleet mitigations last until the drill ends. What a participant is told is
what an operator would see (``acquirer restarted, ready in 1.9 s``) — never
which hidden fault the action happened to end; that goes to the facilitator's
journal as ``fault_cleared`` with reason ``mitigation``.

Each mitigation also says which faults it *neutralises* (:meth:`Mitigation.neutralises`):
the ones it ends (a restart ends a kill, resuming settlement ends a stall) and the
ones it takes the merchants' traffic away from while they stay in place —
pinning east to the backup host path leaves a latency toxic on ``region-east``
but no sale goes through it any more. The post-incident report judges an action
by that (:mod:`poslab.drill.incident`), not only by the catalogue's list.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from poslab.drill.errors import MitigationFailed
from poslab.errors import ConfigError
from poslab.scenario import ApplicationFault, Fault, NetworkFault, ProcessFault

ParamParser = Callable[[object, "DrillStack"], object]


@dataclass(frozen=True, slots=True)
class FaultRef:
    """A fault as the facilitator's journal records it (``fault_injected``)."""

    id: str
    kind: str  # network | application | process | fleet
    target: str  # a proxy, a service or ``fleet``
    action: str  # ``down``, ``toxic:<type>``, an admin fault, kill/restart, a fleet action

    @classmethod
    def of(cls, fault: Fault) -> FaultRef:
        if isinstance(fault, NetworkFault):
            action = "down" if fault.toxic is None else f"toxic:{fault.toxic.type}"
        else:
            action = fault.action
        return cls(fault.id, fault.kind, fault.target, action)


#: What a mitigation neutralises, given its parsed params (``regions`` a list, or
#: absent for every region).
Reach = Callable[[FaultRef, Mapping[str, Any]], bool]
_NOTHING: Reach = lambda fault, params: False  # noqa: E731 - a constant predicate


class DrillStack(Protocol):
    """What a mitigation acts on (the drill controller's runtime fits)."""

    @property
    def regions(self) -> tuple[str, ...]: ...

    @property
    def latest_software(self) -> str: ...

    async def restart_service(self, service: str) -> None: ...

    def fleet_command(self, action: str, params: Mapping[str, Any]) -> int: ...

    async def admin(
        self, method: str, service: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, str]: ...

    async def end_faults(self, match: Callable[[Fault], bool], reason: str) -> list[str]: ...


def _regions(value: object, stack: DrillStack) -> list[str]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ConfigError("regions: a comma-separated list of regions")
    out = [str(n).strip() for n in names if str(n).strip()]
    unknown = sorted(set(out) - set(stack.regions))
    if unknown or not out:
        raise ConfigError(
            f"regions: unknown {', '.join(unknown) or '(none given)'} "
            f"(the world has {', '.join(stack.regions)})"
        )
    return out


def _factor(value: object, stack: DrillStack) -> float:
    try:
        factor = float(str(value))
    except ValueError:
        raise ConfigError(f"factor: a number in (0, 1], got {value!r}") from None
    if not 0 < factor <= 1:
        raise ConfigError(f"factor: a number in (0, 1], got {value!r}")
    return factor


def _version(value: object, stack: DrillStack) -> str:
    text = str(value)
    if not (len(text) == 6 and text.isdigit()):
        raise ConfigError(f"version: 6 digits (MMmmpp), got {value!r}")
    return text


@dataclass(frozen=True)
class Mitigation:
    name: str
    summary: str
    run: Callable[[DrillStack, dict[str, Any]], Awaitable[str]]
    params: Mapping[str, tuple[ParamParser, str]] = field(default_factory=dict)
    reach: Reach = _NOTHING

    def neutralises(self, fault: FaultRef, params: Mapping[str, Any] | None = None) -> bool:
        """Whether running this (with ``params``, parsed) ends ``fault`` or takes the
        merchants' traffic off what it impairs."""
        return self.reach(fault, params or {})

    def parse(self, raw: Mapping[str, object], stack: DrillStack) -> dict[str, Any]:
        unknown = sorted(set(raw) - set(self.params))
        if unknown:
            known = ", ".join(self.params) or "none"
            raise ConfigError(
                f"mitigation {self.name}: unknown param(s) {', '.join(unknown)} (takes: {known})"
            )
        return {k: self.params[k][0](v, stack) for k, v in raw.items()}


def _scope(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"regions": params["regions"]} if "regions" in params else {}


def _where(params: Mapping[str, Any]) -> str:
    return (
        f"terminals of {', '.join(params['regions'])}" if "regions" in params else "every terminal"
    )


def _app(service: str, *names: str) -> Callable[[Fault], bool]:
    return lambda f: isinstance(f, ApplicationFault) and f.target == service and f.action in names


async def _switch_off(stack: DrillStack, service: str, *names: str) -> None:
    """End the hidden faults of those names, then DELETE each on the service anyway
    (idempotent on the mocks): the action is the same whether or not it was the cause."""
    await stack.end_faults(_app(service, *names), "mitigation")
    problems = []
    for name in names:
        status, text = await stack.admin("DELETE", service, f"/admin/faults/{name}")
        if status == 0:
            raise MitigationFailed(text)  # not answering: the other switches would fail too
        if status != 200:
            problems.append(f"{service} {name}: HTTP {status} {text[:80]}")
    if problems:
        raise MitigationFailed("; ".join(problems))


async def use_backup_path(stack: DrillStack, params: dict[str, Any]) -> str:
    seq = stack.fleet_command("use_backup_path", _scope(params))
    return f"{_where(params)} pinned to the backup host path (fleet command #{seq})"


async def restart_acquirer(stack: DrillStack, params: dict[str, Any]) -> str:
    began = time.monotonic()
    killed = await stack.end_faults(
        lambda f: isinstance(f, ProcessFault) and f.target == "acquirer", "mitigation"
    )
    if not killed:  # ending a kill fault starts the acquirer; otherwise restart it here
        await stack.restart_service("acquirer")
    # A restarted acquirer has forgotten its in-memory switches (stalls, cuts …).
    await stack.end_faults(
        lambda f: isinstance(f, ApplicationFault) and f.target == "acquirer", "mitigation"
    )
    return f"acquirer restarted on its ports and ledger, ready in {time.monotonic() - began:.1f} s"


async def resume_settlement(stack: DrillStack, params: dict[str, Any]) -> str:
    names = ("stall_settlement", "force_mismatch")
    await _switch_off(stack, "acquirer", *names)
    status, _ = await stack.admin("POST", "acquirer", "/admin/settlement/run", {})
    tick = "one settlement tick run" if status == 200 else f"settlement tick: HTTP {status}"
    return f"settlement worker released (stall and forced mismatches cleared); {tick}"


async def force_sign_on(stack: DrillStack, params: dict[str, Any]) -> str:
    seq = stack.fleet_command("force_sign_on", _scope(params))
    return f"{_where(params)} told to sign on again (fleet command #{seq})"


async def use_backup_agent(stack: DrillStack, params: dict[str, Any]) -> str:
    seq = stack.fleet_command("use_backup_agent", {})
    return f"merchants sent to the backup agent backend (fleet command #{seq})"


async def push_software(stack: DrillStack, params: dict[str, Any]) -> str:
    version = params.get("version") or stack.latest_software
    seq = stack.fleet_command("set_software", {"version": version, **_scope(params)})
    return f"software {version} pushed to {_where(params)} (fleet command #{seq})"


async def rollback_software(stack: DrillStack, params: dict[str, Any]) -> str:
    await _switch_off(stack, "acquirer", "min_software")
    return "the host no longer requires a minimum terminal software version"


async def throttle(stack: DrillStack, params: dict[str, Any]) -> str:
    factor = params.get("factor", 0.5)
    seq = stack.fleet_command("throttle", {"factor": factor})
    return f"fleet transaction rate cut to {factor:.0%} of normal (fleet command #{seq})"


def _upstream(fault: Fault) -> bool:
    if isinstance(fault, NetworkFault):
        return fault.target == "issuer"
    return isinstance(fault, ApplicationFault) and fault.target == "issuer"


async def escalate_upstream(stack: DrillStack, params: dict[str, Any]) -> str:
    fixed = await stack.end_faults(_upstream, "mitigation")
    status, text = await stack.admin("POST", "issuer", "/admin/reset", {})
    if status != 200:
        raise MitigationFailed(text if status == 0 else f"issuer reset: HTTP {status} {text[:80]}")
    if fixed:
        return "the upstream team found a problem on their side and fixed it"
    return "the upstream team finds nothing wrong on their side"


async def end_cutover(stack: DrillStack, params: dict[str, Any]) -> str:
    await _switch_off(stack, "acquirer", "day_end_cut")
    return "the host's day-end cut-over is closed: financial requests are accepted"


_REGIONS = {"regions": (_regions, "comma-separated regions (default: all)")}
_REGION_PROXY = "region-"


def _in_scope(region: str, params: Mapping[str, Any]) -> bool:
    wanted = params.get("regions")
    return not wanted or region in wanted


def _off_primary(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    """Pinned to the backup host path, a region's terminals no longer use its primary
    proxy: whatever is on that proxy (down, latency, timeouts …) no longer hurts them."""
    if fault.kind != "network" or not fault.target.startswith(_REGION_PROXY):
        return False
    return _in_scope(fault.target.removeprefix(_REGION_PROXY), params)


def _app_reach(service: str, *names: str) -> Reach:
    return lambda f, _: f.kind == "application" and f.target == service and f.action in names


def _restart_reach(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    # What a restart is for: a killed acquirer started again. That a restarted one
    # also forgets its switches (stalls, cut-overs …) is a side effect the journal
    # records as the faults it cleared, not what the action answers.
    return fault.target == "acquirer" and fault.kind == "process"


def _keys_reach(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    # Fresh working keys for every terminal (of the scope): an expiry or rotation
    # on the host no longer refuses them.
    return (
        fault.kind == "application"
        and fault.target == "acquirer"
        and "key" in fault.action
        and not params.get("regions")
    )


def _agent_reach(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    return fault.kind == "network" and fault.target == "agent"


def _software_reach(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    # Terminals on the latest version satisfy any minimum the host asks for, and
    # undo an old version the fleet was set to.
    if params.get("regions"):
        return False
    if fault.kind == "fleet":
        return fault.action == "set_software"
    return (
        fault.kind == "application"
        and fault.target == "acquirer"
        and fault.action == "min_software"
    )


def _upstream_reach(fault: FaultRef, params: Mapping[str, Any]) -> bool:
    return fault.target == "issuer" and fault.kind in ("network", "application")


CATALOGUE: Mapping[str, Mitigation] = {
    m.name: m
    for m in (
        Mitigation(
            "use_backup_path",
            "pin terminals to the backup host path",
            use_backup_path,
            _REGIONS,
            _off_primary,
        ),
        Mitigation(
            "restart_acquirer",
            "restart the acquirer (same ports, same ledger)",
            restart_acquirer,
            reach=_restart_reach,
        ),
        Mitigation(
            "resume_settlement",
            "release the settlement worker and run one tick",
            resume_settlement,
            reach=_app_reach("acquirer", "stall_settlement", "force_mismatch"),
        ),
        Mitigation(
            "force_sign_on",
            "make terminals sign on again (fresh working keys)",
            force_sign_on,
            _REGIONS,
            _keys_reach,
        ),
        Mitigation(
            "use_backup_agent",
            "send merchants to the backup agent",
            use_backup_agent,
            reach=_agent_reach,
        ),
        Mitigation(
            "push_software",
            "push a software version to terminals (remote TMS)",
            push_software,
            {**_REGIONS, "version": (_version, "6 digits (default: the latest)")},
            _software_reach,
        ),
        Mitigation(
            "rollback_software",
            "stop requiring a minimum software version on the host",
            rollback_software,
            reach=_app_reach("acquirer", "min_software"),
        ),
        Mitigation(
            "throttle",
            "cut the fleet's transaction rate",
            throttle,
            {"factor": (_factor, "share of the normal rate, (0, 1] (default 0.5)")},
        ),
        Mitigation(
            "escalate_upstream",
            "call the issuer/switch team to fix their side",
            escalate_upstream,
            reach=_upstream_reach,
        ),
        Mitigation(
            "end_cutover",
            "have the host's operators finish the day-end cut-over",
            end_cutover,
            reach=_app_reach("acquirer", "day_end_cut"),
        ),
    )
}


def lookup(name: str) -> Mitigation:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ConfigError(f"unknown mitigation {name!r} (known: {', '.join(CATALOGUE)})") from None


def neutralisers(fault: FaultRef) -> list[tuple[str, dict[str, Any]]]:
    """The mitigations that neutralise ``fault``, each with the narrowest params that
    do (``use_backup_path`` with ``regions=east`` for a fault on ``region-east``)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for m in CATALOGUE.values():
        if not m.neutralises(fault):
            continue
        params: dict[str, Any] = {}
        if "regions" in m.params and fault.target.startswith(_REGION_PROXY):
            narrow = {"regions": [fault.target.removeprefix(_REGION_PROXY)]}
            if m.neutralises(fault, narrow):
                params = narrow
        out.append((m.name, params))
    return out


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings (the CLI's ``--param``) as a mapping; a bad one is a ConfigError."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {pair!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out
