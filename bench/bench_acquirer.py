"""Acquirer throughput: approved sales/s and sign-ons/s over 50 connections.

Direct to the acquirer (no proxy), the issuer in the path, the ledger durable.
The load generator is a separate process that signs every terminal on once,
pre-builds all its sale frames with their MACs, then only writes bytes and
reads field 39 of each reply with a minimal field walk, so it costs the two
cores as little as possible. Three stacks are measured in the same run:

- ledger ``FULL`` (the default: every group commit fsynced before its replies
  leave): approved sales/s, the acquirer's and issuer's CPU µs per sale (from
  /proc/<pid>/stat over the window), and sign-ons/s (keys generated,
  encrypted under the TMK, check values);
- ledger ``NORMAL`` (committed to the OS only: durable against the process
  kill the lab injects, not a power cut): approved sales/s and CPU per sale;
- the *baseline* runtime (``--loop asyncio --codec pyiso8583`` on both
  services: asyncio's own event loop and the library's codec), ledger
  ``FULL``: sales/s and CPU per sale, against which the default runtime
  (``auto`` = uvloop when installed, the compiled codec) is compared; with
  ``--levers`` also each lever alone (codec only, loop only).

Also printed: each phase's one-core ceiling (10⁶ µs / CPU µs per operation),
because on this shared 2-core machine the measured rate depends on what else
runs, and the same-run ratios FULL/NORMAL, sales/sign-ons and default/baseline.
Goals (issue 4): ≥ 3,000 approved sales/s, ≥ 2,000 sign-ons/s.
Usage: ``python bench/bench_acquirer.py [--seconds 6] [--connections 50] [--config F.json]
[--levers]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from poslab.iso8583 import (  # noqa: E402
    Card,
    Field60,
    Framer,
    TerminalIdentity,
    decode,
    encode,
    encrypt_pin_block,
    frame,
    parse_field62,
    sale_request,
    sign,
    sign_on_request,
)
from poslab.world import generate, save  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


# Field lengths (bytes on the wire) of the fixed fields that can precede 39 in a reply.
_FIXED = {3: 3, 4: 6, 11: 3, 12: 3, 13: 2, 14: 2, 15: 2, 22: 2, 23: 2, 25: 1, 26: 1, 37: 12, 38: 6}


def rc_of(payload: bytes) -> str:
    """Field 39 of a reply, walking only the fields before it (cheap)."""
    bitmap = int.from_bytes(payload[13:21], "big")
    pos = 21
    for number in range(2, 39):
        if not bitmap >> (64 - number) & 1:
            continue
        if number in (2, 32, 35):
            digits = int(payload[pos : pos + 1].hex())
            pos += 1 + (digits + 1) // 2
        else:
            pos += _FIXED[number]
    return payload[pos : pos + 2].decode("ascii")


class _Conn(asyncio.Protocol):
    def __init__(self, frames: list[bytes], deadline: float, done: asyncio.Future[None]) -> None:
        self.frames = frames
        self.deadline = deadline
        self.done = done
        self.framer = Framer()
        self.i = 0
        self.ok = 0
        self.other = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def start(self) -> None:
        assert self.transport is not None
        self.transport.write(self.frames[0])

    def data_received(self, data: bytes) -> None:
        for payload in self.framer.feed(data):
            if rc_of(payload) == "00":
                self.ok += 1
            else:
                self.other += 1
            self.i += 1
            if self.i < len(self.frames) and time.monotonic() < self.deadline:
                assert self.transport is not None
                self.transport.write(self.frames[self.i])
            elif not self.done.done():
                self.done.set_result(None)


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> bytes:
    writer.write(frame(payload))
    head = await reader.readexactly(2)
    return await reader.readexactly(int.from_bytes(head, "big"))


async def _prepare(
    port: int, world_path: str, kind: str, n: int, per_conn: int
) -> list[list[bytes]]:
    from poslab.world import load

    world = load(world_path)
    frames: list[list[bytes]] = []
    for t in world.terminals[:n]:
        ident = TerminalIdentity(t.tid, t.mid, software_version="020100")
        if kind == "sign_on":
            frames.append(
                [
                    frame(encode(sign_on_request(ident, f"{i % 999999 + 1:06d}", "000001")))
                    for i in range(per_conn)
                ]
            )
            continue
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        reply = decode(
            await _roundtrip(reader, writer, encode(sign_on_request(ident, "000001", "000001")))
        )
        writer.close()
        keys = parse_field62(reply.binary(62) or b"", bytes.fromhex(t.tmk))
        batch = Field60.parse(reply.text(60) or "").batch
        cards = [c for c in world.cards_for_terminal(t.tid)]
        out = []
        for i in range(per_conn):
            card = cards[i % len(cards)]
            pin_block = encrypt_pin_block(card.pin, card.pan, keys.pik)
            msg = sale_request(
                ident, f"{i + 2:06d}", batch, 100, Card(card.pan, expiry=card.expiry), pin_block
            )
            out.append(frame(encode(sign(msg, keys.mak))))
        frames.append(out)
    return frames


async def _drive(port: int, frames: list[list[bytes]], seconds: float) -> tuple[int, int, float]:
    loop = asyncio.get_running_loop()
    conns: list[_Conn] = []
    dones = []
    for f in frames:
        done: asyncio.Future[None] = loop.create_future()
        _, conn = await loop.create_connection(partial(_Conn, f, 0.0, done), "127.0.0.1", port)
        conns.append(conn)
        dones.append(done)
    started = time.monotonic()
    for conn in conns:
        conn.deadline = started + seconds
        conn.start()
    await asyncio.wait(dones, timeout=seconds + 10)
    elapsed = time.monotonic() - started
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return sum(c.ok for c in conns), sum(c.other for c in conns), elapsed


def _client(
    port: int,
    world: str,
    kind: str,
    n: int,
    per_conn: int,
    seconds: float,
    go: Any,
    out: Any,
) -> None:
    """The load process: prepare every frame, say ready, wait for go, drive."""

    async def main() -> None:
        frames = await _prepare(port, world, kind, n, per_conn)
        out.put("ready")
        await asyncio.to_thread(go.wait)
        out.put(await _drive(port, frames, seconds))

    asyncio.run(main())


def _measure(
    port: int, pids: dict[str, int], world: str, kind: str, n: int, seconds: float
) -> dict[str, float]:
    per_conn = 700 if kind == "sale" else 500
    queue: Any = mp.Queue()
    go: Any = mp.Event()
    proc = mp.Process(target=_client, args=(port, world, kind, n, per_conn, seconds, go, queue))
    proc.start()
    assert queue.get(timeout=300) == "ready"
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    go.set()
    ok, other, elapsed = queue.get(timeout=seconds + 60)
    cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    proc.join()
    result = {"ok": ok, "other": other, "elapsed": elapsed, "rate": ok / elapsed}
    for name in pids:
        result[f"{name}_us"] = (cpu1[name] - cpu0[name]) / max(ok, 1) * 1e6
        result[f"{name}_cpu_share"] = (cpu1[name] - cpu0[name]) / elapsed
    return result


# The services' runtime: ``--loop`` and ``--codec`` of both (poslab/server_runtime.py).
DEFAULT_RUNTIME = ("auto", "compiled")
BASELINE_RUNTIME = ("asyncio", "pyiso8583")


def _start(module: str, d: Path, name: str, extra: list[str]) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        module,
        "--world",
        str(d / "world.json"),
        "--port",
        "0",
        "--admin-port",
        "0",
        "--db",
        str(d / f"{name}.sqlite"),
        "--ready-file",
        str(d / f"{name}.ready"),
        *extra,
    ]
    return subprocess.Popen(argv, cwd=REPO, env={**os.environ, "LAB_LOG_LEVEL": "WARNING"})


def _wait_ready(path: Path, proc: subprocess.Popen[bytes]) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            ports: dict[str, int] = json.loads(path.read_text())["ports"]
            return ports
        if proc.poll() is not None:
            raise SystemExit(f"service exited with {proc.returncode}")
        time.sleep(0.02)
    raise SystemExit(f"{path} not written in time")


def _phases(
    d: Path,
    args: argparse.Namespace,
    sync: str,
    *,
    sign_ons: bool,
    runtime: tuple[str, str] = DEFAULT_RUNTIME,
) -> dict[str, Any]:
    """Issuer + acquirer on fresh files with ledger ``sync`` and ``runtime``
    (loop, codec); measure sales (and sign-ons when asked)."""
    run = d / f"{sync.lower()}-{runtime[0]}-{runtime[1]}"
    run.mkdir()
    save(
        generate(11, args.connections, low_funds_share=0.0, expired_share=0.0, lost_share=0.0),
        run / "world.json",
    )
    config = run / "acquirer.json"
    overrides = json.loads(args.config.read_text()) if args.config else {}
    config.write_text(json.dumps({**overrides, "ledger_synchronous": sync}))
    flags = ["--loop", runtime[0], "--codec", runtime[1]]
    issuer = _start("poslab.mocks.issuer", run, "issuer", flags)
    acquirer: subprocess.Popen[bytes] | None = None
    try:
        ip = _wait_ready(run / "issuer.ready", issuer)
        extra = [*flags, "--issuer", f"127.0.0.1:{ip['main']}", "--config", str(config)]
        acquirer = _start("poslab.mocks.acquirer", run, "acquirer", extra)
        ap = _wait_ready(run / "acquirer.ready", acquirer)
        world = str(run / "world.json")
        pids = {"acquirer": acquirer.pid, "issuer": issuer.pid}
        out = {"sales": _measure(ap["main"], pids, world, "sale", args.connections, args.seconds)}
        if sign_ons:
            out["sign_ons"] = _measure(
                ap["main"],
                {"acquirer": acquirer.pid},
                world,
                "sign_on",
                args.connections,
                args.seconds,
            )
        return out
    finally:
        for proc in (acquirer, issuer):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def _print_sales(label: str, sales: dict[str, float]) -> None:
    print(
        f"approved sales/s, ledger {label}: {sales['rate']:.0f}  "
        f"(other answers {sales['other']:.0f}, goal >= 3000)"
    )
    print(
        f"  acquirer CPU per sale: {sales['acquirer_us']:.0f} us "
        f"({sales['acquirer_cpu_share']:.0%} of a core); one-core ceiling "
        f"{1e6 / max(sales['acquirer_us'], 1):.0f} sales/s"
    )
    print(
        f"  issuer CPU per sale:   {sales['issuer_us']:.0f} us "
        f"({sales['issuer_cpu_share']:.0%} of a core)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--config", type=Path, help="acquirer config overrides (JSON)")
    parser.add_argument(
        "--levers", action="store_true", help="also measure the codec and the loop alone"
    )
    args = parser.parse_args()
    loop_in_use = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    runtimes = {"baseline": BASELINE_RUNTIME}
    if args.levers:
        runtimes["codec only"] = ("asyncio", "compiled")
        runtimes["loop only"] = ("auto", "pyiso8583")
    with tempfile.TemporaryDirectory(prefix="bench-acquirer-") as tmp:
        full = _phases(Path(tmp), args, "FULL", sign_ons=True)
        normal = _phases(Path(tmp), args, "NORMAL", sign_ons=False)
        others = {
            label: _phases(Path(tmp), args, "FULL", sign_ons=False, runtime=runtime)["sales"]
            for label, runtime in runtimes.items()
        }
    sales, signons = full["sales"], full["sign_ons"]
    print(
        f"connections: {args.connections}, window: {args.seconds:.0f} s per phase; "
        "one-core ceiling = 10^6 us / CPU us per operation"
    )
    print(
        f"runtime of both services: event loop {loop_in_use} (--loop auto), codec compiled; "
        f"baseline: --loop {BASELINE_RUNTIME[0]} --codec {BASELINE_RUNTIME[1]}"
    )
    _print_sales("FULL (fsync per group commit, the default)", sales)
    _print_sales("NORMAL (durable against a process kill only)", normal["sales"])
    print(f"sign-ons/s: {signons['rate']:.0f}  (goal >= 2000)")
    print(
        f"  acquirer CPU per sign-on: {signons['acquirer_us']:.0f} us, one-core ceiling "
        f"{1e6 / max(signons['acquirer_us'], 1):.0f}/s"
    )
    for label, other in others.items():
        loop, codec = runtimes[label]
        _print_sales(f"FULL, {label} (--loop {loop} --codec {codec})", other)
    print(
        "same-run ratios: sales FULL/NORMAL "
        f"{sales['rate'] / max(normal['sales']['rate'], 1):.2f}, "
        f"sales/sign-ons {sales['rate'] / max(signons['rate'], 1):.2f}"
    )
    for label, other in others.items():
        print(
            f"  default / {label}: sales/s {sales['rate'] / max(other['rate'], 1):.2f}, "
            f"acquirer CPU per sale {sales['acquirer_us'] / max(other['acquirer_us'], 1):.2f}, "
            f"issuer CPU per sale {sales['issuer_us'] / max(other['issuer_us'], 1):.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
