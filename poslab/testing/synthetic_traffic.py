"""The transactions of a synthetic scenario: fleet records, ledger rows, issuer holds.

Part of :mod:`poslab.testing.synthetic` (which writes the rest of the run
directory): one ``_Scenario`` walks a scenario's load second by second, decides
each transaction's fate (approved, declined, timed out in the fault window,
or one of the injected integrity failures) and writes every file that would
show it, consistently — the terminal's record, the acquirer's row, the
cardholder's hold, the batch totals and payouts it adds to.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from poslab.scoring.fees import Fees
from poslab.testing.synthetic_scenario import SyntheticScenario

FEES = Fees(6000, 5000, 2500, 3800, 500, frozenset())
SETTLE_DATE = "2026-11-24"


def _num(v: float) -> str:
    return f"{v:.6f}"


class Writer:
    """Writes one scenario's fleet, ledger and issuer files while transactions are made."""

    def __init__(self, sc: SyntheticScenario, folder: Path, t0: float, rng: random.Random) -> None:
        self.sc, self.t0, self.rng = sc, t0, rng
        fleet = folder / "fleet"
        fleet.mkdir(parents=True)
        self.fleet = [(fleet / f"host-{i}.jsonl").open("w") for i in range(max(1, sc.fleet_files))]
        self.ledger_rows: Any = None
        if sc.write_ledger:
            (folder / "ledger").mkdir()
            self.ledger_rows = (folder / "ledger" / "transactions.jsonl").open("w")
            self.issuer = (folder / "ledger" / "issuer.jsonl").open("w")
        self.folder = folder
        self.rrn = 100000000000
        self.totals: dict[int, list[int]] = {}
        self.payouts: dict[str, list[Any]] = {}
        terminals = range(sc.terminals)
        self._tids = [f"{10000001 + t}" for t in terminals]
        self._mids = [f"898310058{120000 + t // 3:06d}" for t in terminals]
        self._regions = [sc.regions[t % len(sc.regions)] for t in terminals]

    def tid(self, t: int) -> str:
        return self._tids[t]

    def mid(self, t: int) -> str:
        return self._mids[t]

    def region(self, t: int) -> str:
        return self._regions[t]

    def fleet_line(self, t: int, rec: dict[str, Any]) -> None:
        base: dict[str, Any] = {
            "tid": self.tid(t),
            "mid": self.mid(t),
            "region": self.region(t),
            "policy": "resilient",
        }
        base.update(rec)
        base.setdefault("latency_ms", round((base["ts_end"] - base["ts_start"]) * 1000.0, 3))
        self.fleet[t % len(self.fleet)].write(json.dumps(base, separators=(",", ":")) + "\n")

    def fast_fleet(
        self,
        t: int,
        ts: float,
        lat: float,
        typ: str,
        stan: str,
        amount: int,
        pan: str,
        rc: str,
        outcome: str,
        rrn: str,
    ) -> None:
        self.fleet[t % len(self.fleet)].write(
            f'{{"ts_start":{_num(ts)},"ts_end":{_num(ts + lat / 1000.0)},"tid":"{self.tid(t)}",'
            f'"mid":"{self.mid(t)}","region":"{self.region(t)}","type":"{typ}","stan":"{stan}",'
            f'"batch":"000001","amount":{amount},"pan":"{pan}","rc":"{rc}",'
            f'"outcome":"{outcome}","attempts":1,"path":"primary","rrn":"{rrn}","reason":null,'
            f'"reversal":null,"orig_stan":null,"orig_batch":null,"latency_ms":{lat:.3f},'
            f'"policy":"resilient"}}\n'
        )

    def ledger(
        self,
        t: int,
        stan: str,
        typ: str,
        amount: int,
        pan: str,
        kind: str,
        rc: str,
        status: str,
        booked: float,
        count: bool = True,
    ) -> None:
        if self.ledger_rows is None:
            return
        self.rrn += 1
        self.ledger_rows.write(
            f'{{"tid":"{self.tid(t)}","mid":"{self.mid(t)}","stan":"{stan}","batch":"000001",'
            f'"type":"{typ}","amount":{amount},"pan":"{pan}","card_kind":"{kind}",'
            f'"rrn":"{self.rrn}","rc":"{rc}","status":"{status}","booked_at":{_num(booked)},'
            f'"reversed_at":null,"orig_rrn":null,"settle_date":"{SETTLE_DATE}"}}\n'
        )
        if not count:
            return
        if typ == "sale" and status in ("approved", "voided"):
            signed = amount
        elif typ in ("void", "refund") and status == "approved":
            signed = -amount
        else:
            return
        tot = self.totals.setdefault(t, [0, 0, 0, 0])
        tot[0 if signed > 0 else 2] += abs(signed)
        tot[1 if signed > 0 else 3] += 1
        pay = self.payouts.setdefault(self.mid(t), [0, 0, {}, 0])
        fee = FEES.fee(signed, kind, self.mid(t)) or 0
        pay[0] += signed
        pay[1] += fee
        pay[2][kind] = pay[2].get(kind, 0) + fee
        pay[3] += 1

    def hold(self, t: int, stan: str, amount: int, pan: str, status: str, ts: float) -> None:
        if self.ledger_rows is None:
            return
        self.issuer.write(
            f'{{"auth_id":"A{self.rrn}","pan":"{pan}","amount":{amount},"status":"{status}",'
            f'"acquirer_ref":"{self.tid(t)}{stan}000001","created_at":{_num(ts)},'
            f'"updated_at":{_num(ts)}}}\n'
        )

    def close(self) -> None:
        for f in self.fleet:
            f.close()
        if self.ledger_rows is not None:
            self.ledger_rows.close()
            self.issuer.close()


