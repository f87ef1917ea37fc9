"""The gate against a host the lab did not write (issue 13): the foreign host of
tests/foreign_host, set up as a team would (tests/external/support.py), driven by
``lab run`` as a pipeline runs it.

A reduced gate keeps the wall time down (time scale 0.5, 12 imported terminals,
the scenarios that tell each defect apart); the full gate's figures against the
clean host and each defect are in docs/external.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.external.support import ForeignSetup, foreign_setup, write_team_files
from tests.support.processes import run_lab

SCALE = ["--time-scale", "0.5"]
#: the gate's 15 s business day at --time-scale 0.5, declared by the host
DAY_S = 7.5


def _import(folder: Path, terminals: int) -> Path:
    """The team's test terminals and their cards, through ``lab world import``."""
    terminals_csv, cards_csv = write_team_files(folder, terminals=terminals)
    out = folder / "team-world.json"
    log = folder / "import.log"
    argv = ["world", "import", str(terminals_csv), "--cards", str(cards_csv), "--out", str(out)]
    code = run_lab(argv, log, 60)
    assert code == 0, log.read_text()
    return out


@pytest.fixture(scope="module")
def team_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 terminals: enough for every defect but a duplicate (below)."""
    return _import(tmp_path_factory.mktemp("team"), 12)


def _run(setup: ForeignSetup, folder: Path, *what: str) -> tuple[int, dict[str, Any], str]:
    runs = folder / "runs"
    log = folder / "lab.log"
    args = [*what, "--topology", str(setup.topology), "--world", str(setup.world)]
    code = run_lab([*args, *SCALE, "--runs-dir", str(runs)], log, timeout_s=600)
    result = runs / "latest" / "result.json"
    doc = json.loads(result.read_text()) if result.exists() else {}
    return code, doc, log.read_text()


def _suite(folder: Path, *scenarios: str) -> str:
    path = folder / "reduced-gate.yaml"
    lines = ["name: reduced-gate", "min_score: 80", "require: [integrity]", "scenarios:"]
    path.write_text("\n".join(lines + [f"  - {s}" for s in scenarios]) + "\n")
    return str(path)


def _checks(doc: dict[str, Any], scenario: str) -> dict[str, tuple[str, int | None]]:
    s = next(s for s in doc["scenarios"] if s["name"] == scenario)
    return {c["kind"]: (c["status"], c.get("count")) for c in s["checks"]}


@pytest.fixture
def host(tmp_path: Path, team_world: Path, request: pytest.FixtureRequest) -> Any:
    """``host(defects=…, **options)``: a foreign host, stopped after the test."""
    made: list[ForeignSetup] = []

    def make(**options: Any) -> ForeignSetup:
        setup = foreign_setup(tmp_path, team_world, day_seconds=DAY_S, **options)
        made.append(setup)
        return setup

    yield make
    for setup in made:
        setup.stop()


def test_the_clean_host_passes_with_every_money_check_run(tmp_path: Path, host: Any) -> None:
    setup = host()
    suite = _suite(tmp_path, "acquirer-crash-restart", "working-key-expiry")
    code, doc, log = _run(setup, tmp_path, "run", "--suite", suite)
    assert code == 0, log
    for scenario in doc["scenarios"]:
        checks = _checks(doc, scenario["name"])
        assert len(checks) == 8 and {s for s, _ in checks.values()} == {"passed"}, checks
        assert any("the team's system" in n for n in scenario["data_notes"])
    hooks = tmp_path / "runs" / "latest" / "scenarios" / "acquirer-crash-restart" / "services"
    text = (hooks / "acquirer.hooks.log").read_text()
    assert "acquirer reset:" in text and "acquirer kill:" in text and "acquirer start:" in text
    keys = tmp_path / "runs" / "latest" / "scenarios" / "working-key-expiry" / "services"
    assert "fault expire_keys (keys-expired)" in (keys / "acquirer.hooks.log").read_text()


def test_a_host_that_replies_before_its_books_are_durable_fails_on_lost_approvals(
    tmp_path: Path, host: Any
) -> None:
    setup = host(defects=("reply-before-durable",))
    code, doc, log = _run(
        setup, tmp_path, "run", "--suite", _suite(tmp_path, "acquirer-crash-restart")
    )
    assert code == 1, log
    status, count = _checks(doc, "acquirer-crash-restart")["lost_approvals"]
    assert status == "failed" and count, doc["scenarios"][0]["checks"]


def test_a_host_that_acknowledges_reversals_without_applying_them_fails(
    tmp_path: Path, host: Any
) -> None:
    setup = host(defects=("ack-reversal-without-applying",))
    suite = _suite(tmp_path, "response-timeout-reversal")
    code, doc, log = _run(setup, tmp_path, "run", "--suite", suite)
    assert code == 1, log
    checks = _checks(doc, "response-timeout-reversal")
    failed = {k for k, (status, _) in checks.items() if status == "failed"}
    assert failed & {"unreversed_failures", "reversals_not_landed"}, checks


def test_a_host_that_books_a_duplicate_again_fails_on_double_bookings(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A duplicate reaches a host only when a reply is lost on a request the terminal
    sends again (a refund from store-and-forward): 4 % of the mix, a quarter of the
    replies for 7 s — 12 terminals give about one, so this host is tried with 100."""
    world = _import(tmp_path_factory.mktemp("team100"), 100)
    setup = foreign_setup(tmp_path, world, day_seconds=DAY_S, defects=("rebook-duplicates",))
    try:
        suite = _suite(tmp_path, "response-timeout-reversal")
        code, doc, log = _run(setup, tmp_path, "run", "--suite", suite)
    finally:
        setup.stop()
    assert code == 1, log
    status, count = _checks(doc, "response-timeout-reversal")["double_bookings"]
    assert status == "failed" and count, doc["scenarios"][0]["checks"]


