"""What the reliability tests share: services as real processes, traffic in flight
(bounded in count and time, 127.0.0.1 only), and the processes of a run."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from poslab.mocks.terminal import Terminal, TerminalConfig, TerminalProfile, TerminalStore
from poslab.mocks.terminal.shopper import CardPresented
from poslab.world import World

#: The launchers' grace after SIGTERM (compose, lab down, the stack).
GRACE_S = 5.0


def sigterm_to_exit_s(process: subprocess.Popen[bytes], limit_s: float = 15.0) -> float:
    """SIGTERM ``process``; seconds until it exited (KILLed past ``limit_s``: the test
    then fails on the time, not by hanging)."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(limit_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return float("inf")
    return time.monotonic() - began


def good_card(term: Terminal) -> CardPresented:
    """A card of this till that can pay (funds, not expired, right PIN)."""
    world_card = max(term.profile.cards, key=lambda c: (c.expiry >= "2601", c.balance_fen))
    return term.shopper.card_for(world_card.pan)


class SalesInFlight:
    """``count`` terminals selling through ``address`` from threads, each sale
    waiting up to ``reply_s`` for its answer; at most ``max_sales`` each, and
    nothing after :meth:`stop` or ``max_s`` seconds."""

    def __init__(
        self,
        world: World,
        address: tuple[str, int],
        workdir: Path,
        *,
        count: int = 4,
        first: int = 0,
        reply_s: float = 30.0,
        max_sales: int = 20,
        max_s: float = 60.0,
    ) -> None:
        self.world, self.address, self.workdir = world, address, workdir
        self.count, self.first, self.reply_s = count, first, reply_s
        self.max_sales, self.max_s = max_sales, max_s
        self.sent = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._till, args=(i,), daemon=True) for i in range(count)
        ]

    def _till(self, i: int) -> None:
        index = self.first + i
        store = TerminalStore(self.workdir / f"terminal-{index}.sqlite")
        config = TerminalConfig(
            response_timeout_s=self.reply_s, connect_timeout_s=0.5, backoff_base_s=0.02,
            backoff_cap_s=0.1,
        )  # fmt: skip
        profile = TerminalProfile.from_world(self.world, self.world.terminals[index])
        term = Terminal(
            profile,
            config,
            primary=self.address,
            backup=None,
            store=store,
            on_record=lambda _: None,
            rng=random.Random(index),
        )
        deadline = time.monotonic() + self.max_s
        try:
            term.boot()
            for _ in range(self.max_sales):
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
                self.sent += 1
                term.sale(100 + i, good_card(term))
        except Exception:  # the host went away under it: what this test wants
            pass
        finally:
            with contextlib.suppress(Exception):
                term.channel.close()
            with contextlib.suppress(Exception):
                store.close()

    def __enter__(self) -> SalesInFlight:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.reply_s + 5)


class RequestsInFlight:
    """``count`` threads each sending GET ``url`` (``timeout_s`` each) until stopped."""

    def __init__(self, url: str, *, count: int = 8, timeout_s: float = 30.0) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.sent = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(count)]

    def _send(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            for _ in range(20):  # bounded
                if self._stop.is_set():
                    return
                self.sent += 1
                try:
                    client.get(self.url)
                except httpx.HTTPError:
                    return

    def __enter__(self) -> RequestsInFlight:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout_s + 5)


def post(url: str, body: dict[str, Any] | None = None) -> None:
    httpx.post(url, json=body or {}, timeout=10.0).raise_for_status()


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line mentions ``text`` (a run's directory)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if text in " ".join(proc.info["cmdline"] or ()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def gone_within(text: str, timeout_s: float) -> tuple[float, list[str]]:
    """Seconds until no live process mentions ``text``; the survivors if some remain."""
    began = time.monotonic()
    while True:
        left = processes_mentioning(text)
        if not left:
            return time.monotonic() - began, []
        if time.monotonic() - began > timeout_s:
            return float("inf"), [" ".join(p.cmdline()[:6]) for p in left]
        time.sleep(0.05)


def kill_all_mentioning(text: str) -> None:
    """Teardown: whatever a failed test left behind goes."""
    for proc in processes_mentioning(text):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def journal_bytes(fleet_dir: Path) -> int:
    return sum(p.stat().st_size for p in fleet_dir.glob("*.jsonl") if p.is_file())


@contextlib.contextmanager
def cleanup_of(text: str) -> Iterator[None]:
    try:
        yield
    finally:
        kill_all_mentioning(text)
