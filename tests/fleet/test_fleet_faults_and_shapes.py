"""Fleet faults inside a Locust process, and the load shapes — pure logic."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from poslab.loadtests.control import FleetCommand
from poslab.loadtests.fleet_faults import FaultBoard, retire
from poslab.loadtests.shapes import RETAIL_HOURLY, SHAPE_DEFAULTS, intensity_at_hour, make_shape

FLEET = [(f"1000{i + 1:04d}", ("north", "south", "east")[i % 3]) for i in range(60)]


@dataclass
class FakeTerminal:
    tid: str
    log: list[str] = field(default_factory=list)

    def crash(self) -> None:
        self.log.append("crash")

    def force_sign_on(self) -> None:
        self.log.append("sign_on")

    def use_backup_path(self, pinned: bool) -> None:
        self.log.append(f"backup={pinned}")

    def set_software(self, version: str) -> None:
        self.log.append(f"software={version}")


def command(
    seq: int, action: str, params: dict[str, object], until: float | None = None
) -> FleetCommand:
    return FleetCommand(seq, 0.0, action, params, until)


def test_every_process_draws_the_same_terminals() -> None:
    a, b = FaultBoard(FLEET, seed=5), FaultBoard(list(reversed(FLEET)), seed=5)
    params = {"share": 0.25, "regions": ["north", "east"]}
    hit = a.select(3, params)
    assert hit == b.select(3, params)
    assert len(hit) == 10 and all(dict(FLEET)[tid] != "south" for tid in hit)
    assert a.select(4, params) != hit  # each fault its own draw
    assert len(a.select(1, {"count": 7})) == 7
    assert a.select(1, {"tids": ["10000001"]}) == {"10000001"}
    assert len(a.select(1, {})) == 60


def test_crash_window_then_reboot() -> None:
    board = FaultBoard(FLEET, seed=1)
    live = {tid: FakeTerminal(tid) for tid, _ in FLEET[:3]}
    for terminal in live.values():
        board.register(terminal)
    board.apply(command(1, "crash", {"tids": ["10000001", "10000050"]}, until=100.0))
    assert live["10000001"].log == ["crash"] and live["10000002"].log == []
    assert board.down_until("10000001") == 100.0 and board.down_until("10000050") == 100.0
    assert board.down_until("10000002") is None
    board.expire(99.9)
    assert board.down_until("10000001") == 100.0
    board.expire(100.0)
    assert board.down_until("10000001") is None


def test_power_outage_until_cleared_and_replacement_for_good() -> None:
    board = FaultBoard(FLEET, seed=1)
    board.apply(command(1, "power_outage", {"regions": ["south"]}))
    south = [tid for tid, region in FLEET if region == "south"]
    assert all(board.down_until(tid) == math.inf for tid in south)
    board.apply(command(2, "clear", {"seq": 1}))
    assert all(board.down_until(tid) is None for tid in south)
    board.apply(command(3, "replace", {"tids": ["10000004"]}))
    assert board.replaced("10000004") and board.down_until("10000004") == math.inf
    board.apply(command(4, "clear", {"all": True}))
    assert not board.replaced("10000004")


def test_replace_waits_for_the_in_flight_transaction_crash_does_not() -> None:
    """A replacement breaks the device between customers: a sale in flight
    when the fault fires gets its reply (or its reversal) on the old device.
    A crash or a power cut still kills it at once."""
    board = FaultBoard(FLEET, seed=1)
    live = {tid: FakeTerminal(tid) for tid, _ in FLEET[:3]}
    for terminal in live.values():
        board.register(terminal)
    board.apply(command(1, "replace", {"tids": ["10000001"]}))
    assert live["10000001"].log == [] and board.replaced("10000001")
    board.apply(command(2, "power_outage", {"tids": ["10000002"]}))
    board.apply(command(3, "crash", {"tids": ["10000003"]}, until=10.0))
    assert live["10000002"].log == ["crash"] and live["10000003"].log == ["crash"]


@dataclass
class RetiredDevice:
    crashed: bool = False
    log: list[str] = field(default_factory=list)

    def drain(self) -> None:
        self.log.append("drain")

    def crash(self) -> None:
        self.log.append("crash")
        self.crashed = True


def test_a_replaced_device_delivers_what_it_holds_before_it_dies() -> None:
    device = RetiredDevice()
    retire(device)
    assert device.log == ["drain", "crash"]
    retire(device)  # the merchant asks again while no replacement is provisioned
    assert device.log == ["drain", "crash"]
    crashed = RetiredDevice(crashed=True)
    retire(crashed)  # a crash already took what was in memory
    assert crashed.log == []


def test_backup_path_pinning_fails_back_when_the_last_pin_ends() -> None:
    board = FaultBoard(FLEET, seed=1)
    terminal = FakeTerminal("10000001")  # north
    board.register(terminal)
    board.apply(command(1, "use_backup_path", {"regions": ["north"]}, until=50.0))
    board.apply(command(2, "use_backup_path", {}, until=80.0))
    board.expire(60.0)
    assert board.backup_pinned("10000001")  # the fleet-wide pin still holds
    board.expire(90.0)
    assert terminal.log == ["backup=True", "backup=True", "backup=False"]
    late = FakeTerminal("10000004")
    board.apply(command(3, "use_backup_path", {}, until=200.0))
    board.register(late)  # a terminal powered on during the window gets the setting
    assert late.log == ["backup=True"]


def test_software_sign_on_throttle_and_agent() -> None:
    board = FaultBoard(FLEET, seed=1)
    early = FakeTerminal("10000001")
    board.register(early)
    board.apply(command(1, "set_software", {"version": "020300", "tids": ["10000001", "10000002"]}))
    board.apply(command(2, "force_sign_on", {"regions": ["north"]}))
    assert early.log == ["software=020300", "sign_on"]
    later = FakeTerminal("10000002")
    board.register(later)
    assert later.log == ["software=020300"]
    assert board.throttle() == 1.0 and not board.backup_agent()
    board.apply(command(3, "throttle", {"factor": 0.5}, until=10.0))
    board.apply(command(4, "throttle", {"factor": 0.2}, until=20.0))
    board.apply(command(5, "use_backup_agent", {}, until=10.0))
    assert board.throttle() == 0.2 and board.backup_agent()
    board.expire(15.0)
    assert board.throttle() == 0.2 and not board.backup_agent()
    board.unregister("10000002")
    assert "10000002" not in board.live


def test_the_curve_peaks_at_lunch_and_dinner() -> None:
    assert len(RETAIL_HOURLY) == 24 and max(RETAIL_HOURLY) == 1.0
    assert intensity_at_hour(12.5) == pytest.approx(1.0)
    assert intensity_at_hour(3.5) < 0.05
    lunch = max(range(9, 16), key=lambda h: intensity_at_hour(h + 0.5))
    dinner = max(range(16, 23), key=lambda h: intensity_at_hour(h + 0.5))
    assert (lunch, dinner) == (12, 19)
    assert intensity_at_hour(15.0) < intensity_at_hour(12.5)  # the afternoon lull


def test_peak_shapes_keep_every_terminal_on_and_follow_the_curve() -> None:
    shape = make_shape("lunch-peak", 500, {"duration_s": 100.0})
    ticks = [shape.at(t) for t in range(0, 100, 5)]
    assert all(t is not None and t.users == 500 for t in ticks)
    intensities = [t.intensity for t in ticks if t is not None]
    peak = intensities.index(max(intensities))
    assert 0 < peak < len(intensities) - 1  # rises, peaks, falls
    assert shape.hour_at(50.0) == pytest.approx(12.5)
    assert shape.at(100.0) is None  # the shape ends the run
    dinner = make_shape("dinner-peak", 10)
    assert dinner.duration_s == SHAPE_DEFAULTS["dinner-peak"]["duration_s"]


def test_ramp_and_steady() -> None:
    ramp = make_shape("ramp", 100, {"duration_s": 10.0, "start_share": 0.2})
    users = [ramp.at(t).users for t in (0.0, 2.5, 5.0, 9.99)]  # type: ignore[union-attr]
    assert users[0] == 20 and users == sorted(users) and users[-1] == 100
    steady = make_shape("steady", 7, {"duration_s": 5.0, "intensity": 0.5})
    tick = steady.at(1.0)
    assert tick is not None and (tick.users, tick.intensity) == (7, 0.5)
    assert steady.hour_at(1.0) is None


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("brunch", {}),
        ("steady", {"duration_s": 0.0}),
        ("steady", {"nonsense": 1.0}),
        ("ramp", {"start_share": 0.0}),
        ("lunch-peak", {"from_hour": 15.0, "to_hour": 10.0}),
    ],
)
def test_bad_shape_parameters(name: str, params: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_shape(name, 10, params)
