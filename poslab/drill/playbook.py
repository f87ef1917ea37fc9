"""Which failure mode a hidden fault is, and which mitigations answer it.

One row per row of failure-modes.md (row 2 has two scenarios). For each: the
catalogue scenarios that reproduce it, its runbook in :mod:`poslab.drill.runbooks`,
the mitigations that are *right* (they end the incident for the merchants),
the ones that are *acceptable* (they help or are heavy-handed but not harmful),
the signals on which its symptom and its recovery are measured, and whether
the system heals by itself (a resilient fleet signs on again after a key
expiry; a district comes back after a power cut) — then the right action is
to watch, not to act.

Everything not right or acceptable for the injected fault is *wrong*: the
post-incident report says so, and whether recovery followed anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from poslab.errors import ConfigError


class Signal(StrEnum):
    """What is watched to see a symptom and a recovery (see poslab.drill.incident)."""

    PAYMENTS = "payments"  # success ratio / p99 against the SLO, throughput per region
    SETTLEMENT = "settlement"  # settlement backlog above its baseline
    AGENT = "agent"  # the agent merchants are sent to does not answer
    SIGN_ON = "sign_on"  # sign-on rate far above its baseline (a storm)


@dataclass(frozen=True, slots=True)
class FailureMode:
    row: int
    scenarios: tuple[str, ...]
    title: str
    runbook: str  # file name in poslab/drill/runbooks/
    right: frozenset[str]
    acceptable: frozenset[str]
    signals: tuple[Signal, ...]
    self_heals: bool = False

    def judge(self, action: str) -> str:
        """``right``, ``acceptable`` or ``wrong`` for a mitigation against this mode."""
        if action in self.right:
            return "right"
        if action in self.acceptable:
            return "acceptable"
        return "wrong"


_P = (Signal.PAYMENTS,)

FAILURE_MODES: tuple[FailureMode, ...] = (
    FailureMode(
        1,
        ("acquirer-outage",),
        "业务联系不上: terminals cannot reach the host",
        "01-host-unreachable.md",
        frozenset({"use_backup_path"}),
        frozenset(),
        _P,
    ),
    FailureMode(
        2,
        ("merchant-network-flaky", "bandwidth-bottleneck"),
        "intermittent failures and slow receipts in one region",
        "02-merchant-network.md",
        frozenset({"use_backup_path"}),
        frozenset({"throttle"}),
        _P,
    ),
    FailureMode(
        3,
        ("response-timeout-reversal",),
        "sale shown as failed but the customer was debited",
        "03-lost-responses.md",
        frozenset({"use_backup_path"}),
        frozenset(),
        _P,
    ),
    FailureMode(
        4,
        ("working-key-expiry",),
        "签到过期 / MAC校验错: working keys expired on the host",
        "04-working-keys.md",
        frozenset({"force_sign_on"}),
        frozenset({"throttle"}),
        (Signal.PAYMENTS, Signal.SIGN_ON),
        self_heals=True,
    ),
    FailureMode(
        5,
        ("settlement-backlog",),
        "很久不结算: settlement stalled, money does not arrive",
        "05-settlement-backlog.md",
        frozenset({"resume_settlement"}),
        frozenset({"restart_acquirer"}),
        (Signal.PAYMENTS, Signal.SETTLEMENT),
    ),
    FailureMode(
        6,
        ("agent-unreachable",),
        "代理商联系不上: the agent's systems do not answer",
        "06-agent-unreachable.md",
        frozenset({"use_backup_agent"}),
        frozenset(),
        (Signal.PAYMENTS, Signal.AGENT),
    ),
    FailureMode(
        7,
        ("device-replacement",),
        "terminals broken, replaced and re-registered (重新办理)",
        "07-device-replacement.md",
        frozenset(),
        frozenset({"use_backup_agent"}),
        _P,
        self_heals=True,
    ),
    FailureMode(
        8,
        ("peak-hour",),
        "everything is slow at lunch and dinner",
        "08-peak-hour.md",
        frozenset({"throttle"}),
        frozenset(),
        _P,
    ),
    FailureMode(
        9,
        ("power-outage-region",),
        "a whole district goes dark, then comes back at once",
        "09-power-outage.md",
        frozenset(),
        frozenset({"throttle"}),
        (Signal.PAYMENTS, Signal.SIGN_ON),
        self_heals=True,
    ),
    FailureMode(
        10,
        ("issuer-slow",),
        "交易超时: the issuer or upstream switch is slow or down",
        "10-issuer-slow.md",
        frozenset({"escalate_upstream"}),
        frozenset({"throttle"}),
        _P,
    ),
    FailureMode(
        11,
        ("acquirer-crash-restart",),
        "the host crashed in the middle of the day",
        "11-host-crash.md",
        frozenset({"restart_acquirer"}),
        frozenset(),
        _P,
    ),
    FailureMode(
        12,
        ("outdated-software",),
        "系统更新不及时: outdated terminal software cannot talk to the host",
        "12-outdated-software.md",
        frozenset({"push_software", "rollback_software"}),
        frozenset(),
        _P,
    ),
    FailureMode(
        13,
        ("day-end-cutover",),
        "节假日 / day-end cut-over refuses transactions",
        "13-day-end-cutover.md",
        frozenset({"end_cutover"}),
        frozenset({"restart_acquirer"}),
        _P,
    ),
)

_BY_SCENARIO = {name: mode for mode in FAILURE_MODES for name in mode.scenarios}

#: Scenarios a drill can hide: every one that injects a fault (peak-hour has none).
DRILLABLE = tuple(sorted(n for n in _BY_SCENARIO if n != "peak-hour"))


def mode_of(scenario: str) -> FailureMode:
    """The failure mode a catalogue scenario reproduces."""
    try:
        return _BY_SCENARIO[scenario]
    except KeyError:
        raise ConfigError(
            f"scenario {scenario!r} is not in the drill playbook "
            f"(drillable: {', '.join(DRILLABLE)})"
        ) from None


def judge(action: str, modes: tuple[FailureMode, ...]) -> str:
    """The best verdict of a mitigation over every injected failure mode."""
    verdicts = {m.judge(action) for m in modes}
    for best in ("right", "acceptable"):
        if best in verdicts:
            return best
    return "wrong"


def right_actions(modes: tuple[FailureMode, ...]) -> frozenset[str]:
    return frozenset().union(*(m.right for m in modes))
