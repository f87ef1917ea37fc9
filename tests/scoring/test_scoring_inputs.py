"""Reading the run directory: JSONL edge cases, run.json errors, fallbacks, fees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poslab.common.money import ppm_of
from poslab.errors import RunDirError
from poslab.scoring import score_run
from poslab.scoring.fees import Fees, load_fees
from poslab.scoring.jsonl import ReadStats, iter_jsonl, read_line_at
from poslab.scoring.result import mask_pan
from tests.scoring.scoring_runs import MakeRun, fault_events, fin, seconds


def test_jsonl_offsets_torn_and_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1}\n\n{"a":2}\n[1,2]\n{bad\n{"a":3}\n{"a":')
    stats = ReadStats()
    got = list(iter_jsonl(path, stats))
    assert [r["a"] for _, r in got] == [1, 2, 3]
    assert read_line_at(path, got[2][0]) == {"a": 3}
    assert (stats.records, stats.torn_lines, stats.malformed_lines, stats.not_objects) == (
        3,
        1,
        1,
        1,
    )
    assert stats.locations == ["x.jsonl:4", "x.jsonl:5"]


def test_jsonl_line_holding_two_objects_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a":1},{"a":2}\n{"a":3}\n')
    stats = ReadStats()
    assert [r["a"] for _, r in iter_jsonl(path, stats)] == [3]
    assert stats.malformed_lines == 1


def test_jsonl_large_file_spans_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps({"i": i, "pad": "x" * 200}) + "\n" for i in range(20000)))
    stats = ReadStats()
    assert sum(1 for _ in iter_jsonl(path, stats)) == 20000
    assert stats.records == 20000


def test_missing_or_bad_run_json_is_a_run_dir_error(tmp_path: Path, make_run: MakeRun) -> None:
    with pytest.raises(RunDirError, match="not a directory"):
        score_run(tmp_path / "nope")
    with pytest.raises(RunDirError, match=r"no run\.json"):
        score_run(tmp_path)
    run = make_run(seconds(0, 3))
    doc = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**doc, "format": 9}))
    with pytest.raises(RunDirError, match="format 9 not supported"):
        score_run(run)
    del doc["scenarios"][0]["slo"]
    (run / "run.json").write_text(json.dumps(doc))
    with pytest.raises(RunDirError, match=r"scenarios\[s\]\.slo must be an object"):
        score_run(run)
    (run / "run.json").write_text("{")
    with pytest.raises(RunDirError, match="unreadable"):
        score_run(run)


def test_scenario_without_data_could_not_run(make_run: MakeRun) -> None:
    run = make_run([])
    s = score_run(run).scenarios[0]
    assert s.status == "could_not_run" and "no transaction" in s.reason
    (run / "scenarios" / "s" / "fleet" / "host-1.jsonl").unlink()
    s = score_run(run).scenarios[0]
    assert s.status == "could_not_run" and "no fleet journal" in s.reason


def test_t0_and_fault_fallbacks_are_noted(make_run: MakeRun) -> None:
    records = seconds(0, 4) + seconds(5, 9, "failed") + seconds(10, 19)
    faults = [{"id": "f1", "at_s": 5, "for_s": 5, "kind": "network", "target": "region-north"}]
    run = make_run(records, spec={"faults": faults}, events=fault_events(5.0, 10.0)[:1])
    s = score_run(run).scenarios[0]
    assert any("no fault_cleared" in n for n in s.data_notes)
    assert s.recovery.fault_end == pytest.approx(1_790_000_010.0)
    journal = run / "journal.jsonl"
    journal.write_text("")
    s = score_run(run).scenarios[0]
    assert any("earliest fleet ts_start" in n for n in s.data_notes)
    assert any("no fault_injected" in n for n in s.data_notes)
    assert s.components["A"] == pytest.approx(0.75)


def test_records_outside_the_window_still_reconcile(make_run: MakeRun) -> None:
    # a sale started before t0 and one during the drain: not judged, still in the counts
    records = [*seconds(0, 19), fin(-3.0, stan="900001"), fin(22.0, stan="900002")]
    s = score_run(make_run(records)).scenarios[0]
    assert s.counts["sale"]["approved"] == 202
    assert sum(s.series[0].attempts) == 200


def test_mask_pan_never_shows_a_full_number() -> None:
    assert mask_pan("6222021234567890123") == "622202*********0123"
    assert mask_pan("622202******0123") == "622202******0123"
    assert mask_pan("12345") == "*****"
    assert mask_pan(None) is None


@pytest.mark.parametrize(
    ("amount", "kind", "mid", "fee"),
    [
        (12345, "credit", "m", 74),  # 74.07
        (250, "credit", "m", 2),  # 1.5 rounds half up
        (-250, "credit", "m", -2),  # symmetric: a refund returns exactly the sale's fee
        (1_000_000, "debit", "m", 2500),  # 5000 capped at 25 yuan
        (-1_000_000, "debit", "m", -2500),
        (1000, "qr", "m", 4),  # 3.8
        (1000, "credit", "d0shop", 7),  # 6 + surcharge 0.5 -> 1
        (1000, "unionpay", "m", None),
    ],
)
def test_fee_rule_by_hand(amount: int, kind: str, mid: str, fee: int | None) -> None:
    fees = Fees(6000, 5000, 2500, 3800, 500, frozenset({"d0shop"}))
    assert fees.fee(amount, kind, mid) == fee


@given(st.integers(-10_000_000, 10_000_000), st.sampled_from(["credit", "debit", "qr"]),
       st.booleans())  # fmt: skip
def test_fee_rule_matches_lab_world(amount: int, kind: str, d0: bool) -> None:
    world_fees = pytest.importorskip("poslab.world.fees")
    schedule = world_fees.FeeSchedule()
    mine = Fees(**schedule.to_dict(), d0_merchants=frozenset({"m"} if d0 else ()))
    assert mine.fee(amount, kind, "m") == schedule.fee_fen(amount, kind, "d0" if d0 else "standard")
    assert ppm_of(amount, 6000) == world_fees.ppm_of(amount, 6000)


def test_fees_from_world_json(tmp_path: Path) -> None:
    assert load_fees(tmp_path) == (None, "no world.json in the run directory")
    (tmp_path / "world.json").write_text(json.dumps({"fees": {"credit_ppm": 1.5}}))
    fees, why = load_fees(tmp_path)
    assert fees is None and "credit_ppm" in why
    world = {
        "fees": {"credit_ppm": 6000, "debit_ppm": 5000, "debit_cap_fen": 2500, "qr_ppm": 3800,
                 "d0_surcharge_ppm": 500},
        "merchants": {"columns": ["name", "mid", "fee_class"],
                      "rows": [["a", "m1", "d0"], ["b", "m2", "standard"]]},
    }  # fmt: skip
    (tmp_path / "world.json").write_text(json.dumps(world))
    fees, _ = load_fees(tmp_path)
    assert fees is not None and fees.d0_merchants == frozenset({"m1"})


def test_fleet_control_file_is_not_a_journal(make_run: MakeRun) -> None:
    run = make_run(seconds(0, 19))
    control = run / "scenarios" / "s" / "fleet" / "control.jsonl"
    control.write_text('{"seq":1,"t":1790000001.0,"action":"crash","params":{},"until":null}\n')
    s = score_run(run).scenarios[0]
    assert s.data_notes == []
    assert s.counts == {"sale": {"approved": 200}}
