"""The issuer's books: the world's cards, the funds held on them, and the
decisions on every authorisation, reversal and void advice.

An authorisation is identified by the acquirer's reference, F41 + F11 + 60.2
(terminal, trace, batch: 8 + 6 + 6 characters, ``acquirer_ref`` in
``issuer.jsonl``). Its status is ``held`` (funds taken from the card's
available balance), ``released`` (voided by the merchant), ``reversed``
(cancelled) or ``declined``. Every operation is idempotent: the same message
twice gives the same answer and changes nothing the second time, and a
reversal that arrives before its authorisation leaves a *tombstone* so the
late authorisation is refused (94) instead of debiting the cardholder.

Decision order for a purchase (F3 000000): repeat → same answer; tombstone →
94; unknown card → 14; lost card → 41; expired → 54; PIN block that is not
ISO format 0 under the zone PIN key → 99; wrong PIN → 55; not enough
available funds → 51; the ``decline`` fault's share → its code; else 00 and
the amount is held. A balance inquiry (310000) runs the card and PIN checks
and answers the available balance in F54.

Funds are a *spending day's* (:mod:`poslab.world.spending`): a card's day holds
:data:`~poslab.world.CARD_USES_PER_DAY` of its purchases (those that reach the
funds check, counted in ``auth_id`` order, so a restarted issuer rebuilds each
card's day from its stored authorisations), and the card's next purchase
starts a new day with its funds whole again. Holds of earlier days keep their
status — a reversal or void of one still answers and is recorded — but no
longer count against today's funds.
"""

from __future__ import annotations

import dataclasses
import random

from poslab.iso8583 import PinBlockError, decrypt_pin_block, format_amount
from poslab.world import CARD_USES_PER_DAY, World, mask_pan

__all__ = ["Accounts", "Auth", "Decision"]

HELD, RELEASED, REVERSED, DECLINED = "held", "released", "reversed", "declined"
#: Answers given before the funds check (the card, its status, expiry or PIN).
_CARD_REFUSALS = frozenset({"14", "41", "54", "55", "99"})


@dataclasses.dataclass(slots=True)
class Auth:
    auth_id: int
    ref: str
    pan: str  # masked
    pan_index: int  # position in the world's card pool (-1: unknown card)
    amount: int
    status: str
    rc: str
    auth_code: str
    created_at: float
    updated_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    rc: str
    auth: Auth | None = None  # the record to store (None: nothing changed)
    auth_code: str = ""
    balance: str = ""  # F54 for balance inquiries
    tombstone: str | None = None  # a ref to remember as reversed-before-seen


def balance_field(available_fen: int) -> str:
    """F54: account type 10 (default), amount type 02 (available), CNY, C/D, n12."""
    sign = "C" if available_fen >= 0 else "D"
    return f"1002156{sign}{format_amount(abs(available_fen))}"


