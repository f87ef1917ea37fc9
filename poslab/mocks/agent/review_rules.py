"""What the reviewer checks in an onboarding application (pure functions).

A request that is malformed (a field of the wrong shape, an unknown region)
never becomes an application: the API answers 422. These rules judge a
well-formed application the way an acquirer's risk desk does and give every
reason for a rejection at once, in words a merchant can act on:
- all four kinds of document present (licence, legal person's ID card,
  settlement card, at least one shop photo);
- every document a real JPEG, PNG or PDF (photos: images), none empty;
- the licence number's two check characters (GB 32100-2015);
- the legal person's ID number: check character (GB 11643-1999) and a real
  birth date of an adult;
- the settlement card number's Luhn digit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from poslab.world import luhn_valid
from poslab.world.licence import valid_credit_code

__all__ = ["DOCUMENT_KINDS", "review", "sniff_content_type", "valid_id_number"]

# kind → how a merchant reads it
DOCUMENT_KINDS = {
    "business_licence": "business licence",
    "legal_person_id_card": "legal person's ID card",
    "settlement_card": "settlement card",
    "shop_photo": "shop photos (at least one)",
}
_IMAGES = ("image/jpeg", "image/png")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def sniff_content_type(head: bytes) -> str:
    """The real type of an upload from its first bytes (never the client's word)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return "application/octet-stream"


def valid_id_number(number: str, today: dt.date) -> bool:
    """An 18-character resident ID: right check character, adult, born after 1900."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17].upper():
        return False
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    adult_from = (
        born.replace(year=born.year + 18)
        if (born.month, born.day) != (2, 29)
        else (dt.date(born.year + 18, 3, 1))
    )
    return born.year >= 1900 and adult_from <= today


def _document_problems(documents: Iterable[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    kinds = set()
    for doc in documents:
        kinds.add(doc["kind"])
        label = f"{DOCUMENT_KINDS[doc['kind']]} ({doc['filename']})"
        if doc["size"] == 0:
            problems.append(f"{label}: the file is empty")
            continue
        allowed = _IMAGES if doc["kind"] == "shop_photo" else (*_IMAGES, "application/pdf")
        if doc["content_type"] not in allowed:
            wanted = "a JPEG or PNG photo" if doc["kind"] == "shop_photo" else "a JPEG, PNG or PDF"
            problems.append(f"{label}: not {wanted}")
    missing = [label for kind, label in DOCUMENT_KINDS.items() if kind not in kinds]
    if missing:
        problems.insert(0, "missing documents: " + ", ".join(missing))
    return problems


def review(application: dict[str, Any], today: dt.date) -> list[str]:
    """Every reason to reject ``application`` (its record data); [] approves it."""
    problems = _document_problems(application.get("documents", []))
    if not valid_credit_code(application["licence_no"]):
        problems.append("business licence number: its check characters are wrong")
    if not valid_id_number(application["legal_person_id"], today):
        problems.append("legal person's ID number: not a valid adult's resident ID number")
    if not luhn_valid(application["settlement_account"]):
        problems.append("settlement card number: fails the Luhn check (mistyped?)")
    return problems
