"""Hand-made drill records: per-second samples as poslab.drill.metrics publishes them."""

from __future__ import annotations

from typing import Any

from poslab.drill.session import FacilitatorFile

T0 = 1_790_000_000.0
REGIONS = ("north", "south", "east")


def sample(
    second: int,
    *,
    ratio: float | None = 1.0,
    tps: int = 6,
    p99: float = 40.0,
    regions: dict[str, dict[str, Any]] | None = None,
    host: dict[str, Any] | None = None,
    agents: dict[str, Any] | None = None,
    sign_ons: int = 0,
    agent_failed: int = 0,
    phase: str = "drill",
) -> dict[str, Any]:
    """One second: ``tps`` transactions split over the regions, ``ratio`` of them approved."""
    approved = 0 if ratio is None else round(tps * ratio)
    per = {
        r: {
            "tps": tps // 3,
            "approved": approved // 3,
            "declined": 0,
            "success_ratio": ratio,
            "p99_ms": p99,
            "backup_share": 0.0,
            "rc": {"00": approved // 3},
        }
        for r in REGIONS
    }
    per.update(regions or {})
    return {
        "seq": second + 1,
        "second": second,
        "t": T0 + second,
        "regions": per,
        "all": {
            "tps": tps,
            "approved": approved,
            "declined": 0,
            "failed": tps - approved,
            "success_ratio": ratio,
            "p99_ms": p99,
            "backup_share": 0.0,
            "rc": {},
        },
        "sign_ons": sign_ons,
        "sign_ons_failed": 0,
        "agent_calls": {"ok": 0, "failed": agent_failed, "backup": 0},
        "reversal_backlog": 0,
        "unresolved": 0,
        "host": host
        if host is not None
        else {"up": True, "settlement_backlog": 0, "settlement_stalled": False},
        "issuer": {"up": True},
        "agents": agents
        if agents is not None
        else {"primary": {"ok": True, "ms": 2.0}, "backup": {"ok": True, "ms": 2.0}},
        "phase": phase,
    }


def injected(at: float, fault_id: str = "f1") -> dict[str, Any]:
    return {
        "t": T0 + at,
        "event": "fault_injected",
        "fault_id": fault_id,
        "kind": "process",
        "target": "acquirer",
        "action": "kill",
    }


def mitigation(at: float, action: str, ok: bool = True) -> dict[str, Any]:
    return {
        "t": T0 + at,
        "event": "mitigation",
        "action": action,
        "params": {},
        "ok": ok,
        "result": "done" if ok else "acquirer not answering",
        "seconds": 0.5,
    }


def facilitator(**given: Any) -> FacilitatorFile:
    """A facilitator file: a host crash hidden at T+10 s of a two-minute drill."""
    fields: dict[str, Any] = {
        "seed": 4,
        "scenario": "acquirer-crash-restart",
        "delay_window_s": (10, 10),
        "max_s": 120,
        "drain_s": 2,
        "terminals": 12,
        "think_time_s": 1,
        "policy": "resilient",
        "regions": list(REGIONS),
    }
    fields.update(given)
    return FacilitatorFile(**fields)
