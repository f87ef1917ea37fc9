"""The incident computed from records: first symptom, detection, each mitigation's
verdict and what followed it, recovery — on hand-made seconds."""

from __future__ import annotations

from typing import Any

import pytest

from poslab.drill.incident import Incident, Rules, Verdict, analyse, find_recovery, judge_seconds
from poslab.drill.playbook import FailureMode, Signal, mode_of
from tests.drill.drill_records import T0, injected, mitigation, sample

RULES = Rules(success_ratio=0.95, p99_ms=2000, good_seconds=3, signals=frozenset({Signal.PAYMENTS}))
CRASH = (mode_of("acquirer-crash-restart"),)


def drill(
    fault_at: float,
    *,
    end_at: float = T0 + 40,
    modes: tuple[FailureMode, ...] = CRASH,
    **given: Any,
) -> Incident:
    """The incident of a drill whose hidden fault went in at T+``fault_at``."""
    return analyse(
        t0=T0, end_at=end_at, journal=[injected(fault_at)], modes=modes, rules=RULES, **given
    )


def seconds(bad: range, total: int = 40, **bad_kwargs: object) -> list[dict[str, object]]:
    return [sample(i, **bad_kwargs) if i in bad else sample(i) for i in range(total)]  # type: ignore[arg-type]


def test_right_mitigation_then_recovery() -> None:
    samples = seconds(range(10, 22), ratio=0.0)
    timeline = [
        {"t": T0 + 14.5, "event": "detect", "text": "the host crashed"},
        mitigation(20.2, "restart_acquirer"),
    ]
    inc = drill(10.3, timeline=timeline, samples=samples, detection_keywords=("crash", "host down"))
    assert inc.fault_start == T0 + 10.3
    assert inc.symptom_at == T0 + 10.3  # the bad second began before the fault: clamped
    assert "success ratio 0.0% under 95%" in inc.symptom
    assert inc.recovered_at == T0 + 22
    assert not inc.self_healed
    f = inc.figures()
    assert f == {
        "symptom_s": 0.0,
        "detect_s": 4.2,
        "first_mitigation_s": 9.9,
        "mitigate_s": 9.9,
        "recover_s": 11.7,
    }
    (m,) = inc.mitigations
    assert m.verdict == "right" and m.system_bad is True
    assert m.effect == (
        "neutralised f1 (kill on acquirer); recovery followed 1.8 s later, credited to it"
    )
    assert m.recovery_after_s == 1.8 and m.credited and m.neutralised == ["f1"]
    assert inc.detect_named == ["crash"]


def test_a_wrong_mitigation_that_does_not_recover_is_reported_as_such() -> None:
    samples = seconds(range(10, 40), ratio=0.0)  # bad until the drill ends
    inc = drill(10.0, timeline=[mitigation(15.0, "use_backup_path")], samples=samples)
    (m,) = inc.mitigations
    assert m.verdict == "wrong"
    assert m.effect == "no recovery followed before the drill ended"
    assert m.recovery_after_s is None
    assert inc.recovered_at is None and inc.figures()["mitigate_s"] is None
    assert inc.figures()["first_mitigation_s"] == 5.0


def test_a_wrong_mitigation_followed_by_the_right_one() -> None:
    samples = seconds(range(10, 25), ratio=0.2)
    timeline = [mitigation(13.0, "resume_settlement"), mitigation(23.5, "restart_acquirer")]
    inc = drill(10.0, timeline=timeline, samples=samples)
    wrong, right = inc.mitigations
    assert (
        wrong.verdict == "wrong"
        and wrong.effect == "no recovery followed before the next mitigation"
    )
    assert right.verdict == "right"
    assert (
        right.effect
        == "neutralised f1 (kill on acquirer); recovery followed 1.5 s later, credited to it"
    )
    assert inc.figures()["mitigate_s"] == 13.5


def test_failed_and_early_mitigations() -> None:
    samples = seconds(range(10, 30), ratio=0.0)
    timeline = [mitigation(5.0, "throttle"), mitigation(12.0, "restart_acquirer", ok=False)]
    inc = drill(10.0, timeline=timeline, samples=samples)
    early, failed = inc.mitigations
    assert early.before_fault and early.effect == "run before the fault went in"
    assert failed.effect.startswith("the action failed")
    assert inc.first_good_mitigation_at is None  # a failed right action mitigates nothing
    assert inc.recovered_at == T0 + 30 and inc.self_healed


def test_self_healing_before_any_mitigation() -> None:
    samples = seconds(range(10, 14), ratio=0.5)
    inc = drill(
        10.0,
        timeline=[mitigation(30.0, "force_sign_on")],
        samples=samples,
        modes=(mode_of("working-key-expiry"),),
    )
    assert inc.recovered_at == T0 + 14 and inc.self_healed
    assert inc.mitigations[0].effect == "the system had already recovered"


def test_detections_before_the_fault_are_false_alarms() -> None:
    timeline = [
        {"t": T0 + 3, "event": "detect", "text": "host?"},
        {"t": T0 + 12, "event": "detect", "text": "acquirer down"},
    ]
    inc = drill(
        10.0,
        timeline=timeline,
        samples=seconds(range(10, 40), ratio=0.0),
        detection_keywords=("acquirer down",),
    )
    assert [a["text"] for a in inc.false_alarms] == ["host?"]
    assert inc.detect_at == T0 + 12 and inc.detect_named == ["acquirer down"]


