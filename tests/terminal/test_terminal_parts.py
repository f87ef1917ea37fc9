"""The terminal's parts on their own: backoff, host paths, the store, config, records."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from poslab.errors import ConfigError
from poslab.mocks.terminal import (
    BatchEntry,
    DurableReversals,
    HostPaths,
    MemoryReversals,
    Outcome,
    PathName,
    Policy,
    ReversalRecord,
    SafEntry,
    SafQueue,
    TerminalConfig,
    TerminalStore,
    TxnRecord,
    TxnType,
    outcome_for_rc,
    parse_address,
    target_version,
)
from poslab.mocks.terminal.backoff import Backoff
from poslab.mocks.terminal.settlement import batch_totals, next_batch
from poslab.mocks.terminal.store_and_forward import is_definite
from poslab.mocks.terminal.terminal_store import Counters, fields_from_json, fields_to_json

CONTRACT_FIELDS = {
    "ts_start", "ts_end", "tid", "mid", "region", "type", "stan", "batch", "amount", "pan",
    "rc", "outcome", "attempts", "path", "rrn", "reason", "reversal", "orig_stan",
    "orig_batch", "saf", "retransmission", "latency_ms", "policy",
}  # fmt: skip


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    b = Backoff(0.1, 1.0, jitter=False, rng=random.Random(1))
    assert [b.delay(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.delay(10_000) == 1.0  # no overflow for absurd attempt numbers


def test_backoff_with_jitter_spreads_inside_the_ceiling() -> None:
    b = Backoff(0.1, 1.0, jitter=True, rng=random.Random(1))
    draws = [b.delay(4) for _ in range(200)]
    assert all(0.0 <= d <= 0.8 for d in draws)
    assert len({round(d, 6) for d in draws}) > 150  # a storm is spread, not repeated
    with pytest.raises(ValueError):
        b.delay(0)


def test_backoff_with_a_floor_keeps_that_share_of_each_step() -> None:
    b = Backoff(1.0, 8.0, jitter=True, rng=random.Random(3), floor=0.5)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0)):
        draws = [b.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws), attempt
        assert len({round(d, 6) for d in draws}) > 150  # still spread across the fleet
    # three spaced tries span at least 1.5 steps, whatever the draws
    assert min(b.delay(1) + b.delay(2) for _ in range(500)) >= 1.5
    with pytest.raises(ValueError):
        Backoff(1.0, 8.0, jitter=True, rng=random.Random(3), floor=1.5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_paths_fail_over_after_n_failures_then_fail_back() -> None:
    clock = FakeClock()
    paths = HostPaths(
        ("h", 1), ("h", 2), failover=True, failover_after=2, fail_back_after_s=10, clock=clock
    )
    assert paths.choose() is PathName.PRIMARY
    paths.failed(PathName.PRIMARY)
    assert paths.choose() is PathName.PRIMARY
    paths.failed(PathName.PRIMARY)
    assert paths.choose() is PathName.BACKUP
    paths.succeeded(PathName.BACKUP)
    clock.now = 9.9
    assert paths.choose() is PathName.BACKUP
    clock.now = 10.0
    assert paths.choose() is PathName.PRIMARY  # probe the primary with the next request
    paths.failed(PathName.PRIMARY)  # still down: one failure sends it back
    assert paths.choose() is PathName.BACKUP
    clock.now = 20.0
    assert paths.choose() is PathName.PRIMARY
    paths.succeeded(PathName.PRIMARY)
    assert paths.choose() is PathName.PRIMARY


def test_naive_paths_never_fail_over_and_pinning_wins() -> None:
    naive = HostPaths(("h", 1), ("h", 2), failover=False, failover_after=1, fail_back_after_s=0)
    for _ in range(5):
        naive.failed(naive.choose())
    assert naive.choose() is PathName.PRIMARY
    clock = FakeClock()
    paths = HostPaths(
        ("h", 1), ("h", 2), failover=True, failover_after=1, fail_back_after_s=1, clock=clock
    )
    paths.pin_backup(True)
    clock.now = 100
    assert paths.choose() is PathName.BACKUP  # pinned: no fail-back probe
    paths.reset()  # a reboot keeps the pushed setting
    assert paths.choose() is PathName.BACKUP
    paths.pin_backup(False)
    assert paths.choose() is PathName.PRIMARY


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:2000") == ("127.0.0.1", 2000)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("nohost", "h:0", "h:x", ":80"):
        with pytest.raises(ValueError):
            parse_address(bad)


def _reversal(stan: str, created: float) -> ReversalRecord:
    return ReversalRecord(
        "10000001", stan, "000001", "sale", 500, "622202******1234", "x", "98", 0, created
    )


def test_durable_reversals_survive_reopening_the_file(tmp_path: Path) -> None:
    store = TerminalStore(tmp_path / "t.sqlite")
    reversals = DurableReversals(store)
    reversals.put(_reversal("000002", 2.0))
    reversals.put(_reversal("000001", 1.0))
    assert reversals.count_try("10000001", "000002", "000001") == 1
    reversals.set_reason("10000001", "000002", "000001", "A0")
    reversals.crash("10000001")  # nothing durable is lost
    store.close()
    reopened = DurableReversals(TerminalStore(tmp_path / "t.sqlite"))
    pending = reopened.pending("10000001")
    assert [(r.stan, r.tries, r.reason) for r in pending] == [
        ("000001", 0, "98"),
        ("000002", 1, "A0"),
    ]
    reopened.delete("10000001", "000001", "000001")
    assert [r.stan for r in reopened.pending("10000001")] == ["000002"]
    assert reopened.count_try("10000001", "999999", "000001") == 0
    # the next try's time is kept in flash with the count
    assert reopened.count_try("10000001", "000002", "000001", retry_at=1234.5) == 2
    store.close()
    again = DurableReversals(TerminalStore(tmp_path / "t.sqlite"))
    assert [(r.tries, r.retry_at) for r in again.pending("10000001")] == [(2, 1234.5)]


def test_the_saf_queue_is_a_durable_fifo(tmp_path: Path) -> None:
    store = TerminalStore(tmp_path / "t.sqlite")
    queue = SafQueue(store)
    for stan, created in (("000005", 5.0), ("000003", 3.0)):
        queue.put(SafEntry("10000001", stan, "000001", "refund", 700, "622202******1234", "[]",
                           created_at=created))  # fmt: skip
    assert queue.count_try("10000001", "000005", "000001") == 1
    store.close()
    reopened = SafQueue(TerminalStore(tmp_path / "t.sqlite"))
    assert [(e.stan, e.tries) for e in reopened.pending("10000001")] == [
        ("000003", 0),
        ("000005", 1),
    ]
    reopened.delete("10000001", "000003", "000001")
    assert [e.stan for e in reopened.pending("10000001")] == ["000005"]
    assert reopened.pending("10000002") == []
    assert reopened.count_try("10000001", "999999", "000001") == 0


def test_which_answers_settle_a_queued_refund() -> None:
    for definite in ("00", "13", "25", "12", "94", "77", "97", "C9"):
        assert is_definite(definite), definite
    for still_open in ("90", "91", "96", "98", "A0", "99"):
        assert not is_definite(still_open), still_open


def test_memory_reversals_die_with_the_device() -> None:
    reversals = MemoryReversals()
    reversals.put(_reversal("000001", 1.0))
    assert reversals.count_try("10000001", "000001", "000001", retry_at=9.0) == 1
    assert [(r.tries, r.retry_at) for r in reversals.pending("10000001")] == [(1, 9.0)]
    reversals.crash("10000001")
    assert reversals.pending("10000001") == []


def test_counters_and_batch_log(tmp_path: Path) -> None:
    store = TerminalStore(tmp_path / "t.sqlite")
    assert store.counters("10000001") is None
    store.save_counters("10000001", Counters(65, "000003", "020100"))
    store.log_add(
        "10000001", "000003", BatchEntry("000010", "sale", 1000, "6222021234567890", "1", "0102")
    )
    store.log_add(
        "10000001", "000003", BatchEntry("000011", "sale", 2000, "6222021234567890", "2", "0102")
    )
    store.log_add(
        "10000001",
        "000003",
        BatchEntry("000012", "void", 1000, "6222021234567890", "3", "0102", orig_stan="000010"),
    )
    store.close()
    store = TerminalStore(tmp_path / "t.sqlite")
    assert store.counters("10000001") == Counters(65, "000003", "020100")
    entries = store.log_entries("10000001", "000003")
    assert [(e.stan, e.voided) for e in entries] == [
        ("000010", True),
        ("000011", False),
        ("000012", False),
    ]
    totals = batch_totals(entries).domestic
    # debits are sales, voided ones included; credits are voids and refunds
    assert (totals.debit_amount, totals.debit_count) == (3000, 2)
    assert (totals.credit_amount, totals.credit_count) == (1000, 1)
    store.log_clear("10000001", "000003")
    assert store.log_entries("10000001", "000003") == []
    assert next_batch("000003") == "000004"
    assert next_batch("999999") == "000001"


def test_config_policies_and_validation() -> None:
    resilient = TerminalConfig()
    naive = resilient.with_policy("naive")
    assert (
        resilient.jitter,
        resilient.failover,
        resilient.durable_reversals,
        resilient.retries,
        resilient.spaced_reversals,
        resilient.store_and_forward,
    ) == (True,) * 6
    assert (
        naive.jitter,
        naive.failover,
        naive.durable_reversals,
        naive.retries,
        naive.spaced_reversals,
        naive.store_and_forward,
    ) == (False,) * 6
    built = TerminalConfig.from_dict(
        {"policy": "naive", "connection": "kept", "mac_algorithm": "x9.19", "mix": {"sale": 1.0}}
    )
    assert built.policy is Policy.NAIVE and built.mix.void == 0.05
    for bad in (
        {"nope": 1},
        {"policy": "brave"},
        {"response_timeout_s": 0},
        {"pin_share": 2},
        {"reversal_backoff_base_s": 0},
        {"reversal_backoff_base_s": 4, "reversal_backoff_cap_s": 2},
    ):
        with pytest.raises(ConfigError):
            TerminalConfig.from_dict(bad)


def test_outcomes_follow_the_response_code_classes() -> None:
    assert outcome_for_rc("00") is Outcome.APPROVED
    for decline in ("51", "55", "54", "14", "58", "05", "25", "C9"):
        assert outcome_for_rc(decline) is Outcome.DECLINED, decline
    for failure in ("90", "91", "96", "98", "A0", "94", "97", "77"):
        assert outcome_for_rc(failure) is Outcome.FAILED, failure


def test_record_has_exactly_the_contract_fields_and_masks_the_pan() -> None:
    record = TxnRecord(
        100.0, "10000001", "898000000000001", "north", TxnType.SALE, "000001", "000001", "resilient"
    )
    record.set_pan("6222021234567890123")
    record.finish(100.25)
    data = record.to_dict()
    assert set(data) == CONTRACT_FIELDS
    assert data["pan"] == "622202*********0123"
    assert data["latency_ms"] == 250.0
    assert record.finish(99.0).ts_end == 100.0  # a clock step back never gives negative latency


def test_stored_fields_round_trip_text_and_binary() -> None:
    fields: dict[int, str | bytes] = {2: "6222021234567890", 11: "000007", 55: b"\x9f\x26"}
    assert fields_from_json(fields_to_json(fields)) == fields


def test_target_version_reads_the_tms_record() -> None:
    assert target_version({"latest_software": "020300"}, "020100") == "020300"
    assert target_version({"software": {"latest": "020400"}}, "020100") == "020400"
    assert target_version({"latest": "bad"}, "020100") == "020100"
    assert target_version(None, "020100") == "020100"
