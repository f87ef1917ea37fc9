"""The mitigation catalogue against a recording stand-in of the running drill: what each
action does to the stack, how params are checked, and what a failure looks like."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from poslab.drill.errors import MitigationFailed
from poslab.drill.mitigations import CATALOGUE, lookup, parse_pairs
from poslab.errors import ConfigError
from poslab.scenario import ApplicationFault, Fault, NetworkFault, ProcessFault
from poslab.scenario.fault_actions import KillParams, NoParams

pytestmark = pytest.mark.anyio


def _fault(cls: type, **kw: Any) -> Fault:
    base = {
        "id": kw.pop("id"),
        "group": "g",
        "description": "",
        "at_s": 1.0,
        "for_s": 10.0,
        "unavoidable": False,
        "index": 0,
    }
    return cls(**base, **kw)  # type: ignore[no-any-return]


KILL = _fault(ProcessFault, id="kill", target="acquirer", action="kill", params=KillParams())
STALL = _fault(
    ApplicationFault, id="stall", target="acquirer", action="stall_settlement", params=NoParams()
)
ISSUER_DOWN = _fault(NetworkFault, id="issuer-down", target="issuer", action="down")


class FakeStack:
    regions = ("north", "south", "east")
    latest_software = "020100"

    def __init__(self, active: list[Fault] | None = None, admin_status: int = 200) -> None:
        self.active = list(active or [])
        self.calls: list[tuple[Any, ...]] = []
        self.admin_status = admin_status
        self.seq = 0

    async def restart_service(self, service: str) -> None:
        self.calls.append(("restart", service))

    def fleet_command(self, action: str, params: Mapping[str, Any]) -> int:
        self.seq += 1
        self.calls.append(("fleet", action, dict(params)))
        return self.seq

    async def admin(
        self, method: str, service: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, str]:
        self.calls.append(("admin", method, service, path))
        text = "acquirer not answering (ClientConnectorError)" if not self.admin_status else "{}"
        return self.admin_status, text

    async def end_faults(self, match: Callable[[Fault], bool], reason: str) -> list[str]:
        ended = [f for f in self.active if match(f)]
        self.active = [f for f in self.active if not match(f)]
        self.calls += [("end", f.id, reason) for f in ended]
        return [f.id for f in ended]


async def run(name: str, stack: FakeStack, **raw: object) -> str:
    m = lookup(name)
    return await m.run(stack, m.parse(raw, stack))


async def test_fleet_mitigations_send_fleet_commands() -> None:
    stack = FakeStack()
    assert "north, east pinned to the backup host path" in await run(
        "use_backup_path", stack, regions="north,east"
    )
    await run("force_sign_on", stack)
    await run("use_backup_agent", stack)
    await run("throttle", stack, factor="0.25")
    assert "software 020100 pushed to every terminal" in await run("push_software", stack)
    await run("push_software", stack, version="030000", regions="south")
    assert [c for c in stack.calls if c[0] == "fleet"] == [
        ("fleet", "use_backup_path", {"regions": ["north", "east"]}),
        ("fleet", "force_sign_on", {}),
        ("fleet", "use_backup_agent", {}),
        ("fleet", "throttle", {"factor": 0.25}),
        ("fleet", "set_software", {"version": "020100"}),
        ("fleet", "set_software", {"version": "030000", "regions": ["south"]}),
    ]


async def test_restart_acquirer_ends_a_kill_fault_and_the_forgotten_switches() -> None:
    stack = FakeStack(active=[KILL, STALL, ISSUER_DOWN])
    assert (await run("restart_acquirer", stack)).startswith("acquirer restarted")
    assert ("end", "kill", "mitigation") in stack.calls and (
        "end",
        "stall",
        "mitigation",
    ) in stack.calls
    assert not any(c[0] == "restart" for c in stack.calls)  # ending the kill started it
    assert stack.active == [ISSUER_DOWN]
    healthy = FakeStack()
    await run("restart_acquirer", healthy)
    assert ("restart", "acquirer") in healthy.calls


async def test_resume_settlement_clears_both_switches_and_ticks() -> None:
    stack = FakeStack(active=[STALL])
    assert "one settlement tick run" in await run("resume_settlement", stack)
    assert [c[2:] for c in stack.calls if c[0] == "admin"] == [
        ("acquirer", "/admin/faults/stall_settlement"),
        ("acquirer", "/admin/faults/force_mismatch"),
        ("acquirer", "/admin/settlement/run"),
    ]


async def test_escalation_fixes_only_what_is_upstream() -> None:
    stack = FakeStack(active=[ISSUER_DOWN, STALL])
    assert "found a problem on their side" in await run("escalate_upstream", stack)
    assert stack.active == [STALL]
    assert "finds nothing wrong" in await run("escalate_upstream", FakeStack(active=[STALL]))


async def test_end_cutover_and_rollback_software_clear_their_switch() -> None:
    stack = FakeStack()
    await run("end_cutover", stack)
    await run("rollback_software", stack)
    paths = [c[3] for c in stack.calls if c[0] == "admin"]
    assert paths == ["/admin/faults/day_end_cut", "/admin/faults/min_software"]


async def test_a_host_that_does_not_answer_fails_the_mitigation() -> None:
    with pytest.raises(MitigationFailed, match="acquirer not answering"):
        await run("resume_settlement", FakeStack(admin_status=0))
    with pytest.raises(MitigationFailed, match="HTTP 500"):
        await run("escalate_upstream", FakeStack(admin_status=500))


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("use_backup_path", {"regions": "west"}, "unknown west"),
        ("use_backup_path", {"regions": ","}, "unknown \\(none given\\)"),
        ("throttle", {"factor": "2"}, "a number in \\(0, 1\\]"),
        ("throttle", {"factor": "lots"}, "a number in \\(0, 1\\]"),
        ("push_software", {"version": "2.1"}, "6 digits"),
        ("restart_acquirer", {"now": "yes"}, "unknown param\\(s\\) now \\(takes: none\\)"),
    ],
)
def test_bad_params_are_refused(name: str, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        lookup(name).parse(raw, FakeStack())


def test_names_and_pairs() -> None:
    with pytest.raises(ConfigError, match="unknown mitigation 'reboot_everything'"):
        lookup("reboot_everything")
    assert parse_pairs(["regions=north,east", " factor = 0.5"]) == {
        "regions": "north,east",
        "factor": "0.5",
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_pairs(["regions"])
    assert len(CATALOGUE) == 10 and all(m.summary for m in CATALOGUE.values())
