"""Response-code table and predicates."""

from __future__ import annotations

import pytest

from poslab.iso8583 import (
    RESPONSE_CODES,
    Rc,
    ResponseClass,
    is_business_decline,
    is_retry_later,
    is_success,
    lookup,
    needs_sign_on,
    reversal_is_settled,
)

REQUIRED = (
    "00 A2 A4 A5 A6 10 05 06 12 13 14 22 25 30 51 54 55 58 61 75 77 90 91 94 96 97 98 99 A0 C9 CA"
)


def test_every_code_the_lab_relies_on_is_in_the_table() -> None:
    for code in REQUIRED.split():
        assert code in RESPONSE_CODES, code
        assert lookup(code).meaning
    for member in Rc:
        assert member.value in RESPONSE_CODES


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("00", ResponseClass.SUCCESS),
        ("A4", ResponseClass.SUCCESS),
        ("10", ResponseClass.SUCCESS),
        ("51", ResponseClass.DECLINE),
        ("55", ResponseClass.DECLINE),
        ("30", ResponseClass.BAD_REQUEST),
        ("25", ResponseClass.ORIGINAL_NOT_FOUND),
        ("77", ResponseClass.SIGN_ON),
        ("99", ResponseClass.SIGN_ON),
        ("A0", ResponseClass.SIGN_ON),
        ("90", ResponseClass.RETRY_LATER),
        ("91", ResponseClass.RETRY_LATER),
        ("96", ResponseClass.RETRY_LATER),
        ("94", ResponseClass.DUPLICATE),
        ("98", ResponseClass.UNCERTAIN),
        ("97", ResponseClass.CONFIG_ERROR),
    ],
)
def test_classes_follow_the_domain_table(code: str, cls: ResponseClass) -> None:
    assert lookup(code).cls is cls


def test_unknown_code_is_a_definite_decline() -> None:
    entry = lookup("Z9")
    assert entry.cls is ResponseClass.DECLINE
    assert entry.code == "Z9" and "unknown" in entry.meaning
    assert not is_success("Z9") and not is_retry_later("Z9")


def test_predicates() -> None:
    assert is_success("00") and is_success("a2")
    assert needs_sign_on("a0") and needs_sign_on(Rc.BATCH_MISMATCH)
    assert is_retry_later("91") and not is_retry_later("98")
    assert is_business_decline("51") and is_business_decline("30")
    assert not is_business_decline("96") and not is_business_decline("00")
    assert reversal_is_settled("00") and reversal_is_settled("25")
    assert reversal_is_settled("CA") and not reversal_is_settled("96")
    assert lookup("96").terminal_action == "retry later"
