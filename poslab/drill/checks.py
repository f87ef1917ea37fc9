"""Diagnosis checks: the field's questions, answered from the lab (``lab drill check``).

Field engineers diagnosing a POS incident ask the same questions in the same
order: is it the network, the device, the software version, the host (and the
terminals' connection settings to it), the agent — and, when money is late,
settlement. Each check answers one of them with what the lab can show,
in an operator's words (a stalled settlement worker, a day-end cut-over in
progress, a proxy that does not forward), and is journaled so the
post-incident report can map it to the runbook step it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from poslab.proxy.client import ProxyInfo
from poslab.stack import StackAddresses

AREAS = ("network", "device", "software", "host", "agent", "settlement")
#: Seconds of recent samples a check summarises.
RECENT_S = 10
ACTIVE_WINDOW_S = 30.0
OK, WARN, BAD = "ok", "warn", "bad"

# What the host's operator console says for each switch the acquirer can have on.
_HOST_WORDS = {
    "day_end_cut": "day-end cut-over in progress: financial requests refused (90)",
    "stall_settlement": "settlement worker stalled: batches queue, nothing paid out",
    "force_mismatch": "settlement totals reconciling as not balanced",
    "min_software": "terminals below the minimum software version asked for a TMS download",
    "issuer_timeout": "issuer deadline changed",
    "expire_keys": "working keys revoked",
    "rotate_keys": "working keys rotated host-side",
}


class CheckSources(Protocol):
    """What checks read (the drill controller's runtime fits)."""

    @property
    def addresses(self) -> StackAddresses: ...

    @property
    def terminals(self) -> int: ...

    def recent_samples(self, seconds: int) -> list[dict[str, Any]]: ...

    def active_terminals(self, within_s: float) -> int: ...

    def fleet_commands(self) -> list[dict[str, Any]]: ...

    def software_versions(self) -> Counter[str]: ...

    async def proxies(self) -> dict[str, ProxyInfo]: ...

    async def admin_json(self, service: str, path: str) -> tuple[int, Any]: ...


@dataclass
class CheckReport:
    area: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # what, value, verdict

    def add(self, what: str, value: str, verdict: str = OK) -> None:
        self.rows.append((what, value, verdict))

    @property
    def verdict(self) -> str:
        verdicts = {v for _, _, v in self.rows}
        return BAD if BAD in verdicts else WARN if WARN in verdicts else OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "verdict": self.verdict,
            "rows": [list(r) for r in self.rows],
        }


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _sum_region(samples: Sequence[Mapping[str, Any]], region: str) -> dict[str, Any]:
    attempts = approved = declined = 0
    p99s: list[float] = []
    codes: Counter[str] = Counter()
    for s in samples:
        r = s["all"] if region == "all" else s["regions"].get(region, {})
        attempts += r.get("tps", 0)
        approved += r.get("approved", 0)
        declined += r.get("declined", 0)
        if r.get("p99_ms") is not None:
            p99s.append(r["p99_ms"])
        codes.update(r.get("rc", {}))
    judged = attempts - declined
    return {
        "attempts": attempts,
        "ratio": approved / judged if judged > 0 else None,
        "p99": max(p99s) if p99s else None,
        "codes": codes,
    }


def _verdict_ratio(ratio: float | None) -> str:
    return WARN if ratio is None else OK if ratio >= 0.95 else WARN if ratio >= 0.8 else BAD


async def check_network(src: CheckSources) -> CheckReport:
    report = CheckReport("network")
    proxies = await src.proxies()
    for name, info in sorted(proxies.items()):
        if not info.enabled:
            report.add(f"link {name}", "not forwarding (down)", BAD)
        elif info.toxics:
            impaired = "; ".join(
                f"{t.type} {t.stream} "
                + " ".join(f"{k}={v}" for k, v in t.attributes.items())
                + ("" if t.toxicity >= 1 else f" on {t.toxicity:.0%} of connections")
                for t in info.toxics
            )
            report.add(f"link {name}", f"impaired: {impaired}", BAD)
        else:
            report.add(f"link {name}", "forwarding, no impairment")
    recent = src.recent_samples(RECENT_S)
    for region in src.addresses.regions:
        figures = _sum_region(recent, region)
        failures = ", ".join(
            f"{code}×{n}" for code, n in figures["codes"].most_common(4) if code != "00"
        )
        value = (
            f"{figures['attempts']} txns in {len(recent)} s, success {_ratio(figures['ratio'])}, "
            f"p99 {figures['p99'] or 0:.0f} ms"
            + (f"; not approved: {failures}" if failures else "")
        )
        report.add(f"region {region}", value, _verdict_ratio(figures["ratio"]))
    return report


async def check_device(src: CheckSources) -> CheckReport:
    report = CheckReport("device")
    active = src.active_terminals(ACTIVE_WINDOW_S)
    share = active / src.terminals if src.terminals else 0.0
    report.add(
        "terminals transacting",
        f"{active} of {src.terminals} in the last {ACTIVE_WINDOW_S:.0f} s",
        OK if share >= 0.9 else WARN if share >= 0.6 else BAD,
    )
    recent = src.recent_samples(RECENT_S)
    sign_ons = sum(s.get("sign_ons", 0) for s in recent)
    failed = sum(s.get("sign_ons_failed", 0) for s in recent)
    report.add(
        "sign-ons", f"{sign_ons} in {len(recent)} s ({failed} failed)", BAD if failed else OK
    )
    latest = recent[-1] if recent else {}
    backlog = int(latest.get("reversal_backlog", 0))
    report.add("reversals pending on terminals", str(backlog), OK if backlog < 5 else WARN)
    unresolved = int(latest.get("unresolved", 0))
    report.add("reversals given up (冲正不成功)", str(unresolved), BAD if unresolved else OK)
    return report