class Accounts:
    def __init__(self, world: World, zpk: bytes, seed: int = 0) -> None:
        self.world = world
        self.zpk = zpk
        self.auths: dict[str, Auth] = {}
        self.tombstones: set[str] = set()
        self.held: dict[int, int] = {}  # card index -> fen held in the card's day
        self.uses_per_day = CARD_USES_PER_DAY
        self._uses: dict[int, int] = {}  # card index -> purchases that reached the funds check
        self._day_start: dict[int, int] = {}  # card index -> auth_id that opened its day
        self._pan_index = {card.pan: i for i, card in enumerate(world.cards)}
        self._rng = random.Random(seed)
        self.next_id = 1
        self.decline_share = 0.0
        self.decline_rc = "05"

    def restore(self, auths: list[Auth], tombstones: set[str]) -> None:
        for auth in sorted(auths, key=lambda a: a.auth_id):
            self.auths[auth.ref] = auth
            self.next_id = max(self.next_id, auth.auth_id + 1)
            if auth.pan_index >= 0 and auth.rc not in _CARD_REFUSALS:  # it reached the funds
                self._spend(auth.pan_index, auth.auth_id)
        for auth in auths:
            if auth.status == HELD and self._today(auth):
                self.held[auth.pan_index] = self.held.get(auth.pan_index, 0) + auth.amount
        self.tombstones |= tombstones

    def _spend(self, index: int, auth_id: int) -> None:
        """A purchase on card ``index`` reaches the funds check: the first of a new
        day (funds whole again) once the card's day has had its purchases."""
        used = self._uses.get(index, 0)
        if used % self.uses_per_day == 0:
            self.held.pop(index, None)
            self._day_start[index] = auth_id
        self._uses[index] = used + 1

    def _today(self, auth: Auth) -> bool:
        return auth.pan_index >= 0 and auth.auth_id >= self._day_start.get(auth.pan_index, 0)

    def available(self, index: int) -> int:
        return self.world.cards[index].balance_fen - self.held.get(index, 0)

    def _check_card(self, pan: str, pin_block: bytes | None) -> tuple[str, int]:
        index = self._pan_index.get(pan, -1)
        if index < 0:
            return "14", index
        card = self.world.cards[index]
        if card.status == "lost":
            return "41", index
        if self.world.card_expired(card):
            return "54", index
        if pin_block is not None:
            try:
                pin = decrypt_pin_block(pin_block, pan, self.zpk)
            except PinBlockError:
                return "99", index
            if pin != card.pin:
                return "55", index
        return "00", index

    def balance(self, pan: str, pin_block: bytes | None) -> Decision:
        rc, index = self._check_card(pan, pin_block)
        if rc != "00":
            return Decision(rc)
        return Decision("00", balance=balance_field(self.available(index)))

    def purchase(
        self, ref: str, pan: str, amount: int, pin_block: bytes | None, now: float
    ) -> Decision:
        existing = self.auths.get(ref)
        if existing is not None:
            return Decision(existing.rc, auth_code=existing.auth_code)
        if ref in self.tombstones:
            return Decision("94")
        rc, index = self._check_card(pan, pin_block)
        if rc == "00":
            self._spend(index, self.next_id)
            if amount > self.available(index):
                rc = "51"
        if rc == "00" and self.decline_share and self._rng.random() < self.decline_share:
            rc = self.decline_rc
        auth_id = self.next_id
        self.next_id += 1
        approved = rc == "00"
        auth = Auth(
            auth_id=auth_id,
            ref=ref,
            pan=mask_pan(pan),
            pan_index=index,
            amount=amount,
            status=HELD if approved else DECLINED,
            rc=rc,
            auth_code=f"{auth_id % 1_000_000:06d}" if approved else "",
            created_at=now,
            updated_at=now,
        )
        self.auths[ref] = auth
        if approved:
            self.held[index] = self.held.get(index, 0) + amount
        return Decision(rc, auth, auth.auth_code)

    def _move(self, auth: Auth, status: str, now: float) -> Decision:
        if auth.status == status:
            return Decision("00")
        if self._today(auth):  # an earlier day's hold no longer counts against the funds
            if auth.status == HELD:
                self.held[auth.pan_index] -= auth.amount
            if status == HELD:
                self.held[auth.pan_index] = self.held.get(auth.pan_index, 0) + auth.amount
        auth.status = status
        auth.updated_at = now
        return Decision("00", auth)

    def reverse(self, ref: str, now: float) -> Decision:
        auth = self.auths.get(ref)
        if auth is None:
            if ref in self.tombstones:
                return Decision("25")
            self.tombstones.add(ref)
            return Decision("25", tombstone=ref)
        if auth.status == DECLINED:
            return Decision("00")
        return self._move(auth, REVERSED, now)

    def release(self, ref: str, now: float) -> Decision:
        """A void: the merchant cancelled the sale, the hold is released."""
        auth = self.auths.get(ref)
        if auth is None:
            return Decision("25")
        if auth.status != HELD:
            return Decision("00")
        return self._move(auth, RELEASED, now)

    def rehold(self, ref: str, now: float) -> Decision:
        """The void was reversed: the sale stands again, the funds are held again."""
        auth = self.auths.get(ref)
        if auth is None:
            return Decision("25")
        if auth.status != RELEASED:
            return Decision("00")
        return self._move(auth, HELD, now)
