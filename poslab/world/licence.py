"""Business licence numbers: the 18-character unified social credit code
(统一社会信用代码, GB 32100-2015) printed on every merchant's licence, with
both check characters right, so a validator in an onboarding mock accepts it."""

from __future__ import annotations

import random

__all__ = ["make_credit_code", "valid_credit_code"]

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 organisation code
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_CHARS)}


def _org_check(body: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _uscc_check(body: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def make_credit_code(rng: random.Random, area_code6: str) -> str:
    """A valid code for a company (``91``) registered in ``area_code6``."""
    # The organisation code's body is drawn from the USCC alphabet so the whole
    # code stays within it.
    org = "".join(rng.choices(_USCC_CHARS, k=8))
    body = "91" + area_code6 + org + _org_check(org)
    return body + _uscc_check(body)


def valid_credit_code(code: str) -> bool:
    """Both check characters of an 18-character code are right."""
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    org = code[8:17]
    return _org_check(org[:8]) == org[8] and _uscc_check(code[:17]) == code[17]
