"""Every toxic a scenario may name, with its attributes — the one list validation uses.

Toxiproxy 2.12's toxics exactly as docs toxiproxy-contract.md lists them (all
attributes integers, a missing one means 0), plus the lab's ISO 8583-aware
toxics served by the embedded proxy (lab/proxy/toxics). Bounds are the lab's:
values that would hang or crash Toxiproxy (``bandwidth rate: 0``, ``slicer
average_size: 0``) are refused here, before a run starts, as the embedded proxy
refuses them with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Stream(StrEnum):
    UPSTREAM = "upstream"  # client → server (a terminal's request)
    DOWNSTREAM = "downstream"  # server → client (the host's reply)


#: Attribute values as JSON carries them to the proxy API.
AttributeValue = int | str


@dataclass(frozen=True)
class Attribute:
    """One attribute of a toxic: an integer (with a unit and bounds) or a code."""

    unit: str
    minimum: int = 0
    maximum: int = 2**31 - 1
    required: bool = False
    # Non-empty → a string attribute whose value must match one of these choices
    # or, for ``pattern`` attributes, the regex below.
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    @property
    def is_text(self) -> bool:
        return bool(self.choices) or self.pattern is not None

    def check(self, value: object) -> str | None:
        """Why ``value`` is unacceptable, or None."""
        if self.is_text:
            if not isinstance(value, str):
                return f"must be a string ({self.unit})"
            if self.choices and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}"
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                return f"must be {self.unit}"
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer ({self.unit})"  # Toxiproxy answers 400
        if not self.minimum <= value <= self.maximum:
            return f"must be between {self.minimum} and {self.maximum} ({self.unit})"
        return None


@dataclass(frozen=True)
class ToxicType:
    """A toxic type: its attributes and any rule that spans several of them."""

    name: str
    summary: str
    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    # Returns a reason when a combination of attributes is unacceptable.
    combined: Callable[[Mapping[str, AttributeValue]], str | None] | None = None
    iso8583: bool = False  # served only by the embedded proxy, not by real Toxiproxy

    def problems(self, attributes: Mapping[str, object]) -> list[tuple[str | None, str]]:
        """``(attribute or None, reason)`` for everything wrong with ``attributes``."""
        out: list[tuple[str | None, str]] = []
        for name, value in attributes.items():
            spec = self.attributes.get(name)
            if spec is None:
                known = ", ".join(self.attributes) or "none"
                out.append((name, f"unknown attribute of {self.name} (known: {known})"))
            elif (reason := spec.check(value)) is not None:
                out.append((name, reason))
        for name, spec in self.attributes.items():
            if spec.required and name not in attributes:
                out.append((name, f"required by {self.name} ({spec.unit})"))
        if not out and self.combined is not None:
            typed = {k: v for k, v in attributes.items() if isinstance(v, int | str)}
            if (reason := self.combined(typed)) is not None:
                out.append((None, reason))
        return out


def _slicer_sizes(attrs: Mapping[str, AttributeValue]) -> str | None:
    average, variation = attrs.get("average_size", 0), attrs.get("size_variation", 0)
    if isinstance(average, int) and isinstance(variation, int) and variation >= average:
        return "size_variation must be smaller than average_size (a slice is at least 1 byte)"
    return None


_MS = Attribute(unit="milliseconds")

TOXIPROXY_TOXICS: tuple[ToxicType, ...] = (
    ToxicType(
        "latency",
        "each chunk delayed by latency ± jitter",
        {"latency": _MS, "jitter": _MS},
    ),
    ToxicType(
        "bandwidth",
        "data paced to rate KB/s",
        {"rate": Attribute(unit="KB/s", minimum=1, required=True)},
    ),
    ToxicType("slow_close", "closing delayed after EOF", {"delay": _MS}),
    ToxicType(
        "timeout",
        "data discarded, connection closed after timeout ms (0: held until removed)",
        {"timeout": _MS},
    ),
    ToxicType("reset_peer", "TCP RST after timeout ms", {"timeout": _MS}),
    ToxicType(
        "slicer",
        "chunks split into average_size ± size_variation bytes, delay µs apart",
        {
            "average_size": Attribute(unit="bytes", minimum=1, required=True),
            "size_variation": Attribute(unit="bytes"),
            "delay": Attribute(unit="microseconds"),
        },
        combined=_slicer_sizes,
    ),
    ToxicType("limit_data", "connection closed after bytes", {"bytes": Attribute(unit="bytes")}),
    ToxicType("noop", "passes data through"),
)

_MTI = Attribute(unit="a 4-digit ISO 8583 MTI such as 0210", pattern=r"\d{4}")
_RC = Attribute(unit="a 2-character response code such as 00", pattern=r"[0-9A-Z]{2}")

#: The embedded proxy's protocol-aware toxics (see lab/proxy's README).
ISO8583_TOXICS: tuple[ToxicType, ...] = (
    ToxicType(
        "iso_drop",
        "drop ISO 8583 messages with the given MTI and/or response code",
        {"mti": _MTI, "rc": _RC},
        iso8583=True,
    ),
    ToxicType(
        "iso_delay",
        "delay ISO 8583 messages with the given MTI and/or response code",
        {"mti": _MTI, "rc": _RC, "latency": _MS, "jitter": _MS},
        iso8583=True,
    ),
    ToxicType(
        "iso_corrupt_mac",
        "flip a bit of field 64 (MAC) in messages with the given MTI",
        {"mti": _MTI},
        iso8583=True,
    ),
)

TOXICS: Mapping[str, ToxicType] = {t.name: t for t in (*TOXIPROXY_TOXICS, *ISO8583_TOXICS)}


def default_toxic_name(toxic_type: str, stream: Stream) -> str:
    """Toxiproxy's default: ``<type>_<stream>``."""
    return f"{toxic_type}_{stream.value}"
