"""The runner's parts on their own: event bus and journal, clock and fault schedule,
fleet tail and SLO probe, the fault injector on a real embedded proxy and a real
admin HTTP server, the run directory and the seed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from poslab.proxy.client import ToxiproxyClient
from poslab.proxy.server import EmbeddedProxyServer
from poslab.scenario import (
    FaultInjector,
    FaultSchedule,
    FleetMoney,
    FleetTail,
    LedgerOracle,
    ResolvedScenario,
    RunDirectory,
    RunEvents,
    RunJournal,
    RunSettings,
    ScenarioClock,
    SloProbe,
    build_timeline,
    export_ledger,
    load_scenario,
    read_journal,
    resolve_fleet_draws,
)
from poslab.stack import default_topology

BASE = """\
name: parts
load: {terminals: 20, duration: 20s}
drain: 1s
steady_state: {good_seconds: 2, within: 4s}
slo: {success_ratio: 0.9, p99_ms: 500}
recovery: {target: 2s, good_seconds: 2}
"""
NORTH_DOWN = "kind: network, target: region-north, down: true"


def scenario(tmp_path: Path, body: str = "") -> ResolvedScenario:
    path = tmp_path / "parts.yaml"
    path.write_text(BASE + body + "\n", encoding="utf-8")
    return load_scenario(path, default_topology())


def record(
    t0: float, at: float, outcome: str = "approved", latency: float = 10, **kw: Any
) -> dict[str, Any]:
    base = {"ts_start": t0 + at - latency / 1000, "ts_end": t0 + at, "tid": "10000001",
            "type": "sale", "stan": "000001", "batch": "000001", "outcome": outcome,
            "latency_ms": latency, "reversal": None}  # fmt: skip
    return {**base, **kw}


# -- events and journal ---------------------------------------------------------------


def test_a_failing_listener_does_not_stop_the_others(tmp_path: Path) -> None:
    events = RunEvents()
    heard: list[str] = []

    def broken(**_: Any) -> None:
        raise RuntimeError("console crashed")

    events.rollback.add_listener(broken)
    events.rollback.add_listener(lambda **e: heard.append(e["detail"]))
    events.rollback.fire(scenario="s", ok=True, detail="clean")
    assert heard == ["clean"]


def test_journal_writes_documented_events_only_and_reads_back_past_a_torn_line(
    tmp_path: Path,
) -> None:
    events = RunEvents()
    path = tmp_path / "journal.jsonl"
    with RunJournal(path, events):
        events.fault_injected.fire(t=12.5, scenario="s", fault_id="f", drift_ms=1.0)
        events.sample.fire(scenario="s", second=1, tps=3)  # live only
        events.phase.fire(scenario="s", phase="load")  # live only
    events.abort.fire(scenario="s", reason="after close: not written")
    with path.open("a") as fh:
        fh.write('{"t": 1, "event": "ab')  # a run killed mid-write
    (only,) = read_journal(path)
    assert list(only)[:3] == ["t", "event", "scenario"]
    assert only == {"t": 12.5, "event": "fault_injected", "scenario": "s",
                    "fault_id": "f", "drift_ms": 1.0}  # fmt: skip


# -- clock and schedule -----------------------------------------------------------------


@pytest.mark.anyio
async def test_schedule_keeps_each_step_on_its_own_deadline(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """\
faults:
  - {id: a, kind: network, target: region-north, down: true, at: 4s, for: 0.3s}
  - {id: b, kind: network, target: region-south, down: true, at: 4.1s, for: 0.3s}
  - {id: c, kind: network, target: region-north, down: true, at: 4.3s, for: 0.2s}