async def check_software(src: CheckSources) -> CheckReport:
    report = CheckReport("software")
    versions = src.software_versions()
    report.add(
        "fleet software versions",
        ", ".join(f"{v}: {n}" for v, n in sorted(versions.items(), reverse=True)) or "unknown",
        OK if len(versions) <= 1 else WARN,
    )
    status, faults = await src.admin_json("acquirer", "/admin/faults")
    active = faults.get("active", {}) if status == 200 and isinstance(faults, dict) else {}
    minimum = active.get("min_software", {}).get("version")
    if minimum:
        behind = sum(n for v, n in versions.items() if v < minimum)
        report.add(
            "host minimum software",
            f"{minimum}: {behind} terminals below it",
            BAD if behind else WARN,
        )
    else:
        report.add("host minimum software", "none required beyond the world's default")
    recent = src.recent_samples(60)
    ok = sum(s["agent_calls"]["ok"] for s in recent)
    failed = sum(s["agent_calls"]["failed"] for s in recent)
    report.add(
        "TMS and agent calls (60 s)", f"{ok} answered, {failed} failed", BAD if failed else OK
    )
    return report


async def check_host(src: CheckSources) -> CheckReport:
    report = CheckReport("host")
    status, state = await src.admin_json("acquirer", "/admin/state")
    if status != 200 or not isinstance(state, dict):
        report.add("acquirer", f"not answering ({status or 'no connection'})", BAD)
    else:
        report.add("acquirer", f"answering; {state.get('connections', 0)} terminal connections")
        links = int(state.get("issuer_links") or 0)
        report.add("issuer links", str(links), OK if links else BAD)
        advices = int(state.get("advices_pending") or 0)
        report.add("reversals owed to the issuer", str(advices), OK if advices < 20 else WARN)
        status, faults = await src.admin_json("acquirer", "/admin/faults")
        active = faults.get("active", {}) if status == 200 and isinstance(faults, dict) else {}
        for name in sorted(active):
            report.add("host console", _HOST_WORDS.get(name, name), BAD)
    status, _ = await src.admin_json("issuer", "/health")
    report.add(
        "issuer", "answering" if status == 200 else "not answering", OK if status == 200 else BAD
    )
    for region, paths in src.addresses.regions.items():
        report.add(
            f"host address of {region}", f"primary {paths.primary}, backup {paths.backup or '–'}"
        )
    return report


async def check_agent(src: CheckSources) -> CheckReport:
    report = CheckReport("agent")
    latest = src.recent_samples(1)
    agents = latest[-1].get("agents", {}) if latest else {}
    for key in ("primary", "backup"):
        probe = agents.get(key)
        if probe is None:
            report.add(f"{key} agent (as merchants reach it)", "not probed yet", WARN)
        else:
            report.add(
                f"{key} agent (as merchants reach it)",
                f"answering in {probe['ms']:.0f} ms"
                if probe["ok"]
                else f"no answer: {probe['detail']}",
                OK if probe["ok"] else BAD,
            )
    pinned = any(c.get("action") == "use_backup_agent" for c in src.fleet_commands())
    report.add(
        "merchants sent to", "the backup agent" if pinned else "the primary agent (failover on)"
    )
    recent = src.recent_samples(60)
    ok = sum(s["agent_calls"]["ok"] for s in recent)
    failed = sum(s["agent_calls"]["failed"] for s in recent)
    backup = sum(s["agent_calls"]["backup"] for s in recent)
    report.add(
        "TMS and tickets (60 s)",
        f"{ok} answered ({backup} by the backup), {failed} failed",
        BAD if failed else OK,
    )
    return report


async def check_settlement(src: CheckSources) -> CheckReport:
    report = CheckReport("settlement")
    status, state = await src.admin_json("acquirer", "/admin/state")
    if status != 200 or not isinstance(state, dict):
        report.add("acquirer", "not answering: settlement state unknown", BAD)
        return report
    backlog = int(state.get("settlement_backlog") or 0)
    stalled = bool(state.get("settlement_stalled"))
    report.add("settlement worker", "stalled" if stalled else "running", BAD if stalled else OK)
    report.add("batches waiting to be closed", str(backlog), OK if backlog < 5 else WARN)
    report.add("open batches", str(state.get("open_batches", 0)))
    payouts = state.get("payouts") or {}
    report.add("payouts made", f"{payouts.get('count', 0)}")
    return report


CHECKS = {
    "network": check_network,
    "device": check_device,
    "software": check_software,
    "host": check_host,
    "agent": check_agent,
    "settlement": check_settlement,
}


async def run_check(area: str, src: CheckSources) -> CheckReport:
    from poslab.errors import ConfigError

    check = CHECKS.get(area)
    if check is None:
        raise ConfigError(f"unknown check {area!r} (areas: {', '.join(AREAS)})")
    return await check(src)