def test_samples_after_the_end_do_not_count_as_recovery() -> None:
    # Recovery that only came with the end-of-drill rollback (drain phase) is not theirs.
    samples = seconds(range(10, 30), ratio=0.0, total=30)
    samples += [sample(i, phase="drain") for i in range(30, 40)]
    inc = drill(10.0, end_at=T0 + 30, timeline=[], samples=samples)
    assert inc.recovered_at is None


def test_a_single_bad_second_is_noise_but_a_relapse_is_not_a_recovery() -> None:
    v = [
        Verdict(T0 + i, bad, ())
        for i, bad in enumerate([False] * 3 + [True] * 4 + [False] * 4 + [True] * 3 + [False] * 2)
    ]
    assert find_recovery(v, T0 + 3, 3) is None  # relapsed at 11, only 2 good seconds since
    v = [
        Verdict(T0 + i, bad, ())
        for i, bad in enumerate([True] * 4 + [False] * 4 + [True] + [False] * 5)
    ]
    assert find_recovery(v, T0, 3) == T0 + 4  # the lone bad second at 8 is noise


def test_region_collapse_and_region_failures_are_symptoms() -> None:
    dark: dict[str, dict[str, object]] = {
        "east": {
            "tps": 0,
            "approved": 0,
            "declined": 0,
            "success_ratio": None,
            "p99_ms": None,
            "rc": {},
        }
    }
    samples = [sample(i) for i in range(10)] + [sample(i, regions=dark) for i in range(10, 15)]
    verdicts = judge_seconds(samples, RULES, fault_start=T0 + 10)
    assert not any(v.bad for v in verdicts[:12])  # the 3-second mean needs time to fall
    assert verdicts[12].bad and "east silent for 3 s, usually 2.0 txn/s" in verdicts[12].reasons
    thin = {
        "east": {
            "tps": 1,
            "approved": 1,
            "declined": 0,
            "success_ratio": 1.0,
            "p99_ms": 20.0,
            "rc": {},
        }
    }
    quiet = [sample(i) for i in range(10)] + [sample(i, regions=thin) for i in range(10, 15)]
    assert not any(v.bad for v in judge_seconds(quiet, RULES, fault_start=T0 + 10))
    slow = {
        "north": {
            "tps": 4,
            "approved": 2,
            "declined": 0,
            "success_ratio": 0.5,
            "p99_ms": 30.0,
            "rc": {},
        }
    }
    one, two = judge_seconds([sample(0, regions=slow), sample(1, regions=slow)], RULES, None)
    assert not one.bad  # 4 judged transactions are too few to call a region failing
    assert two.reasons == ("north success ratio 50.0% over 2 s",)


@pytest.mark.parametrize(
    ("signal", "kwargs", "reason"),
    [
        (
            Signal.SETTLEMENT,
            {"host": {"up": True, "settlement_backlog": 9, "settlement_stalled": True}},
            "settlement worker stalled",
        ),
        (
            Signal.SETTLEMENT,
            {"host": {"up": True, "settlement_backlog": 9}},
            "settlement backlog 9",
        ),
        (
            Signal.AGENT,
            {"agents": {"primary": {"ok": False, "detail": "timeout"}, "backup": {"ok": True}}},
            "primary agent not answering",
        ),
        (Signal.AGENT, {"agent_failed": 2}, "2 agent calls failed"),
        (Signal.SIGN_ON, {"sign_ons": 30}, "30 sign-ons/s"),
    ],
)
def test_other_signals(signal: Signal, kwargs: dict[str, object], reason: str) -> None:
    rules = Rules(0.95, 2000, 3, frozenset({signal}))
    samples = [sample(i) for i in range(5)] + [sample(5, **kwargs)]  # type: ignore[arg-type]
    verdicts = judge_seconds(samples, rules, fault_start=T0 + 5)
    assert not any(v.bad for v in verdicts[:5])
    assert any(r.startswith(reason) for r in verdicts[5].reasons), verdicts[5].reasons


def test_backup_agent_pinned_judges_the_backup() -> None:
    rules = Rules(0.95, 2000, 3, frozenset({Signal.AGENT}))
    down = {"primary": {"ok": False, "detail": "down"}, "backup": {"ok": True}}
    samples = [sample(i, agents=down) for i in range(6)]
    verdicts = judge_seconds(samples, rules, fault_start=T0, backup_agent_from=T0 + 3)
    assert [v.bad for v in verdicts] == [True, True, True, False, False, False]


def test_one_region_slower_than_its_own_baseline() -> None:
    def north(p99: float) -> dict[str, dict[str, object]]:
        return {
            "north": {
                "tps": 2,
                "approved": 2,
                "declined": 0,
                "success_ratio": 1.0,
                "p99_ms": p99,
                "rc": {},
            }
        }

    samples = [sample(i) for i in range(10)]  # every region's p99 40 ms before the fault
    samples += [sample(10, regions=north(200.0)), sample(11, regions=north(600.0))]
    verdicts = judge_seconds(samples, RULES, fault_start=T0 + 10)
    assert not verdicts[10].bad  # slower, but under the 250 ms floor
    assert verdicts[11].reasons == ("north p99 600 ms (usually 40 ms)",)
