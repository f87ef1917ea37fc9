"""The back office: reviews applications, fulfils terminal orders, registers
terminals at the acquirer, retries replacements and answers tickets.

It runs on one instance at a time (:meth:`AgentState.processing`). Before
acting on a record it *claims* it — a transition that names this instance —
and pushes the claim to the peer; if the peer already holds a claim that wins
the merge (the primary's), this instance lets the record go. The instance
that claimed a record is the only one that processes it: work claimed by an
instance that then died waits for it to come back (its database is kept)
rather than risk being done twice; unclaimed work is taken by whichever
instance is processing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time

from poslab.mocks.agent.agent_state import AgentState
from poslab.mocks.agent.errors import AgentError
from poslab.mocks.agent.lifecycle import (
    APPLICATION,
    ORDER,
    REPLACEMENT,
    TERMINAL,
    TICKET,
    StateMachine,
    id_from_key,
    new_record,
    transition,
)
from poslab.mocks.agent.record_store import Record, now
from poslab.mocks.agent.review_rules import review
from poslab.mocks.agent.terminals import complete_replacement, place_order, register_terminal

__all__ = ["SupportDesk"]

log = logging.getLogger("poslab.mocks.agent.desk")

_BATCH = 200
_RETRY_FIRST_S = 0.2
_RETRY_CAP_S = 5.0


class SupportDesk:
    def __init__(self, agent: AgentState) -> None:
        self.agent = agent
        # acquirer retries: record key → (next attempt, current delay)
        self._retry: dict[tuple[str, str], tuple[float, float]] = {}

    async def run(self) -> None:
        while True:
            if self.agent.processing():
                try:
                    await self.tick()
                except Exception:  # one bad record must not stop the desk
                    log.exception("support desk tick failed")
            await asyncio.sleep(self.agent.config.desk_interval_s)

    async def tick(self) -> None:
        await self._review_applications()
        await self._fulfil_orders()
        await self._register_terminals()
        await self._retry_replacements()
        await self._answer_tickets()

    # -- claims -----------------------------------------------------------

    async def _claim(
        self, machine: StateMachine, record: Record, to_state: str, **changes: object
    ) -> Record | None:
        """Move ``record`` to ``to_state`` as this instance's; None if lost."""
        store, me = self.agent.store, self.agent.name
        if store.get(record.entity, record.id) != record:
            return None  # changed under us (a merge): look again next tick
        claimed = self.agent.save(transition(machine, record, to_state, claimed_by=me, **changes))
        await self.agent.peer.push([claimed])
        final = store.get(record.entity, record.id)
        if final is None or final.claimed_by != me:
            log.info(
                "%s %s is claimed by the %s",
                record.entity,
                record.id,
                self.agent.peer.config.peer_name,
            )
            return None
        return final

    def _due(self, key: tuple[str, str]) -> bool:
        entry = self._retry.get(key)
        return entry is None or entry[0] <= time.monotonic()

    def _failed(self, key: tuple[str, str], exc: AgentError) -> None:
        delay = min(_RETRY_CAP_S, self._retry.get(key, (0.0, _RETRY_FIRST_S / 2))[1] * 2)
        self._retry[key] = (time.monotonic() + delay, delay)
        log.warning("%s %s: %s (retry in %.1f s)", key[0], key[1], exc.message, delay)

    # -- onboarding ---------------------------------------------------------

    async def _review_applications(self) -> None:
        agent, config = self.agent, self.agent.config
        t = now()
        for record in agent.store.select(APPLICATION.entity, states=("submitted",), limit=_BATCH):
            if record.claimed_by is None and t - record.created_at >= config.review_after_s:
                await self._claim(APPLICATION, record, "reviewing", review_started_at=t)
        for record in agent.store.select(APPLICATION.entity, states=("reviewing",), limit=_BATCH):
            if record.claimed_by == agent.name:
                await self._decide(record)

    async def _decide(self, record: Record) -> None:
        agent = self.agent
        reasons = review(record.data, dt.date.today())
        if reasons:
            decided = transition(
                APPLICATION, record, "rejected", decided_at=now(), rejection_reasons=reasons
            )
            self.agent.save(decided)
            agent.metrics.count("applications_rejected")
            log.info("application %s rejected: %s", record.id, "; ".join(reasons))
            await agent.peer.push([decided])
            return
        d = record.data
        mid = agent.directory.allocate_mid(d["province"], d["mcc"])
        order_id = id_from_key("OR", f"application:{record.id}")
        decided = transition(APPLICATION, record, "approved", decided_at=now(), order_id=order_id)
        decided = self.agent.save(dataclasses.replace(decided, mid=mid))
        agent.metrics.count("applications_approved")
        log.info("application %s approved: merchant %s", record.id, mid)
        await agent.peer.push([decided])
        place_order(agent, order_id, mid, d["terminal_count"], d["region"])

    # -- provisioning ---------------------------------------------------------

    async def _fulfil_orders(self) -> None:
        agent = self.agent
        for record in agent.store.select(ORDER.entity, states=("requested",), limit=_BATCH):
            if record.claimed_by is not None:
                continue
            tids = [agent.directory.allocate_tid() for _ in range(record.data["count"])]
            await self._claim(ORDER, record, "allocated", tids=tids)
        for record in agent.store.select(ORDER.entity, states=("allocated",), limit=_BATCH):
            if record.claimed_by == agent.name:
                self._ensure_terminals(record)

    def _ensure_terminals(self, order: Record) -> None:
        agent = self.agent
        for tid in order.data["tids"]:
            if agent.store.get(TERMINAL.entity, tid) is not None:
                continue
            self.agent.save(
                new_record(
                    TERMINAL,
                    tid,
                    instance=agent.name,
                    fingerprint="",
                    mid=order.mid,
                    tid=tid,
                    claimed_by=agent.name,
                    data={
                        "mid": order.mid,
                        "region": order.data["region"],
                        "software_version": agent.catalogue.latest,
                        "allowed": ["sale", "void", "refund", "balance"],
                        "order_id": order.id,
                    },
                )
            )

    async def _register_terminals(self) -> None:
        agent = self.agent
        for record in agent.store.select(TERMINAL.entity, states=("registering",), limit=_BATCH):
            key = (record.entity, record.id)
            if record.claimed_by != agent.name or not self._due(key):
                continue
            try:
                await register_terminal(agent, record)
                self._retry.pop(key, None)
            except AgentError as exc:
                self._failed(key, exc)

    async def _retry_replacements(self) -> None:
        agent = self.agent
        pending = agent.store.select(REPLACEMENT.entity, states=("pending_acquirer",), limit=_BATCH)
        for record in pending:
            key = (record.entity, record.id)
            if not self._due(key):
                continue
            done = await complete_replacement(agent, record)
            if done.state == "completed":
                self._retry.pop(key, None)
            else:
                self._failed(key, AgentError(done.data.get("last_error") or "acquirer refused"))

    # -- tickets ---------------------------------------------------------------

    async def _answer_tickets(self) -> None:
        agent, config = self.agent, self.agent.config
        t = now()
        for record in agent.store.select(TICKET.entity, states=("open",), limit=_BATCH):
            if record.claimed_by is None and t - record.created_at >= config.ack_after_s:
                await self._claim(
                    TICKET, record, "acknowledged", acknowledged_at=t, acknowledged_by="desk"
                )
        for record in agent.store.select(TICKET.entity, states=("acknowledged",), limit=_BATCH):
            if record.claimed_by != agent.name or record.data["category"] == "replacement":
                continue  # a replacement ticket closes when the replacement completes
            if t - record.data["acknowledged_at"] >= config.resolve_after_s:
                resolved = transition(
                    TICKET,
                    record,
                    "resolved",
                    resolved_at=t,
                    resolved_by="desk",
                    resolution=_RESOLUTIONS.get(record.data["category"], "answered by the desk"),
                )
                self.agent.save(resolved)
                await agent.peer.push([resolved])


_RESOLUTIONS = {
    "transactions_failing": "network and host checked with the merchant; terminal back online",
    "device_broken": "engineer visited; device repaired on site",
    "parameters": "parameters pushed through TMS",
    "software": "software update pushed through TMS",
    "settlement": "settlement checked with the acquirer; payout confirmed",
}
