"""One toxic running on one direction of one connection (Toxiproxy's ToxicStub).

A stage owns an input :class:`~poslab.proxy.channel.Channel`, writes to an
:class:`~poslab.proxy.channel.Outlet` (the next stage's channel or the
destination socket), and runs its toxic's ``pipe`` as an asyncio task.

Interrupting a stage is synchronous: the task is cancelled (it can no longer
touch a channel — cancellation lands on the ``await`` it is suspended at) and
whatever it held, plus a pending EOF, goes back to the front of its input.
That is what makes live add/update/remove lossless without Toxiproxy's
interrupt channels.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from poslab.proxy.channel import Channel, Chunk, Outlet
from poslab.proxy.draws import StageDraws
from poslab.proxy.toxics.base import Toxic, passthrough

if TYPE_CHECKING:
    from poslab.proxy.link import Link

__all__ = ["Stage"]

log = logging.getLogger("poslab.proxy")


class Stage:
    """The :class:`~poslab.proxy.toxics.base.ToxicStub` a toxic's ``pipe`` runs on."""

    def __init__(
        self,
        link: Link,
        name: str,
        toxic: Toxic,
        toxicity: float,
        output: Outlet,
        draws: StageDraws,
    ) -> None:
        self.link = link
        self.name = name
        self.toxic = toxic
        self.input = Channel(toxic.buffer_size)
        self.output = output
        self.draws = draws
        self.state: Any = toxic.new_state()
        self.active = self._draw(toxicity)
        self.held: list[Chunk] = []
        self.eof_pending = False
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[None] | None = None

    def _draw(self, toxicity: float) -> bool:
        # Drawn once per connection and direction, and again on update.
        return self.draws.toxicity() < toxicity

    # --- lifecycle (called by the link) ---------------------------------------

    def start(self) -> None:
        if self.closed:
            return
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._finished)

    async def _run(self) -> None:
        if self.active:
            await self.toxic.pipe(self)
        else:
            await passthrough(self)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A toxic bug must not take the server down: end this connection.
            log.error(
                "toxic %s (%s) failed on %s; closing the connection",
                self.name,
                self.toxic.type_name,
                self.link.describe(),
                exc_info=exc,
            )
            self.link.connection.abort()

    def interrupt(self, *, release: bool = False) -> None:
        """Stop the toxic now and give back what it held (nothing is lost):
        to the front of its input, or on to its output (``release``)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        held, self.held = self.held, []
        returned: list[Chunk | None] = [] if release else list(held)
        if release:
            for chunk in held:
                self.output.put_nowait(chunk)
        if self.eof_pending:
            returned.append(None)
        self.eof_pending = False
        self.input.push_front(returned)

    def restart(self, toxic: Toxic, toxicity: float) -> None:
        """Apply an update: new attributes, toxicity drawn again. What the
        old toxic held is let go at once when Toxiproxy's toxic lets it go on
        an interrupt (a latency toxic's delayed chunk arrives right away, and
        the chunks queued behind it get the new delay)."""
        released = self.active and self.toxic.releases_on_interrupt
        self.toxic = toxic
        if self.closed:
            return
        self.interrupt(release=released)
        self.active = self._draw(toxicity)
        self.start()

    def stop(self) -> None:
        """The connection is gone: cancel without handing anything on."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
        self.closed = True

    def retarget(self, output: Outlet) -> None:
        """Write to ``output`` from now on (a stage was added after this one or
        the one after it was removed); a write waiting for room looks again."""
        self.output = output
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    # --- the ToxicStub interface ----------------------------------------------

    @property
    def rng(self) -> random.Random:
        return self.draws.rng

    async def read(self) -> Chunk | None:
        item = await self.input.get()
        if item is None:
            self.eof_pending = True
        else:
            self.held.append(item)
        return item

    async def write(self, chunk: Chunk, *, keep: Chunk | None = None) -> None:
        while True:
            output = self.output
            if not output.full():
                break
            waiting = asyncio.get_running_loop().create_future()

            def wake(waiting: asyncio.Future[None] = waiting) -> None:
                if not waiting.done():
                    waiting.set_result(None)

            self._waiting = waiting
            output.on_room(wake)
            try:
                await waiting
            finally:
                output.cancel_on_room(wake)
                if self._waiting is waiting:
                    self._waiting = None
        output.put_nowait(chunk)
        self.held = [keep] if keep is not None else []

    def discard(self) -> None:
        self.held = []

    def hold(self, chunk: Chunk | None) -> None:
        self.held = [chunk] if chunk is not None else []

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.held = []
        self.eof_pending = False
        self.output.put_nowait(None)

    def now(self) -> float:
        # Not loop.time(): uvloop's is libuv's clock, cached once per loop
        # iteration in whole milliseconds, and its timers round to the
        # millisecond, so a delay measured on it can end early. A toxic must
        # never release anything early: stamps and sleeps use time.monotonic()
        # (which is what asyncio's own loop.time() returns anyway).
        return time.monotonic()

    async def sleep_until(self, when: float) -> None:
        while (delay := when - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def reset_connection(self) -> None:
        self.closed = True
        self.held = []
        self.eof_pending = False
        self.link.connection.reset()
