"""Reconciliation: every injected failure is found, under its own check, with examples;
a clean run raises nothing; missing ledger files make checks "not available"."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from poslab.scoring import CHECKS, score_run
from poslab.scoring.result import FAILED, NOT_AVAILABLE, PASSED, ScenarioResult
from poslab.testing import INJECTIONS, SyntheticScenario, write_run
from tests.scoring.scoring_runs import T0, MakeRun, fin, ledger_row, seconds

MASKED = re.compile(r"^\d{6}\*+\d{4}$")


def checks_of(s: ScenarioResult) -> dict[str, tuple[str, int]]:
    return {c.kind: (c.status, c.count) for c in s.checks}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> ScenarioResult:
    run = write_run(tmp_path_factory.mktemp("clean"), [SyntheticScenario()])
    return score_run(run).scenarios[0]


def test_clean_run_has_no_findings(clean: ScenarioResult) -> None:
    assert checks_of(clean) == {kind: (PASSED, 0) for kind, _ in CHECKS}
    assert clean.integrity_ok
    assert clean.data_notes == []
    assert clean.counts["sale"]["approved"] > 2000


@pytest.mark.parametrize("injection", sorted(INJECTIONS))
def test_each_injected_failure_is_found_alone(tmp_path: Path, injection: str) -> None:
    run = write_run(tmp_path, [SyntheticScenario(inject={injection: 3})])
    s = score_run(run).scenarios[0]
    expected = INJECTIONS[injection]
    found = checks_of(s)
    assert found[expected] == (FAILED, 3), found
    assert {k: v for k, v in found.items() if k != expected} == {
        k: (PASSED, 0) for k, _ in CHECKS if k != expected
    }
    assert not s.integrity_ok
    assert s.score == 0.0
    check = next(c for c in s.checks if c.kind == expected)
    assert len(check.examples) == 3
    for ex in check.examples:
        assert ex.detail
        if expected not in ("wrong_payouts", "unbalanced_batches"):
            assert ex.tid and ex.stan and ex.batch and ex.t is not None
            assert ex.pan is not None and MASKED.match(ex.pan), ex.pan
        if expected == "wrong_payouts":
            assert ex.mid


def test_examples_are_capped_but_counts_are_not(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario(inject={"lost_approvals": 12})])
    s = score_run(run, example_limit=4).scenarios[0]
    check = next(c for c in s.checks if c.kind == "lost_approvals")
    assert check.count == 12 and len(check.examples) == 4


def test_missing_ledger_is_not_available_never_passed(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario(write_ledger=False)])
    s = score_run(run).scenarios[0]
    statuses = {c.kind: c.status for c in s.checks}
    assert statuses.pop("unresolved") == PASSED  # the fleet alone answers this one
    assert set(statuses.values()) == {NOT_AVAILABLE}
    assert all(c.note for c in s.checks if c.status == NOT_AVAILABLE)
    assert s.integrity_ok  # unknown is not a failure, but it is never shown as passed


def test_each_missing_export_disables_only_its_check(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario()])
    ledger = run / "scenarios" / "synthetic" / "ledger"
    (ledger / "issuer.jsonl").unlink()
    (ledger / "batches.jsonl").unlink()
    s = score_run(run).scenarios[0]
    statuses = {c.kind: c.status for c in s.checks}
    assert statuses["issuer_holds_without_sale"] == NOT_AVAILABLE
    assert statuses["unbalanced_batches"] == NOT_AVAILABLE
    assert statuses["wrong_payouts"] == PASSED
    (run / "world.json").unlink()
    s = score_run(run).scenarios[0]
    payouts = next(c for c in s.checks if c.kind == "wrong_payouts")
    assert payouts.status == NOT_AVAILABLE and "world.json" in payouts.note


def test_pending_reversal_resolution(make_run: MakeRun) -> None:
    sale = fin(1.0, "failed", stan="000007", reversal="pending", lat=3000.0)
    acked = fin(5.0, "approved", typ="reversal", stan="000007", orig_stan="000007",
                orig_batch="000001")  # fmt: skip
    gave_up = {**acked, "outcome": "unresolved", "rc": None}
    base = seconds(6, 19)

    def unresolved(records: list[dict[str, object]], **kw: object) -> int:
        s = score_run(make_run(records + base, **kw)).scenarios[0]
        return next(c.count for c in s.checks if c.kind == "unresolved")

    assert unresolved([sale, acked]) == 0
    assert unresolved([sale]) == 1  # never sent
    assert unresolved([sale, gave_up]) == 1  # 冲正不成功
    assert unresolved([sale, gave_up, acked]) == 0  # a later retry got through
    drain = [{"t": T0 + 25, "event": "drain_finished", "pending_reversals": 3}]
    assert unresolved([sale, acked], events=drain) == 3


def test_ledger_status_decides_between_failure_kinds(make_run: MakeRun) -> None:
    sale = fin(1.0, "failed", stan="000007", reversal="pending", lat=3000.0)
    acked = fin(5.0, "approved", typ="reversal", stan="000007", orig_stan="000007",
                orig_batch="000001")  # fmt: skip
    approved_sale = fin(2.0, stan="000008")
    cases = {
        # terminal reversed it, host acknowledged, ledger still holds the money
        "reversals_not_landed": ([sale, acked], [ledger_row(sale)]),
        # no reversal at all and the ledger booked it
        "unreversed_failures": ([sale], [ledger_row(sale)]),
        # the terminal handed goods over; the ledger reversed the sale
        "lost_approvals": ([approved_sale], [ledger_row(approved_sale, "reversed")]),
    }
    for kind, (records, rows) in cases.items():
        run = make_run(records + seconds(6, 19, typ="balance"), ledger={"transactions": rows})
        s = score_run(run).scenarios[0]
        failed = {c.kind for c in s.checks if c.status == FAILED}
        assert kind in failed, (kind, failed)
        assert failed <= {kind, "unresolved"}, (kind, failed)
    # reversed in the ledger: all square
    run = make_run([sale, acked], ledger={"transactions": [ledger_row(sale, "reversed")]})
    assert score_run(run).scenarios[0].integrity_ok


def test_torn_last_line_is_ignored_and_noted(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario(torn_last_line=True)])
    s = score_run(run).scenarios[0]
    assert s.integrity_ok
    assert any("torn" in n for n in s.data_notes)


def test_corrupt_middle_line_is_skipped_and_located(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario()])
    fleet = run / "scenarios" / "synthetic" / "fleet" / "host-1.jsonl"
    lines = fleet.read_text().splitlines(keepends=True)
    lines.insert(10, "{not json\n")
    fleet.write_text("".join(lines))
    s = score_run(run).scenarios[0]
    assert any("1 malformed line" in n for n in s.data_notes)
    assert any("host-1.jsonl:11" in n for n in s.data_notes)


def test_ledger_copied_between_scenarios_is_independent(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        [SyntheticScenario(name="a"), SyntheticScenario(name="b", inject={"lost_approvals": 1})],
    )
    a, b = score_run(run).scenarios
    assert a.integrity_ok and not b.integrity_ok
    shutil.rmtree(run / "scenarios" / "b" / "ledger")
    assert score_run(run).scenarios[1].integrity_ok


def test_ledger_read_in_a_second_process_gives_the_same_result(tmp_path: Path) -> None:
    inject = {"lost_approvals": 2, "double_bookings_restan": 1, "wrong_payouts": 1}
    run = write_run(tmp_path, [SyntheticScenario(inject=inject)])
    inline = score_run(run, parallel=False).scenarios[0]
    forked = score_run(run, parallel=True).scenarios[0]
    assert forked.checks == inline.checks
    assert forked.score == inline.score == 0.0


def test_issuer_holds_in_any_documented_shape(tmp_path: Path) -> None:
    """The fast block match and the line-by-line fallback find the same holds."""
    run = write_run(tmp_path, [SyntheticScenario(inject={"issuer_holds_without_sale": 2})])
    issuer = run / "scenarios" / "synthetic" / "ledger" / "issuer.jsonl"
    lines = issuer.read_text().splitlines()
    # another writer: spaces after colons, keys in another order, a separated ref
    reshaped = []
    for i, line in enumerate(lines):
        row = json.loads(line)
        if i % 3 == 0:
            ref = row.pop("acquirer_ref")
            row = {"acquirer_ref": f"{ref[:8]}/{ref[8:14]}/{ref[14:]}", **row}
        reshaped.append(json.dumps(row, separators=(", ", ": ")))
    issuer.write_text("\n".join(reshaped) + "\n")
    s = score_run(run).scenarios[0]
    check = next(c for c in s.checks if c.kind == "issuer_holds_without_sale")
    assert (check.status, check.count) == (FAILED, 2)
    assert all(e.tid and e.stan and e.pan for e in check.examples)


def test_a_refund_is_judged_by_the_terminal_s_final_answer(make_run: MakeRun) -> None:
    """Store-and-forward: the original refund stays failed with ``saf: pending``; a later
    retransmission (same tid/stan/batch) carries the host's answer and decides."""
    refund = fin(1.0, "failed", typ="refund", stan="000009", saf="pending", lat=3000.0)
    lost_again = fin(4.0, "failed", typ="refund", stan="000009", saf="pending",
                     retransmission=True)  # fmt: skip
    answered = fin(6.5, "approved", typ="refund", stan="000009", retransmission=True)
    declined = {**answered, "outcome": "declined", "rc": "13"}
    booked = {"transactions": [ledger_row(refund)]}  # the host credited the customer

    def failed(records: list[dict[str, object]], ledger: object = None) -> dict[str, int]:
        run = make_run(
            records + seconds(6, 19, typ="balance"), ledger=ledger or {"transactions": []}
        )
        s = score_run(run).scenarios[0]
        return {c.kind: c.count for c in s.checks if c.status == FAILED}

    assert failed([refund, lost_again, answered], booked) == {}  # resolved: all square
    assert failed([refund, answered], booked) == {}
    # a definite "no" and nothing booked: the merchant rightly sees a failed refund
    assert failed([refund, lost_again, declined]) == {}
    # never answered by the end: the customer is credited, the merchant thinks it failed
    assert failed([refund], booked) == {"unresolved": 1, "unreversed_failures": 1}
    assert failed([refund, lost_again], booked) == {"unresolved": 1, "unreversed_failures": 1}
    # still queued, and the host never got it: no money moved, yet the terminal does not know
    assert failed([refund, lost_again]) == {"unresolved": 1}
    # a naive terminal has no queue: a lost reply is a plain failure the ledger contradicts
    naive = {**refund, "saf": None, "policy": "naive"}
    assert failed([naive], booked) == {"unreversed_failures": 1}
    run = make_run([refund, lost_again, *seconds(6, 19, typ="balance")], ledger=booked)
    unresolved = next(c for c in score_run(run).scenarios[0].checks if c.kind == "unresolved")
    assert "store-and-forward" in unresolved.examples[0].detail
    assert unresolved.examples[0].stan == "000009"


def test_retransmissions_are_not_customer_attempts(make_run: MakeRun) -> None:
    resends = [
        fin(10 + i / 10, "failed", typ="refund", stan=f"9{i:05d}", saf="pending",
            retransmission=True, lat=3000.0)
        for i in range(5)
    ]  # fmt: skip
    s = score_run(make_run(seconds(6, 19) + resends)).scenarios[0]
    series = s.series[0]
    assert series.attempts[10] == 10 and series.good[10] is True
    assert series.good[11] is True  # not "stuck" behind the slow resends either
    assert s.counts["refund"] == {"failed": 5}  # still counted as records
