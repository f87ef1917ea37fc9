"""The real payment hosts as processes, for the terminal and fleet tests:
``poslab.mocks.issuer``, ``poslab.mocks.acquirer`` and the embedded fault proxy
(``poslab.proxy``), each on 127.0.0.1 port 0 with its ready file.

Deliberately not ``poslab.stack``: these tests need two or three services, not
the whole topology with both agents, and they must start fast.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from poslab.world import World, generate, save

REPO = Path(__file__).resolve().parents[2]
_READY_S = 30.0


def saved_world(directory: Path, seed: int, terminals: int) -> tuple[World, Path]:
    """A generated world and the file every service loads it from."""
    world = generate(seed, terminals)
    path = directory / "world.json"
    save(world, path)
    return world, path


class ServiceProcess:
    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.ready_file = workdir / f"{name}.ready.json"
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *argv, "--ready-file", str(self.ready_file)],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _READY_S
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.02)
        self.ports: dict[str, int] = json.loads(self.ready_file.read_text())["ports"]

    def address(self, port: str = "main") -> tuple[str, int]:
        return ("127.0.0.1", self.ports[port])

    def url(self, port: str = "admin") -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class PaymentHosts:
    """Issuer and acquirer (and a fault proxy when asked) for one test."""

    def __init__(
        self, workdir: Path, world_file: Path, *, proxy: bool = False, agent: bool = False
    ) -> None:
        self.workdir = workdir
        self.services: list[ServiceProcess] = []
        try:
            self.issuer = self._start(
                "issuer",
                [
                    *("poslab.mocks.issuer", "--world", str(world_file), "--port", "0"),
                    *("--admin-port", "0", "--db", str(workdir / "issuer.sqlite")),
                    *("--log-level", "WARNING"),
                ],
            )
            host, port = self.issuer.address()
            self.acquirer = self._start(
                "acquirer",
                [
                    *("poslab.mocks.acquirer", "--world", str(world_file), "--port", "0"),
                    *("--admin-port", "0", "--db", str(workdir / "acquirer.sqlite")),
                    *("--issuer", f"{host}:{port}", "--log-level", "WARNING"),
                ],
            )
            self.proxy = (
                self._start("proxy", ["poslab.proxy", "--host", "127.0.0.1", "--port", "0"])
                if proxy
                else None
            )
            self.agent = (
                self._start(
                    "agent-primary",
                    [
                        *("poslab.mocks.agent", "--world", str(world_file), "--port", "0"),
                        *("--db", str(workdir / "agent.sqlite"), "--name", "primary"),
                        *("--acquirer-admin", self.acquirer.url(), "--log-level", "WARNING"),
                    ],
                )
                if agent
                else None
            )
        except BaseException:
            self.close()
            raise
        self.http = httpx.Client(timeout=10.0)

    def _start(self, name: str, argv: list[str]) -> ServiceProcess:
        service = ServiceProcess(name, argv, self.workdir)
        self.services.append(service)
        return service

    def __enter__(self) -> PaymentHosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()
        for service in reversed(self.services):
            service.stop()

    # -- the acquirer's admin API -----------------------------------------------

    def fault(self, name: str, params: dict[str, Any] | None = None) -> None:
        reply = self.http.post(f"{self.acquirer.url()}/admin/faults/{name}", json=params or {})
        reply.raise_for_status()

    def clear(self, name: str) -> None:
        self.http.delete(f"{self.acquirer.url()}/admin/faults/{name}").raise_for_status()

    def export(self, name: str, service: str = "acquirer") -> list[dict[str, Any]]:
        target = self.acquirer if service == "acquirer" else self.issuer
        reply = self.http.get(f"{target.url()}/admin/export/{name}")
        reply.raise_for_status()
        return [json.loads(line) for line in reply.text.splitlines() if line.strip()]

    def ledger_row(self, tid: str, stan: str, batch: str) -> dict[str, Any] | None:
        for row in self.export("transactions"):
            if (row["tid"], row["stan"], row["batch"]) == (tid, stan, batch):
                return row
        return None

    def batches(self, tid: str) -> list[dict[str, Any]]:
        return [b for b in self.export("batches") if b["tid"] == tid]

    def holds(self, tid: str, stan: str, batch: str) -> list[dict[str, Any]]:
        ref = f"{tid}{stan}{batch}"
        return [h for h in self.export("issuer", "issuer") if h.get("acquirer_ref") == ref]

    # -- the fault proxy (Toxiproxy API) -------------------------------------

    @property
    def proxy_api(self) -> str:
        assert self.proxy is not None, "started without a proxy"
        return self.proxy.url("api")

    def add_proxy(self, name: str) -> tuple[str, int]:
        """A proxy in front of the acquirer; returns the address it listens on."""
        host, port = self.acquirer.address()
        reply = self.http.post(
            f"{self.proxy_api}/proxies",
            json={"name": name, "listen": "127.0.0.1:0", "upstream": f"{host}:{port}"},
        )
        reply.raise_for_status()
        listen_host, _, listen_port = reply.json()["listen"].rpartition(":")
        return listen_host, int(listen_port)

    def set_enabled(self, name: str, enabled: bool) -> None:
        reply = self.http.post(f"{self.proxy_api}/proxies/{name}", json={"enabled": enabled})
        reply.raise_for_status()

    def add_toxic(self, proxy: str, toxic: str, attributes: dict[str, int], stream: str) -> None:
        reply = self.http.post(
            f"{self.proxy_api}/proxies/{proxy}/toxics",
            json={"type": toxic, "stream": stream, "attributes": attributes},
        )
        reply.raise_for_status()

    def remove_toxics(self, proxy: str) -> None:
        for toxic in self.http.get(f"{self.proxy_api}/proxies/{proxy}/toxics").json():
            self.http.delete(f"{self.proxy_api}/proxies/{proxy}/toxics/{toxic['name']}")
