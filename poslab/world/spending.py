"""How the world's cardholders spend over a day, and the 51 share that follows.

The lab compresses time. A steady drill of 60 terminals sells about 30 times a
second on a world of some 300 cards: every card is presented every ten seconds,
hundreds of times in a half-hour drill. No cardholder shops like that, and if
every one of those sales stays taken from the card's funds, balances drain and
declines for insufficient funds (51) grow without end — 5 % of sales in the
first 30 s of such a drill, 30 % by the fourth minute — so a long run measures
empty cards, not the payment system.

A cardholder's *spending day* is therefore counted in the card's own purchases,
not in seconds: a card's day holds :data:`CARD_USES_PER_DAY` purchases, and its
next purchase starts a new day with its funds whole again — the salary came in,
the credit-card statement was paid. What a card was authorised for in earlier
days stays authorised and settled (the holds and the books do not change); only
the funds it is judged against are a day's. Time so counted runs as fast as the
load uses each card, whatever the load, the run's length or the share of the
world's terminals that sell — which is what keeps the decline mix at the
world's own shares.

:func:`insufficient_funds_share` is that share as the world was built: the
chance that a sale the fleet draws meets funds smaller than its amount, before
anything is spent. A stationary run's 51 share stays near it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from poslab.world.amounts import MCC_PROFILES
from poslab.world.model import Card, World

__all__ = ["CARD_USES_PER_DAY", "insufficient_funds_share"]

#: Card-present purchases a cardholder makes on one card in a day (people pay
#: once or twice a day by card): a day's second purchase meets what the first left.
CARD_USES_PER_DAY = 2

_STANDARD = NormalDist()


def _share_above(mcc: str, funds_fen: int) -> float:
    """P(``draw_amount(mcc)`` > ``funds_fen``), from the amount's own lognormal,
    its rounding to the price step and its clipping (see poslab.world.amounts)."""
    profile = MCC_PROFILES.get(mcc) or MCC_PROFILES["5999"]
    if funds_fen >= profile.max_fen:
        return 0.0
    if funds_fen < profile.min_fen:
        return 1.0
    step = profile.step_fen
    # A draw is rounded to the nearest step: it exceeds the funds once the raw
    # figure passes the midpoint above the last step the funds still cover.
    threshold = (funds_fen // step + 0.5) * step
    z = (math.log(threshold) - math.log(profile.median_fen)) / profile.sigma
    return 1.0 - _STANDARD.cdf(z)


def insufficient_funds_share(world: World) -> float:
    """The share of the fleet's sales the issuer answers 51 on fresh funds.

    Every terminal sells at the same rate and picks its customers uniformly
    from :meth:`World.cards_for_terminal`; a sale reaches the funds check only
    with a known, active, unexpired card and the right PIN (the issuer's
    decision order), which the world's shares give.
    """
    params = world.params
    reached = (1.0 - params.unknown_card_share) * (1.0 - params.wrong_pin_share)
    total = 0.0
    counted = 0
    for terminal in world.terminals:
        merchant = world.merchant(terminal.mid)
        mcc = merchant.mcc if merchant is not None else "5999"
        cards = world.cards_for_terminal(terminal.tid)
        if not cards:
            continue
        total += sum(_declined(world, card, mcc) for card in cards) / len(cards)
        counted += 1
    return 0.0 if counted == 0 else reached * total / counted


def _declined(world: World, card: Card, mcc: str) -> float:
    if card.status != "active" or world.card_expired(card):
        return 0.0
    return _share_above(mcc, card.balance_fen)
