"""The resolved timeline and the dry-run text: ordered, complete, and socket-free."""

from __future__ import annotations

import socket

import pytest

from poslab.scenario import (
    Op,
    build_timeline,
    fault_steps,
    load_suite,
    render_suite,
    render_timeline,
)
from tests.scenario.scenario_helpers import BASE, WriteScenario, fault_block, resolve_text

TEXT = (
    BASE
    + fault_block(
        "id: first\nkind: network\ntarget: issuer\nat: 5s\nfor: 5s\ndown: true",
        "id: second\nkind: network\ntarget: issuer\nat: 10s\nfor: 5s\n"
        "toxic: {type: latency, attributes: {latency: 300, jitter: 20}, toxicity: 0.5}",
        "id: bounce\nkind: process\ntarget: acquirer\naction: restart\nat: 20s",
    )
    + "expectations:\n  - kind: no_unresolved\nabort:\n  - {kind: integrity_breach}\n"
)


def test_steps_in_execution_order(write_scenario: WriteScenario) -> None:
    steps = build_timeline(resolve_text(write_scenario(TEXT)))
    plan = [(s.offset_s, s.op, s.fault_id) for s in steps]
    assert plan == [
        (0.0, Op.LOAD_START, None),
        (5.0, Op.STEADY_STATE, None),
        (5.0, Op.INJECT, "first"),
        (10.0, Op.CLEAR, "first"),  # cleared before the next fault on issuer starts
        (10.0, Op.INJECT, "second"),
        (15.0, Op.CLEAR, "second"),
        (20.0, Op.INJECT, "bounce"),  # instant: no clear
        (40.0, Op.LOAD_STOP, None),
        (45.0, Op.DRAIN_END, None),
    ]


def test_fault_steps_only(write_scenario: WriteScenario) -> None:
    steps = fault_steps(resolve_text(write_scenario(TEXT)))
    assert {s.op for s in steps} == {Op.INJECT, Op.CLEAR} and len(steps) == 5


def test_dry_run_text(write_scenario: WriteScenario) -> None:
    text = render_timeline(resolve_text(write_scenario(TEXT)))
    assert "scenario base (weight 2, min score 0)" in text
    assert "+5s  inject       proxy issuer down [first]" in text
    assert "+10s  clear        proxy issuer down [first]" in text
    assert "proxy issuer toxic latency downstream latency=300 jitter=20 toxicity=0.5" in text
    assert "+20s  inject       restart acquirer [bounce]" in text
    assert "+45s  drain_end" in text
    assert "no-unresolved: no_unresolved" in text
    assert "abort when: any integrity breach" in text
    assert "settings" not in text  # none set: the services' own defaults


def test_dry_run_shows_the_service_settings(write_scenario: WriteScenario) -> None:
    text = render_timeline(
        resolve_text(
            write_scenario(TEXT + "acquirer: {day_seconds: 6s}\nterminal: {settle_interval: 5s}\n")
        )
    )
    assert "  acquirer settings: day_seconds=6.0" in text
    assert "  terminals settings: settle_interval_s=5.0" in text


def test_dry_run_opens_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run must not open a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    suite = load_suite("full")
    text = render_suite(suite)
    assert all(f"scenario {s.name} " in text for s in suite.scenarios)
