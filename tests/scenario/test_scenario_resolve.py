"""Resolution: region expansion, time scaling, overrides, unavoidable windows, run.json dump."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from poslab.scenario import ApplicationFault, FleetFault, NetworkFault, ProcessFault, RunOptions
from poslab.scenario.fault_actions import FleetShare, KillParams
from poslab.scenario.spec.durations import parse_duration, round_seconds, scale, scale_count
from poslab.stack import default_topology
from tests.scenario.scenario_helpers import BASE, WriteScenario, fault_block, resolve_text

FAULTS = fault_block(
    "id: paths-down\nkind: network\nregions: [east, north]\nat: 6s\nfor: 10s\ndown: true\n"
    "unavoidable: true",
    "id: slow-issuer\nkind: network\ntarget: issuer\nat: 1m30s\nfor: 20s\n"
    "toxic: {type: latency, stream: upstream, toxicity: 0.5,\n"
    "        attributes: {latency: 800, jitter: 50}}",
    "kind: application\ntarget: acquirer\nfault: expire_keys\nparams: {regions: [south]}\n"
    "at: 20s\nfor: 2s",
    "kind: process\ntarget: issuer\naction: kill\nat: 30s\nfor: 3s",
    "kind: fleet\naction: crash\nparams: {share: 0.25}\nat: 12.5\nfor: 5s",
    "kind: fleet\naction: set_software\nparams: {share: 0.3, version: '010000'}\nat: 4s",
)
LONG = (
    BASE.replace("duration: 40s", "duration: 2m30s")
    + FAULTS
    + (
        "unavoidable:\n  - {at: 14s, for: 6s}\n  - {at: 1m, for: 5s}\n"
        "expectations:\n  - kind: recovered_within_s\n    params: {max_s: 9}\n"
        "  - kind: sign_on_rate_max_multiple\n    params: {k: 5, window_s: 3}\n"
        "abort:\n  - {kind: success_ratio_below, ratio: 0.1, for: 25s}\n"
        "  - {kind: integrity_breach}\n"
    )
)


def test_faults_are_typed_expanded_and_ordered(write_scenario: WriteScenario) -> None:
    s = resolve_text(write_scenario(LONG))
    ids = [f.id for f in s.faults]
    assert ids == [
        "fleet-set-software",
        "paths-down@region-east",
        "paths-down@region-north",
        "fleet-crash",
        "acquirer-expire-keys",
        "issuer-kill",
        "slow-issuer",
    ]
    down = s.fault("paths-down@region-north")
    assert isinstance(down, NetworkFault) and down.action == "down" and down.toxic is None
    assert (down.group, down.target, down.at_s, down.for_s, down.end_s) == (
        "paths-down",
        "region-north",
        6.0,
        10.0,
        16.0,
    )
    slow = s.fault("slow-issuer")
    assert isinstance(slow, NetworkFault) and slow.toxic is not None
    assert slow.toxic.name == "latency_upstream"  # Toxiproxy's default <type>_<stream>
    assert slow.toxic.attributes == {"latency": 800, "jitter": 50}
    assert (slow.at_s, slow.toxic.toxicity) == (90.0, 0.5)
    keys = s.fault("acquirer-expire-keys")
    assert isinstance(keys, ApplicationFault) and keys.params.model_dump() == {
        "regions": ["south"],
        "tids": None,
    }
    kill = s.fault("issuer-kill")
    assert isinstance(kill, ProcessFault) and isinstance(kill.params, KillParams)
    assert kill.params.signal == "KILL"
    crash = s.fault("fleet-crash")
    assert isinstance(crash, FleetFault) and isinstance(crash.params, FleetShare)
    software = s.fault("fleet-set-software")
    assert not software.windowed and software.for_s == 0 and software.end_s == 4.0


def test_unavoidable_windows_merge_declared_and_fault_derived(
    write_scenario: WriteScenario,
) -> None:
    s = resolve_text(write_scenario(LONG))
    windows = [(w.start_s, w.end_s) for w in s.unavoidable]
    # the two expanded `paths-down` faults 6–16 merge with the declared 14–20
    assert windows == [(6.0, 20.0), (60.0, 65.0)]


def test_time_scale_compresses_every_timeline_duration(write_scenario: WriteScenario) -> None:
    path = write_scenario(LONG)
    full = resolve_text(path)
    half = resolve_text(path, options=RunOptions(time_scale=0.5, terminals=7))
    assert (half.duration_s, half.drain_s, half.load.duration_s) == (75.0, 2.5, 75.0)
    assert half.load.terminals == 7 and full.load.terminals == 20
    assert half.time_scale == 0.5
    crash_full, crash_half = full.fault("fleet-crash"), half.fault("fleet-crash")
    assert (crash_full.at_s, crash_full.end_s) == (12.5, 17.5)
    # 6.25 → 6.3 and 8.75 → 8.8: half-up to 0.1 s, endpoints scaled, not lengths
    assert (crash_half.at_s, crash_half.end_s, crash_half.for_s) == (6.3, 8.8, 2.5)
    assert [(w.start_s, w.end_s) for w in half.unavoidable] == [(3.0, 10.0), (30.0, 32.5)]
    assert (half.recovery.target_s, half.recovery.good_seconds) == (2.5, 2)  # 3 × 0.5 → 2
    assert half.abort[0].kind == "success_ratio_below" and half.abort[0].for_s == 12.5
    assert half.steady_state is not None and half.steady_state.within_s == 2.0
    # latencies are properties of the system, not of the timeline: unchanged
    slow = half.fault("slow-issuer")
    assert isinstance(slow, NetworkFault) and slow.toxic is not None
    assert slow.toxic.attributes["latency"] == 800 and half.slo.p99_ms == full.slo.p99_ms
    # expectation params that are durations (`*_s`) scale too
    by_kind = {e.kind: e.params for e in half.expectations}
    assert by_kind["recovered_within_s"]["max_s"] == 4.5
    assert by_kind["sign_on_rate_max_multiple"]["window_s"] == 2  # integer: half-up, ≥ 1


def test_rounding_rules() -> None:
    assert round_seconds(0.25) == 0.3 and round_seconds(0.35) == 0.4  # half-up, not banker's
    assert scale(10, 0.333) == 3.3 and scale(1, 0.04) == 0.0
    assert scale_count(3, 0.5) == 2 and scale_count(5, 0.01) == 1 and scale_count(4, 2) == 8


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5", 1.5), (90, 90.0), ("1h", 3600.0)],
)
def test_duration_forms(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_dump_resolved_carries_what_run_json_needs(write_scenario: WriteScenario) -> None:
    s = resolve_text(write_scenario(LONG), options=RunOptions(time_scale=0.5))
    dumped = s.dump_resolved()
    data = json.loads(json.dumps(dumped))  # plain JSON all the way down
    for key in ("name", "weight", "min_score", "duration_s", "drain_s", "time_scale"):
        assert key in data
    assert set(data["slo"]) == {"success_ratio", "p99_ms"}
    assert set(data["recovery"]) == {"target_s", "good_seconds"}
    assert all(set(w) == {"start_s", "end_s"} for w in data["unavoidable"])
    assert all({"name", "kind", "params"} <= set(e) for e in data["expectations"])
    for fault in data["faults"]:
        assert {"id", "at_s", "for_s", "end_s", "kind", "target", "action"} <= set(fault)
    crash = next(f for f in data["faults"] if f["id"] == "fleet-crash")
    assert crash["params"] == {"share": 0.25, "count": None, "regions": None}
    assert crash["target"] == "fleet"


def test_resolved_scenario_is_immutable(write_scenario: WriteScenario) -> None:
    s = resolve_text(write_scenario(LONG))
    with pytest.raises(ValidationError):
        s.weight = 5  # type: ignore[misc]


def test_regions_follow_the_world(write_scenario: WriteScenario) -> None:
    text = BASE + fault_block("kind: network\nregions: all\nat: 5s\nfor: 5s\ndown: true")
    s = resolve_text(write_scenario(text), topology=default_topology(["hubei", "hunan"]))
    assert [f.target for f in s.faults] == ["region-hubei", "region-hunan"]


def test_auto_ids_are_unique(write_scenario: WriteScenario) -> None:
    text = BASE + fault_block(
        "kind: network\ntarget: issuer\nat: 5s\nfor: 2s\ndown: true",
        "kind: network\ntarget: issuer\nat: 10s\nfor: 2s\ndown: true",
    )
    s = resolve_text(write_scenario(text))
    assert [f.id for f in s.faults] == ["issuer-down", "issuer-down-2"]


def test_defaults(write_scenario: WriteScenario) -> None:
    s = resolve_text(write_scenario(BASE))
    assert s.faults == () and s.unavoidable == () and s.expectations == () and s.abort == ()
    assert s.policy is None and s.min_score == 0 and s.load.shape.value == "steady"
    # no fault: the steady state may be reached any time during the load
    assert s.steady_state is not None and s.steady_state.within_s == s.duration_s
    assert s.last_fault_end_s is None


def test_toxics_are_the_proxys_own(write_scenario: WriteScenario) -> None:
    """The scenario side accepts exactly the toxics the embedded proxy serves."""
    from poslab.proxy.toxics import TOXIC_TYPES
    from poslab.scenario.spec.toxic_table import TOXICS

    assert set(TOXICS) == set(TOXIC_TYPES)
    assert {n for n, t in TOXICS.items() if t.iso8583} == {
        "iso_drop",
        "iso_delay",
        "iso_corrupt_mac",
    }
    text = BASE + fault_block(
        "kind: network\ntarget: region-north\nat: 5s\nfor: 5s\n"
        "toxic: {type: iso_drop, attributes: {mti: 210, rc: 0}}",
        "kind: network\ntarget: region-south\nat: 5s\nfor: 5s\n"
        "toxic: {type: iso_corrupt_mac, stream: upstream, attributes: {mti: '0200', rc: A0}}",
    )
    s = resolve_text(write_scenario(text))
    toxics = [f.toxic for f in s.faults if isinstance(f, NetworkFault)]
    assert [t.attributes if t else None for t in toxics] == [
        {"mti": 210, "rc": 0},
        {"mti": "0200", "rc": "A0"},
    ]


SERVICE_SETTINGS = (
    "acquirer:\n  day_seconds: 6s\n  day_cut: '12:00'\n  batch_max_days: 2\n"
    "terminal:\n  settle_interval: 5s\n  settle_every: 40\n  tms_retry: 2s\n"
)


def test_service_settings_reach_the_resolved_scenario_and_run_json(
    write_scenario: WriteScenario,
) -> None:
    path = write_scenario(BASE + SERVICE_SETTINGS)
    s = resolve_text(path)
    assert s.acquirer == {"day_seconds": 6.0, "day_cut": "12:00", "batch_max_days": 2}
    # the fleet scales business intervals itself: the file's seconds go through
    assert s.terminal == {"settle_interval_s": 5.0, "settle_every": 40, "tms_retry_s": 2.0}
    dumped = s.dump_resolved()
    assert dumped["acquirer"] == s.acquirer and dumped["terminal"] == s.terminal
    # a lab day is a timeline duration: --time-scale scales it (the terminals'
    # interval is scaled by the fleet, with the think time)
    half = resolve_text(path, options=RunOptions(time_scale=0.5))
    assert half.acquirer["day_seconds"] == 3.0
    assert half.terminal == s.terminal


def test_no_service_settings_means_the_services_defaults(write_scenario: WriteScenario) -> None:
    s = resolve_text(write_scenario(BASE))
    assert s.acquirer == {} and s.terminal == {}
