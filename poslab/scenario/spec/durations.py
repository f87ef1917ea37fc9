"""Durations as scenario authors write them, and the time-scale rounding.

Authors write ``10s``, ``1m30s``, ``500ms``, ``1.5h`` or a bare number of
seconds. Everything is held as float seconds. ``--time-scale X`` multiplies
every timeline duration by X (0.5 runs the scenario twice as fast) and rounds
the result half-up to the nearest 0.1 s: the runner's injection drift budget is
50 ms and scoring works in 1-second buckets, so finer offsets would promise a
precision nothing downstream keeps. Rounding goes through :class:`decimal.Decimal`
so 0.25 → 0.3 on every platform (float ``round`` would give 0.2).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

#: Scaled durations are rounded to this many seconds.
RESOLUTION_S = Decimal("0.1")

_UNIT_S = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")


def parse_duration(value: object) -> float:
    """``10s`` / ``1m30s`` / ``250ms`` / ``90`` / ``1.5`` → seconds (≥ 0).

    Raises :class:`PydanticCustomError` so pydantic reports it at the field.
    """
    if isinstance(value, bool):  # YAML `yes`/`no` would otherwise pass as 1/0
        raise PydanticCustomError("duration", "a duration, not a boolean (write e.g. 10s)")
    if isinstance(value, int | float):
        seconds = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if text.startswith("-"):
            raise PydanticCustomError(
                "duration", "a duration cannot be negative (got {value})", {"value": repr(value)}
            )
        try:
            seconds = Decimal(text)
        except ArithmeticError:
            if not _WHOLE.fullmatch(text):
                raise PydanticCustomError(
                    "duration",
                    "bad duration {value}: write seconds (90, 1.5) or units ms/s/m/h "
                    "(500ms, 10s, 1m30s)",
                    {"value": repr(value)},
                ) from None
            seconds = sum(
                (Decimal(n) * _UNIT_S[u] for n, u in _PART.findall(text)), start=Decimal(0)
            )
    else:
        raise PydanticCustomError(
            "duration", "a duration must be a number of seconds or a string like 10s"
        )
    if not seconds.is_finite():
        raise PydanticCustomError("duration", "a duration must be finite")
    if seconds < 0:
        raise PydanticCustomError(
            "duration", "a duration cannot be negative (got {value})", {"value": repr(value)}
        )
    return float(seconds)


#: Seconds, from any form :func:`parse_duration` accepts; 0 allowed (an offset).
Duration = Annotated[float, BeforeValidator(parse_duration)]


def round_seconds(seconds: float) -> float:
    """Half-up to :data:`RESOLUTION_S`."""
    return float(Decimal(str(seconds)).quantize(RESOLUTION_S, rounding=ROUND_HALF_UP))


def scale(seconds: float, factor: float) -> float:
    """One duration under ``--time-scale factor``, rounded (see module doc)."""
    return round_seconds(seconds * factor)


def format_duration(seconds: float) -> str:
    """Seconds → the shortest author-style text: 90 → ``1m30s``, 0.5 → ``0.5s``."""
    value = Decimal(str(seconds)).normalize()
    minutes, rest = divmod(value, 60)
    if minutes and rest == rest.to_integral_value():
        text = f"{int(minutes)}m"
        return text + (f"{int(rest)}s" if rest else "")
    return f"{value:f}s"


def scale_count(count: int, factor: float) -> int:
    """A count of seconds (``good_seconds``) under ``--time-scale``: half-up, at least 1."""
    return max(1, int(Decimal(str(count * factor)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
