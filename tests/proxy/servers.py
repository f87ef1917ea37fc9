"""The two servers every proxy conformance test runs against: the embedded one
(``python -m poslab.proxy``) and the real Toxiproxy 2.12.0 (``toxiproxy-server``).

The real binary is test infrastructure beside the repository, never inside it:
``$TOXIPROXY_SERVER``, else ``../shared/tools/toxiproxy/toxiproxy-server``
relative to the repository root (CI clones the repository with ``shared/``
beside it). Tests that need it skip, saying where they looked, only when
neither exists.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Literal

import httpx

from tests.proxy.proxy_helpers import REPO, ProxyProcess

__all__ = [
    "KINDS",
    "RealToxiproxy",
    "ServerKind",
    "ServerUnderTest",
    "real_cli_binary",
    "real_server_binary",
    "real_server_missing",
    "start_server",
]

ServerKind = Literal["embedded", "real"]
KINDS: tuple[ServerKind, ...] = ("embedded", "real")

_SHARED_TOOLS = REPO.parent / "shared" / "tools" / "toxiproxy"


def real_server_binary() -> Path | None:
    """Where the real ``toxiproxy-server`` is, or ``None``."""
    given = os.environ.get("TOXIPROXY_SERVER", "")
    candidates = [Path(given)] if given else []
    candidates.append(_SHARED_TOOLS / "toxiproxy-server")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def real_cli_binary() -> Path | None:
    """``toxiproxy-cli`` next to the server binary (same release), or ``None``."""
    server = real_server_binary()
    if server is None:
        return None
    cli = server.with_name("toxiproxy-cli")
    return cli if cli.is_file() and os.access(cli, os.X_OK) else None


def real_server_missing() -> str:
    """The skip reason when there is no real server."""
    return (
        "no real Toxiproxy: TOXIPROXY_SERVER is not set and "
        f"{_SHARED_TOOLS / 'toxiproxy-server'} does not exist"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RealToxiproxy:
    """``toxiproxy-server -host 127.0.0.1 -port N`` on a free port."""

    def __init__(self, binary: Path, log_path: Path, *extra: str) -> None:
        self.log = log_path.open("wb")
        # The server has no "port 0": pick a free port and retry on the rare
        # race where someone else takes it first.
        for _attempt in range(5):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = subprocess.Popen(
                [str(binary), "-host", "127.0.0.1", "-port", str(self.port), *extra],
                stdout=self.log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LOG_LEVEL": os.environ.get("TOXIPROXY_LOG_LEVEL", "warn")},
            )
            if self._wait_ready():
                self.pid = self.process.pid
                return
            self._kill()
        raise RuntimeError(f"toxiproxy-server did not start: {log_path.read_text()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/version", timeout=1).status_code == 200:
                    return True
            time.sleep(0.02)
        return False

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            code = self.process.returncode
        self.log.close()
        return code


class ServerUnderTest:
    """One running server of either kind, as the tests see it."""

    def __init__(self, kind: ServerKind, process: ProxyProcess | RealToxiproxy) -> None:
        self.kind = kind
        self.process = process
        self.url: str = process.url
        self.port: int = process.port
        self.pid: int = process.pid

    @property
    def real(self) -> bool:
        return self.kind == "real"

    def stop(self) -> int:
        return self.process.stop()

    def __repr__(self) -> str:
        return f"<{self.kind} toxiproxy at {self.url}>"


def start_server(kind: ServerKind, tmp: Path, *extra: str) -> ServerUnderTest:
    """Start a server of ``kind`` (the caller skips first if the real one is missing)."""
    tmp.mkdir(parents=True, exist_ok=True)
    if kind == "embedded":
        return ServerUnderTest(kind, ProxyProcess(tmp, *extra))
    binary = real_server_binary()
    if binary is None:
        raise RuntimeError(real_server_missing())
    return ServerUnderTest(kind, RealToxiproxy(binary, tmp / "toxiproxy.log", *extra))
