"""The acquirer's business calendar in lab time: days, the day cut, T+1.

A business day lasts ``day_seconds`` of wall time. Day ``k`` ends at its cut,
``cut(k) = epoch + k·day_seconds + cut_offset`` (CUP's cut is 23:00: a sale
after it counts for the next day), so day ``k`` covers ``(cut(k-1), cut(k)]``.
Its settlement date is ``base_date + k`` days. With a real 86,400-second day
the calendar is anchored to local midnight, so dates and the 23:00 cut are the
real ones; a lab-scaled day is anchored to the ledger's first start. The
anchor is stored in the ledger, so a restarted host keeps the same calendar.

Payouts for day ``k`` fall due at ``cut(k) + lag·day_seconds``: T+1
(``lag`` 1) for standard merchants, D0 (``lag`` 0) for same-day ones.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math

__all__ = ["REAL_DAY_S", "BusinessCalendar", "anchor_for", "host_clock"]

REAL_DAY_S = 86_400.0
# The lab's acquirer keeps China Standard Time (UTC+8) for real-length days.
_CST = dt.timezone(dt.timedelta(hours=8))


def host_clock(when: float) -> tuple[str, str]:
    """F12 (hhmmss) and F13 (MMDD): the host's Beijing time, which terminals adopt."""
    return _clock_of_second(int(when))


@functools.lru_cache(maxsize=8)
def _clock_of_second(second: int) -> tuple[str, str]:
    # Thousands of replies a second share a handful of seconds: format each once.
    local = dt.datetime.fromtimestamp(second, _CST)
    return local.strftime("%H%M%S"), local.strftime("%m%d")


def anchor_for(now: float, day_seconds: float) -> tuple[float, dt.date]:
    """The epoch and base date of a calendar started at ``now``."""
    local = dt.datetime.fromtimestamp(now, _CST)
    if day_seconds == REAL_DAY_S:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight.timestamp(), local.date()
    return now, local.date()


@dataclasses.dataclass(frozen=True, slots=True)
class BusinessCalendar:
    epoch: float
    base_date: dt.date
    day_seconds: float
    cut_fraction: float  # time of the cut as a fraction of the day (23:00 → 23/24)

    @property
    def cut_offset(self) -> float:
        return self.cut_fraction * self.day_seconds

    def day_of(self, t: float) -> int:
        """The business day a transaction booked at ``t`` belongs to."""
        return math.ceil((t - self.epoch - self.cut_offset) / self.day_seconds)

    def cut_time(self, day: int) -> float:
        """When business day ``day`` ends (its cut)."""
        return self.epoch + day * self.day_seconds + self.cut_offset

    def date_of(self, day: int) -> str:
        return (self.base_date + dt.timedelta(days=day)).isoformat()

    def day_of_date(self, date: str) -> int:
        return (dt.date.fromisoformat(date) - self.base_date).days

    def settle_date(self, t: float) -> str:
        return self._date_cached(self.day_of(t))

    @functools.lru_cache(maxsize=16)  # noqa: B019 - a handful of calendars per process
    def _date_cached(self, day: int) -> str:
        return self.date_of(day)

    def payout_due(self, day: int, lag_days: int) -> float:
        return self.cut_time(day) + lag_days * self.day_seconds

    def last_cut_before(self, t: float) -> int:
        """The latest day whose cut is at or before ``t`` (-1 before the first cut)."""
        return math.floor((t - self.epoch - self.cut_offset) / self.day_seconds)

    def mmdd(self, t: float) -> str:
        """F15 (settlement date MMDD) for a transaction booked at ``t``."""
        return self.settle_date(t)[5:].replace("-", "")
