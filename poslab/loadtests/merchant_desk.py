"""The merchant behind a till and the agent backend it calls.

Per Locust user: the agent clients its terminal uses for TMS (primary →
backup failover when resilient; the backup first while the drill mitigation
``use_backup_agent`` is on) and the merchant's behaviour from
``poslab/mocks/terminal/merchant.py`` — a ticket after a streak of failed
transactions, a replacement request when the device is broken for good.
Tickets are journaled as ``ticket`` records (docs/run-directory.md); one the
agents could not take waits in the process's outbox and is journaled again
when the outbox delivers it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from poslab.mocks.terminal import Outcome, Terminal, TerminalProfile, TxnRecord, TxnType
from poslab.mocks.terminal.agent_client import AgentClient, Replacement, TicketReceipt
from poslab.mocks.terminal.merchant import Merchant

__all__ = ["MerchantDesk", "Outboxes", "replacement_profile"]

_TILL_TYPES = frozenset({TxnType.SALE, TxnType.VOID, TxnType.REFUND, TxnType.BALANCE})


class Outboxes:
    """The per-process outbox file, and who each queued ticket came from."""

    def __init__(self, path: Path, seed: int) -> None:
        self.path = path
        self.seed = seed
        self.origin: dict[str, tuple[str, str, str]] = {}  # key → (tid, mid, region)

    def client(self, primary: str, backup: str | None, *, failover: bool, timeout_s: float,
               rng: random.Random) -> AgentClient:  # fmt: skip
        return AgentClient(
            primary,
            backup,
            timeout_s=timeout_s,
            failover=failover,
            outbox_path=str(self.path),
            rng=rng,
        )


class MerchantDesk:
    def __init__(
        self,
        profile: TerminalProfile,
        *,
        agents: dict[str, str],
        outboxes: Outboxes,
        failover: bool,
        timeout_s: float,
        backup_first: Callable[[], bool],
        emit: Callable[[TxnRecord], None],
        policy: str,
    ) -> None:
        self.profile = profile
        self.outboxes = outboxes
        self.emit = emit
        self.policy = policy
        self._backup_first = backup_first
        rng = random.Random(f"{outboxes.seed}/agent/{profile.tid}")
        primary, backup = agents["primary"], agents.get("backup")
        self.normal = outboxes.client(
            primary, backup, failover=failover, timeout_s=timeout_s, rng=rng
        )
        self.swapped = (
            outboxes.client(backup, primary, failover=failover, timeout_s=timeout_s, rng=rng)
            if backup
            else self.normal
        )
        self.merchant = Merchant(profile.mid, self.normal)

    def client(self) -> AgentClient:
        return self.swapped if self._backup_first() else self.normal

    def refresh(self, terminal: Terminal) -> None:
        """Point the terminal and the merchant at the agent to use now."""
        client = self.client()
        terminal.agent = client
        self.merchant.agent = client

    def observe(self, terminal: Terminal, record: TxnRecord) -> None:
        """A till transaction ended: the merchant counts failures and files a
        ticket when a streak reaches the threshold."""
        if record.type not in _TILL_TYPES:
            return
        receipt = self.merchant.transaction_result(
            record.tid, failed=record.outcome is Outcome.FAILED, reason=record.reason
        )
        if receipt is not None:
            self._journal_ticket(receipt, terminal.tid, terminal.batch)

    def replace(self, terminal: Terminal) -> Replacement | None:
        """The device is dead for good: ask the agent for a new one. None
        while the agent has not provisioned it (ask again later)."""
        outcome = self.merchant.device_broken(terminal.tid)
        replacement = outcome.replacement
        record = self._record(terminal.tid, terminal.batch)
        record.attempts = 1
        if replacement is not None and replacement.state == "completed":
            record.outcome, record.path = Outcome.APPROVED, replacement.path
            self.emit(record.finish(time.time()))
            return replacement
        record.reason = "replacement_queued" if outcome.queued else (outcome.error or "pending")
        record.path = self.client().last_path
        self.emit(record.finish(time.time()))
        return None

    def _journal_ticket(self, receipt: TicketReceipt, tid: str, batch: str) -> None:
        record = self._record(tid, batch)
        record.attempts = receipt.attempts
        record.path = receipt.path or self.client().last_path
        if receipt.delivered:
            record.outcome = Outcome.APPROVED
        else:
            record.reason = "queued"  # in the outbox: delivered later, journaled then
            self.outboxes.origin[receipt.key] = (tid, self.profile.mid, self.profile.region)
        self.emit(record.finish(time.time()))

    def _record(self, tid: str, batch: str) -> TxnRecord:
        return TxnRecord(
            ts_start=time.time(),
            tid=tid,
            mid=self.profile.mid,
            region=self.profile.region,
            type=TxnType.TICKET,
            stan="000000",
            batch=batch,
            policy=self.policy,
            request_mti="HTTP",
        )


def replacement_profile(old: TerminalProfile, new: Replacement) -> TerminalProfile:
    """The new device: the agent's TID, TMK and software, the same shop and customers."""
    return TerminalProfile(
        tid=new.new_tid,
        mid=new.mid,
        region=new.region,
        tmk=bytes.fromhex(new.tmk),
        mcc=old.mcc,
        app_type=old.app_type,
        software_version=new.software_version,
        allowed=new.allowed,
        cards=old.cards,
        wrong_pin_share=old.wrong_pin_share,
        unknown_card_share=old.unknown_card_share,
    )
