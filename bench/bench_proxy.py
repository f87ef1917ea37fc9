"""Benchmark of the embedded fault proxy: through the proxy vs direct, same run.

Three processes on this 2-core machine, as the lab runs them:

- the proxy: ``python -m poslab.proxy`` (its own process and core) on its
  default event loop (``-loop auto``: uvloop when installed); a second proxy
  process on asyncio's own loop (``-loop asyncio``) is measured in the same
  run for the latency and request/reply figures, and the ratios printed;
- the upstream: an asyncio echo/sink server (its own process);
- the load generator: this process.

Figures (no toxics unless said):

1. added round-trip latency, p50/p99, one connection, 64-byte ping-pong
   (goal: <= 100 us at p50, Toxiproxy's own figure);
2. bulk throughput, one connection, 256 KiB writes (goal: >= 300 MB/s), and
   through a 10 ms latency toxic (Toxiproxy's own check: >= 100 MB/s);
3. small request/reply, 50 concurrent connections, through / direct
   (goal: >= 0.6);
4. 1,000 concurrent connections held without error; a latency toxic added
   while they are live reaches all of them within 50 ms.

When the real Toxiproxy 2.12.0 is there (``$TOXIPROXY_SERVER``, else
``../shared/tools/toxiproxy/toxiproxy-server`` beside the repository), it is
started too and figures 1-3 are measured on it in the same run, back to back
with the embedded proxy, and printed side by side (goal: the embedded proxy on
its default loop at least matches it on every figure).

Run: ``python bench/bench_proxy.py`` (or ``make bench``). Prints figures,
ratios and whether each goal was met; exits 1 only if the bench itself fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import multiprocessing
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PING = 64
REQUEST = 100
CONCURRENT = 50
HELD = 1000
TOXIC_LATENCY_MS = 100


# --- the upstream process ------------------------------------------------------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class _Sink(asyncio.Protocol):
    """Reads an 8-byte total, then that many bytes, then answers b"done"."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.expected = -1
        self.received = 0
        self.header = b""

    def data_received(self, data: bytes) -> None:
        if self.expected < 0:
            self.header += data[:8]
            data = data[8:]
            if len(self.header) < 8:
                return
            self.expected = struct.unpack(">Q", self.header)[0]
        self.received += len(data)
        if self.received >= self.expected:
            self.transport.write(b"done")
            self.expected, self.received, self.header = -1, 0, b""


def upstream_main(pipe: Connection) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        echo = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=4096)
        sink = await loop.create_server(_Sink, "127.0.0.1", 0, backlog=16)
        pipe.send((echo.sockets[0].getsockname()[1], sink.sockets[0].getsockname()[1]))
        await loop.run_in_executor(None, pipe.recv)  # any message: stop

    asyncio.run(run())


# --- the proxy process -----------------------------------------------------------------------


class ProxyProcess:
    def __init__(self, tmp: Path, loop: str) -> None:
        ready = tmp / f"proxy-{loop}.ready.json"
        self.loop = loop
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "poslab.proxy", "--host", "127.0.0.1", "--port", "0"),
                *("--ready-file", str(ready), "--log-level", "WARNING", "--loop", loop),
            ],
            cwd=REPO,
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("poslab.proxy did not start")
            time.sleep(0.02)
        port = json.loads(ready.read_text())["ports"]["api"]
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def create(self, name: str, upstream_port: int) -> int:
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
        reply = self.api.post("/proxies", json=body)
        reply.raise_for_status()
        return int(reply.json()["listen"].rsplit(":", 1)[1])

    def stop(self) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(timeout=10)


