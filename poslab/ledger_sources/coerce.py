"""Their values → the contract's types (``docs/ledger-contract.md``, "Coercion").

A database hands back ``Decimal``, ``datetime``, ``date``, integers where the
lab wants zero-padded digit strings, CHAR columns padded with blanks; a CSV
hands back strings only. Each column kind has one coercion that accepts the
honest forms of its value and refuses anything that would need a guess: an
amount of 12.345 yuan, a STAN of seven digits, a date that is not a date. A
refusal is a :class:`Unfit` carrying the reason; the caller names the column and
the row.

Full PANs are masked here, before a row goes anywhere (first 6 + last 4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from poslab.scoring.ledger_contract import TOTALS_KEYS, Column, check_value

_HUNDRED = Decimal(100)
_MASKED = re.compile(r"\d{6}\*+\d{4}")


class Unfit(ValueError):
    """A value that does not coerce to its column's kind (the message says why)."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool | dict | list):
        raise Unfit(f"not text: {value!r}")
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    # CHAR(n) columns come back blank-padded
    return str(value).strip()


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise Unfit(f"not {what}: {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise Unfit(f"not {what}: {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise Unfit(f"not {what}: {value!r}")
    return int(number)


def money(value: Any, unit: str) -> int:
    """Integer fen from fen (integral) or yuan (exact, at most 2 decimals)."""
    if unit == "fen":
        return _integer(value, "integer fen")
    if isinstance(value, bool):
        raise Unfit(f"not an amount in yuan: {value!r}")
    try:
        # str() first: a float 12.34 is 12.339999…, its repr is what was meant
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise Unfit(f"not an amount in yuan: {value!r}") from None
    fen = number * _HUNDRED
    if not fen.is_finite() or fen != fen.to_integral_value():
        raise Unfit(f"not an exact amount in yuan (fen would be {fen}): {value!r}")
    return int(fen)


def _digits(value: Any, width: int) -> str:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        text = str(_integer(value, "a number"))
    else:
        text = _text(value)
    if not text.isdigit() or len(text) > width:
        raise Unfit(f"not up to {width} digits: {value!r}")
    return text.zfill(width)


def epoch(value: Any) -> float:
    """UNIX seconds from a number, a datetime (naive = UTC) or an ISO 8601 string."""
    if isinstance(value, bool):
        raise Unfit(f"not a time: {value!r}")
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise Unfit(f"not a time (epoch seconds or ISO 8601): {value!r}") from None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    raise Unfit(f"not a time: {value!r}")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else _bad_date(value)
    except ValueError:
        return _bad_date(value)


def _bad_date(value: Any) -> str:
    raise Unfit(f"not a date YYYY-MM-DD: {value!r}")


def mask(pan: str) -> str:
    """First 6 + last 4 digits; what is already masked stays as it is."""
    if "*" in pan:
        return pan
    if not pan.isdigit() or len(pan) < 12:
        raise Unfit(f"not a PAN ({len(pan)} characters)")
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def _pan(value: Any) -> str:
    return mask(_text(value).replace(" ", ""))


def _json_object(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise Unfit(f"not {what}: {value[:40]!r}") from None
    if not isinstance(value, dict):
        raise Unfit(f"not {what}: {value!r}")
    return value


def terminal_totals(value: Any, unit: str) -> dict[str, int]:
    """The 0500's domestic totals: an object, its JSON, or field 48 itself
    (debit amount n12, debit count n3, credit amount n12, credit count n3, …)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) >= 30:
        f48 = value.strip()
        return {
            "debit_amount": int(f48[0:12]),
            "debit_count": int(f48[12:15]),
            "credit_amount": int(f48[15:27]),
            "credit_count": int(f48[27:30]),
        }
    obj = _json_object(value, "terminal totals (object, JSON or field 48)")
    out = {}
    for key in TOTALS_KEYS:
        if key not in obj:
            raise Unfit(f"terminal totals lack {key}")
        out[key] = money(obj[key], unit) if key.endswith("amount") else _count(obj[key])
    return out


def _count(value: Any) -> int:
    number = _integer(value, "a count")
    if number < 0:
        raise Unfit(f"not a count: {value!r}")
    return number


def _fees(value: Any, unit: str) -> dict[str, int]:
    obj = _json_object(value, "fees by card kind (object or JSON)")
    return {str(k): money(v, unit) for k, v in obj.items()}


def coerce(column: Column, value: Any, unit: str) -> Any:
    """``value`` as the contract's type for ``column`` (None stays None; '' is None)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    kind = column.kind
    if kind == "digits":
        return _digits(value, column.width)
    if kind == "fen":
        return money(value, unit)
    if kind == "totals":
        return terminal_totals(value, unit)
    if kind == "fees":
        return _fees(value, unit)
    return _SIMPLE[kind](value)


_SIMPLE: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "enum": _text,
    "ref": _text,
    "count": _count,
    "epoch": epoch,
    "date": _date,
    "pan": _pan,
}


Convert = Callable[[Any], Any]


def converter(column: Column, unit: str, vocab: Mapping[str, str] | None) -> Convert:
    """One column's whole conversion — vocabulary, coercion, the contract's check —
    as a function that returns the value or raises :class:`Unfit`.

    The common forms (an int STAN, an int amount in fen, a float time, a value
    already in the lab's vocabulary) take a fast path: a million-row ledger
    pays a few microseconds a row, not the generic route's seventy.
    """

    def slow(value: Any) -> Any:
        if vocab is not None and value is not None:
            value = vocab.get(str(value).strip(), value)
        value = coerce(column, value, unit)
        if (
            column.kind == "enum"
            and isinstance(value, str)
            and value not in column.choices
            and value.lower() in column.choices
        ):
            value = value.lower()  # SALE, Approved: their case, the lab's word
        problem = check_value(column, value)
        if problem is not None:
            raise Unfit(problem)
        return value

    kind = column.kind
    if kind == "digits":
        width, limit = column.width, 10**column.width

        def digits(value: Any) -> Any:
            if type(value) is int and 0 <= value < limit:
                return f"{value:0{width}d}"
            if type(value) is str and len(value) == width and value.isdigit():
                return value
            return slow(value)

        return digits
    if kind == "fen" and unit == "fen":
        signed = column.signed

        def fen(value: Any) -> Any:
            if type(value) is int and (signed or value >= 0):
                return value
            return slow(value)

        return fen
    if kind == "epoch":

        def when(value: Any) -> Any:
            if type(value) is float:
                return value
            return slow(value)

        return when
    if kind == "enum":
        choices = frozenset(column.choices)
        words = vocab or {}

        def word(value: Any) -> Any:
            if type(value) is str:
                value = words.get(value, value)
                if value in choices:
                    return value
                low = value.lower()
                if low in choices:
                    return low
            return slow(value)

        return word
    if kind == "text":

        def text(value: Any) -> Any:
            if type(value) is str and value and not value[0].isspace() and not value[-1].isspace():
                return value
            return slow(value)

        return text
    if kind == "pan":

        def pan(value: Any) -> Any:
            if type(value) is str and _MASKED.fullmatch(value):
                return value
            return slow(value)

        return pan
    return slow
