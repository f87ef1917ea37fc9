"""What a merchant does about their terminals when things go wrong, through
the agent: after N consecutive failed transactions on a terminal they file a
ticket; when a device breaks they ask for a replacement; they read the
agent's notifications.

A *failed* transaction is one the system could not complete (no reply,
timeout, a system error code): a business decline (51, 55, …) is the system
working and resets nothing and counts nothing. One ticket per failure streak:
the count starts again after a success.

Blocking (gevent-friendly) like the client it drives. Every method returns
what happened, for the fleet journal (a ``ticket`` record with the
answering instance as ``path``); none raises because the agent is away —
tickets wait in the outbox, a replacement request too.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from poslab.mocks.terminal.agent_client import (
    AgentRejected,
    AgentUnavailable,
    Replacement,
    TicketReceipt,
)

__all__ = ["AgentDesk", "Merchant", "ReplacementOutcome"]


class AgentDesk(Protocol):
    """The part of :class:`~poslab.mocks.terminal.agent_client.AgentClient` a merchant uses."""

    def file_ticket(
        self, mid: str, category: str, summary: str, *, tid: str | None = None, detail: str = ""
    ) -> TicketReceipt: ...

    def request_replacement(self, tid: str, reason: str) -> Replacement: ...

    def notifications(self, mid: str, since: float = 0.0) -> list[dict[str, Any]]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ReplacementOutcome:
    tid: str
    replacement: Replacement | None  # None: queued (no agent answered) or refused
    queued: bool
    error: str | None


class Merchant:
    # slots: one merchant per held terminal in a fleet
    __slots__ = ("_seen_until", "_streaks", "agent", "failure_threshold", "mid", "tickets")

    def __init__(self, mid: str, agent: AgentDesk, *, failure_threshold: int = 3) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be ≥ 1, got {failure_threshold}")
        self.mid = mid
        self.agent = agent
        self.failure_threshold = failure_threshold
        self._streaks: dict[str, list[str]] = {}
        self._seen_until = 0.0
        self.tickets: list[TicketReceipt] = []

    def streak(self, tid: str) -> int:
        return len(self._streaks.get(tid, ()))

    def transaction_result(
        self, tid: str, *, failed: bool, reason: str | None = None
    ) -> TicketReceipt | None:
        """Record one transaction's outcome; the ticket filed when this
        failure makes the streak reach the threshold, else None."""
        if not failed:
            self._streaks.pop(tid, None)
            return None
        streak = self._streaks.setdefault(tid, [])
        streak.append(reason or "failed")
        if len(streak) != self.failure_threshold:
            return None
        receipt = self.agent.file_ticket(
            self.mid,
            "transactions_failing",
            f"terminal {tid}: {len(streak)} transactions in a row failed",
            tid=tid,
            detail="reasons: " + ", ".join(streak),
        )
        self.tickets.append(receipt)
        return receipt

    def device_broken(self, tid: str, reason: str = "device broken") -> ReplacementOutcome:
        """Ask the agent to replace ``tid``. When no agent answers the request
        is queued in the outbox; ask again later for the answer."""
        try:
            replacement = self.agent.request_replacement(tid, reason)
        except AgentUnavailable as exc:
            return ReplacementOutcome(tid, None, queued=True, error=str(exc))
        except AgentRejected as exc:
            return ReplacementOutcome(tid, None, queued=False, error=str(exc))
        self._streaks.pop(tid, None)
        return ReplacementOutcome(tid, replacement, queued=False, error=None)

    def check_notifications(self) -> list[dict[str, Any]]:
        """Notifications published since the last check ([] if the agent is away)."""
        try:
            found = self.agent.notifications(self.mid, since=self._seen_until)
        except AgentUnavailable:
            return []
        if found:
            self._seen_until = max(float(n["published_at"]) for n in found)
        return found
