"""What a toxic is: a typed set of integer attributes and a ``pipe`` coroutine.

As in Toxiproxy (``toxics/toxic.go``) a toxic is one stage of a direction's
pipeline. It reads chunks from its stub, writes chunks (or nothing) on, and
ends the stream with :meth:`ToxicStub.close`. A toxic instance is immutable
and shared by every connection; per-connection data lives on the stub
(``stub.state`` for stateful toxics such as ``limit_data``).

The stub keeps track of what a toxic has read but not yet passed on (its
*held* data): when a toxic is updated or removed on a live connection its
coroutine is simply cancelled and the held data goes back to the front of
its input, so no byte is ever lost. A toxic therefore has one rule to follow:
say what it still holds when it writes part of a chunk (``keep=``).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from poslab.proxy.api_error import refused_value
from poslab.proxy.api_json import GoKind, GoStruct, GoType, decode_fields
from poslab.proxy.channel import Chunk

__all__ = ["GO_READ_SIZE", "Toxic", "ToxicStub", "go_duration", "go_int64", "passthrough"]

#: Toxiproxy reads a socket at most this much at a time (io.Copy's buffer):
#: its chunks are never larger, and some toxics' timing follows from that.
GO_READ_SIZE = 32 * 1024

_WRAP = 2**64
_INT64_MIN = -(2**63)


def go_int64(value: int) -> int:
    """``value`` as Go's int64 arithmetic leaves it (it wraps around)."""
    return (value - _INT64_MIN) % _WRAP + _INT64_MIN


def go_duration(count: int, unit_ns: int) -> float:
    """Seconds of Go's ``time.Duration(count) * unit``: int64 nanoseconds,
    which wrap around, so an absurd value (``latency: 2**62`` ms) ends up the
    same odd delay as on Toxiproxy (0 here) and every sleep stays bounded."""
    return go_int64(count * unit_ns) / 1e9


class ToxicStub(Protocol):
    """The per-connection, per-direction handle a toxic's ``pipe`` runs on."""

    state: Any

    @property
    def rng(self) -> random.Random:
        """Draws for this stage (jitter, slice sizes); see ``poslab.proxy.draws``."""

    async def read(self) -> Chunk | None:
        """The next chunk, or ``None`` at end of stream. The chunk is held
        until it is written, dropped (:meth:`discard`) or replaced by ``keep``."""

    async def write(self, chunk: Chunk, *, keep: Chunk | None = None) -> None:
        """Pass ``chunk`` on (waiting while the next stage is full); after it,
        ``keep`` is all the toxic still holds (``None``: nothing)."""

    def discard(self) -> None:
        """Forget the held data on purpose (timeout, iso_drop)."""

    def hold(self, chunk: Chunk | None) -> None:
        """Declare exactly what the toxic holds now (``None``: nothing)."""

    def close(self) -> None:
        """End the stream towards the destination; later input is discarded."""

    def now(self) -> float:
        """The clock chunk stamps use (``time.monotonic``, precise on any loop)."""

    async def sleep_until(self, when: float) -> None:
        """Sleep until ``when`` on that clock, never less (at once if it has passed)."""

    def reset_connection(self) -> None:
        """Close both sockets of this connection with a TCP RST."""


async def passthrough(stub: ToxicStub) -> None:
    """The noop stage: also what an inactive toxic (toxicity draw missed) runs."""
    while (chunk := await stub.read()) is not None:
        await stub.write(chunk)
    stub.close()


@dataclasses.dataclass(frozen=True)
class Toxic:
    """Base of every toxic type. Subclasses are frozen dataclasses whose
    fields are the attributes, in the order Toxiproxy serialises them."""

    type_name: ClassVar[str] = ""
    #: Go's struct name, used in decode error messages as Toxiproxy words them.
    go_struct: ClassVar[str] = ""
    #: How many chunks may queue in front of this stage before reading pauses
    #: (Toxiproxy: 1024 for latency, unbuffered otherwise).
    buffer_size: ClassVar[int] = 1
    #: What it holds goes on at once when it is interrupted by an update, as
    #: Toxiproxy's latency, bandwidth and slicer write their chunk on interrupt.
    releases_on_interrupt: ClassVar[bool] = False
    #: Removing it closes the connections it is holding (Toxiproxy's timeout).
    closes_on_removal: ClassVar[bool] = False
    #: Go kind of each attribute; defaults to int64.
    attribute_kinds: ClassVar[Mapping[str, GoKind]] = {}

    async def pipe(self, stub: ToxicStub) -> None:
        await passthrough(stub)

    def new_state(self) -> Any:
        """Per-connection state kept across updates (``None``: stateless)."""
        return None

    def validate(self) -> None:
        """Refuse values that would crash Toxiproxy (400 with why); everything
        else it accepts is accepted, and behaves as it does there (a negative
        latency or delay is no delay, a negative limit is 0, …)."""

    # --- attributes ---------------------------------------------------------

    @classmethod
    def attribute_names(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def go_type(cls) -> GoStruct:
        """The Go struct Toxiproxy decodes these attributes into (for the
        wording of errors: ``LatencyToxic.attributes.latency``)."""
        kinds: tuple[tuple[str, GoType], ...] = tuple(
            (name, cls.attribute_kinds.get(name, "int64")) for name in cls.attribute_names()
        )
        return GoStruct(cls.go_struct, f"toxics.{cls.go_struct}", kinds)

    @classmethod
    def decode_attributes(cls, raw: object) -> dict[str, object]:
        """The attributes present in a request, type-checked (unknown ones ignored)."""
        kinds: dict[str, GoKind] = {
            name: cls.attribute_kinds.get(name, "int64") for name in cls.attribute_names()
        }
        return decode_fields(raw, cls.go_struct, kinds, path="attributes")

    @classmethod
    def from_attributes(
        cls, raw: object, base: Toxic | None = None, *, strict: bool = True
    ) -> Toxic:
        """A toxic from request attributes merged over ``base`` (update) or the
        defaults (create: missing attributes are 0).

        ``strict`` (the lab's scenario files) also refuses what Toxiproxy
        accepts but is surely a mistake in a scenario (:meth:`lint`); the API
        passes ``strict=False`` and refuses only what would crash Toxiproxy."""
        values = dict(base.attributes()) if base is not None else {}
        values.update(cls.decode_attributes(raw))
        toxic = cls(**values)
        if strict:
            toxic.lint()
        toxic.validate()
        return toxic

    def lint(self) -> None:
        """The stricter rules of scenario files: no negative attribute (it
        means "none" on Toxiproxy, never what the author meant)."""
        for name, value in self.attributes().items():
            if isinstance(value, int) and value < 0:
                raise refused_value(
                    f"{self.type_name} attribute {name} must not be negative (got {value})"
                )

    def attributes(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
