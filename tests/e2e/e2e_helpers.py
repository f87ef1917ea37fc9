"""Helpers of the end-to-end tests: a fault proxy the test owns, the run's journal and
services (``lab`` as a subprocess is tests.support.processes)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from poslab.proxy.server import EmbeddedProxyServer


class OwnedProxy:
    """The lab's embedded Toxiproxy-compatible server, run by the test in a thread.

    A ``lab run`` pointed at it (``TOXIPROXY_URL``) creates its proxies here and
    deletes them when its stack stops; every proxy's state at the moment of its
    deletion is kept in :attr:`removed`, so a test can tell what the run left
    behind even after it tidied up.
    """

    def __init__(self) -> None:
        self.removed: dict[str, dict[str, Any]] = {}
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> OwnedProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test's proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with EmbeddedProxyServer() as server:
            collection = server.server.collection
            original = collection.remove

            async def remove(name: str) -> None:
                self.removed[name] = collection.get(name).to_json()
                await original(name)

            collection.remove = remove  # type: ignore[method-assign]
            self.url = server.url
            self._ready.set()
            await self._stop.wait()

    def proxies(self) -> dict[str, Any]:
        import httpx

        answer: dict[str, Any] = httpx.get(f"{self.url}/proxies", timeout=5).json()
        return answer


def only_run_dir(runs_dir: Path, timeout_s: float = 30) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # runs/latest is a symlink to the newest run, not a run of its own
        found = [p for p in runs_dir.glob("*") if p.is_dir() and not p.is_symlink()]
        if len(found) == 1 and (found[0] / "journal.jsonl").exists():
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no run directory in {runs_dir}")


def journal(run_dir: Path) -> list[dict[str, Any]]:
    from poslab.scenario import read_journal

    return read_journal(run_dir / "journal.jsonl")


def wait_for(
    run_dir: Path, found: Callable[[list[dict[str, Any]]], bool], timeout_s: float, what: str
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found(journal(run_dir)):
            return
        time.sleep(0.05)
    events = [e["event"] for e in journal(run_dir)]
    raise AssertionError(f"waited {timeout_s} s for {what}; journal: {events}")


def service_pids(run_dir: Path) -> list[int]:
    """Every service process the run's stacks started (their ready files name them)."""
    pids = []
    for ready in run_dir.glob("scenarios/*/services/*.ready.json"):
        pids.append(int(json.loads(ready.read_text())["pid"]))
    return pids
