"""Fair judgement: a mitigation is judged by what it did to the failure in place —
the fault it neutralised and the signals before and after — and a recovery is the
system's own only when no action changed the outcome.

The records are those of the reported drill (issue 20): power-outage-region hidden,
``east-sagging`` (1,500 ms latency on region-east, held until mitigated) and an 8 s
``east-blackout``; pinning east to the backup host path ended the sag for the
merchants while the toxic stayed on the proxy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from poslab.drill.incident import Incident, Rules, analyse
from poslab.drill.mitigations import CATALOGUE, FaultRef
from poslab.drill.playbook import FailureMode, Signal, mode_of
from poslab.drill.postmortem import write_postmortem
from poslab.drill.session import DrillFiles, DrillState, Timeline
from tests.drill.drill_records import T0, facilitator, mitigation, sample

POWER = (mode_of("power-outage-region"),)
RULES = Rules(
    success_ratio=0.95,
    p99_ms=2000,
    good_seconds=3,
    signals=frozenset({Signal.PAYMENTS, Signal.SIGN_ON}),
)
SAG_AT, BLACKOUT_AT, BLACKOUT_S = 10.0, 12.0, 8.0
END = 60


def sag_injected() -> dict[str, Any]:
    return {
        "t": T0 + SAG_AT,
        "event": "fault_injected",
        "fault_id": "east-sagging",
        "kind": "network",
        "target": "region-east",
        "action": "toxic:latency",
    }


def blackout() -> list[dict[str, Any]]:
    common = {"fault_id": "east-blackout", "kind": "fleet", "target": "fleet"}
    return [
        {"t": T0 + BLACKOUT_AT, "event": "fault_injected", "action": "power_outage", **common},
        {"t": T0 + BLACKOUT_AT + BLACKOUT_S, "event": "fault_cleared", "reason": "window_end"}
        | common,
    ]


def seconds(sagging_until: float | None) -> list[dict[str, Any]]:
    """East dark during the blackout, its replies at 1,505 ms while the sag holds
    (``None``: no sag at all), 5 ms once it no longer goes through the sag."""
    out = []
    east: dict[str, Any]
    for i in range(END):
        if BLACKOUT_AT <= i < BLACKOUT_AT + BLACKOUT_S:
            east = {"tps": 0, "approved": 0, "success_ratio": None, "p99_ms": None}
            out.append(sample(i, regions={"east": east}))
        elif sagging_until is not None and SAG_AT <= i < sagging_until:
            east = {"tps": 2, "approved": 2, "success_ratio": 1.0, "p99_ms": 1505.0}
            out.append(sample(i, regions={"east": east}))
        else:
            out.append(sample(i, p99=5.0) if i >= SAG_AT else sample(i))
    return out


def run(
    timeline: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    journal: list[dict[str, Any]] | None = None,
    modes: tuple[FailureMode, ...] = POWER,
) -> Incident:
    return analyse(
        t0=T0,
        end_at=T0 + END,
        journal=journal if journal is not None else [sag_injected(), *blackout()],
        timeline=timeline,
        samples=samples,
        modes=modes,
        rules=RULES,
    )


def backup_path(at: float, *regions: str) -> dict[str, Any]:
    event = mitigation(at, "use_backup_path")
    event["params"] = {"regions": list(regions)} if regions else {}
    return event


def test_pinning_the_sagging_region_to_the_backup_path_is_right_and_ends_the_incident() -> None:
    inc = run([backup_path(28.0, "east")], seconds(sagging_until=29))
    (m,) = inc.mitigations
    assert m.verdict == "right"  # the playbook alone said "wrong": nothing needed for row 9
    assert m.neutralised == ["east-sagging"] and m.credited
    assert m.effect.startswith("neutralised east-sagging (latency on region-east)")
    assert m.effect.endswith("credited to it")
    assert m.system_bad is True and "east p99 1505 ms" in m.signals_before
    assert m.signals_after.startswith("every watched signal good from T+29")
    assert inc.recovered_at == T0 + 29 and not inc.self_healed
    assert inc.credited_to == "use_backup_path"
    assert inc.figures()["mitigate_s"] == 18.0


def test_a_wrong_action_is_wrong_and_the_failure_stays() -> None:
    timeline = [mitigation(25.0, "restart_acquirer"), backup_path(30.0, "north")]
    inc = run(timeline, seconds(sagging_until=END))
    restart, north = inc.mitigations
    assert restart.verdict == "wrong" and not restart.neutralised and not restart.credited
    assert restart.effect == "no recovery followed before the drill ended"
    # the right action aimed at a region whose link is fine reaches nothing
    assert north.verdict == "wrong" and north.neutralised == []
    assert north.effect == "it did not reach the failure in place (east-sagging on region-east)"
    assert "east p99 1505 ms" in north.signals_after
    assert inc.recovered_at is None and not inc.self_healed


def test_an_acceptable_action_before_the_right_one() -> None:
    timeline = [mitigation(24.0, "throttle"), backup_path(28.0, "east")]
    inc = run(timeline, seconds(sagging_until=29))
    throttle, pinned = inc.mitigations
    assert throttle.verdict == "acceptable" and not throttle.credited
    assert throttle.effect == "no recovery followed before the next mitigation"
    assert pinned.verdict == "right" and pinned.credited and not inc.self_healed


def test_an_action_that_ends_a_fault_as_a_side_effect_is_acceptable_and_credited() -> None:
    # Settlement stalled; a restarted acquirer forgets the stall (the journal says the
    # restart cleared it): heavy-handed, but the recovery is its doing, not the system's.
    journal = [
        {
            "t": T0 + 10,
            "event": "fault_injected",
            "fault_id": "settlement-stalled",
            "kind": "application",
            "target": "acquirer",
            "action": "stall_settlement",
        },
        {
            "t": T0 + 20.3,
            "event": "fault_cleared",
            "fault_id": "settlement-stalled",
            "reason": "mitigation",
        },
    ]
    samples = [sample(i, ratio=0.5) if 10 <= i < 22 else sample(i) for i in range(END)]
    inc = run(
        [mitigation(20.0, "restart_acquirer")],
        samples,
        journal,
        (mode_of("settlement-backlog"),),
    )
    (m,) = inc.mitigations
    assert m.verdict == "acceptable" and m.credited and m.neutralised == ["settlement-stalled"]
    assert not inc.self_healed and inc.credited_to == "restart_acquirer"


def test_a_fault_that_ends_by_itself_recovers_by_itself() -> None:
    # The blackout alone (no sag): the district comes back when its window ends.
    journal = blackout()
    samples = seconds(sagging_until=None)
    inc = run(
        [mitigation(15.0, "throttle"), mitigation(40.0, "restart_acquirer")], samples, journal
    )
    throttle, late = inc.mitigations
    assert inc.recovered_at is not None and inc.self_healed and inc.credited_to is None
    assert throttle.verdict == "acceptable" and not throttle.credited
    assert throttle.effect.endswith("when the fault ended by itself")
    assert late.effect == "the system had already recovered"


def test_what_each_mitigation_neutralises() -> None:
    sag = FaultRef("s", "network", "region-east", "toxic:latency")
    path = CATALOGUE["use_backup_path"]
    assert path.neutralises(sag) and path.neutralises(sag, {"regions": ["east"]})
    assert not path.neutralises(sag, {"regions": ["north"]})
    assert not path.neutralises(FaultRef("b", "fleet", "fleet", "power_outage"))
    assert not path.neutralises(FaultRef("i", "network", "issuer", "toxic:latency"))
    assert CATALOGUE["escalate_upstream"].neutralises(FaultRef("i", "network", "issuer", "down"))
    assert CATALOGUE["restart_acquirer"].neutralises(FaultRef("k", "process", "acquirer", "kill"))
    assert not CATALOGUE["throttle"].neutralises(sag)


def test_the_report_of_the_reported_drill(tmp_path: Path) -> None:
    files = DrillFiles(tmp_path / "20260101T000000Z-drill")
    files.fleet_dir.mkdir(parents=True)
    files.write_facilitator(
        facilitator(scenario="power-outage-region", delay_window_s=(10, 10), max_s=END)
    )
    files.write_state(
        DrillState(
            run_dir=str(files.run_dir),
            created_at=T0 - 5,
            t0=T0,
            stack_state="/nonexistent",
            status="ended",
        )
    )
    files.journal.write_text(
        "".join(json.dumps(e) + "\n" for e in (sag_injected(), *blackout())), encoding="utf-8"
    )
    timeline = Timeline(files.timeline)
    timeline.append("check", t=T0 + 22, area="network", verdict="bad", by="lin")
    timeline.append("detect", t=T0 + 24, text="east latency, network sag", by="wang")
    event = backup_path(28.0, "east") | {"by": "lin"}
    timeline.append(event.pop("event"), **event)
    timeline.append("end", t=T0 + END, reason="ended by the participants")
    with files.metrics.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(s) + "\n" for s in seconds(sagging_until=29))
    paths = write_postmortem(files)
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    (m,) = report["mitigations"]
    assert (m["verdict"], m["credited"], m["by"]) == ("right", True, "lin")
    assert report["self_healed"] is False and report["recovery_credited_to"] == "use_backup_path"
    assert report["plan"]["right_mitigations"] == ["use_backup_path"]
    md = paths["md"].read_text(encoding="utf-8")
    assert "(after use_backup_path)" in md and "(by itself)" not in md
    assert (
        "Right for this failure: use_backup_path (east-sagging: use_backup_path regions=east)" in md
    )
    assert "| lin | use_backup_path (regions=east) | right |" in md
    assert "[wang] east latency, network sag" in md
    assert not any("does not address" in item for item in report["action_items"])


def test_the_facilitators_pauses_are_not_the_teams_time() -> None:
    timeline = [
        {"t": T0 + 15, "event": "pause", "by": "Zhao"},
        {"t": T0 + 35, "event": "resume", "by": "Zhao", "paused_s": 20},
        {"t": T0 + 38, "event": "detect", "text": "east sagging"},
        backup_path(40.0, "east"),
    ]
    inc = run(timeline, seconds(sagging_until=41))
    assert inc.pauses == [(T0 + 15, T0 + 35)]
    f = inc.figures()
    assert f["detect_s"] == 38 - SAG_AT - 20 and f["mitigate_s"] == 40 - SAG_AT - 20
    assert f["recover_s"] == 41 - SAG_AT - 20
    # a pause still on when the drill ended lasts to its end
    inc = run([{"t": T0 + 50, "event": "pause"}], seconds(sagging_until=END))
    assert inc.pauses == [(T0 + 50, T0 + END)]
