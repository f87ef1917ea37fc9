"""What a person watching ``lab run`` sees: phase, active faults, TPS, success ratio, p99.

:class:`LiveView` listens to the run's events (it is never called by the
runner). On a terminal it draws a ``rich.live.Live`` panel refreshed four
times a second; when stdout is not a TTY, or ``CI`` is set, it prints plain
lines instead — one per event that matters and a figures line every few
seconds — so CI logs stay readable and grep-able.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from poslab.scenario.journal import RunEvents

_PLAIN_FIGURES_EVERY_S = 5.0


@dataclass
class _State:
    scenario: str = ""
    index: int = 0
    total: int = 0
    phase: str = "starting"
    active: dict[str, str] = field(default_factory=dict)
    tps: int = 0
    ratio: float | None = None
    p99_ms: float | None = None
    good: bool | None = None
    progress: float = 0.0
    last_event: str = ""


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


class LiveView:
    """Subscribes to ``events``; use as a context manager around the run."""

    def __init__(self, events: RunEvents, console: Console, *, plain: bool, scenarios: int) -> None:
        self.console = console
        self.plain = plain
        self.state = _State(total=scenarios)
        self._live: Live | None = None
        self._last_plain = 0.0
        hooks = events
        hooks.stack_up.add_listener(self._stack_up)
        hooks.scenario_started.add_listener(self._scenario_started)
        hooks.phase.add_listener(self._phase)
        hooks.fault_injected.add_listener(self._injected)
        hooks.fault_cleared.add_listener(self._cleared)
        hooks.sample.add_listener(self._sample)
        hooks.probe.add_listener(self._probe)
        hooks.abort.add_listener(self._abort)
        hooks.rollback.add_listener(self._rollback)
        hooks.drain_finished.add_listener(self._drained)
        hooks.scenario_finished.add_listener(self._finished)

    # -- context -----------------------------------------------------------------

    def __enter__(self) -> LiveView:
        if not self.plain:
            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    # -- listeners -----------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.state.last_event = text
        if self.plain:
            self._plain(text)
        elif self._live is not None:
            self._live.console.print(text, highlight=False, markup=False)
        self._refresh()

    def _plain(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def _stack_up(self, *, scenario: str, seconds: float | None, **_: Any) -> None:
        self.state.scenario = scenario
        self._say(f"[{scenario}] stack up in {seconds or 0:.1f} s")

    def _scenario_started(self, *, scenario: str, **_: Any) -> None:
        s = self.state
        s.active.clear()
        s.tps, s.ratio, s.p99_ms, s.good, s.progress = 0, None, None, None, 0.0
        self._say(f"[{scenario}] load running: scenario clock started")

    def _phase(self, *, scenario: str, phase: str, **_: Any) -> None:
        s = self.state
        if scenario != s.scenario:
            s.scenario, s.index = scenario, s.index + 1
            self._say(f"── scenario {s.index}/{s.total}: {scenario}")
        s.phase = phase
        if self.plain:
            self._plain(f"[{scenario}] phase {phase}")
        self._refresh()

    def _injected(
        self, *, scenario: str, fault_id: str, action: str, target: str, **e: Any
    ) -> None:
        self.state.active[fault_id] = f"{action} {target}"
        drift = e.get("drift_ms")
        self._say(f"[{scenario}] + fault {fault_id}: {action} {target} (drift {drift:.1f} ms)")

    def _cleared(self, *, scenario: str, fault_id: str, reason: str, **_: Any) -> None:
        self.state.active.pop(fault_id, None)
        self._say(f"[{scenario}] − fault {fault_id} cleared ({reason})")

    def _sample(self, **e: Any) -> None:
        s = self.state
        s.tps, s.ratio, s.p99_ms, s.good = e["tps"], e["ratio"], e["p99_ms"], e["good"]
        s.progress = float(e.get("progress", s.progress))
        now = time.monotonic()
        if self.plain and now - self._last_plain >= _PLAIN_FIGURES_EVERY_S:
            self._last_plain = now
            self._plain(
                f"[{s.scenario}] second {e['second']}: {s.tps} tps, success {_ratio(s.ratio)}, "
                f"p99 {_ms(s.p99_ms)}, {s.progress:.0%} done, "
                f"faults: {', '.join(s.active) or 'none'}"
            )
        self._refresh()

    def _probe(self, *, scenario: str, name: str, ok: bool, detail: str, **_: Any) -> None:
        if name != "slo":  # SLO flips are in the figures already
            self._say(f"[{scenario}] probe {name}: {'ok' if ok else 'FAILED'} — {detail}")

    def _abort(self, *, scenario: str, reason: str, **_: Any) -> None:
        self._say(f"[{scenario}] ABORT: {reason}")

    def _rollback(self, *, scenario: str, ok: bool, detail: str, **_: Any) -> None:
        self._say(f"[{scenario}] rollback {'ok' if ok else 'INCOMPLETE'}: {detail}")

    def _drained(
        self, *, scenario: str, pending_reversals: int, pending_saf: int = 0, **_: Any
    ) -> None:
        self._say(
            f"[{scenario}] drain finished: {pending_reversals} reversal(s) still pending, "
            f"{pending_saf} refund(s) in store-and-forward"
        )

    def _finished(self, *, scenario: str, status: str, detail: str, **_: Any) -> None:
        self.state.progress = 1.0
        tail = f": {detail}" if detail else ""
        self._say(f"[{scenario}] finished {status}{tail}")

    # -- drawing -------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Group:
        s = self.state
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row("scenario", f"{s.scenario or '–'} ({s.index}/{s.total})")
        table.add_row("phase", s.phase)
        table.add_row("faults", ", ".join(f"{k} ({v})" for k, v in s.active.items()) or "none")
        verdict = {True: "[green]good[/green]", False: "[red]bad[/red]", None: "–"}[s.good]
        table.add_row(
            "fleet",
            f"{s.tps} tps   success {_ratio(s.ratio)}   p99 {_ms(s.p99_ms)}   {verdict}",
        )
        bar = ProgressBar(total=1.0, completed=s.progress, width=40)
        return Group(table, Text.assemble(("progress ", "bold")), bar)
