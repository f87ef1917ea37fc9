"""One direction of one proxied connection: source socket → toxics → destination.

Toxiproxy's ``ToxicLink``, with one difference that matters for speed: a
direction with no toxics has no pipeline at all. Bytes go from the source
protocol's ``data_received`` straight into the destination transport
(``fast_dest``), with flow control done the asyncio way — the source stops
reading while the destination's write buffer is above its high-water mark.

When a toxic is added the link grows a chain of :class:`~poslab.proxy.stage.Stage`
objects between a head :class:`~poslab.proxy.channel.Channel` and the link
itself, which is the chain's final :class:`~poslab.proxy.channel.Outlet`. Every
change to the chain is synchronous (see ``stage.py``) so it is atomic with
respect to the data: nothing is dropped, nothing reordered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from poslab.proxy.channel import Channel, Chunk
from poslab.proxy.stage import Stage
from poslab.proxy.toxics.base import Toxic

if TYPE_CHECKING:
    from poslab.proxy.connection import Connection, Side

__all__ = ["DIRECTIONS", "Direction", "Link"]

Direction = Literal["upstream", "downstream"]
#: Toxiproxy's order: upstream chains are listed first.
DIRECTIONS: tuple[Direction, Direction] = ("upstream", "downstream")


class Link:
    """Bytes of one direction, and the toxic stages they run through."""

    def __init__(
        self, connection: Connection, direction: Direction, source: Side, dest: Side
    ) -> None:
        self.connection = connection
        self.direction = direction
        self.source = source
        self.dest = dest
        self.stages: list[Stage] = []
        #: Where read bytes go when there are toxics; ``None`` on the fast path.
        self.head: Channel | None = None
        #: The destination transport while bytes may be written straight to it.
        self.fast_dest: asyncio.Transport | None = dest.transport
        self.received = 0
        self.sent = 0
        self.dest_paused = False
        self.source_eof = False
        #: EOF delivered to the destination, or the destination is gone.
        self.ended = False
        self._room: list[Callable[[], None]] = []

    def describe(self) -> str:
        return f"{self.connection.describe()} {self.direction}"

    # --- bytes from the source ------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes read while the link is not on the fast path."""
        self.received += len(data)
        head = self.head
        if head is None:
            return  # the destination is gone or closed: nowhere to deliver
        head.put_nowait(Chunk(data, time.monotonic()))  # the stages' clock: Stage.now
        if head.full():
            self._flow()

    def feed_eof(self) -> None:
        if self.source_eof:
            return
        self.source_eof = True
        if self.head is None:
            self.put_nowait(None)
        else:
            self.head.put_nowait(None)

    # --- the destination, as the chain's outlet -----------------------------------

    def full(self) -> bool:
        return self.dest_paused

    def put_nowait(self, item: Chunk | None) -> None:
        if self.ended:
            return
        if item is None:
            self._end()
            return
        self.sent += len(item.data)
        self.dest.write(item.data)

    def on_room(self, callback: Callable[[], None]) -> None:
        if callback not in self._room:
            self._room.append(callback)

    def cancel_on_room(self, callback: Callable[[], None]) -> None:
        if callback in self._room:
            self._room.remove(callback)

    def set_dest_paused(self, paused: bool) -> None:
        self.dest_paused = paused
        if not paused:
            self._notify_room()
        self._flow()

    def dest_lost(self) -> None:
        """The destination socket closed: what is still in flight has nowhere to go."""
        self.ended = True
        self.fast_dest = None
        self.dest_paused = False
        self._notify_room()

    def _end(self) -> None:
        self.ended = True
        self.fast_dest = None
        self.dest.close()

    def _notify_room(self) -> None:
        callbacks, self._room = self._room, []
        for callback in callbacks:
            callback()

    def _flow(self) -> None:
        """Read from the source only while the next hop has room."""
        head = self.head
        if head is None:
            reading = not self.dest_paused
        else:
            reading = not head.full()
            if not reading:
                head.on_room(self._flow)
        self.source.set_reading(reading)

    # --- the toxic chain ------------------------------------------------------------

    def add_stage(self, name: str, toxic: Toxic, toxicity: float) -> None:
        """Append a toxic to the end of the chain, live."""
        if self.ended:
            return
        stage = Stage(
            self, name, toxic, toxicity, self, self.connection.draws(self.direction, name)
        )
        if self.stages:
            self.stages[-1].retarget(stage.input)
        else:
            self.head = stage.input
            self.fast_dest = None
        self.stages.append(stage)
        stage.start()
        self._flow()

    def update_stage(self, name: str, toxic: Toxic, toxicity: float) -> None:
        for stage in self.stages:
            if stage.name == name:
                stage.restart(toxic, toxicity)
                return

    def retoxic_stage(self, name: str, toxic: Toxic) -> None:
        """New attributes without a restart (what a 400 update leaves behind)."""
        for stage in self.stages:
            if stage.name == name:
                stage.toxic = toxic
                return

    def remove_stage(self, name: str, *, closes: bool) -> None:
        """Take a toxic out of the chain. What it held and what queued in front
        of it move on to the next hop — unless it is a toxic whose removal
        closes the connection (``closes``) and it was active here."""
        index = next((i for i, stage in enumerate(self.stages) if stage.name == name), None)
        if index is None:
            return
        stage = self.stages.pop(index)
        stage.interrupt()
        if closes and stage.active and not stage.closed:
            stage.input.drain()
            stage.close()
        else:
            for item in stage.input.drain():
                stage.output.put_nowait(item)
            stage.closed = True
        target = stage.output
        if index > 0:
            self.stages[index - 1].retarget(target)
        elif isinstance(target, Channel):
            self.head = target
        else:
            self.head = None
            if not self.ended:
                self.fast_dest = self.dest.transport
        stage.input.retire()
        self._flow()

    def stop(self) -> None:
        """The connection is over: cancel every stage."""
        for stage in self.stages:
            stage.stop()
        self.fast_dest = None
