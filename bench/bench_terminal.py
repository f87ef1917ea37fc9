"""Benchmark of the terminal itself: CPU per sale and memory per held terminal.

What the Locust process spends on its terminals, without Locust: this
process plays the fleet's process (gevent, monkey-patched, one greenlet per
terminal, one sealed SQLite flash, the fleet's journal writer) against a real
stack from ``lab up`` on 127.0.0.1 (region proxy → acquirer → issuer proxy →
issuer). The machine is shared and loaded, so every figure is CPU time of a
process (``getrusage`` / ``/proc``), never wall time.

1. CPU: ``--terminals`` kept-connection tills selling back to back until
   ``--sales`` completed sales: CPU µs per completed sale of this process (the
   terminals' share, goal ≤ 200) and of each service in the same window, the
   2-core ceiling those figures imply and the measured rate's ratio to it, and
   the declines by code with the 51 share beside the world's own
   (:func:`~poslab.world.insufficient_funds_share`: the stationary world funds
   each card per day of its own purchases, so the bench's load does not drain
   them). ``--profile FILE`` writes cProfile's top functions of the window (on
   CPU time; py-spy gives a truer split: cProfile's per-call cost is large).
2. Memory: ``--hold`` terminals booted and signed on, then idle: RSS growth of
   this process per held terminal (goal ≤ 20 KiB) and, with ``--tracemalloc``,
   the allocation sites that hold it.

Run: ``python bench/bench_terminal.py [--terminals 100 --sales 20000 --hold 5000]``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import pstats  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.pool  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from poslab.loadtests.journal import JournalWriter  # noqa: E402
from poslab.loadtests.merchant_desk import MerchantDesk, Outboxes  # noqa: E402
from poslab.mocks.terminal import (  # noqa: E402
    Terminal,
    TerminalConfig,
    TerminalProfile,
    TerminalStore,
    TxnRecord,
)
from poslab.mocks.terminal.terminal_store import flash_key  # noqa: E402
from poslab.stack import StackState, read_state  # noqa: E402
from poslab.world import World, insufficient_funds_share  # noqa: E402
from poslab.world import load as load_world  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:13]) / TICK


def rss_self() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Fleet:
    """The terminals of this process, built as the fleet builds them."""

    def __init__(self, world: World, state: StackState, workdir: Path, **terminal: object) -> None:
        assert state.addresses is not None
        self.world = world
        self.regions = {n: p.primary for n, p in state.addresses.regions.items()}
        self.store = TerminalStore(workdir / "terminals.sqlite", data_key=flash_key(world))
        self.journal = JournalWriter(workdir / "journal")
        self.config = TerminalConfig.from_dict(
            {"connection": "kept", "response_timeout_s": 10.0, **terminal}
        )
        self.records = 0
        # the merchant desk the fleet gives each till (two agent clients, a merchant)
        agents = dict(state.addresses.agents)
        self.outboxes = Outboxes(workdir / "agent-outbox.sqlite", 7) if agents else None
        self.agents = agents
        self.desks: list[MerchantDesk] = []

    def on_record(self, record: TxnRecord) -> None:
        # what the Locust process does with each record (its stats aside)
        self.journal.write(record.to_dict())
        self.records += 1

    def build(self, index: int) -> Terminal:
        wt = self.world.terminals[index]
        host, _, port = self.regions[wt.region].rpartition(":")
        profile = TerminalProfile.from_world(self.world, wt)
        if self.outboxes is not None and "primary" in self.agents:
            self.desks.append(
                MerchantDesk(
                    profile,
                    agents=self.agents,
                    outboxes=self.outboxes,
                    failover=self.config.failover,
                    timeout_s=2.0,
                    backup_first=lambda: False,
                    emit=self.on_record,
                    policy=self.config.policy.value,
                )
            )
        return Terminal(
            profile,
            self.config,
            primary=(host, int(port)),
            backup=None,
            store=self.store,
            on_record=self.on_record,
            rng=random.Random(f"7/{wt.tid}"),
            latest_software=self.world.params.latest_software,
        )


def cpu_phase(
    world: World, state: StackState, workdir: Path, terminals: int, sales: int, profile: str | None
) -> None:
    fleet = Fleet(
        world, state, workdir / "cpu", mix={"sale": 1.0, "balance": 0.0, "void": 0.0, "refund": 0.0}
    )
    tills = [fleet.build(i) for i in range(terminals)]
    gevent.pool.Pool(200).map(lambda t: t.boot(), tills)
    outcomes: dict[str, int] = {}
    codes: dict[str, int] = {}  # the declines' response codes
    done = 0
    warm = max(terminals * 5, sales // 10)
    marks: dict[str, tuple[float, float, dict[str, float]]] = {}
    pids = {n: s.process.pid for n, s in state.services.items() if s.process is not None}
    # CPU time, not wall time: the machine is shared and loaded
    profiler = cProfile.Profile(time.process_time) if profile else None

    def mark(name: str) -> None:
        marks[name] = (time.monotonic(), cpu_self(), {n: cpu_of(p) for n, p in pids.items()})

    def till(terminal: Terminal) -> None:
        nonlocal done
        for _ in range(sales):  # bounded: stops once the run has its sales
            if done >= warm + sales:
                return
            record = terminal.sale()
            if done >= warm:
                outcomes[record.outcome.value] = outcomes.get(record.outcome.value, 0) + 1
                if record.outcome.value == "declined":
                    codes[record.rc or "?"] = codes.get(record.rc or "?", 0) + 1
            if record.outcome.value in ("approved", "declined"):
                done += 1
                if done == warm:
                    mark("start")
                    if profiler is not None:
                        profiler.enable()
        if "end" not in marks:
            mark("end")

    greenlets = [gevent.spawn(till, t) for t in tills]
    gevent.joinall(greenlets)
    if "end" not in marks or done < warm + sales:
        mark("end")
    if profiler is not None:
        profiler.disable()
    (t0, c0, s0), (t1, c1, s1) = marks["start"], marks["end"]
    completed = outcomes.get("approved", 0) + outcomes.get("declined", 0)
    per_sale = (c1 - c0) / completed * 1e6
    print(f"\n1. CPU: {terminals} terminals (gevent, kept connections), {completed} sales")
    print(f"   outcomes              {dict(sorted(outcomes.items()))}")
    # the cards are funded for the load (a card's spending day is its own
    # purchases): the 51 share should stay at the world's, not grow with the run
    print(f"   declined share        {outcomes.get('declined', 0) / completed:8.1%}")
    print(f"   declines by code      {dict(sorted(codes.items(), key=lambda kv: -kv[1]))}")
    print(f"   51 share              {codes.get('51', 0) / completed:8.1%}   "
          f"(the world's own on fresh funds: {insufficient_funds_share(world):.1%})")  # fmt: skip
    print(f"   terminal CPU µs/sale  {per_sale:8.0f}   (goal <= 200; this process, getrusage)")
    total = per_sale
    for name in pids:
        us = (s1[name] - s0[name]) / completed * 1e6
        total += us
        print(f"     {name:20s} {us:8.0f}   µs/sale (same window, /proc)")
    rate = completed / (t1 - t0)
    ceiling = 2e6 / total
    print(f"   all processes         {total:8.0f}   µs/sale -> 2-core ceiling {ceiling:,.0f}/s")
    print(f"   measured rate         {rate:8.0f}   /s = {rate / ceiling:.2f} of the ceiling "
          f"(loaded shared machine: wall rate not representative)")  # fmt: skip
    if profiler is not None and profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
        Path(profile).write_text(out.getvalue())
        print(f"   profile: {profile}")
    for t in tills:
        t.channel.close()
    fleet.store.close()


def rss_phase(world: World, state: StackState, workdir: Path, hold: int, trace: bool) -> None:
    fleet = Fleet(world, state, workdir / "rss")
    gc.collect()
    before = rss_self()
    if trace:
        tracemalloc.start(6)
        snap0 = tracemalloc.take_snapshot()
    tills: list[Terminal] = []
    release = gevent.event.Event()

    def held(index: int) -> None:
        # as a Locust user holds its till: its own greenlet, waiting between customers
        terminal = fleet.build(index)
        tills.append(terminal)
        terminal.boot()
        release.wait(600.0)

    greenlets: list[gevent.Greenlet[..., None]] = []
    for start in range(0, hold, 250):  # a bounded sign-on storm: 250 at a time
        greenlets.extend(gevent.spawn(held, i) for i in range(start, min(start + 250, hold)))
        for _ in range(600):  # at most 30 s per group: a till that cannot sign on stays off
            if sum(1 for t in tills if t.booted and t.session is not None) >= len(greenlets):
                break
            gevent.sleep(0.05)
    gc.collect()
    after = rss_self()
    signed = sum(1 for t in tills if t.session is not None)
    print(f"\n2. memory: {hold} terminals held, {signed} signed on, kept connections")
    print(f"   RSS before / after    {before / 2**20:6.0f} / {after / 2**20:.0f} MiB")
    print(f"   RSS per terminal      {(after - before) / hold / 1024:8.1f} KiB   (goal <= 20)")
    if trace:
        snap1 = tracemalloc.take_snapshot()
        traced = sum(s.size_diff for s in snap1.compare_to(snap0, "filename"))
        print(f"   traced per terminal   {traced / hold / 1024:8.1f} KiB (Python objects)")
        for stat in snap1.compare_to(snap0, "lineno")[:25]:
            frame = stat.traceback[0]
            print(f"     {stat.size_diff / hold:8.0f} B/terminal  "
                  f"{frame.filename.split('/poslab/')[-1]}:{frame.lineno}")  # fmt: skip
    release.set()
    gevent.joinall(greenlets, timeout=30.0)
    for t in tills:
        t.channel.close()
    fleet.store.close()


def lab(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "poslab", *args], cwd=REPO, check=True, stdout=subprocess.DEVNULL
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--terminals", type=int, default=100)
    parser.add_argument("--sales", type=int, default=20_000)
    parser.add_argument("--hold", type=int, default=5_000)
    parser.add_argument("--profile", help="write cProfile's top functions of the CPU phase")
    parser.add_argument("--tracemalloc", action="store_true", help="what each held terminal holds")
    parser.add_argument("--skip", choices=("cpu", "rss"), action="append", default=[])
    args = parser.parse_args()
    world_size = max(args.hold, args.terminals, 1000)
    with tempfile.TemporaryDirectory(prefix="bench-terminal-") as tmp:
        workdir = Path(tmp)
        state_file = workdir / "stack.json"
        lab("up", "--terminals", str(world_size), "--seed", "7", "--state", str(state_file),
            "--run-dir", str(workdir / "stack"), "--timeout", "90")  # fmt: skip
        try:
            state = read_state(state_file)
            assert state is not None
            world = load_world(Path(state.world_file))
            if "cpu" not in args.skip:
                cpu_phase(world, state, workdir, args.terminals, args.sales, args.profile)
            if "rss" not in args.skip:
                rss_phase(world, state, workdir, args.hold, args.tracemalloc)
        finally:
            lab("down", "--state", str(state_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
