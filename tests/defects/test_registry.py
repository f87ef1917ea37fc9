"""The defect registry and its switches, without starting a service (issue 19).

Bad input: an unknown defect is exit 2 naming the defects the service knows; a
defect asked of an external service is refused with the reason. A cell of the
matrix is ``killed`` only when the failing check names the defect's reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from poslab.cli import main
from poslab.cli.defects_option import parse_defects, with_defects
from poslab.cli.verify_catalogue import FAILED_OTHER, KILLED, SURVIVED, Matrix, cell_verdict
from poslab.defects import DEFECTS, MONEY, UnknownDefect, parse_ref
from poslab.errors import ConfigError
from poslab.mocks.acquirer.__main__ import main as acquirer_main
from poslab.mocks.acquirer.config import AcquirerConfig, config_from_dict
from poslab.scenario import RunOptions, load_scenario
from poslab.scoring.result import CHECK_TITLES
from poslab.stack.external import with_external
from poslab.stack.topology import Endpoint, ServiceName, default_topology


def test_every_defect_is_caught_by_named_integrity_checks() -> None:
    for table in DEFECTS.values():
        for defect in table.values():
            checks = {c for c in defect.caught_by if not c.startswith("expectation ")}
            assert defect.caught_by and checks <= set(CHECK_TITLES), defect
            assert defect.stands_for
    assert {d.name for d in MONEY} >= {"reply-before-durable", "ack-reversal-without-applying"}


def test_off_by_default_and_planted_by_config() -> None:
    assert AcquirerConfig().defects == frozenset()
    config = config_from_dict({"defects": ["reply-before-durable"]})
    assert config.defective("reply-before-durable")
    assert not config.defective("no-late-reversal")


def test_unknown_defect_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="it knows: ack-reversal-without-applying"):
        config_from_dict({"defects": ["rebook"]})
    with pytest.raises(UnknownDefect, match="SERVICE one of acquirer, terminal"):
        parse_ref("agent:stale-tms")
    with pytest.raises(ConfigError, match="acquirer knows no defect nope"):
        parse_defects(["acquirer:nope"])


def test_the_acquirer_refuses_an_unknown_defect_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--world", str(tmp_path / "w"), "--db", str(tmp_path / "db"), "--issuer", "h:1"]
    assert acquirer_main([*argv, "--defect", "bogus"]) == 2
    assert "it knows: ack-reversal-without-applying" in capsys.readouterr().err


def test_lab_run_unknown_defect_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "acquirer-outage", "--dry-run", "--defect", "acquirer:nope"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--runs-dir", str(tmp_path)])
    assert exited.value.code == 2
    assert "it knows: ack-reversal-without-applying" in capsys.readouterr().err


def test_defects_ride_in_the_scenarios_settings_and_external_is_refused() -> None:
    topology = default_topology()
    scenario = load_scenario("acquirer-crash-restart", topology, RunOptions(time_scale=0.5))
    defects = parse_defects(["acquirer:reply-before-durable", "acquirer:no-late-reversal"])
    (planted,) = with_defects([scenario], topology, defects)
    assert planted.acquirer["defects"] == ["no-late-reversal", "reply-before-durable"]
    assert "defects" in planted.dump_resolved()["acquirer"]  # type: ignore[operator]
    external = with_external(topology, ServiceName.ACQUIRER, Endpoint(host="127.0.0.1", port=9))
    with pytest.raises(ConfigError, match="cannot plant defects in a system it does not own"):
        with_defects([scenario], external, defects)


def _result(passed: bool, *failed: str) -> dict[str, object]:
    checks = [{"kind": k, "status": "failed" if k in failed else "passed"} for k in CHECK_TITLES]
    return {"name": "s", "status": "scored", "passed": passed, "score": 0.0, "checks": checks}


def test_a_cell_is_killed_only_for_the_defects_reason() -> None:
    defect = parse_ref("acquirer:reply-before-durable")
    assert cell_verdict("c", defect, _result(False, "lost_approvals")).verdict == KILLED
    assert cell_verdict("c", defect, _result(False, "double_bookings")).verdict == FAILED_OTHER
    assert cell_verdict("c", defect, _result(True)).verdict == SURVIVED


def test_the_matrix_names_what_kills_nothing_and_what_survives() -> None:
    col = "acquirer:reply-before-durable"
    matrix = Matrix(["a", "b"], ["clean", col], gate_scenarios=["a"])
    matrix.cells[("a", "clean")] = cell_verdict("clean", None, {**_result(True), "name": "a"})
    matrix.cells[("b", "clean")] = cell_verdict("clean", None, {**_result(True), "name": "b"})
    defect = parse_ref(col)
    matrix.cells[("a", col)] = cell_verdict(col, defect, {**_result(True), "name": "a"})
    matrix.cells[("b", col)] = cell_verdict(
        col, defect, {**_result(False, "lost_approvals"), "name": "b"}
    )
    problems = matrix.problems()
    assert "a kills no defect" in problems
    assert f"money defect {col} survives the gate suite" in problems
    assert "| b | passed 0.0 | killed 0.0 (lost_approvals) |" in matrix.to_markdown()


def test_terminal_defects_ride_in_the_fleets_terminal_settings() -> None:
    from poslab.mocks.terminal.config import TerminalConfig

    assert TerminalConfig().defects == frozenset()
    assert TerminalConfig.from_dict({"defects": ["never-apply-update"]}).defective(
        "never-apply-update"
    )
    with pytest.raises(ConfigError, match="terminal knows no defect x"):
        TerminalConfig.from_dict({"defects": ["x"]})
    topology = default_topology()
    scenario = load_scenario("outdated-software", topology, RunOptions(time_scale=0.5))
    (planted,) = with_defects([scenario], topology, parse_defects(["terminal:never-apply-update"]))
    assert planted.terminal["defects"] == ["never-apply-update"]
    assert "defects" not in planted.acquirer
    # the fleet is the lab's own even against an external acquirer
    external = with_external(topology, ServiceName.ACQUIRER, Endpoint(host="127.0.0.1", port=9))
    with_defects([scenario], external, parse_defects(["terminal:never-apply-update"]))
