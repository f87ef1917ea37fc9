"""The drain's last step: the acquirer's settlement finishes what falls due in it.

A scenario's ``drain`` is where "reversals and settlement finish". The fleet
finishes its reversals while Locust winds down; settlement runs on the host's
own clock — settled batches closed by its worker, the day cuts closing the
batches nobody settled, payouts falling due T+1 or D0. Exporting the ledger
the moment Locust exits would catch a payout run half-way, so before the
export the runner asks the acquirer (``GET /admin/settlement?by=<drain end>``)
what it will still do by the end of the drain, and waits until that is done
or the drain is over. Work that falls due only after the drain is not waited
for: a scenario whose money must all be paid out within the run sizes its
business day (``acquirer.day_seconds``) and its drain for it.

The verdict is journaled as a ``probe`` named ``settlement``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["NotReported", "SettlementDrain", "SettlementState"]

_POLL_S = 0.25
_REQUEST_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class SettlementState:
    """The acquirer's answer: what its settlement will still do by ``by``."""

    backlog: int
    cut_closes: int
    payouts_due: int

    @property
    def done(self) -> bool:
        return not (self.backlog or self.cut_closes or self.payouts_due)

    def describe(self) -> str:
        if self.done:
            return "every batch due closed and every payout due made"
        return (
            f"{self.backlog} settled batch(es) not closed, {self.cut_closes} to close at a "
            f"day cut, {self.payouts_due} row(s) whose payout is due not paid"
        )

    @classmethod
    def from_json(cls, data: Any) -> SettlementState:
        if not isinstance(data, dict):
            raise ValueError("the settlement state is not a JSON object")
        values: list[int] = []
        for key in ("backlog", "cut_closes", "payouts_due"):
            value = data.get(key)
            if type(value) is not int or value < 0:
                raise ValueError(f"the settlement state has no count {key}: {data!r}")
            values.append(value)
        return cls(*values)


class NotReported(Exception):
    """The acquirer has no ``/admin/settlement`` (a team's own host, a stand-in)."""


class SettlementDrain:
    """Waits for the acquirer's settlement (admin API at ``admin_url``)."""

    def __init__(self, admin_url: str, *, poll_s: float = _POLL_S) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.poll_s = poll_s

    async def state(self, session: aiohttp.ClientSession, by: float) -> SettlementState:
        url = f"{self.admin_url}/admin/settlement"
        async with session.get(url, params={"by": repr(by)}) as response:
            if response.status in (404, 405):
                raise NotReported(f"the acquirer does not report its settlement ({url})")
            if response.status != 200:
                raise ValueError(f"HTTP {response.status} from {url}")
            return SettlementState.from_json(await response.json())

    async def wait(self, by: float, deadline_mono: float) -> tuple[bool, str]:
        """Until the work due by the epoch time ``by`` is done, or ``deadline_mono``
        (monotonic) passes: ``(done, what is left or why it is unknown)``.
        Raises :class:`NotReported` at once if the acquirer cannot say."""
        timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT_S)
        last = "the acquirer was not asked"
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    state = await self.state(session, by)
                except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                    last = f"the acquirer did not say: {exc or type(exc).__name__}"
                else:
                    if state.done:
                        return True, state.describe()
                    last = state.describe()
                if time.monotonic() + self.poll_s > deadline_mono:
                    return False, f"{last} at the end of the drain"
                await asyncio.sleep(self.poll_s)