class RealToxiproxy:
    """The real ``toxiproxy-server`` on a free port, driven like ProxyProcess."""

    loop = "Go"

    def __init__(self, binary: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [str(binary), "-host", "127.0.0.1", "-port", str(port)],
            env={**os.environ, "LOG_LEVEL": "warn"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if self.api.get("/version").status_code == 200:
                    break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("toxiproxy-server did not start")
            time.sleep(0.02)

    def create(self, name: str, upstream_port: int) -> int:
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
        reply = self.api.post("/proxies", json=body)
        reply.raise_for_status()
        return int(reply.json()["listen"].rsplit(":", 1)[1])

    def stop(self) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def real_toxiproxy_binary() -> Path | None:
    """The real server beside the repository (test infrastructure, never in it)."""
    given = os.environ.get("TOXIPROXY_SERVER")
    for path in ([Path(given)] if given else []) + [
        REPO.parent / "shared" / "tools" / "toxiproxy" / "toxiproxy-server"
    ]:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


# --- measurements -----------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips_us(port: int, count: int) -> list[float]:
    payload = b"p" * PING
    buffer = bytearray(PING)
    view = memoryview(buffer)
    samples: list[float] = []
    with _connect(port) as sock:
        for index in range(count + count // 10):
            started = time.perf_counter_ns()
            sock.sendall(payload)
            got = 0
            while got < PING:
                got += sock.recv_into(view[got:])
            if index >= count // 10:  # the first tenth warms up
                samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def bulk_mb_per_s(port: int, total: int) -> float:
    block = b"\xa5" * (256 * 1024)
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(struct.pack(">Q", total))
        sent = 0
        while sent < total:
            sock.sendall(block)
            sent += len(block)
        reply = sock.recv(4)
        elapsed = time.perf_counter() - started
    assert reply == b"done", reply
    return sent / elapsed / 1e6


class _Client(asyncio.Protocol):
    """One connection doing back-to-back small request/replies."""

    def __init__(self, counter: list[int], stop: asyncio.Event) -> None:
        self.counter = counter
        self.stop = stop
        self.pending = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.transport.write(b"r" * REQUEST)

    def data_received(self, data: bytes) -> None:
        self.pending += len(data)
        if self.pending >= REQUEST:
            self.pending -= REQUEST
            self.counter[0] += 1
            if not self.stop.is_set():
                self.transport.write(b"r" * REQUEST)


def requests_per_s(port: int, connections: int, seconds: float) -> float:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        counter = [0]
        stop = asyncio.Event()
        transports = []
        for _ in range(connections):
            transport, _protocol = await loop.create_connection(
                lambda: _Client(counter, stop), "127.0.0.1", port
            )
            transports.append(transport)
        await asyncio.sleep(0.3)  # warm up
        start_count, started = counter[0], time.perf_counter()
        await asyncio.sleep(seconds)
        done, elapsed = counter[0] - start_count, time.perf_counter() - started
        stop.set()
        for transport in transports:
            transport.close()
        return done / elapsed

    return asyncio.run(run())


def held_connections(proxy: ProxyProcess, port: int) -> dict[str, float]:
    async def ping_all(
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> list[float]:
        async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
            started = time.perf_counter()
            writer.write(b"12345678")
            await reader.readexactly(8)
            return (time.perf_counter() - started) * 1000

        return list(await asyncio.gather(*(one(r, w) for r, w in streams)))

    async def run() -> dict[str, float]:
        streams = []
        for _ in range(HELD // 100):
            batch = await asyncio.gather(
                *(asyncio.open_connection("127.0.0.1", port) for _ in range(100))
            )
            streams.extend(batch)
        before = await ping_all(streams)
        await asyncio.sleep(1.0)  # held
        started = time.perf_counter()
        body = {"type": "latency", "attributes": {"latency": TOXIC_LATENCY_MS}}
        reply = await asyncio.to_thread(proxy.api.post, "/proxies/held/toxics", json=body)
        api_ms = (time.perf_counter() - started) * 1000
        reply.raise_for_status()
        after = await ping_all(streams)
        await asyncio.to_thread(proxy.api.delete, "/proxies/held/toxics/latency_downstream")
        cleared = await ping_all(streams)
        for _reader, writer in streams:
            writer.close()
        return {
            "held": float(len(streams)),
            "ok_before": float(sum(1 for ms in before if ms >= 0)),
            "api_ms": api_ms,
            "reached": float(sum(1 for ms in after if ms >= TOXIC_LATENCY_MS - 1)),
            "after_p50_ms": statistics.median(after),
            "cleared_max_ms": max(cleared),
        }

    return asyncio.run(run())


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def cpu_seconds(pid: int) -> float:
    user, system = cpu_split(pid)
    return user + system


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    upstream = ctx.Process(target=upstream_main, args=(child,), daemon=True)
    upstream.start()
    echo_port, sink_port = parent.recv()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    with tempfile.TemporaryDirectory() as tmp:
        proxy = ProxyProcess(Path(tmp), "auto")
        baseline = ProxyProcess(Path(tmp), "asyncio") if loop == "uvloop" else None
        try:
            print(f"proxy event loop: {loop} (-loop auto)")
            echo_via = proxy.create("echo", echo_port)
            sink_via = proxy.create("sink", sink_port)
            held_via = proxy.create("held", echo_port)
            results(echo_port, echo_via, sink_port, sink_via, proxy, held_via, upstream.pid or 0)
            if baseline is not None:
                print("same run, a proxy on asyncio's own loop (-loop asyncio):")
                compare_loops(echo_port, proxy, echo_via, baseline, upstream.pid or 0)
            binary = real_toxiproxy_binary()
            if binary is None:
                print("no real Toxiproxy beside the repository: no side-by-side figures")
            else:
                compare_real(binary, echo_port, sink_port, proxy, echo_via, sink_via,
                             upstream.pid or 0)  # fmt: skip
        finally:
            proxy.stop()
            if baseline is not None:
                baseline.stop()
            parent.send("stop")
            upstream.join(5)
    return 0


def request_reply(
    echo_port: int, echo_via: int, proxy: ProxyProcess | RealToxiproxy, upstream_pid: int
) -> float:
    """50 connections of small request/replies, direct then through ``proxy``:
    prints rates and CPU per request, returns through/direct."""
    pids = {"load": os.getpid(), "upstream": upstream_pid, "proxy": proxy.process.pid}
    costs: dict[str, dict[str, float]] = {}
    rates: dict[str, float] = {}
    proxy_split = (0.0, 0.0)
    for label, port in (("direct", echo_port), ("through", echo_via)):
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        proxy_before = cpu_split(proxy.process.pid)
        started = time.perf_counter()
        rates[label] = requests_per_s(port, CONCURRENT, 3.0)
        elapsed = time.perf_counter() - started
        done = rates[label] * elapsed
        costs[label] = {n: (cpu_seconds(pid) - before[n]) / done * 1e6 for n, pid in pids.items()}
        proxy_after = cpu_split(proxy.process.pid)
        proxy_split = (
            (proxy_after[0] - proxy_before[0]) / done * 1e6,
            (proxy_after[1] - proxy_before[1]) / done * 1e6,
        )
    rps_direct, rps_through = rates["direct"], rates["through"]
    ratio = rps_through / rps_direct
    print(
        f"request/reply ({REQUEST} B, {CONCURRENT} conns, proxy on {proxy.loop})  direct "
        f"{rps_direct:8.0f}/s   through {rps_through:8.0f}/s   ratio {ratio:.2f}"
    )
    for label in ("direct", "through"):
        split = "  ".join(f"{name} {us:5.1f}" for name, us in costs[label].items())
        print(f"  CPU us per request, {label:7s}: {split}")
    user, system = proxy_split
    print(f"  the proxy's part: user (Python) {user:.1f} us + system {system:.1f} us")
    return ratio


def compare_loops(
    echo_port: int,
    proxy: ProxyProcess,
    echo_via: int,
    baseline: ProxyProcess,
    upstream_pid: int,
) -> None:
    """The asyncio-loop proxy against the default one, back to back."""
    base_via = baseline.create("echo", echo_port)
    p50 = {}
    for label, port in (("direct", echo_port), ("auto", echo_via), ("asyncio", base_via)):
        p50[label] = _percentile(round_trips_us(port, 3000), 0.5)
    print(
        f"  added p50: -loop auto {p50['auto'] - p50['direct']:.1f} us, "
        f"-loop asyncio {p50['asyncio'] - p50['direct']:.1f} us"
    )
    ratio_auto = request_reply(echo_port, echo_via, proxy, upstream_pid)
    ratio_asyncio = request_reply(echo_port, base_via, baseline, upstream_pid)
    print(
        f"  50-connection ratio: auto {ratio_auto:.2f} vs asyncio {ratio_asyncio:.2f} "
        f"(auto/asyncio {ratio_auto / ratio_asyncio:.2f})"
    )


def compare_real(
    binary: Path,
    echo_port: int,
    sink_port: int,
    proxy: ProxyProcess,
    echo_via: int,
    sink_via: int,
    upstream_pid: int,
) -> None:
    """Figures 1-3 on the embedded proxy and on the real Toxiproxy, back to back."""
    real = RealToxiproxy(binary)
    try:
        real_echo, real_sink = real.create("echo", echo_port), real.create("sink", sink_port)
        print(f"same run, the embedded proxy (-loop auto) beside the real Toxiproxy ({binary}):")
        figures: dict[str, dict[str, float]] = {"embedded": {}, "real": {}}
        direct = round_trips_us(echo_port, 3000)
        for label, port in (("embedded", echo_via), ("real", real_echo)):
            through = round_trips_us(port, 3000)
            figures[label]["p50"] = _percentile(through, 0.5) - _percentile(direct, 0.5)
            figures[label]["p99"] = _percentile(through, 0.99) - _percentile(direct, 0.99)
        for label, port in (("embedded", sink_via), ("real", real_sink)):
            figures[label]["bulk"] = bulk_mb_per_s(port, 512 * 1024 * 1024)
        figures["embedded"]["ratio"] = request_reply(echo_port, echo_via, proxy, upstream_pid)
        figures["real"]["ratio"] = request_reply(echo_port, real_echo, real, upstream_pid)
        rows = (
            ("added round trip p50 (us, lower is better)", "p50", False),
            ("added round trip p99 (us, lower is better)", "p99", False),
            ("bulk, 1 conn (MB/s)", "bulk", True),
            ("50-conn request/reply, through/direct", "ratio", True),
        )
        print(f"  {'figure':44s} {'embedded':>10s} {'real':>10s}  embedded at least as good")
        for text, key, higher in rows:
            mine, theirs = figures["embedded"][key], figures["real"][key]
            # Added latencies within 2 us are the same figure (clock and noise).
            good = mine >= theirs if higher else mine <= theirs + 2.0
            print(f"  {text:44s} {mine:10.2f} {theirs:10.2f}  {'yes' if good else 'NO'}")
        ratio_ok = figures["embedded"]["ratio"] >= 0.6
        print(f"  goal {'met   ' if ratio_ok else 'MISSED'}  embedded 50-connection ratio >= 0.6")
    finally:
        real.stop()


def results(
    echo_port: int,
    echo_via: int,
    sink_port: int,
    sink_via: int,
    proxy: ProxyProcess,
    held_via: int,
    upstream_pid: int,
) -> None:
    goals: list[tuple[str, bool]] = []

    direct = round_trips_us(echo_port, 3000)
    through = round_trips_us(echo_via, 3000)
    d50, d99 = _percentile(direct, 0.5), _percentile(direct, 0.99)
    t50, t99 = _percentile(through, 0.5), _percentile(through, 0.99)
    print(f"round trip ({PING} B, 1 conn)   direct p50 {d50:7.1f} us  p99 {d99:7.1f} us")
    print(f"                             through p50 {t50:7.1f} us  p99 {t99:7.1f} us")
    print(f"  added by the proxy:  p50 {t50 - d50:7.1f} us   p99 {t99 - d99:7.1f} us")
    goals.append(("added latency p50 <= 100 us", t50 - d50 <= 100))

    total = 512 * 1024 * 1024
    bulk_direct = bulk_mb_per_s(sink_port, total)
    bulk_through = bulk_mb_per_s(sink_via, total)
    print(
        f"bulk (512 MiB, 1 conn)       direct {bulk_direct:7.0f} MB/s   through "
        f"{bulk_through:7.0f} MB/s   ratio {bulk_through / bulk_direct:.2f}"
    )
    goals.append(("bulk through the proxy >= 300 MB/s", bulk_through >= 300))
    body = {"type": "latency", "stream": "upstream", "attributes": {"latency": 10}}
    proxy.api.post("/proxies/sink/toxics", json=body).raise_for_status()
    bulk_latency = bulk_mb_per_s(sink_via, total // 4)
    proxy.api.delete("/proxies/sink/toxics/latency_upstream").raise_for_status()
    print(f"bulk through a 10 ms latency toxic (128 MiB)   {bulk_latency:7.0f} MB/s")
    goals.append(
        ("bulk through a latency toxic >= 100 MB/s (Toxiproxy's check)", bulk_latency >= 100)
    )

    ratio = request_reply(echo_port, echo_via, proxy, upstream_pid)
    goals.append(("50-connection through/direct >= 0.6", ratio >= 0.6))

    held = held_connections(proxy, held_via)
    print(
        f"{HELD} connections held: {held['held']:.0f} open, {held['ok_before']:.0f} answered; "
        f"latency toxic added in {held['api_ms']:.1f} ms (API call), reached "
        f"{held['reached']:.0f}/{held['held']:.0f} (p50 after {held['after_p50_ms']:.0f} ms), "
        f"removed: max {held['cleared_max_ms']:.0f} ms"
    )
    goals.append(
        (
            f"{HELD} held, toxic reaches all within 50 ms",
            held["ok_before"] == HELD and held["reached"] == HELD and held["api_ms"] <= 50,
        )
    )
    for text, met in goals:
        print(f"  goal {'met   ' if met else 'MISSED'}  {text}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
