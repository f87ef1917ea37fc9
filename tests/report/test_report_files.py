"""result.json, junit.xml, summary.md and the console scorecard, read back."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from poslab.report import print_scorecard, write_reports
from poslab.report.junit import junit_tree
from poslab.report.markdown import summary_markdown
from poslab.report.wording import yuan
from poslab.scoring import RESULT_SCHEMA, RESULT_VERSION, RunResult

Mixed = tuple[Path, RunResult]


def _no_nan(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")


def test_result_json_is_versioned_strict_json(mixed: Mixed) -> None:
    run, _result = mixed
    doc = json.loads((run / "result.json").read_text(encoding="utf-8"), parse_constant=_no_nan)
    assert list(doc)[:2] == ["schema", "version"]
    assert (doc["schema"], doc["version"]) == (RESULT_SCHEMA, RESULT_VERSION)
    assert set(doc) == {"schema", "version", "run", "scenarios", "gate", "generated_at",
                        "data_notes"}  # fmt: skip
    assert doc["gate"]["exit_code"] == 1 and doc["gate"]["status"] == "failed"
    names = [s["name"] for s in doc["scenarios"]]
    assert names == ["clean", "money-lost", "slow|pipe", "no-stack"]
    clean, lost, _, skipped = doc["scenarios"]
    assert set(clean["components"]) == {"A", "R", "E"}
    assert {s["region"] for s in clean["series"]} == {"all", "north", "south", "east"}
    assert all(len(s["attempts"]) == 60 for s in clean["series"])
    assert next(c["kind"] for c in lost["checks"]) == "lost_approvals"
    lost_check = lost["checks"][0]
    assert lost_check["count"] == 2 and "example_limit" not in lost_check
    assert re.fullmatch(r"\d{6}\*+\d{4}", lost_check["examples"][0]["pan"])
    assert skipped["status"] == "could_not_run" and skipped["score"] == 0.0


def test_junit_reads_like_the_ci_viewers_expect(mixed: Mixed) -> None:
    run, _ = mixed
    root = ET.parse(run / "junit.xml").getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "3", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "gate" and suite.get("timestamp") and suite.get("hostname")
    props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
    assert props["gate"] == "failed" and props["exit_code"] == "1"
    assert props["score.clean"] == "83.3"  # one of its two expectations fails
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["clean", "money-lost", "slow|pipe", "no-stack", "gate"]
    for case in cases.values():
        assert case.get("classname") == "lab.gate"
        float(case.get("time", "x"))
        assert case.find("system-out") is not None and case.findtext("system-out")
        assert len(case.findall("failure")) + len(case.findall("error")) <= 1
    assert cases["clean"].find("failure") is None and cases["clean"].find("error") is None
    integrity = cases["money-lost"].find("failure")
    assert integrity is not None and integrity.get("type") == "integrity"
    assert "lost_approvals 2" in (integrity.get("message") or "")
    assert "unresolved 1" in (integrity.get("message") or "")
    assert "TID" in (integrity.text or "")
    low = cases["slow|pipe"].find("failure")
    assert low is not None and low.get("type") == "score"
    assert "below its minimum 90" in (low.get("message") or "")
    error = cases["no-stack"].find("error")
    assert error is not None and error.get("type") == "could_not_run"
    gate = cases["gate"].find("failure")
    assert gate is not None and "suite score" in (gate.get("message") or "")


def test_junit_survives_control_characters(mixed: Mixed) -> None:
    _, result = mixed
    result.scenarios[0].data_notes.append("bell \x07 in a journal")
    try:
        text = ET.tostring(junit_tree(result).getroot(), encoding="unicode")
    finally:
        result.scenarios[0].data_notes.pop()
    ET.fromstring(text)  # parses: the control character was replaced
    assert "\x07" not in text


def test_markdown_summary(mixed: Mixed) -> None:
    run, result = mixed
    text = (run / "summary.md").read_text(encoding="utf-8")
    assert text == summary_markdown(result)
    assert text.startswith("## ❌ POS resilience gate FAILED — suite `gate`")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 4  # header + one per scenario
    assert "| slow\\|pipe |" in text  # a pipe in a name cannot break the table
    assert "**Why the gate did not pass:**" in text
    assert "`lost_approvals` × 2" in text
    assert "<details><summary>Integrity findings</summary>" in text


def test_console_scorecard(mixed: Mixed) -> None:
    _, result = mixed
    console = Console(record=True, width=160)
    print_scorecard(result, console)
    out = console.export_text()
    for name in ("clean", "money-lost", "slow|pipe", "no-stack"):
        assert name in out
    assert "integrity failed" in out and "could not run" in out
    assert "lost_approvals × 2" in out
    assert "gate FAILED" in out and "exit 1" in out


def test_reports_are_replaced_atomically(mixed: Mixed, tmp_path: Path) -> None:
    _, result = mixed
    (tmp_path / "result.json").write_text("old")
    files = write_reports(result, tmp_path, html=False)
    assert json.loads(files.result_json.read_text())["schema"] == RESULT_SCHEMA
    assert files.report_html is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "result.json", "summary.md"]


@pytest.mark.parametrize(
    ("fen", "text"), [(0, "¥0.00"), (5, "¥0.05"), (123456, "¥1,234.56"), (-250, "-¥2.50")]
)
def test_money_is_written_exactly(fen: int, text: str) -> None:
    assert yuan(fen) == text
