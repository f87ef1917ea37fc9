"""What the ISO 8583 toxics share: message matching and the frame loop.

The lab's own toxic types (Toxiproxy only sees bytes). They split their
direction's stream into CUP frames — 2-byte big-endian length + payload, with
:class:`poslab.iso8583.framing.Framer` — decode each with
:func:`poslab.iso8583.message.decode`, and act on the frames that match:

``mti``
    integer, the MTI read as a number: ``210`` is 0210; a 4-digit string
    (``"0210"``) is accepted too. ``0`` (the default) matches every MTI.
``rc``
    the response code (field 39). Numeric codes as integers, ``0`` being
    ``00`` (approved) and ``5`` being ``05``; alphanumeric codes such as
    ``A0`` as strings — every Toxiproxy client sends them as given
    (``toxiproxy-cli -a rc=A0`` sends the string ``"A0"``). ``-1`` (the
    default) matches any code, and a message without field 39. Because ``0``
    means ``00``, this is the one attribute whose missing value is not 0.

A frame that does not decode never matches and passes untouched. A stream
that cannot be framed at all (a zero or oversized length) is not ISO 8583:
the toxic passes the rest of that connection through untouched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from poslab.iso8583.errors import DecodeError, FramingError
from poslab.iso8583.framing import LENGTH_PREFIX_LEN, Framer
from poslab.iso8583.message import IsoMessage, decode
from poslab.proxy.api_error import refused_value
from poslab.proxy.api_json import GoKind, decode_fields, go_kind_of
from poslab.proxy.channel import Chunk
from poslab.proxy.toxics.base import Toxic, ToxicStub

__all__ = ["ANY_RC", "IsoToxic"]

log = logging.getLogger("poslab.proxy")

ANY_RC = -1
_MAX_FRAME = 0xFFFF


def _code_value(name: str, value: object, type_name: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise refused_value(
            f"{type_name} attribute {name} must be an integer or a string, not {go_kind_of(value)}"
        )
    if isinstance(value, str):
        text = value.strip().upper()
        if name == "mti":
            if len(text) != 4 or not text.isdigit():
                raise refused_value(f"{type_name} mti must be 4 digits such as 0210, got {value!r}")
            return int(text)
        if len(text) != 2 or not text.isascii() or not text.isalnum():
            raise refused_value(
                f"{type_name} rc must be a 2-character response code such as 00 or A0, "
                f"got {value!r}"
            )
        return int(text) if text.isdigit() else text
    return value


@dataclasses.dataclass(frozen=True)
class IsoToxic(Toxic):
    """Base of the ISO toxics: the ``mti``/``rc`` match and the frame loop."""

    #: Integers or strings; ``decode_attributes`` checks them (see ``_code_value``).
    attribute_kinds: ClassVar[Mapping[str, GoKind]] = {"mti": "any", "rc": "any"}

    mti: int = 0
    rc: int | str = ANY_RC

    @classmethod
    def decode_attributes(cls, raw: object) -> dict[str, object]:
        codes: dict[str, object] = {}
        rest: dict[str, Any] = {}
        if isinstance(raw, Mapping):
            for key, value in raw.items():
                lowered = str(key).lower()
                if lowered in ("mti", "rc"):
                    if value is not None:
                        codes[lowered] = _code_value(lowered, value, cls.type_name)
                else:
                    rest[key] = value
        else:
            rest = raw  # type: ignore[assignment]  # let decode_fields word the error
        kinds: dict[str, Any] = {
            name: "int64" for name in cls.attribute_names() if name not in ("mti", "rc")
        }
        decoded = decode_fields(rest, cls.go_struct, kinds, path="attributes")
        return {**codes, **decoded}

    def lint(self) -> None:
        """Nothing beyond :meth:`validate` (``rc: -1`` is "any", not a mistake)."""

    def validate(self) -> None:
        if isinstance(self.mti, int) and not 0 <= self.mti <= 9999:
            raise refused_value(f"{self.type_name} mti must be 0 (any) or 1..9999, got {self.mti}")
        if isinstance(self.rc, int) and not (self.rc == ANY_RC or 0 <= self.rc <= 99):
            raise refused_value(
                f"{self.type_name} rc must be -1 (any), 0..99, or a string such as A0, "
                f"got {self.rc}"
            )
        for name, value in self.attributes().items():
            if name not in ("mti", "rc") and isinstance(value, int) and value < 0:
                raise refused_value(f"{self.type_name} attribute {name} must not be negative")

    # --- matching ---------------------------------------------------------------------

    @property
    def filters(self) -> bool:
        return self.mti != 0 or self.rc != ANY_RC

    def rc_text(self) -> str | None:
        if self.rc == ANY_RC:
            return None
        return f"{self.rc:02d}" if isinstance(self.rc, int) else self.rc

    def matches(self, message: IsoMessage) -> bool:
        if self.mti and message.mti != f"{self.mti:04d}":
            return False
        wanted = self.rc_text()
        return wanted is None or message.fields.get(39) == wanted

    def message_of(self, payload: bytes) -> IsoMessage | None:
        try:
            return decode(payload)
        except DecodeError:
            return None

    # --- the frame loop -----------------------------------------------------------------

    async def on_frame(
        self, stub: ToxicStub, frame: bytes, payload: bytes, stamp: float, rest: Chunk | None
    ) -> None:
        """Handle one complete frame; ``rest`` is what the toxic holds after it."""
        await stub.write(Chunk(frame, stamp), keep=rest)

    async def pipe(self, stub: ToxicStub) -> None:
        framer = Framer(_MAX_FRAME)
        pending = bytearray()  # read, not yet passed on or dropped; starts at a frame boundary
        while (chunk := await stub.read()) is not None:
            pending += chunk.data
            stub.hold(Chunk(bytes(pending), chunk.stamp))
            try:
                payloads = framer.feed(bytes(chunk.data))
            except FramingError as exc:
                log.warning("%s: not ISO 8583 framing (%s); passing through", self.type_name, exc)
                await stub.write(Chunk(bytes(pending), chunk.stamp))
                await self._pass_through(stub)
                return
            for payload in payloads:
                size = LENGTH_PREFIX_LEN + len(payload)
                frame = bytes(pending[:size])
                del pending[:size]
                rest = Chunk(bytes(pending), chunk.stamp) if pending else None
                await self.on_frame(stub, frame, payload, chunk.stamp, rest)
        stub.close()

    @staticmethod
    async def _pass_through(stub: ToxicStub) -> None:
        while (chunk := await stub.read()) is not None:
            await stub.write(chunk)
        stub.close()
