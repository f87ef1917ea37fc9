"""What the acquirer still owes the issuer: reversals and void advices.

Whenever the cardholder's side must change after an authorisation — the
terminal reversed a sale, the issuer's answer came too late (98) or not at all,
a sale was voided, a void was reversed — the handler writes an *advice* to the
ledger in the same commit as the booking, and this queue delivers it:

=========  ============  =========================================
action     issuer MTI    issuer effect (docs/issuer-protocol.md)
=========  ============  =========================================
reverse    0400 / 0410   hold cancelled (``reversed``); unknown → 25
release    0120 / 0130   hold released by a void (``released``)
rehold     0420 / 0430   the void was reversed: funds held again
=========  ============  =========================================

Advices for one authorisation go strictly in order; different
authorisations go in parallel. An advice is done when the issuer answers
anything definite (00, 25, …); on a timeout, 91/96 or no connection it is
retried after ``retry_s``, for ever: a cardholder must never stay debited for
a sale the terminal reversed. Pending advices are reloaded from the ledger at
start, so a crash does not lose them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from poslab.iso8583 import CURRENCY_CNY, Field60, IsoMessage, format_amount

from .group_commit import GroupCommitter, Op, WriteError
from .issuer_link import ISSUER_HEADER, ISSUER_TPDU, IssuerError, IssuerLink
from .ledger import FINISH_ADVICE, Advice, advice_op
from .metrics import Metrics

__all__ = ["AdviceQueue"]

log = logging.getLogger("acquirer.advices")

# action -> (MTI, processing code, 60.1 message type)
_MESSAGES = {
    "reverse": ("0400", "000000", "22"),
    "release": ("0120", "200000", "23"),
    "rehold": ("0420", "200000", "23"),
}
_RETRY_CODES = frozenset({"90", "91", "96"})
_PARALLEL = 64


class AdviceQueue:
    def __init__(
        self,
        link: IssuerLink,
        committer: GroupCommitter,
        metrics: Metrics,
        institution_id: str,
        retry_s: float,
        timeout_s: Callable[[], float],
    ) -> None:
        self._link = link
        self._committer = committer
        self._metrics = metrics
        self._institution_id = institution_id
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._pending: OrderedDict[int, Advice] = OrderedDict()
        self._wake = asyncio.Event()
        self._next_id = 1
        self.delivered = 0

    def __len__(self) -> int:
        return len(self._pending)

    def restore(self, advices: Iterable[Advice], next_id: int) -> None:
        for advice in advices:
            self._pending[advice.id] = advice
        self._next_id = max(self._next_id, next_id)
        self._wake.set()

    def new(
        self,
        action: str,
        ref: tuple[str, str, str, str],
        amount: int,
        reason: str,
        now: float,
    ) -> tuple[Advice, Op]:
        """An advice for ``ref`` (tid, mid, batch, stan) and the op that stores
        it; pass the advice to :meth:`activate` once the op is committed."""
        tid, mid, batch, stan = ref
        advice = Advice(self._next_id, action, tid, mid, stan, batch, amount, reason)
        self._next_id += 1
        return advice, advice_op(advice, now)

    def activate(self, advice: Advice) -> None:
        self._pending[advice.id] = advice
        self._wake.set()

    def message(self, advice: Advice) -> IsoMessage:
        mti, processing_code, msg_type = _MESSAGES[advice.action]
        fields: dict[int, str | bytes] = {
            3: processing_code,
            4: format_amount(advice.amount),
            11: advice.stan,
            32: self._institution_id,
            41: advice.tid,
            42: advice.mid,
            49: CURRENCY_CNY,
            60: Field60(msg_type, advice.batch, "000").format(),
        }
        if advice.action != "release":
            fields[39] = advice.reason
        return IsoMessage(mti, fields, ISSUER_TPDU, ISSUER_HEADER)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                progressed = await self._round()
                if not progressed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._retry_s)
                    self._wake.clear()

    async def _round(self) -> bool:
        """Send the oldest advice of each authorisation; True if any got done."""
        heads: dict[tuple[str, str, str], Advice] = {}
        for advice in self._pending.values():
            ref = (advice.tid, advice.batch, advice.stan)
            if ref not in heads:
                heads[ref] = advice
                if len(heads) >= _PARALLEL:
                    break
        results = await asyncio.gather(*(self._deliver(a) for a in heads.values()))
        done = [(advice, rc) for advice, rc in zip(heads.values(), results, strict=True) if rc]
        if not done:
            return False
        now = time.time()
        ops: list[Op] = [(FINISH_ADVICE, (now, rc, advice.id)) for advice, rc in done]
        for advice, _ in done:
            self._pending.pop(advice.id, None)
        self.delivered += len(done)
        with contextlib.suppress(WriteError):  # a resend after a restart is harmless
            await self._committer.submit(ops)
        return True

    async def _deliver(self, advice: Advice) -> str | None:
        """The issuer's definite answer, or None to retry later."""
        msg = self.message(advice)
        try:
            reply = await self._link.request(msg, self._timeout_s())
        except IssuerError as exc:
            self._metrics.issuer_request(msg.mti, "no_answer")
            log.debug("advice %d (%s) not delivered: %s", advice.id, advice.action, exc)
            return None
        rc = reply.text(39) or "96"
        self._metrics.issuer_request(msg.mti, rc)
        if rc in _RETRY_CODES:
            return None
        if rc not in ("00", "25"):
            log.warning(
                "issuer answered %s to the %s advice of %s/%s/%s",
                rc,
                advice.action,
                advice.tid,
                advice.batch,
                advice.stan,
            )
        return rc
