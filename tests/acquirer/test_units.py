"""Pure parts of the acquirer: the calendar, config, faults, totals, and the
group committer's failure isolation (on a real SQLite file)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from poslab.app_faults import FaultError
from poslab.errors import ConfigError
from poslab.iso8583 import CardTotals, KeySlot
from poslab.mocks.acquirer.business_day import REAL_DAY_S, BusinessCalendar, anchor_for, host_clock
from poslab.mocks.acquirer.config import AcquirerConfig, load_config
from poslab.mocks.acquirer.faults import FaultState
from poslab.mocks.acquirer.group_commit import GroupCommitter, WriteError
from poslab.mocks.acquirer.journal import Txn, batch_totals, contribution
from poslab.mocks.acquirer.ledger import connect


def test_calendar_day_cut_and_payout_due() -> None:
    cal = BusinessCalendar(
        epoch=1000.0, base_date=dt.date(2026, 3, 1), day_seconds=100.0, cut_fraction=0.9
    )
    assert cal.day_of(1000.0) == 0
    assert cal.day_of(1090.0) == 0  # exactly at the cut: still that day
    assert cal.day_of(1090.001) == 1  # after the cut: the next day
    assert cal.day_of(1189.9) == 1 and cal.day_of(1190.5) == 2
    assert cal.cut_time(1) == 1190.0
    assert cal.settle_date(1095.0) == "2026-03-02"
    assert cal.payout_due(0, 1) == 1190.0
    assert cal.last_cut_before(1089.0) == -1 and cal.last_cut_before(1090.0) == 0
    assert cal.day_of_date("2026-03-04") == 3
    assert cal.mmdd(1095.0) == "0302"


def test_real_days_follow_beijing_midnight() -> None:
    # 2026-01-01 15:30 UTC is 23:30 in Beijing: after CUP's 23:00 cut
    now = dt.datetime(2026, 1, 1, 15, 30, tzinfo=dt.UTC).timestamp()
    epoch, base = anchor_for(now, REAL_DAY_S)
    assert base == dt.date(2026, 1, 1)
    cal = BusinessCalendar(epoch, base, REAL_DAY_S, 23 / 24)
    assert cal.settle_date(now) == "2026-01-02"
    assert cal.settle_date(now - 3600) == "2026-01-01"
    assert host_clock(now) == ("233000", "0101")
    lab_epoch, _ = anchor_for(now, 60.0)
    assert lab_epoch == now


def test_config_loading(tmp_path: Path) -> None:
    path = tmp_path / "acq.yaml"
    path.write_text(
        "issuer_timeout_ms: 800\nmac_algorithm: x9.19\nkey_layouts:\n  '003':\n"
        "    pik: [20, 16, 36]\n    mak: [0, 16, 16]\n"
    )
    config = load_config(path)
    assert config.issuer_timeout_ms == 800
    assert config.mac_algorithm.value == "x9.19"
    assert config.layout("003").pik == KeySlot(20, 16, 36)
    assert config.layout("001") == AcquirerConfig().layout("001")
    bad = tmp_path / "bad.json"
    for content, message in (
        ({"issuer_timeout": 1}, "unknown setting"),
        ({"day_cut": "25:00"}, "day_cut"),
        ({"issuer_timeout_ms": 0}, "issuer_timeout_ms"),
        ({"mac_algorithm": "md5"}, "mac_algorithm"),
        ({"zpk_hex": "abc"}, "zpk_hex"),
        ({"key_layouts": {"003": {"pik": [0, 16]}}}, "key_layouts"),
        ([1, 2], "top level"),
    ):
        bad.write_text(json.dumps(content))
        with pytest.raises(ConfigError, match=message):
            load_config(bad)
    assert AcquirerConfig().cut_fraction == pytest.approx(23 / 24)


def test_fault_state() -> None:
    faults = FaultState(seed=3)
    assert faults.parse("force_mismatch", None).to_json() == {"share": 1.0}
    with pytest.raises(FaultError) as unknown:
        faults.parse("meteor", {})
    assert unknown.value.status == 404
    with pytest.raises(FaultError) as not_an_object:
        faults.parse("day_end_cut", [1, 2])
    assert not_an_object.value.status == 400
    faults.set(faults.parse("issuer_timeout", {"ms": 250}))
    faults.set(faults.parse("day_end_cut", {}))
    faults.set(faults.parse("min_software", {"version": "020100", "refuse": True}))
    assert faults.issuer_timeout_s == 0.25 and faults.day_end_cut
    assert faults.min_software == "020100" and faults.refuse_outdated
    faults.set(faults.parse("force_mismatch", {"share": 0.5}))
    draws = [faults.mismatch_now() for _ in range(2000)]
    assert 800 < sum(draws) < 1200
    assert faults.snapshot()["force_mismatch"] == {"share": 0.5}
    faults.clear("day_end_cut")
    faults.clear("day_end_cut")  # idempotent
    assert not faults.day_end_cut
    with pytest.raises(FaultError) as unknown_clear:
        faults.clear("meteor")
    assert unknown_clear.value.status == 404
    faults.reset()
    assert faults.active == {} and faults.issuer_timeout_s is None and not faults.mismatch_now()
    assert faults.min_software is None and not faults.refuse_outdated


def test_key_fault_regions_are_checked_against_the_world() -> None:
    faults = FaultState()
    with pytest.raises(FaultError, match=r"unknown region.*atlantis.*north, south"):
        faults.parse(
            "expire_keys", {"regions": ["atlantis"]}, context={"regions": ["north", "south"]}
        )
    scope = faults.parse("expire_keys", {"regions": ["north"]}, context={"regions": ["north"]})
    assert scope.to_json() == {"regions": ["north"]}


def _txn(kind: str, status: str, amount: int) -> Txn:
    return Txn(
        1,
        "t",
        "m",
        "000001",
        "000001",
        kind,
        amount,
        "p",
        b"",
        "debit",
        "r",
        "",
        "00",
        status,
        0.0,
        "2026-01-01",
    )


def test_batch_totals_and_contribution() -> None:
    rows = [
        _txn("sale", "approved", 1000),
        _txn("sale", "voided", 500),
        _txn("void", "approved", 500),
        _txn("refund", "approved", 200),
        _txn("sale", "reversed", 900),
        _txn("sale", "declined", 70),
        _txn("void", "reversed", 300),
        _txn("balance", "approved", 0),
    ]
    assert batch_totals(rows) == CardTotals(1500, 2, 700, 2)
    assert sum(contribution(t.type, t.status, t.amount) for t in rows) == 800


@pytest.mark.anyio
async def test_group_commit_isolates_a_failing_request(tmp_path: Path) -> None:
    async def scenario() -> tuple[object, ...]:
        conn = connect(tmp_path / "ledger.sqlite")
        committer = GroupCommitter(conn, tmp_path / "ledger.sqlite", fsync=True)
        insert = "INSERT INTO meta(key, value) VALUES(?, ?)"
        good = committer.submit([(insert, ("a", "1"))])
        bad = committer.submit([(insert, ("b", "2")), (insert, ("a", "again"))])  # duplicate key
        also_good = committer.submit([(insert, ("c", "3"))])
        job = committer.run(lambda c: c.execute("SELECT COUNT(*) FROM meta").fetchone()[0])
        results = await asyncio.gather(good, bad, also_good, job, return_exceptions=True)
        await committer.close()
        conn.close()
        return results

    good, bad, also_good, count = await scenario()
    assert good is None and also_good is None
    assert isinstance(bad, WriteError)
    check = sqlite3.connect(tmp_path / "ledger.sqlite")
    rows = dict(check.execute("SELECT key, value FROM meta").fetchall())
    assert rows == {"a": "1", "c": "3"}  # nothing of the failed request, all of the others
    assert count == 2


@pytest.mark.anyio
async def test_group_commit_checkpoints_beside_the_loop(tmp_path: Path) -> None:
    """SQLite's own checkpoints (inside a COMMIT, on the event loop) are off;
    the committer's helper thread copies the WAL into the database instead."""
    path = tmp_path / "ledger.sqlite"

    async def scenario() -> tuple[int, int, int]:
        conn = connect(path)
        committer = GroupCommitter(conn, path, fsync=False)
        autocheckpoint = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        insert = "INSERT INTO meta(key, value) VALUES(?, ?)"
        before = path.stat().st_size
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        i = 0
        # one commit per turn, until the database file itself has grown: the WAL
        # was copied into it while the loop went on committing
        while path.stat().st_size <= before and loop.time() < deadline:
            await committer.submit([(insert, (f"k{i}", "x" * 2000))])
            i += 1
            if i % 50 == 0:
                await asyncio.sleep(0.05)
        after = path.stat().st_size
        await committer.close()
        conn.close()
        return autocheckpoint, before, after

    autocheckpoint, before, after = await scenario()
    assert autocheckpoint == 0
    assert after > before
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