def test_a_host_of_another_dialect_is_spoken_to_in_its_own(tmp_path: Path, host: Any) -> None:
    """ANSI X9.19 MACs, key mode 004 (with a track key), another TPDU and header
    version: the topology's ``terminal:`` section, and the host's books agree."""
    dialect = {"key_mode": "004", "tpdu_destination": "0009", "header_spec_version": "32"}
    setup = host(mac="x9.19", dialect=dialect)
    code, doc, log = _run(setup, tmp_path, "run", "acquirer-outage")
    assert code == 0, log
    assert {s for s, _ in _checks(doc, "acquirer-outage").values()} == {"passed"}


# -- bad input --------------------------------------------------------------------------


def test_a_failed_hook_is_a_fault_not_injected_and_the_rollback_still_runs(
    tmp_path: Path, host: Any
) -> None:
    setup = host(broken=("restart",))  # expire_keys is mapped to the host's restart
    code, doc, log = _run(setup, tmp_path, "run", "working-key-expiry")
    assert code == 2, log  # its only scenario could not run: the lab could not run
    scenario = doc["scenarios"][0]
    assert scenario["status"] == "could_not_run"
    assert "fault keys-expired: not injected: acquirer fault expire_keys" in scenario["reason"]
    assert "exited with status 1" in scenario["reason"]
    journal = (tmp_path / "runs" / "latest" / "journal.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in journal]
    assert "rollback" in events and "fault_injected" not in events


def test_a_hook_past_its_timeout_is_not_injected_either(tmp_path: Path, host: Any) -> None:
    setup = host(hanging=("restart",), hook_timeout_s=2.0)
    code, doc, log = _run(setup, tmp_path, "run", "working-key-expiry")
    assert code == 2, log
    assert "timed out after 2 s" in doc["scenarios"][0]["reason"]


def test_an_unreachable_external_address_is_refused_before_the_load(
    tmp_path: Path, host: Any
) -> None:
    setup = host(start=False, reset=False)  # nothing listens at its address
    code, _, log = _run(setup, tmp_path, "run", "acquirer-outage")
    assert code == 2, log
    assert f"external service acquirer at 127.0.0.1:{setup.port} does not answer" in log
    assert not list((tmp_path / "runs").glob("*/scenarios/*/fleet/*.jsonl")), "no load started"


def test_ledger_rows_without_a_mapped_column_end_the_run_naming_it(
    tmp_path: Path, host: Any
) -> None:
    setup = host(ledger_columns={"amount": "amount_fen"})  # their column is amt_minor
    code, _, log = _run(setup, tmp_path, "run", "acquirer-outage")
    assert code == 2, log
    assert "transactions row 1 (the first bad row): column 'amount_fen'" in log, log
    assert "(the lab's amount) is missing" in log