""",
    )
    # start the clock 3.8 s in the past so the steps fall due within half a second
    clock = ScenarioClock(time.time() - 3.8, time.monotonic() - 3.8)
    done: list[tuple[str, str, float]] = []

    def act(op: str, slow: float) -> Any:
        async def step(fault: Any) -> None:
            done.append((op, fault.id, clock.elapsed()))
            await asyncio.sleep(slow)  # a slow effect must not delay other targets

        return step

    await FaultSchedule(build_timeline(s), clock, act("inject", 0.15), act("clear", 0.0)).run()
    planned = {("inject", "a"): 4.0, ("inject", "b"): 4.1, ("clear", "a"): 4.3,
               ("inject", "c"): 4.3, ("clear", "b"): 4.4, ("clear", "c"): 4.5}  # fmt: skip
    assert {(op, f) for op, f, _ in done} == set(planned)
    for op, fault_id, at in done:
        lateness = at - planned[(op, fault_id)]
        # on north, a's clear queues behind a's slow inject (same target) ...
        budget = 0.2 if (op, fault_id) == ("clear", "a") else 0.05
        assert -0.001 <= lateness < budget, (op, fault_id, lateness)
    # ... and at 4.3 s the clear of a comes before the inject of c
    order = [(op, f) for op, f, _ in done]
    assert order.index(("clear", "a")) < order.index(("inject", "c"))


@pytest.mark.anyio
async def test_schedule_raises_the_failing_steps_own_error(tmp_path: Path) -> None:
    s = scenario(tmp_path, f"faults:\n  - {{id: a, {NORTH_DOWN}, at: 4s, for: 1s}}\n")
    clock = ScenarioClock(time.time() - 4, time.monotonic() - 4)

    async def fail(fault: Any) -> None:
        raise ValueError(f"cannot inject {fault.id}")

    async def noop(fault: Any) -> None:
        return None

    with pytest.raises(ValueError, match="cannot inject a"):
        await FaultSchedule(build_timeline(s), clock, fail, noop).run()


# -- fleet tail and SLO probe -------------------------------------------------------------


def test_fleet_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    tail = FleetTail(tmp_path)
    journal = tmp_path / "host-1.jsonl"
    (tmp_path / "control.jsonl").write_text('{"seq": 1, "action": "crash"}\n')
    journal.write_text('{"n": 1}\n{"n": 2}\n{"n": ')
    assert [r["n"] for r in tail.read()] == [1, 2]
    assert tail.read() == []
    with journal.open("a") as fh:
        fh.write('3}\n{"n": 4}\n')
    assert [r["n"] for r in tail.read()] == [3, 4]


def test_probe_judges_complete_seconds_finds_steady_state_and_aborts(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """\
faults:
  - {id: a, kind: network, target: region-north, down: true, at: 4s, for: 4s}
unavoidable:
  - {at: 9s, for: 1s}
abort:
  - {kind: success_ratio_below, ratio: 0.5, for: 2s}