class ScenarioTraffic:
    def __init__(self, sc: SyntheticScenario, folder: Path, t0: float, seed: int) -> None:
        self.sc, self.t0 = sc, t0
        self.rng = random.Random(seed)
        self.w = Writer(sc, folder, t0, self.rng)
        self.stans = [0] * sc.terminals
        self.cards = [
            (f"622202{'*' * 6}{1000 + i:04d}", "credit" if i % 3 else "debit") for i in range(997)
        ]
        self.pending = dict(sc.inject)
        self.unresolved = 0

    def stan(self, t: int) -> str:
        self.stans[t] += 1
        return f"{self.stans[t]:06d}"

    def take(self, kind: str) -> bool:
        if self.pending.get(kind, 0) > 0:
            self.pending[kind] -= 1
            return True
        return False

    def faulty(self, t: int, ts: float) -> bool:
        sc = self.sc
        if sc.fault is None or sc.backup_during_fault:  # failover: served by the backup path
            return False
        at, length = sc.fault
        start, end = self.t0 + at, self.t0 + at + length + sc.recovery_delay_s
        if not start <= ts < end:
            return False
        if sc.fault_regions is not None and self.w.region(t) not in sc.fault_regions:
            return False
        return self.rng.random() < sc.fault_failure_share

    def run(self) -> None:
        sc, w, rng = self.sc, self.w, self.rng
        for t in range(sc.terminals):
            ts = self.t0 + 5.0 * t / sc.terminals
            w.fleet_line(t, self._mgmt("sign_on", ts, 0.08))
        step = sc.duration_s / max(1, sc.transactions)
        for k in range(sc.transactions):
            t = k % sc.terminals
            ts = self.t0 + (k + rng.random() * 0.9) * step
            self.transaction(t, ts)
        if sc.sign_on_storm_spread_s is not None and sc.fault is not None:
            end = self.t0 + sc.fault[0] + sc.fault[1]
            for t in range(sc.terminals):
                ts = end + sc.sign_on_storm_spread_s * t / sc.terminals
                w.fleet_line(t, self._mgmt("sign_on", ts, 0.1))
        self._agent_calls()
        for _ in range(self.pending.pop("orphan_sales", 0)):
            t = rng.randrange(sc.terminals)
            pan, kind = self.cards[0]
            w.ledger(t, self.stan(t), "sale", 4321, pan, kind, "00", "approved", self.t0 + 30)
            w.hold(t, f"{self.stans[t]:06d}", 4321, pan, "held", self.t0 + 30)
        end = self.t0 + sc.duration_s + 1.0
        for t in range(sc.terminals):
            w.fleet_line(t, self._mgmt("settlement", end + t * 0.01, 0.2))
        w.close()

    def _mgmt(self, typ: str, ts: float, secs: float) -> dict[str, Any]:
        return {
            "ts_start": ts,
            "ts_end": ts + secs,
            "type": typ,
            "stan": "000000",
            "batch": "000001",
            "amount": 0,
            "pan": None,
            "rc": "00",
            "outcome": "approved",
            "attempts": 1,
            "path": "primary",
            "rrn": None,
            "reason": None,
            "reversal": None,
            "orig_stan": None,
            "orig_batch": None,
        }

    def _agent_calls(self) -> None:
        sc = self.sc
        if sc.fault is None:
            return
        mid_fault = self.t0 + sc.fault[0] + sc.fault[1] / 2
        after = self.t0 + sc.fault[0] + sc.fault[1] + 1
        for i in range(sc.tickets):
            rec = self._mgmt("ticket", mid_fault + i * 0.1, 0.3)
            rec["path"] = "backup"
            self.w.fleet_line(i % sc.terminals, rec)
        for i in range(sc.tms):
            self.w.fleet_line(i % sc.terminals, self._mgmt("tms", after + i * 0.1, 0.3))

    def transaction(self, t: int, ts: float) -> None:
        sc, w, rng = self.sc, self.w, self.rng
        roll = rng.random()
        typ = "balance" if roll < 0.08 else ("refund" if roll < 0.11 else "sale")
        amount = 0 if typ == "balance" else rng.randrange(100, 200000)
        pan, kind = self.cards[rng.randrange(len(self.cards))]
        stan = self.stan(t)
        lat = sc.latency_ms * (0.5 + rng.random())
        if self.faulty(t, ts):
            self.failed(t, ts, typ, stan, amount, pan, kind)
            return
        if rng.random() < sc.decline_share:
            w.fast_fleet(t, ts, lat, typ, stan, amount, pan, "51", "declined", "")
            if typ != "balance":
                w.ledger(t, stan, typ, amount, pan, kind, "51", "declined", ts + lat / 2000)
                if typ == "sale":
                    held = "held" if self.take("issuer_holds_without_sale") else "declined"
                    w.hold(t, stan, amount, pan, held, ts)
            return
        path = "backup" if sc.backup_during_fault and self._in_fault(ts) else "primary"
        if typ == "sale" and path == "primary" and self.take("unreversed_failures"):
            rec = self._rec(ts, lat, typ, stan, amount, pan, "failed", reversal=None)
            w.fleet_line(t, rec)
            w.ledger(t, stan, typ, amount, pan, kind, "00", "approved", ts + 0.01)
            w.hold(t, stan, amount, pan, "held", ts)
            return
        rrn = f"{w.rrn + 1}"
        if path == "backup":
            rec = self._rec(ts, lat, typ, stan, amount, pan, "approved", None, rc="00", path=path)
            w.fleet_line(t, rec)
        else:
            w.fast_fleet(t, ts, lat, typ, stan, amount, pan, "00", "approved", rrn)
        if typ == "balance":
            return
        booked = ts + lat / 2000
        voided = typ == "sale" and rng.random() < 0.05
        if typ == "sale" and self.take("lost_approvals"):
            return
        status = "voided" if voided else "approved"
        w.ledger(t, stan, typ, amount, pan, kind, "00", status, booked)
        if typ == "sale":
            w.hold(t, stan, amount, pan, "released" if voided else "held", booked)
            if self.take("double_bookings"):
                w.ledger(t, stan, typ, amount, pan, kind, "00", "approved", booked + 0.5)
            if self.take("double_bookings_restan"):
                again = self.stan(t)
                w.ledger(t, again, typ, amount, pan, kind, "00", "approved", booked + 3.0)
                w.hold(t, again, amount, pan, "held", booked + 3.0)
        if voided:
            vstan, vts = self.stan(t), ts + 1.0
            rec = self._rec(vts, lat, "void", vstan, amount, pan, "approved", None, rc="00")
            rec["orig_stan"], rec["orig_batch"] = stan, "000001"
            w.fleet_line(t, rec)
            w.ledger(t, vstan, "void", amount, pan, kind, "00", "approved", vts + lat / 2000)

    def _in_fault(self, ts: float) -> bool:
        f = self.sc.fault
        return f is not None and self.t0 + f[0] <= ts < self.t0 + f[0] + f[1]

    def _rec(
        self,
        ts: float,
        lat: float,
        typ: str,
        stan: str,
        amount: int,
        pan: str,
        outcome: str,
        reversal: str | None,
        rc: str | None = None,
        path: str = "primary",
    ) -> dict[str, Any]:
        return {
            "ts_start": ts,
            "ts_end": ts + lat / 1000.0,
            "type": typ,
            "stan": stan,
            "batch": "000001",
            "amount": amount,
            "pan": pan,
            "rc": rc,
            "outcome": outcome,
            "attempts": 1 if outcome == "approved" else 3,
            "path": path,
            "rrn": None,
            "reason": None if outcome == "approved" else "timeout",
            "reversal": reversal,
            "orig_stan": None,
            "orig_batch": None,
        }

    def failed(
        self, t: int, ts: float, typ: str, stan: str, amount: int, pan: str, kind: str
    ) -> None:
        """A timeout: sales and refunds leave a reversal, which lands afterwards."""
        w, rng = self.w, self.rng
        lat = 5000.0
        reversible = typ == "sale"
        rec = self._rec(
            ts, lat, typ, stan, amount, pan, "failed", "pending" if reversible else None
        )
        w.fleet_line(t, rec)
        if not reversible:
            return
        reached = rng.random() < 0.5
        rts = ts + lat / 1000.0 + 0.5
        rev = self._rec(rts, 120.0, "reversal", stan, amount, pan, "approved", None, rc="00")
        rev["orig_stan"], rev["orig_batch"] = stan, "000001"
        if self.take("unresolved"):
            rev.update(outcome="unresolved", rc=None, reason="timeout")
            w.fleet_line(t, rev)
            return
        w.fleet_line(t, rev)
        if self.take("reversals_not_landed"):
            w.ledger(t, stan, typ, amount, pan, kind, "00", "approved", ts + 0.01)
            w.hold(t, stan, amount, pan, "held", ts)
        elif reached:
            w.ledger(t, stan, typ, amount, pan, kind, "00", "reversed", ts + 0.01, count=False)
            w.hold(t, stan, amount, pan, "reversed", rts)
