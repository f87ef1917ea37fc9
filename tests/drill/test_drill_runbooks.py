"""The runbooks as data: one per failure mode, every step mapped to a lab command
that exists, the right mitigation in each; and what a team did matched to steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from poslab.drill.checks import AREAS
from poslab.drill.mitigations import CATALOGUE
from poslab.drill.playbook import FAILURE_MODES
from poslab.drill.runbooks import (
    RUNBOOK_DIR,
    all_runbooks,
    load_runbook,
    match_steps,
    parse_runbook,
)
from poslab.errors import ConfigError


def test_one_runbook_per_failure_mode() -> None:
    books = {b.path.name for b in all_runbooks()}
    assert books == {m.runbook for m in FAILURE_MODES}
    assert len(books) == 13


@pytest.mark.parametrize("mode", FAILURE_MODES, ids=lambda m: m.runbook)
def test_runbook_steps_name_real_commands(mode) -> None:  # type: ignore[no-untyped-def]
    book = load_runbook(mode.runbook)
    assert book.title.startswith(f"Runbook {mode.row} ")
    assert len(book.detection_keywords) >= 4
    diagnosis = [s for s in book.steps if s.section == "diagnosis"]
    mitigation = [s for s in book.steps if s.section == "mitigation"]
    assert len(diagnosis) >= 3 and mitigation
    for step in book.steps:
        assert step.keywords, f"{step.id} has no 'Notes that count'"
        assert set(step.checks) <= set(AREAS), step.checks
        assert set(step.mitigations) <= set(CATALOGUE), step.mitigations
    for step in diagnosis:
        assert step.checks, f"{mode.runbook} {step.id} names no `lab drill check`"
    named = {a for s in mitigation for a in s.mitigations}
    assert mode.right <= named, f"{mode.runbook}: right mitigations {mode.right} not in its steps"
    text = book.path.read_text(encoding="utf-8")
    for scenario in mode.scenarios:
        assert f"`{scenario}`" in text


def test_the_field_questions_are_asked_across_the_runbooks() -> None:
    asked = {a for b in all_runbooks() for s in b.steps for a in s.checks}
    assert asked >= {"network", "device", "software", "host", "agent", "settlement"}


def test_steps_are_matched_to_commands_and_notes() -> None:
    book = load_runbook("05-settlement-backlog.md")
    events = [
        {"t": 5.0, "event": "note", "text": "nothing yet"},
        {"t": 10.0, "event": "check", "area": "settlement", "verdict": "bad"},
        {"t": 12.0, "event": "detect", "text": "the settlement WORKER looks stalled"},
        {"t": 20.0, "event": "mitigation", "action": "resume_settlement", "ok": True},
        {"t": 1.0, "event": "check", "area": "host", "verdict": "ok"},  # before `since`
    ]
    outcomes = {o.step.id: o for o in match_steps([book], events, since=2.0)}
    assert outcomes["D1"].taken and outcomes["D1"].t == 10.0
    assert outcomes["D1"].how[0] == "lab drill check settlement"
    assert outcomes["D2"].taken and outcomes["D2"].how == ["detect: mentions stalled, worker"]
    assert not outcomes["D3"].taken  # "terminals, 0320, upload" never came up
    assert outcomes["M1"].taken and outcomes["M1"].t == 20.0
    assert not outcomes["M2"].taken
    assert book.mentions("Settlement backlog, 结算 stalled") == [
        "settlement",
        "结算",
        "backlog",
        "stalled",
    ]


def test_a_malformed_runbook_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "99-bad.md"
    bad.write_text("# Runbook 99\n\n## Diagnosis\n1. no bold title here\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no \\*\\*title\\*\\*"):
        parse_runbook(bad)
    bad.write_text("# Runbook 99\n\n## Diagnosis\n1. **Look.** at it\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="## Mitigation"):
        parse_runbook(bad)


def test_the_index_lists_every_runbook() -> None:
    index = (RUNBOOK_DIR / "README.md").read_text(encoding="utf-8")
    for mode in FAILURE_MODES:
        assert f"({mode.runbook})" in index
