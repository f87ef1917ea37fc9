"""The drill room: who may do what, under which name, and what everyone sees.

A team drill has two roles. *Participants* watch the dashboard and act — checks,
notes, the detection, mitigations from the one catalogue the CLI uses — each
under their own name. The *facilitator* runs the exercise: reveals the hidden
plan, injects a further fault from the catalogue, pauses the drill clock, ends
the drill. The room sits between the HTTP face (:mod:`poslab.drill.dashboard.server`,
which checks the role's token) and the drill controller (a :class:`Stage`), and:

- refuses an action when the drill is not running (``the drill has ended``) or
  the facilitator paused it, with a :class:`~poslab.drill.errors.DrillError`
  the page shows as it is;
- writes every action to the timeline with ``by`` (the participant's name; the
  CLI sends the login name), so the timeline and the report say who did what;
- keeps a *version* that moves on every change, so a page waiting on
  ``/api/drill?version=N`` is answered the moment anything happens — several
  browsers see the same state well within a second.

What participants are shown never includes the hidden plan (unless the
facilitator revealed it to everyone) nor what the facilitator injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any, Protocol

from poslab.drill import mitigations
from poslab.drill.checks import AREAS
from poslab.drill.errors import DrillError, MitigationFailed
from poslab.drill.metrics import MetricsBoard
from poslab.drill.mitigations import DrillStack
from poslab.drill.playbook import DRILLABLE
from poslab.drill.session import RUNNING, Timeline
from poslab.errors import ConfigError, LabError

#: Timeline events participants see. ``inject`` is the facilitator's secret.
PUBLIC_EVENTS = frozenset(
    {"drill_started", "note", "detect", "check", "mitigation", "end", "pause", "resume", "reveal"}
)
MAX_NAME = 40
MAX_TEXT = 2000
#: A page's long poll is answered after this long even when nothing changed.
LONG_POLL_S = 15.0


class Stage(Protocol):
    """What the room acts on: the drill controller (a stand-in in tests)."""

    @property
    def status(self) -> str: ...

    @property
    def t0(self) -> float | None: ...

    @property
    def max_end_at(self) -> float | None: ...

    @property
    def info(self) -> Mapping[str, Any]: ...  # regions, terminals, policy

    def clock_s(self) -> float | None: ...  # drill time so far (pauses taken out)

    def mitigation_stack(self) -> DrillStack: ...

    async def run_check(self, area: str) -> dict[str, Any]: ...

    def plan_view(self) -> dict[str, Any]: ...

    async def inject(self, scenario: str) -> list[str]: ...

    def set_paused(self, paused: bool) -> float | None: ...

    def finish(self, reason: str, keep: bool) -> None: ...


def participant_name(value: object) -> str:
    """A participant's name as given by a page or the CLI ("" for none)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError("by: your name, as a string")
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise ConfigError(f"by: a name of at most {MAX_NAME} characters")
    return name


