"""Reconciliation of one scenario: the fleet's view of every sale against the ledger's.

While the fleet journal streams, each money record (sale, void, refund) leaves
one small integer in a *claims* index keyed by ``tid/stan/batch`` — its outcome
and where its line is — and each reversal its outcome (:meth:`Reconciler.money`,
:meth:`Reconciler.reversal`). The ledger index is built independently (in
another process for big runs, see :mod:`poslab.scoring.ledger_side`), and the two
are joined once both exist (:meth:`Reconciler.join`). What needs everything —
was a failed sale's reversal acknowledged later, which ledger rows no terminal
knows — is settled in :meth:`Reconciler.finish`. Only the few records that end
up as examples are ever read back whole.

A transaction is judged by the terminal's *final* belief: a refund whose
reply was lost stays ``failed`` with ``saf: "pending"`` in the journal, and a
later store-and-forward retransmission (``retransmission: true``, same
tid/stan/batch) that got the host's answer replaces it. One still pending at
the end — no retransmission was ever answered — is unresolved: the host may
have credited the customer while the merchant sees a failed refund.

Where a transaction fits two findings it is counted once, under the most
specific one: a sale the terminal reversed (host acknowledged) that the ledger
still holds is a *reversal that never landed*, not a generic *unreversed
failure*. ``unresolved`` is the exception: it is the terminal's state (the
merchant was told to call support), so it may overlap a money finding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from poslab.scoring.jsonl import ReadStats, iter_jsonl, read_line_at
from poslab.scoring.ledger import (
    CLAIMED,
    MONEY_STATUSES,
    ST_APPROVED,
    STATUS_NAMES,
    TY_SALE,
    LedgerIndex,
    offset_of,
    status_of,
    type_of,
)
from poslab.scoring.result import Check, Example, mask_pan

MONEY_TYPES = frozenset({"sale", "void", "refund"})
# A naive terminal retrying a sale under a new STAN books it again within its
# retry horizon; a later sale of the same amount on the same card is a new sale.
DOUBLE_BOOKING_WINDOW_S = 300.0


def _example(row: dict[str, Any], detail: str, time_field: str) -> Example:
    amount = row.get("amount")
    return Example(
        detail=detail,
        tid=_str(row.get("tid")),
        stan=_str(row.get("stan")),
        batch=_str(row.get("batch")),
        pan=mask_pan(row.get("pan")),
        t=_float(row.get(time_field)),
        amount=amount if type(amount) is int else None,
    )


def fleet_example(rec: dict[str, Any], detail: str) -> Example:
    return _example(rec, detail, "ts_start")


def ledger_example(row: dict[str, Any] | None, key: str, detail: str) -> Example:
    if row is None:
        tid, stan, batch = ([*key.split("/"), "", "", ""])[:3]
        return Example(detail=detail, tid=tid, stan=stan, batch=batch)
    return _example(row, detail, "booked_at")


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# What is kept of a fleet record that may later become an example: (pan, ts_start,
# amount). Most of them never do, so the Example is only built when needed.
Seen = tuple[object, object, object]


def _seen(rec: dict[str, Any]) -> Seen:
    return rec.get("pan"), rec.get("ts_start"), rec.get("amount")


def seen_example(key: str, seen: Seen, detail: str) -> Example:
    tid, stan, batch = [*key.split("/"), "", "", ""][:3]
    pan, ts, amount = seen
    row = {"tid": tid, "stan": stan, "batch": batch, "pan": pan, "ts_start": ts, "amount": amount}
    return fleet_example(row, detail)


@dataclass(slots=True)
class _Reversal:
    approved: bool
    seen: Seen


# claim layout: line offset << 16 | fleet file number << 8 | flags << 4 | outcome code
_OUTCOME_CODES = {"approved": 1, "declined": 2, "failed": 3, "unresolved": 4, "reversed": 5}
_OUTCOME_NAMES = {v: k for k, v in _OUTCOME_CODES.items()} | {0: "other"}
_APPROVED = 1
# what it means for the customer when the ledger booked what the terminal thinks failed
_HARM = {
    "sale": "customer debited without a sale",
    "void": "sale cancelled though the merchant thinks it stands",
    "refund": "customer credited; the merchant may refund again",
}
_NOT_DONE = frozenset({2, 3, 4, 5})
_TWICE_APPROVED = 1 << 4


def _ledger_example_at(path: Path, offset: int, key: str, detail: str) -> Example:
    return ledger_example(read_line_at(path, offset), key, detail)


def _report(check: Check, make: Callable[[], Example]) -> None:
    """Count a finding; build its example only while the check still shows examples."""
    if len(check.examples) < check.example_limit:
        check.add(make())
    else:
        check.tally()


@dataclass(slots=True)
class Reconciler:
    """Matches fleet records against the ledger and fills the integrity checks."""

    checks: dict[str, Check]
    files: list[Path]
    claims: dict[str, int] = field(default_factory=dict)
    pending: dict[str, Seen] = field(default_factory=dict)
    #: refunds whose latest record says they wait in store-and-forward
    saf_open: dict[str, Seen] = field(default_factory=dict)
    unresolved: dict[str, tuple[str, Seen]] = field(default_factory=dict)
    reversals: dict[str, _Reversal] = field(default_factory=dict)
    suspects: list[tuple[str, int]] = field(default_factory=list)
    ledger: LedgerIndex | None = None

    # -- while the fleet journal streams -------------------------------------------------

    def money(self, rec: dict[str, Any], file_no: int, offset: int) -> None:
        key = f"{rec.get('tid')}/{rec.get('stan')}/{rec.get('batch')}"
        outcome = rec.get("outcome")
        if rec.get("reversal") == "pending":
            self.pending[key] = _seen(rec)
        if rec.get("saf") == "pending":
            self.saf_open[key] = _seen(rec)
        elif rec.get("retransmission"):
            self.saf_open.pop(key, None)  # the host answered the queued refund
        if outcome == "unresolved":
            self.unresolved[key] = (str(rec.get("type")), _seen(rec))
        code = _OUTCOME_CODES.get(outcome, 0)  # type: ignore[arg-type]
        previous = self.claims.get(key)
        if previous is not None and previous & 15 == _APPROVED:
            if code != _APPROVED:
                return  # the terminal handed the goods over: the approval is what counts
            code |= _TWICE_APPROVED
        self.claims[key] = offset << 16 | file_no << 8 | code

    def reversal(self, rec: dict[str, Any]) -> None:
        key = f"{rec.get('tid')}/{rec.get('orig_stan') or rec.get('stan')}/"
        key += f"{rec.get('orig_batch') or rec.get('batch')}"
        approved = rec.get("outcome") == "approved"
        seen = self.reversals.get(key)
        if seen is None or (approved and not seen.approved):
            self.reversals[key] = _Reversal(approved, _seen(rec))

    # -- once both sides are read -----------------------------------------------------

    def _fleet_example(self, claim: int, detail: str) -> Example:
        rec = read_line_at(self.files[(claim >> 8) & 255], claim >> 16) or {}
        typ = str(rec.get("type", "transaction"))
        return fleet_example(rec, detail.format(type=typ, harm=_HARM.get(typ, "money moved")))

    def join(self, ledger: LedgerIndex) -> None:
        """Match every claim against the ledger; mark the rows some terminal knows."""
        self.ledger = ledger
        rows, lost = ledger.rows, self.checks["lost_approvals"]
        for key, claim in self.claims.items():
            code = claim & 15
            value = rows.get(key)
            if value is None:
                if code == _APPROVED:
                    detail = "{type} approved at the terminal, not in ledger"
                    _report(lost, partial(self._fleet_example, claim, detail))
                continue
            rows[key] = value | CLAIMED
            status = status_of(value)
            if code == _APPROVED:
                if claim & _TWICE_APPROVED and key not in ledger.double_booked:
                    detail = "two terminal approvals share tid/stan/batch; ledger has one"
                    _report(lost, partial(self._fleet_example, claim, detail))
                elif status not in MONEY_STATUSES:
                    detail = f"{{type}} approved at the terminal, ledger {STATUS_NAMES[status]}"
                    _report(lost, partial(self._fleet_example, claim, detail))
            elif code in _NOT_DONE and status == ST_APPROVED:
                self.suspects.append((key, claim))
        for key in self.reversals:
            value = rows.get(key)
            if value is not None:
                rows[key] = value | CLAIMED

    def unacknowledged_reversals(self) -> int:
        """Pending reversals no reversal record saw the host acknowledge."""
        return sum(
            1 for k in self.pending if not (k in self.reversals and self.reversals[k].approved)
        )

    def finish(self, pending_at_drain: int | None) -> None:
        self._unresolved(pending_at_drain)
        if self.ledger is not None:
            self._suspects()
            self._orphans_and_doubles(self.ledger)

    def _unresolved(self, pending_at_drain: int | None) -> None:
        found: dict[str, Example] = {}
        for key, (typ, seen) in self.unresolved.items():
            rev = self.reversals.get(key)
            if rev is None or not rev.approved:  # a later acknowledged reversal resolves it
                found[key] = seen_example(key, seen, f"{typ} ended unresolved")
        for key, seen in self.pending.items():
            rev = self.reversals.get(key)
            if rev is None:
                detail = "reversal pending, never sent or never answered"
                found.setdefault(key, seen_example(key, seen, detail))
            elif not rev.approved:
                detail = "reversal given up (冲正不成功): merchant told to call support"
                found.setdefault(key, seen_example(key, rev.seen, detail))
        for key, rev in self.reversals.items():
            if not rev.approved and key not in found:
                found[key] = seen_example(key, rev.seen, "reversal never acknowledged by the host")
        for key, seen in self.saf_open.items():
            detail = (
                "refund still in store-and-forward, never answered: the customer may be "
                "credited while the merchant sees it failed"
            )
            found.setdefault(key, seen_example(key, seen, detail))
        check = self.checks["unresolved"]
        for example in found.values():
            check.add(example)
        if pending_at_drain and pending_at_drain > check.count:
            missing = pending_at_drain - check.count
            check.add(Example(f"{missing} reversal(s) still pending at drain end (journal)"))
            for _ in range(missing - 1):
                check.tally()

    def _suspects(self) -> None:
        not_landed = self.checks["reversals_not_landed"]
        unreversed = self.checks["unreversed_failures"]
        for key, claim in self.suspects:
            outcome = _OUTCOME_NAMES[claim & 15]
            rev = self.reversals.get(key)
            if outcome == "reversed" or (rev is not None and rev.approved):
                detail = "terminal saw the reversal acknowledged; ledger still approved"
                _report(not_landed, partial(self._fleet_example, claim, detail))
            else:
                detail = f"{{type}} {outcome} at the terminal; ledger approved ({{harm}})"
                _report(unreversed, partial(self._fleet_example, claim, detail))

    def _orphans_and_doubles(self, ledger: LedgerIndex) -> None:
        doubles = self.checks["double_bookings"]
        for key, offsets in ledger.double_booked.items():
            detail = f"booked {len(offsets)} times (same tid/stan/batch)"
            _report(doubles, partial(_ledger_example_at, ledger.path, offsets[0], key, detail))
        orphans = [
            (key, v)
            for key, v in ledger.rows.items()
            if not v & CLAIMED and status_of(v) == ST_APPROVED
        ]
        if not orphans:
            return
        twins = _find_twins(ledger.path, ledger.rows, orphans)
        unreversed = self.checks["unreversed_failures"]
        for key, v in orphans:
            twin = twins.get(key)
            if twin is not None and type_of(v) == TY_SALE:
                check, detail = doubles, f"same sale booked again under STAN {twin} (retry)"
            else:
                check, detail = unreversed, "ledger approved; no terminal record knows it"
            _report(check, partial(_ledger_example_at, ledger.path, offset_of(v), key, detail))


def _find_twins(path: Path, rows: dict[str, int], orphans: list[tuple[str, int]]) -> dict[str, str]:
    """For each orphan sale, a claimed sale of the same terminal, card and amount booked
    within the retry horizon: the terminal sale the orphan duplicates (orphan key → STAN)."""
    wanted: dict[tuple[str, str, int], list[tuple[str, float]]] = {}
    tids = set()
    for key, v in orphans:
        row = read_line_at(path, offset_of(v))
        if row is None or type_of(v) != TY_SALE:
            continue
        booked = _float(row.get("booked_at"))
        amount = row.get("amount")
        if booked is None or type(amount) is not int:
            continue
        wanted.setdefault((str(row.get("tid")), str(row.get("pan")), amount), []).append(
            (key, booked)
        )
        tids.add(str(row.get("tid")))
    twins: dict[str, str] = {}
    if not wanted:
        return twins
    for _, row in iter_jsonl(path, ReadStats()):
        if row.get("type") != "sale" or str(row.get("tid")) not in tids:
            continue
        candidates = wanted.get((str(row.get("tid")), str(row.get("pan")), row.get("amount")))  # type: ignore[arg-type]
        if not candidates:
            continue
        key = f"{row.get('tid')}/{row.get('stan')}/{row.get('batch')}"
        value = rows.get(key)
        booked = _float(row.get("booked_at"))
        if value is None or not value & CLAIMED or booked is None:
            continue
        if status_of(value) not in MONEY_STATUSES:
            continue
        for orphan_key, orphan_booked in candidates:
            if orphan_key != key and abs(orphan_booked - booked) <= DOUBLE_BOOKING_WINDOW_S:
                twins.setdefault(orphan_key, str(row.get("stan")))
    return twins
