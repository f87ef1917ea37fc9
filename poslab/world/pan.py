"""Card numbers: Luhn check digits, masking, and the UnionPay BINs the world issues.

Everything that prints a card number imports :func:`mask_pan` from here, so the
masking rule (first 6 + last 4, the rule PCI DSS allows to display) lives in one
place. This module is dependency-free so the terminal, the hosts and the reports
can all use it cheaply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = [
    "BINS",
    "UNKNOWN_BIN",
    "Bin",
    "luhn_check_digit",
    "luhn_valid",
    "make_pan",
    "mask_pan",
    "unknown_pan",
]

# Luhn over ASCII digits with C-speed byte operations: the world checks and
# issues hundreds of thousands of numbers, so this is its hottest function.
# _DOUBLE maps an ASCII digit to its doubled Luhn value (minus 9 above 9).
_DOUBLE = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))
_PLAIN = bytes.maketrans(b"0123456789", bytes(range(10)))


def luhn_check_digit(body: str) -> str:
    """The Luhn check digit to append to ``body`` (a string of digits)."""
    digits = body.encode("ascii")[::-1]
    # The digit next to the (future) check digit is doubled, then every second one.
    total = sum(digits[0::2].translate(_DOUBLE)) + sum(digits[1::2].translate(_PLAIN))
    return str((10 - total % 10) % 10)


def luhn_valid(pan: str) -> bool:
    """True when ``pan`` is 12–19 digits and its last digit is the Luhn check digit."""
    if not (12 <= len(pan) <= 19) or not pan.isascii() or not pan.isdigit():
        return False
    return luhn_check_digit(pan[:-1]) == pan[-1]


def mask_pan(pan: str) -> str:
    """Mask a card number for logs, journals and reports: first 6 + last 4.

    ``6222021234567890123`` → ``622202*********0123``. Numbers too short for
    that rule to hide anything (under 13 characters, e.g. a truncated or
    corrupt field) keep only their last 4, so a malformed value never leaks.
    """
    if len(pan) >= 13:
        return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
    if len(pan) > 4:
        return "*" * (len(pan) - 4) + pan[-4:]
    return "*" * len(pan)


@dataclass(frozen=True, slots=True)
class Bin:
    """An issuer identification number range the world issues cards from."""

    prefix: str
    bank: str
    kind: str  # "credit" or "debit"
    length: int  # full PAN length


# Representative UnionPay (62-range) BINs of large Chinese issuers, so a card's
# bank name agrees with its number. Illustrative for a lab, not an authoritative
# BIN table: the hosts never route on them.
BINS: tuple[Bin, ...] = (
    Bin("622202", "中国工商银行", "debit", 19),
    Bin("622848", "中国农业银行", "debit", 19),
    Bin("621700", "中国建设银行", "debit", 19),
    Bin("621661", "中国银行", "debit", 19),
    Bin("622262", "交通银行", "debit", 19),
    Bin("622588", "招商银行", "debit", 16),
    Bin("622150", "中国邮政储蓄银行", "debit", 19),
    Bin("622908", "兴业银行", "debit", 18),
    Bin("625330", "中国工商银行", "credit", 16),
    Bin("622575", "招商银行", "credit", 16),
    Bin("622689", "中信银行", "credit", 16),
    Bin("625908", "中国建设银行", "credit", 16),
    Bin("622656", "中国光大银行", "credit", 16),
    Bin("625955", "中国银行", "credit", 16),
)

# A BIN the world never issues from: a terminal that presents one of these
# numbers is a customer with a card the issuer does not know (response 14).
UNKNOWN_BIN = "629999"


def make_pan(rng: random.Random, prefix: str, length: int) -> str:
    """A Luhn-valid number of ``length`` digits starting with ``prefix``."""
    body_digits = length - len(prefix) - 1
    if body_digits < 0:
        raise ValueError(f"PAN length {length} too short for prefix {prefix!r}")
    body = prefix + str(rng.randrange(10**body_digits)).zfill(body_digits)
    return body + luhn_check_digit(body)


def unknown_pan(rng: random.Random) -> str:
    """A Luhn-valid 16-digit UnionPay number no world card ever has."""
    return make_pan(rng, UNKNOWN_BIN, 16)
