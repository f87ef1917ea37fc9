"""A team's plugin as the docs describe it: a probe type, a fault action and an
expectation kind, registered on import (``--plugin tests.extensions.sample_plugin``).

The fault action writes its injections and clearings to ``actions.log`` in the
scenario's folder, so a test can read what the runner did with it.
"""

from __future__ import annotations

from typing import Any

from poslab.app_faults import FaultParams
from poslab.plugins import (
    ActionContext,
    FaultAction,
    ParamSpec,
    Probe,
    ProbeContext,
    ProbeParams,
    ProbeResult,
    expectation_kind,
    fault_action,
    probe_type,
)


class FlakyParams(ProbeParams):
    #: "ok": answers ok; "fail": answers not ok; "raise": raises; "hang": never answers
    behave: str = "ok"


@probe_type
class Flaky(Probe[FlakyParams]):
    type = "flaky"
    Params = FlakyParams
    summary = "answers as it is told"

    async def check(self, ctx: ProbeContext) -> ProbeResult:
        if self.params.behave == "raise":
            raise RuntimeError("the probe broke")
        if self.params.behave == "hang":
            import asyncio

            await asyncio.sleep(3600)
        return ProbeResult(self.params.behave == "ok", self.params.behave, "as told")


class MarkParams(FaultParams):
    label: str
    times: int = 1


@fault_action
class Mark(FaultAction[MarkParams]):
    name = "mark"
    Params = MarkParams
    summary = "writes a line when injected and one when cleared"

    async def inject(self, ctx: ActionContext) -> None:
        with (ctx.scenario_dir / "actions.log").open("a") as log:
            log.write(f"inject {ctx.fault_id} {ctx.target} {self.params.label}\n")

    async def clear(self, ctx: ActionContext) -> None:
        with (ctx.scenario_dir / "actions.log").open("a") as log:
            log.write(f"clear {ctx.fault_id} {ctx.target} {self.params.label}\n")


@expectation_kind(
    "attempts_at_least",
    "at least `min` financial attempts over the whole run",
    (ParamSpec("min", "integer", "lowest count", True, None, 0),),
)
def attempts_at_least(ctx: Any, p: dict[str, Any]) -> tuple[bool, str, str]:
    attempts = sum(ctx.overall.attempts)  # SecondFigures: one count per second
    return attempts >= p["min"], str(attempts), f"{attempts} attempts vs min {p['min']}"


@expectation_kind("always_breaks", "an evaluator with a bug")
def always_breaks(ctx: Any, p: dict[str, Any]) -> tuple[bool, str, str]:
    raise ZeroDivisionError("the plugin's bug")