class DrillRoom:
    def __init__(
        self,
        stage: Stage,
        timeline: Timeline,
        board: MetricsBoard,
        *,
        token: str,
        facilitator_token: str,
    ) -> None:
        self.stage = stage
        self.timeline = timeline
        self.board = board
        self.token = token
        self.facilitator_token = facilitator_token
        self.version = 0
        self.revealed = False
        self._changed = asyncio.Event()
        self._mitigating = asyncio.Lock()  # one at a time: two restarts must not interleave

    # -- what everyone sees -------------------------------------------------------------

    def changed(self) -> None:
        """Something participants see changed: wake every waiting page."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, version: int, timeout: float = LONG_POLL_S) -> None:
        """Return once the version is not ``version`` any more (or after ``timeout``)."""
        if version != self.version:
            return
        with contextlib.suppress(TimeoutError):  # nothing changed: answer anyway
            await asyncio.wait_for(self._changed.wait(), timeout)

    def public_status(self) -> dict[str, Any]:
        stage = self.stage
        events = [e for e in self.timeline.read() if e.get("event") in PUBLIC_EVENTS]
        status: dict[str, Any] = {
            "version": self.version,
            "status": stage.status,
            "now": time.time(),
            "t0": stage.t0,
            "clock_s": stage.clock_s(),
            "paused": self.paused,
            "max_end_at": stage.max_end_at,
            **stage.info,
            "events": events,
            "mitigations": [
                {
                    "name": m.name,
                    "summary": m.summary,
                    "params": {k: h for k, (_, h) in m.params.items()},
                }
                for m in mitigations.CATALOGUE.values()
            ],
            "checks": list(AREAS),
        }
        if self.revealed:
            status["plan"] = stage.plan_view()
        return status

    def record(self, event: str, by: str, **fields: Any) -> dict[str, Any]:
        entry = self.timeline.append(event, by=by or None, **fields)
        self.changed()
        return entry

    # -- participants ---------------------------------------------------------------------

    def _require_running(self) -> None:
        status = self.stage.status
        if status != RUNNING:
            word = "has ended" if status in ("ending", "ended", "failed") else f"is {status}"
            raise DrillError(f"the drill {word}: nothing more can be done in it")
        if self.paused:
            raise DrillError("the facilitator paused the drill: wait for the clock to run again")

    @property
    def paused(self) -> bool:
        events = [e for e in self.timeline.read() if e.get("event") in ("pause", "resume")]
        return bool(events) and events[-1]["event"] == "pause"

    async def note(self, kind: str, text: str, by: str = "") -> dict[str, Any]:
        if kind not in ("note", "detect"):
            raise ConfigError(f"unknown kind of note {kind!r}")
        self._require_running()
        return self.record(kind, by, text=_text(text))

    async def check(self, area: str, by: str = "") -> dict[str, Any]:
        if area not in AREAS:
            raise ConfigError(f"unknown check {area!r} (known: {', '.join(AREAS)})")
        self._require_running()
        report = await self.stage.run_check(area)
        self.record("check", by, area=area, verdict=report.get("verdict"))
        return report

    async def mitigate(
        self, action: str, raw: Mapping[str, object], by: str = ""
    ) -> dict[str, Any]:
        mitigation = mitigations.lookup(action)  # an unknown name: ConfigError, nothing runs
        self._require_running()
        stack = self.stage.mitigation_stack()
        params = mitigation.parse(raw, stack)
        async with self._mitigating:
            self._require_running()  # it may have ended while this one waited
            began = time.time()
            try:
                result = await mitigation.run(stack, params)
                ok = True
            except LabError as exc:
                result, ok = str(exc), False
            done = time.time()
        event = self.record(
            "mitigation",
            by,
            t=began,
            action=action,
            params=params,
            ok=ok,
            result=result,
            seconds=round(done - began, 3),
        )
        if not ok:
            raise MitigationFailed(f"{action}: {result}")
        return event

    def request_end(self, keep: bool, by: str = "") -> dict[str, Any]:
        self._require_running_or_paused()
        who = f" ({by})" if by else ""
        self.stage.finish(f"ended by the participants{who}", keep)
        self.changed()
        return {"ending": True, "keep_stack": keep}

    def _require_running_or_paused(self) -> None:
        if self.stage.status != RUNNING:
            raise DrillError("the drill has ended already")

    # -- the facilitator ----------------------------------------------------------------

    def plan_view(self) -> dict[str, Any]:
        return {**self.stage.plan_view(), "revealed_to_everyone": self.revealed}

    def reveal(self, everyone: bool, by: str = "") -> dict[str, Any]:
        """The plan for the facilitator; with ``everyone``, on every participant's page."""
        if everyone and not self.revealed:
            self.revealed = True
            self.record("reveal", by, to="everyone")
        return self.plan_view()

    async def inject(self, scenario: str, by: str = "") -> dict[str, Any]:
        if scenario not in DRILLABLE:
            raise ConfigError(
                f"unknown scenario {scenario!r} to inject (drillable: {', '.join(DRILLABLE)})"
            )
        self._require_running()
        faults = await self.stage.inject(scenario)
        # On the timeline for the report; never shown to the participants.
        self.record("inject", by, scenario=scenario, faults=faults)
        return {"scenario": scenario, "faults": faults}

    def pause(self, by: str = "") -> dict[str, Any]:
        self._require_running_or_paused()
        if self.paused:
            raise DrillError("the drill is paused already")
        self.stage.set_paused(True)
        return self.record("pause", by)

    def resume(self, by: str = "") -> dict[str, Any]:
        self._require_running_or_paused()
        if not self.paused:
            raise DrillError("the drill is not paused")
        length = self.stage.set_paused(False)
        return self.record("resume", by, paused_s=round(length or 0.0, 1))

    def end_by_facilitator(self, keep: bool, by: str = "") -> dict[str, Any]:
        self._require_running_or_paused()
        who = f" ({by})" if by else ""
        self.stage.finish(f"ended by the facilitator{who}", keep)
        self.changed()
        return {"ending": True, "keep_stack": keep}


def _text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("text: a non-empty string is needed")
    if len(text) > MAX_TEXT:
        raise ConfigError(f"text: at most {MAX_TEXT} characters")
    return text.strip()