""",
    )
    t0 = 1000.0
    probe = SloProbe(s, t0, lag_s=0.5)
    good = [record(t0, i + 0.5) for i in range(4)]
    slow = [record(t0, 4.5, latency=900)]  # p99 over the SLO: a bad second
    bad = [record(t0, i + 0.5, "failed") for i in (5, 6, 9, 10, 11)]
    declined = [record(t0, 3.6, "declined")]  # the system working
    probe.feed(good + slow + bad + declined)
    first = probe.judge(t0 + 4.4)  # seconds 0..2 are complete (lag 0.5)
    assert [v.second for v in first] == [0, 1, 2] and all(v.good for v in first)
    assert probe.steady_at == 1  # the 2nd good second in a row
    rest = probe.judge(t0 + 12.6)
    verdicts = {v.second: v.good for v in rest}
    assert verdicts[3] is True and verdicts[4] is False and verdicts[7] is None  # idle
    assert verdicts[9] is None  # unavoidable: not judged
    reason = probe.abort_reason(first + rest)
    assert reason is not None and "seconds 5–6" in reason


def test_fleet_money_counts_pending_reversals_and_suspects() -> None:
    money = FleetMoney()
    sale = {"tid": "1", "type": "sale", "stan": "000007", "batch": "000001", "outcome": "failed",
            "reversal": "pending"}  # fmt: skip
    money.add(sale)
    money.add({**sale, "stan": "000008"})
    money.add({**sale, "stan": "000009"})
    assert money.pending_reversals == 3
    money.add({"tid": "1", "type": "reversal", "orig_stan": "000007", "orig_batch": "000001",
               "outcome": "approved"})  # fmt: skip
    money.add({"tid": "1", "type": "reversal", "orig_stan": "000008", "orig_batch": "000001",
               "outcome": "unresolved", "amount": 1234})  # fmt: skip
    assert money.pending_reversals == 1  # one reversed, one given up (unresolved), one left
    assert list(money.suspects) == [("1", "000008", "000001")]


# -- HTTP stand-ins -----------------------------------------------------------------------


class AdminStub:
    """A mock's admin API: faults, reset and the ledger exports, on 127.0.0.1:0."""

    def __init__(self, exports: dict[str, list[dict[str, Any]]]) -> None:
        self.exports = exports
        self.calls: list[tuple[str, str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _fault(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.calls.append((request.method, request.path, body))
        return web.json_response({"fault": request.match_info["name"], "params": body})

    async def _reset(self, request: web.Request) -> web.Response:
        self.calls.append((request.method, request.path, None))
        return web.json_response({})

    async def _export(self, request: web.Request) -> web.StreamResponse:
        rows = self.exports.get(request.match_info["name"])
        if rows is None:
            return web.json_response({"error": "unknown"}, status=404)
        return web.Response(text="".join(json.dumps(r) + "\n" for r in rows))

    async def __aenter__(self) -> AdminStub:
        app = web.Application()
        app.add_routes([
            web.post("/admin/faults/{name}", self._fault),
            web.delete("/admin/faults/{name}", self._fault),
            web.post("/admin/reset", self._reset),
            web.get("/admin/export/{name}", self._export),
        ])  # fmt: skip
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
def fault_scenario(tmp_path: Path) -> ResolvedScenario:
    return scenario(
        tmp_path,
        """\
faults:
  - {id: down, kind: network, target: region-north, down: true, at: 4s, for: 2s}
  - id: slow
    kind: network
    target: issuer
    toxic: {type: latency, stream: upstream, attributes: {latency: 100}}
    at: 4s
    for: 2s
  - {id: keys, kind: application, target: acquirer, fault: expire_keys,
     params: {regions: [south]}, at: 4s, for: 2s}
""",
    )


Proxied = tuple[EmbeddedProxyServer, ToxiproxyClient]


async def _proxy_with(names: list[str]) -> AsyncIterator[Proxied]:
    async with EmbeddedProxyServer() as server, ToxiproxyClient(server.url) as client:
        for name in names:
            await client.create_proxy(name, upstream="127.0.0.1:9")
        yield server, client


@pytest.mark.anyio
async def test_injector_applies_and_rollback_undoes_every_fault(
    fault_scenario: ResolvedScenario,
) -> None:
    events = RunEvents()
    journal: list[tuple[str, dict[str, Any]]] = []
    for name in ("fault_injected", "fault_cleared", "rollback"):
        events.hooks()[name].add_listener(lambda _n=name, **e: journal.append((_n, e)))
    clock = ScenarioClock(time.time() - 4, time.monotonic() - 4)
    async for _, client in _proxy_with(["region-north", "issuer"]):
        async with AdminStub({}) as admin:
            injector = FaultInjector(
                "parts", clock, events, proxy=client, admin={"acquirer": admin.url}
            )
            for fault in fault_scenario.faults:
                await injector.inject(fault)
            proxies = await client.proxies()
            assert not proxies["region-north"].enabled
            assert [t.name for t in proxies["issuer"].toxics] == ["latency_upstream"]
            assert admin.calls == [("POST", "/admin/faults/expire_keys", {"regions": ["south"]})]
            report = await injector.rollback()
            await injector.close()
            assert report.ok and sorted(report.cleared) == ["down", "keys", "slow"]
            proxies = await client.proxies()
            assert all(p.enabled and not p.toxics for p in proxies.values())
            assert ("DELETE", "/admin/faults/expire_keys", None) in admin.calls
            assert ("POST", "/admin/reset", None) in admin.calls
    kinds = [n for n, _ in journal]
    assert kinds == ["fault_injected"] * 3 + ["fault_cleared"] * 3 + ["rollback"]
    injected = journal[0][1]
    assert injected["planned_t"] == pytest.approx(clock.t0 + 4)
    assert injected["params"] == {} and injected["action"] == "down"
    assert {e["reason"] for n, e in journal if n == "fault_cleared"} == {"rollback"}


@pytest.mark.anyio
async def test_rollback_says_so_when_the_proxy_cannot_be_verified(
    fault_scenario: ResolvedScenario,
) -> None:
    events = RunEvents()
    clock = ScenarioClock.start()
    async for server, client in _proxy_with(["region-north"]):
        injector = FaultInjector("parts", clock, events, proxy=client, admin={})
        await injector.inject(fault_scenario.faults[0])
        await server.server.close()  # the proxy died under us
        report = await injector.rollback()
        assert not report.ok and "proxy reset" in report.detail


@pytest.mark.anyio
async def test_ledger_oracle_confirms_only_sales_the_host_booked() -> None:
    rows = [
        {"tid": "1", "stan": "000008", "batch": "000001", "type": "sale", "status": "approved"},
        {"tid": "1", "stan": "000009", "batch": "000001", "type": "sale", "status": "reversed"},
    ]

    async with AdminStub({"transactions": rows}) as admin:
        money = FleetMoney()
        for stan in ("000008", "000009", "000010"):
            money.add({"tid": "1", "type": "reversal", "orig_stan": stan,
                       "orig_batch": "000001", "outcome": "unresolved"})  # fmt: skip
        oracle = LedgerOracle(admin.url)
        assert oracle.due(time.monotonic())
        confirmed = await oracle.confirm(money, time.monotonic())
        assert len(confirmed) == 1 and "STAN 000008" in confirmed[0]
        assert not money.suspects and not oracle.due(time.monotonic())
    down = LedgerOracle("http://127.0.0.1:9")  # nothing listens: ask again later
    money = FleetMoney()
    money.add({"tid": "1", "type": "reversal", "orig_stan": "1", "orig_batch": "1",
               "outcome": "unresolved"})  # fmt: skip
    assert await down.confirm(money, time.monotonic()) == [] and money.suspects


# -- run directory and seed -----------------------------------------------------------------


def test_run_directories_are_never_reused_and_run_json_is_complete(tmp_path: Path) -> None:
    s = scenario(tmp_path)
    a = RunDirectory.create(tmp_path / "runs", "gate", now=1_790_000_000)
    b = RunDirectory.create(tmp_path / "runs", "gate", now=1_790_000_000)
    assert a.path.name == "20260921T141320Z-gate" and b.path.name == a.path.name + "-2"
    settings = RunSettings("gate", "gate", 42, 30, 0.5, "naive", 80.0)
    a.write_run_json(settings, [s], started_at=1.0)
    data = json.loads(a.run_json.read_text())
    assert data["format"] == 1 and data["finished_at"] is None and data["interrupted"] is False
    assert (data["seed"], data["terminals"], data["time_scale"], data["policy"]) == (
        42, 30, 0.5, "naive")  # fmt: skip
    assert data["scenarios"][0]["name"] == "parts"
    assert {"duration_s", "drain_s", "slo", "recovery", "unavoidable", "faults"} <= set(
        data["scenarios"][0]
    )


def test_same_seed_same_world_same_draws(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        "faults:\n  - {id: c, kind: fleet, action: crash, params: {share: 0.25}, at: 4s, for: 2s}",
    )
    worlds = []
    for name in ("one", "two", "three"):
        rundir = RunDirectory.create(tmp_path / "runs", name)
        rundir.write_world(42 if name != "three" else 43, 20)
        worlds.append(rundir.world_json.read_bytes())
    assert worlds[0] == worlds[1] != worlds[2]
    from poslab.world import loads

    terminals = loads(worlds[0]).terminals
    first = resolve_fleet_draws(s, terminals, 42)
    assert first == resolve_fleet_draws(s, terminals, 42) != resolve_fleet_draws(s, terminals, 43)
    assert len(first["c"]) == 5


@pytest.mark.anyio
async def test_ledger_export_writes_every_file_and_says_what_is_missing(tmp_path: Path) -> None:
    rows = [{"tid": "1", "stan": "000001"}, {"tid": "1", "stan": "000002"}]

    async def main() -> dict[str, str]:
        async with AdminStub({"transactions": rows, "batches": [], "payouts": rows[:1]}) as acq:
            return await export_ledger(tmp_path / "ledger", {"acquirer": acq.url})

    outcome = await main()
    assert outcome["transactions"] == "ok (2 rows)" and outcome["batches"] == "ok (0 rows)"
    assert outcome["issuer"] == "no admin API"
    lines = (tmp_path / "ledger" / "transactions.jsonl").read_text().splitlines()
    assert [json.loads(x)["stan"] for x in lines] == ["000001", "000002"]
    assert not (tmp_path / "ledger" / "issuer.jsonl").exists()
