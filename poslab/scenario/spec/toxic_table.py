"""Which toxics a scenario may name and whether their attributes are acceptable.

The one list is the embedded proxy's registry (``poslab.proxy.toxics``):
Toxiproxy 2.12's eight toxics with their exact attributes and the lab's ISO
8583-aware ones. A scenario is checked against it *by the proxy's own code*
(``Toxic.from_attributes``: Go-style integer decoding, then the values the
proxy refuses because they would hang or crash Toxiproxy — ``bandwidth rate:
0``, ``slicer average_size: 0``, negatives), so a file that validates is a
file the proxy accepts, and the two can never drift apart. On top of the
proxy, unknown attribute names are errors here: Toxiproxy silently ignores
them, which turns a typo into a toxic that does nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from poslab.errors import ProxyError
from poslab.proxy.toxics import TOXIC_TYPES, Toxic
from poslab.proxy.toxics.iso_frames import IsoToxic


class Stream(StrEnum):
    UPSTREAM = "upstream"  # client → server (a terminal's request)
    DOWNSTREAM = "downstream"  # server → client (the host's reply)


#: Attribute values as JSON carries them to the proxy API (ISO toxics take codes as text).
AttributeValue = int | str


@dataclass(frozen=True)
class ToxicType:
    """One toxic type as scenarios see it."""

    name: str
    attributes: tuple[str, ...]
    summary: str
    iso8583: bool  # served only by the embedded proxy, not by a real Toxiproxy
    impl: type[Toxic]

    def problems(self, attributes: Mapping[str, AttributeValue]) -> list[tuple[str | None, str]]:
        """``(attribute or None, reason)`` for everything wrong with ``attributes``."""
        out: list[tuple[str | None, str]] = []
        for name in attributes:
            if name not in self.attributes:
                known = ", ".join(self.attributes) or "none"
                out.append((name, f"unknown attribute of {self.name} (known: {known})"))
        if out:
            return out
        try:
            self.impl.from_attributes(dict(attributes))
        except ProxyError as exc:
            out.append(self._explain(str(exc).removeprefix("bad request body: ")))
        return out

    def _explain(self, message: str) -> tuple[str | None, str]:
        """The proxy's refusal, attached to the attribute it names."""
        field = re.search(r"attributes\.(\w+) of type", message)
        if field is not None:  # Go's decoding error: a string or a too-large number
            return field.group(1), "must be an integer that fits in 64 bits (Toxiproxy int64)"
        named = re.search(rf"{re.escape(self.name)} (?:attribute )?(\w+)", message)
        attribute = named.group(1) if named and named.group(1) in self.attributes else None
        reason = message
        if attribute is not None:
            reason = re.sub(rf"^{re.escape(self.name)} (?:attribute )?{attribute} ", "", message)
        return attribute, reason


def _summary(impl: type[Toxic]) -> str:
    doc = sys.modules[impl.__module__].__doc__ or impl.type_name
    return " ".join(doc.split("\n\n")[0].split())


TOXICS: Mapping[str, ToxicType] = {
    name: ToxicType(
        name=name,
        attributes=tuple(impl.attribute_names()),
        summary=_summary(impl),
        iso8583=issubclass(impl, IsoToxic),
        impl=impl,
    )
    for name, impl in sorted(
        TOXIC_TYPES.items(), key=lambda kv: (issubclass(kv[1], IsoToxic), kv[0])
    )
}


def default_toxic_name(toxic_type: str, stream: Stream) -> str:
    """Toxiproxy's default: ``<type>_<stream>``."""
    return f"{toxic_type}_{stream.value}"
