"""The drill clock, which the facilitator can pause.

A game day stops now and then ("freeze — what do we know?"). Pausing stops the
*drill's* time: hidden faults not yet in wait, device faults' windows stop
running, the drill's maximum length moves out by the pause. The payment world
does not stop — terminals keep selling and the dashboard keeps measuring — so
the metrics sampler keeps its own, plain clock (:meth:`PausableClock.plain`).

Journal times stay real epoch seconds (:meth:`now` is not paused); a planned
offset's epoch (:meth:`epoch`) is moved out by the pauses so far, so a fault's
drift in the journal is still its lateness, not the pause.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from poslab.scenario import ScenarioClock

#: A sleeper notices a pause or a resume within this long.
_TICK_S = 0.2


@dataclass
class PauseState:
    total_s: float = 0.0  # paused time before the current pause
    since_mono: float | None = None  # the current pause began (None: running)

    def paused_s(self, now_mono: float) -> float:
        current = 0.0 if self.since_mono is None else now_mono - self.since_mono
        return self.total_s + current


@dataclass(frozen=True)
class PausableClock(ScenarioClock):
    pause_state: PauseState = field(default_factory=PauseState)

    @classmethod
    def start(cls) -> PausableClock:
        return cls(t0=time.time(), t0_mono=time.monotonic())

    @property
    def paused(self) -> bool:
        return self.pause_state.since_mono is not None

    def plain(self) -> ScenarioClock:
        """The same zero, never paused (the world's own time)."""
        return ScenarioClock(self.t0, self.t0_mono)

    def pause(self) -> bool:
        """Stop the drill's time; False if it already was."""
        if self.paused:
            return False
        self.pause_state.since_mono = time.monotonic()
        return True

    def resume(self) -> float | None:
        """Let the drill's time run again; the pause's length (None if not paused)."""
        since = self.pause_state.since_mono
        if since is None:
            return None
        length = time.monotonic() - since
        self.pause_state.total_s += length
        self.pause_state.since_mono = None
        return length

    def offset_now(self) -> float:
        """Seconds of drill time so far (the pauses taken out)."""
        now = time.monotonic()
        return now - self.t0_mono - self.pause_state.paused_s(now)

    def epoch(self, offset_s: float) -> float:
        return self.t0 + offset_s + self.pause_state.paused_s(time.monotonic())

    async def sleep_until(self, offset_s: float) -> None:
        """Sleep until ``offset_s`` of drill time; a pause holds the sleeper."""
        while True:
            if self.paused:
                await asyncio.sleep(_TICK_S)
                continue
            remaining = offset_s - self.offset_now()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, _TICK_S))
