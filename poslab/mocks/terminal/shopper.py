"""The people at the till: who pays with which card, how much, and what the
merchant rings up.

Declines come from the world, not from dice thrown here: a card with no
funds gets 51 from the issuer, an expired one 54, an unknown BIN 14. What the
world cannot know is customer behaviour, which it describes as shares
(``Params.wrong_pin_share``, ``unknown_card_share``) that are drawn here —
so a run's decline rates are the world's, reproducible from its seed.
"""

from __future__ import annotations

import dataclasses
import random

from poslab.iso8583 import Card as CardRead
from poslab.world import Card, Terminal, World, draw_amount, unknown_pan

from .config import TransactionMix

__all__ = ["CardPresented", "Shopper", "TerminalProfile"]

_KINDS = ("sale", "balance", "void", "refund")


@dataclasses.dataclass(frozen=True, slots=True)
class TerminalProfile:
    """Everything a terminal knows about itself, taken from the world once."""

    tid: str
    mid: str
    region: str
    tmk: bytes = dataclasses.field(repr=False)
    mcc: str
    app_type: str
    software_version: str
    allowed: tuple[str, ...]
    cards: tuple[Card, ...] = dataclasses.field(repr=False)
    wrong_pin_share: float
    unknown_card_share: float

    @classmethod
    def from_world(cls, world: World, terminal: Terminal) -> TerminalProfile:
        merchant = world.merchant(terminal.mid)
        return cls(
            tid=terminal.tid,
            mid=terminal.mid,
            region=terminal.region,
            tmk=bytes.fromhex(terminal.tmk),
            mcc=merchant.mcc if merchant is not None else "5999",
            app_type=terminal.app_type,
            software_version=terminal.software_version,
            allowed=terminal.allowed,
            cards=world.cards_for_terminal(terminal.tid),
            wrong_pin_share=world.params.wrong_pin_share,
            unknown_card_share=world.params.unknown_card_share,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CardPresented:
    """A card as read at the till, and the PIN the customer typed (if any)."""

    read: CardRead
    pin: str | None
    kind: str  # credit / debit / unknown

    @property
    def pan(self) -> str:
        return self.read.pan


class Shopper:
    """Draws the next customer for one terminal."""

    __slots__ = ("_by_pan", "_weights", "mix", "pin_share", "profile", "rng")

    def __init__(
        self, profile: TerminalProfile, mix: TransactionMix, pin_share: float, rng: random.Random
    ) -> None:
        self.profile = profile
        self.mix = mix
        self.pin_share = pin_share
        self.rng = rng
        self._weights = (mix.sale, mix.balance, mix.void, mix.refund)
        self._by_pan = {card.pan: card for card in profile.cards}

    def next_kind(self) -> str:
        return self.rng.choices(_KINDS, self._weights)[0]

    def amount(self) -> int:
        return draw_amount(self.profile.mcc, self.rng)

    def card(self) -> CardPresented:
        """A customer's card: usually one of this till's regulars, now and then
        one the issuer has never seen; sometimes the PIN is mistyped."""
        rng = self.rng
        if rng.random() < self.profile.unknown_card_share:
            pan = unknown_pan(rng)
            return CardPresented(self._read(pan, "3012"), self._pin(None, "debit"), "unknown")
        card = rng.choice(self.profile.cards)
        return CardPresented(
            self._read(card.pan, card.expiry), self._pin(card, card.kind), card.kind
        )

    def card_for(self, pan: str) -> CardPresented:
        """The same customer's card again (a void or refund of their sale)."""
        card = self._by_pan.get(pan)
        if card is None:
            return CardPresented(self._read(pan, "3012"), None, "unknown")
        return CardPresented(self._read(card.pan, card.expiry), card.pin, card.kind)

    def _read(self, pan: str, expiry: str) -> CardRead:
        # Chip terminals read the chip (05), magstripe ones swipe (02); the
        # service code 201 marks a chip card on its stripe.
        chip = self.profile.app_type == "61"
        return CardRead(
            pan=pan,
            expiry=expiry,
            track2=f"{pan}D{expiry}2010000000",
            sequence="001" if chip else None,
            entry_mode="05" if chip else "02",
        )

    def _pin(self, card: Card | None, kind: str) -> str | None:
        # Chinese debit cards always ask for a PIN; credit cards mostly do.
        if kind != "debit" and self.rng.random() >= self.pin_share:
            return None
        if card is None:
            return f"{self.rng.randrange(10**6):06d}"
        if self.rng.random() < self.profile.wrong_pin_share:
            wrong = card.pin
            while wrong == card.pin:
                wrong = f"{self.rng.randrange(10**6):06d}"
            return wrong
        return card.pin
