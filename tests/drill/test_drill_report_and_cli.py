"""The post-incident report from a hand-made drill directory, the terminal view, and the
CLI's answers when there is nothing to act on or the request is bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from poslab.drill.console import plain_line, render, watch
from poslab.drill.postmortem import write_postmortem
from poslab.drill.session import DrillFiles, DrillState, Timeline
from tests.drill.drill_cli import Lab
from tests.drill.drill_records import T0, facilitator, injected, mitigation, sample


def drill_dir(tmp_path: Path) -> DrillFiles:
    """A finished drill: host killed at T+10, wrong then right mitigation, recovered."""
    files = DrillFiles(tmp_path / "20260101T000000Z-drill")
    files.fleet_dir.mkdir(parents=True)
    files.write_facilitator(facilitator())
    files.write_state(
        DrillState(
            run_dir=str(files.run_dir),
            created_at=T0 - 5,
            t0=T0,
            stack_state="/nonexistent",
            status="ended",
        )
    )
    files.journal.write_text(json.dumps(injected(10.0, "acquirer-killed")) + "\n", encoding="utf-8")
    timeline = Timeline(files.timeline)
    timeline.append("check", t=T0 + 12, area="host", verdict="bad")
    timeline.append("note", t=T0 + 13, text="every region failing at once")
    timeline.append("detect", t=T0 + 14, text="the acquirer crashed")
    for event in (mitigation(16, "use_backup_path"), mitigation(20, "restart_acquirer")):
        timeline.append(event.pop("event"), **event)
    timeline.append("end", t=T0 + 40, reason="ended by the participants")
    with files.metrics.open("w", encoding="utf-8") as fh:
        for i in range(40):
            fh.write(json.dumps(sample(i, ratio=0.0) if 10 <= i < 21 else sample(i)) + "\n")
    sales = [
        {"type": "sale", "outcome": "failed", "amount": 1234, "ts_start": T0 + 12.0},
        {"type": "sale", "outcome": "failed", "amount": 766, "ts_start": T0 + 15.0},
        {"type": "sale", "outcome": "failed", "amount": 500, "ts_start": T0 + 2.0},
        {"type": "sale", "outcome": "approved", "amount": 9999, "ts_start": T0 + 12.0},
    ]
    files.fleet_dir.joinpath("host-1.jsonl").write_text(
        "".join(json.dumps(s) + "\n" for s in sales), encoding="utf-8"
    )
    return files


def test_postmortem_of_a_finished_drill(tmp_path: Path) -> None:
    files = drill_dir(tmp_path)
    paths = write_postmortem(files)
    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert report["figures"] == {
        "symptom_s": 0.0,
        "detect_s": 4.0,
        "first_mitigation_s": 6.0,
        "mitigate_s": 10.0,
        "recover_s": 11.0,
    }
    wrong, right = report["mitigations"]
    assert (wrong["verdict"], right["verdict"]) == ("wrong", "right")
    assert wrong["effect"] == "no recovery followed before the next mitigation"
    money = report["money"]
    assert money["failed_sales"] == {"count": 2, "fen": 2000, "status": "measured"}
    assert money["failed_sales_all"]["count"] == 3 and money["failed_sales_all"]["fen"] == 2500
    assert money["debited_without_sale"]["status"] == "not_available"
    assert any("reconciliation not available" in n for n in money["notes"])
    md = paths["md"].read_text(encoding="utf-8")
    for text in (
        "Detected after 4 s. Mitigated after 10 s. Recovered after 11 s (after restart_acquirer).",
        "| use_backup_path | wrong |",
        "| restart_acquirer | right |",
        "¥20.00",
        "every region failing at once",
        "taken T+12 s",
        "| D3 | Check the device |",
    ):
        assert text in md, text
    assert any(i.startswith("`use_backup_path` does not address") for i in report["action_items"])
    assert any("D3 Check the device" in i for i in report["action_items"])
    html = paths["html"].read_text(encoding="utf-8")
    assert 'id="incident-chart"' in html and "<script src=" not in html
    assert '<span class="wrong">wrong</span>' in html


def test_terminal_view_renders_the_figures() -> None:
    samples = [sample(i) for i in range(5)] + [
        sample(5, ratio=0.5, host={"up": False, "settlement_backlog": None})
    ]
    console = Console(record=True, width=140)
    console.print(
        render(
            samples,
            {
                "status": "running",
                "t0": T0,
                "events": [{"t": T0 + 3, "event": "detect", "text": "host down"}],
            },
        )
    )
    text = console.export_text()
    for expected in ("running", "T+5 s", "north", "50.0%", "DOWN", "detect: host down"):
        assert expected in text, expected
    assert plain_line(samples[-1]).startswith("second 5: 6 txn/s, success 50.0%")


def test_cli_without_a_drill_or_with_bad_requests(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lab = Lab(capsys, tmp_path / "runs")
    code, out = lab("drill", "note", "hello")
    assert code == 2 and "no drill is running" in out
    code, out = lab("drill", "status")
    assert code == 2
    out = lab.ok("drill", "mitigate", "--list")
    assert "use_backup_path" in out and "escalate_upstream" in out
    code, out = lab("drill", "start", "--scenario=peak-hour")
    assert code == 2 and "peak-hour" in out
    code, out = lab("drill", "start", "--delay-window=9:1")
    assert code == 2 and "LOW ≤ HIGH" in out
    code, out = lab("drill", "start", "--scenario=issuer-slow", "--random")
    assert code == 2 and "not both" in out
    code, out = lab("drill", "start", "--delay-window=10:200", "--max-minutes=3")
    assert code == 2 and "leave at least" in out
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("hello\n", encoding="utf-8")
    code, out = lab("drill", "start", f"--cert={not_a_cert}")
    assert code == 2 and "cannot use the certificate" in out
    code, out = lab("drill", "start", f"--key={not_a_cert}")
    assert code == 2 and "--key needs --cert" in out
    for command in (("pause",), ("resume",), ("inject", "issuer-slow")):
        code, out = lab("drill", *command)
        assert code == 2 and "no drill is running" in out, command
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*-drill"))


class _FakeClient:
    """Serves three samples, then says the drill ended."""

    def __init__(self) -> None:
        self.calls = 0

    def metrics(self, after: int) -> dict[str, object]:
        return {"samples": [sample(i) for i in range(after, min(after + 1, 3))]}

    def status(self) -> dict[str, object]:
        self.calls += 1
        return {"status": "running" if self.calls < 3 else "ended", "t0": T0, "events": []}


def test_watch_follows_until_the_drill_ends() -> None:
    console = Console(record=True, width=120, force_terminal=False)
    shown = watch(_FakeClient(), console, seconds=30, sleep=lambda s: None)  # type: ignore[arg-type]
    assert shown == 3
    assert "second 0: 6 txn/s, success 100.0%" in console.export_text()
