"""Start the real issuer and acquirer processes for tests (port 0 + ready file).

Each service runs as ``python -m mocks.<name>`` exactly as poslab/stack launches
it; readiness is the ready file appearing, then ``GET /health`` answering 200.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Service:
    name: str
    argv: list[str]
    ready: Path
    log: Path
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]

    @property
    def main(self) -> int:
        return self.ports["main"]

    @property
    def admin(self) -> int:
        return self.ports["admin"]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.admin}{path}"

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url(path), timeout=10, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return httpx.post(self.url(path), json=body, timeout=10, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.delete(self.url(path), timeout=10, **kw)

    def fault(self, name: str, **params: Any) -> None:
        response = self.post(f"/admin/faults/{name}", params)
        assert response.status_code == 200, response.text

    def export(self, name: str) -> list[dict[str, Any]]:
        response = self.get(f"/admin/export/{name}")
        assert response.status_code == 200, response.text
        return [json.loads(line) for line in response.text.splitlines() if line]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _wait_ready(
    service_name: str, proc: subprocess.Popen[bytes], ready: Path, log: Path
) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ready.exists():
            ports: dict[str, int] = json.loads(ready.read_text())["ports"]
            break
        if proc.poll() is not None:
            raise RuntimeError(
                f"{service_name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.01)
    else:
        proc.kill()
        raise RuntimeError(f"{service_name} wrote no ready file:\n{log.read_text()[-3000:]}")
    response = httpx.get(f"http://127.0.0.1:{ports['admin']}/health", timeout=10)
    assert response.status_code == 200, response.text
    return ports


def start(
    name: str, module: str, args: list[str], workdir: Path, env: dict[str, str] | None = None
) -> Service:
    ready = workdir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    argv = [sys.executable, "-m", module, *args, "--ready-file", str(ready)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}
        )
    ports = _wait_ready(name, proc, ready, log)
    return Service(name, argv, ready, log, proc, ports)


def _common_args(world: Path, db: Path) -> list[str]:
    return [
        "--world",
        str(world),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--admin-port",
        "0",
        "--db",
        str(db),
    ]


def start_issuer(world: Path, workdir: Path, *extra: str) -> Service:
    args = [*_common_args(world, workdir / "issuer.sqlite"), *extra]
    return start("issuer", "poslab.mocks.issuer", args, workdir)


def start_acquirer(
    world: Path, workdir: Path, issuer_port: int, config: dict[str, Any] | None = None, *extra: str
) -> Service:
    args = [
        *_common_args(world, workdir / "acquirer.sqlite"),
        "--issuer",
        f"127.0.0.1:{issuer_port}",
        *extra,
    ]
    if config:
        path = workdir / "acquirer-config.json"
        path.write_text(json.dumps(config))
        args += ["--config", str(path)]
    return start("acquirer", "poslab.mocks.acquirer", args, workdir)


def restart(service: Service, ports: dict[str, int] | None = None) -> Service:
    """Start ``service`` again with the same files (and the same ports if given)."""
    argv = list(service.argv)
    if ports:
        for flag, port in (("--port", ports["main"]), ("--admin-port", ports["admin"])):
            argv[argv.index(flag) + 1] = str(port)
    service.ready.unlink(missing_ok=True)
    with service.log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    new_ports = _wait_ready(service.name, proc, service.ready, service.log)
    return Service(service.name, argv, service.ready, service.log, proc, new_ports)
