"""The conduits between toxic stages: chunks, channels and outlets.

A direction of a connection with toxics is a pipeline
``source socket -> channel -> stage -> channel -> stage -> outlet (socket)``,
as in Toxiproxy's ``link.go``; ``None`` travels as end-of-stream.

Unlike Go channels these are plain deques on one event loop: a put never
blocks (a writer first checks :meth:`Channel.full` and waits for room, so the
bound is a flow-control threshold, not a hard limit), which lets the chain be
rewired synchronously while data is in flight and never drop a chunk: a stage
being removed hands its queue to the next one in a single step.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = ["Channel", "Chunk", "Outlet"]


class Chunk:
    """Bytes read from a socket and the loop time they are due from.

    ``stamp`` starts as the time the bytes were read; a latency stage moves
    it to when it released them, so stacked latencies add up."""

    __slots__ = ("data", "stamp")

    def __init__(self, data: bytes | memoryview, stamp: float) -> None:
        self.data = data
        self.stamp = stamp

    def __repr__(self) -> str:
        return f"Chunk({len(self.data)} bytes @ {self.stamp:.6f})"


RoomCallback = Callable[[], None]


class Outlet(Protocol):
    """Where a stage writes: the next stage's channel or the destination."""

    def full(self) -> bool: ...

    def put_nowait(self, item: Chunk | None) -> None: ...

    def on_room(self, callback: RoomCallback) -> None: ...

    def cancel_on_room(self, callback: RoomCallback) -> None: ...


#: Bytes a channel holds before it counts as full, whatever its chunk count:
#: Toxiproxy's latency buffer is 1,024 chunks of at most 32 KiB; ours are up to
#: 256 KiB, so the byte bound keeps the same worst case per connection.
BYTE_LIMIT = 32 * 1024 * 1024


class Channel:
    """A FIFO of chunks with a soft bound (chunks and bytes); ``None`` is EOF.

    After EOF has been put, further puts are discarded: whatever a closed
    stage (timeout, limit_data) leaves behind has nowhere to go."""

    __slots__ = ("_bytes", "_eof_put", "_getter", "_items", "_limit", "_room")

    def __init__(self, limit: int) -> None:
        self._items: deque[Chunk | None] = deque()
        self._limit = max(1, limit)
        self._bytes = 0
        self._getter: asyncio.Future[None] | None = None
        self._room: list[RoomCallback] = []
        self._eof_put = False

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return len(self._items) >= self._limit or self._bytes >= BYTE_LIMIT

    def put_nowait(self, item: Chunk | None) -> None:
        if self._eof_put:
            return
        if item is None:
            self._eof_put = True
        else:
            self._bytes += len(item.data)
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def push_front(self, items: Iterable[Chunk | None]) -> None:
        """Give back chunks a stage had taken but not finished (an interrupted
        stage's held data), ahead of everything still queued."""
        batch = list(items)
        if not batch:
            return
        if batch[-1] is None:
            self._eof_put = True
        self._bytes += sum(len(item.data) for item in batch if item is not None)
        self._items.extendleft(reversed(batch))
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self) -> Chunk | None:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getter = getter
            try:
                await getter
            finally:
                if self._getter is getter:
                    self._getter = None
        item = self._items.popleft()
        if item is not None:
            self._bytes -= len(item.data)
        if self._room and not self.full():
            self._notify_room()
        return item

    def drain(self) -> list[Chunk | None]:
        """Take everything queued (used when the stage reading this channel
        is removed and its queue moves on down the chain)."""
        items = list(self._items)
        self._items.clear()
        self._bytes = 0
        self._notify_room()
        return items

    def on_room(self, callback: RoomCallback) -> None:
        if callback not in self._room:
            self._room.append(callback)

    def cancel_on_room(self, callback: RoomCallback) -> None:
        if callback in self._room:
            self._room.remove(callback)

    def retire(self) -> None:
        """This channel is no longer part of the chain: wake everyone waiting
        to write into it so they look up their new target."""
        self._notify_room()

    def _notify_room(self) -> None:
        callbacks, self._room = self._room, []
        for callback in callbacks:
            callback()
