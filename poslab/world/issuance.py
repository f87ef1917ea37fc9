"""The customers' cards: numbers, PINs, funds, expiry and status.

Card numbers are drawn here (a real UnionPay BIN + random digits + the Luhn
digit) rather than with faker's ``credit_card_number("unionpay")``: faker's
costs about 26 µs a number — 10 s for the 400,000 cards of a
100,000-terminal world — and its numbers carry no real issuer prefix, while a
BIN table makes every card's bank agree with its number.

Funds are set so that the amounts terminals draw (``poslab.world.amounts``) are
declined for insufficient funds (51) at a realistic rate of one to a few
percent: debit balances are lognormal around 3,000 yuan with a wide spread,
credit lines lognormal around 20,000 yuan, and a small share of accounts are
nearly empty or maxed out.
"""

from __future__ import annotations

import math
import random

from poslab.world.model import Card, Params
from poslab.world.pan import BINS, make_pan

__all__ = ["issue_cards", "shift_yymm"]

_DEBIT_MEDIAN_FEN = 300_000  # 3,000 yuan
_DEBIT_SIGMA = 1.2
_LIMIT_MEDIAN_FEN = 2_000_000  # 20,000 yuan
_LIMIT_SIGMA = 0.8
_LIMIT_STEP_FEN = 100_000  # credit lines are whole thousands of yuan
_VALID_MONTHS = 72  # cards run five to six years
_EXPIRED_MONTHS = 36


def shift_yymm(yymm: str, months: int) -> str:
    """``yymm`` moved by ``months`` (within 2000–2099)."""
    index = int(yymm[:2]) * 12 + int(yymm[2:]) - 1 + months
    year, month = divmod(max(index, 0), 12)
    return f"{year % 100:02d}{month + 1:02d}"


def issue_cards(rng: random.Random, count: int, params: Params) -> tuple[Card, ...]:
    """``count`` cards with distinct numbers, drawn from ``rng`` only."""
    credit_bins = [b for b in BINS if b.kind == "credit"]
    debit_bins = [b for b in BINS if b.kind == "debit"]
    # Months as ready strings: a card expires at the end of its month, so the
    # current month (offset 0) is still valid.
    valid_expiry = [shift_yymm(params.as_of, m) for m in range(_VALID_MONTHS + 1)]
    past_expiry = [shift_yymm(params.as_of, -m) for m in range(1, _EXPIRED_MONTHS + 1)]
    ln_debit, ln_limit = math.log(_DEBIT_MEDIAN_FEN), math.log(_LIMIT_MEDIAN_FEN)
    random_, randrange, lognorm = rng.random, rng.randrange, rng.lognormvariate
    seen: set[str] = set()
    cards: list[Card] = []
    while len(cards) < count:
        credit = random_() < params.credit_share
        bins = credit_bins if credit else debit_bins
        issuer = bins[randrange(len(bins))]
        pan = make_pan(rng, issuer.prefix, issuer.length)
        if pan in seen:  # astronomically rare, but numbers must be unique
            continue
        seen.add(pan)
        low_funds = random_() < params.low_funds_share
        if credit:
            limit = max(1, round(lognorm(ln_limit, _LIMIT_SIGMA) / _LIMIT_STEP_FEN))
            limit *= _LIMIT_STEP_FEN
            # Open-to-buy: what is left of the line after this month's spending.
            available = randrange(3_000) if low_funds else int(limit * (0.2 + 0.8 * random_()))
        else:
            limit = 0
            available = randrange(2_000) if low_funds else int(lognorm(ln_debit, _DEBIT_SIGMA))
        if random_() < params.expired_share:
            expiry = past_expiry[randrange(_EXPIRED_MONTHS)]
        else:
            expiry = valid_expiry[randrange(_VALID_MONTHS + 1)]
        cards.append(
            Card(
                pan=pan,
                pin=f"{randrange(1_000_000):06d}",
                kind="credit" if credit else "debit",
                balance_fen=available,
                credit_limit_fen=limit,
                expiry=expiry,
                status="lost" if random_() < params.lost_share else "active",
                bank=issuer.bank,
            )
        )
    return tuple(cards)
