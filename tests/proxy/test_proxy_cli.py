"""``lab proxy serve|list|reset`` and ``python -m poslab.proxy`` as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.proxy.proxy_helpers import REPO, TcpServer, connect, recv_exactly
from tests.proxy.servers import (
    KINDS,
    real_cli_binary,
    real_server_binary,
    real_server_missing,
    start_server,
)


def _lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "poslab", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def _wait_ready(process: subprocess.Popen[bytes], ready: Path) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while not ready.exists():
        assert process.poll() is None, "the server exited early"
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.02)
    info: dict[str, object] = json.loads(ready.read_text())
    return info


def test_serve_with_config_then_list_reset_and_stop(tmp_path: Path, echo_server: TcpServer) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "issuer", "listen": "127.0.0.1:0", "upstream": echo_server.address}])
    )
    ready = tmp_path / "ready.json"
    serve = ["proxy", "serve", "--host", "127.0.0.1", "--port", "0", "--seed", "3"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poslab",
            *serve,
            "--config",
            str(config),
            "--ready-file",
            str(ready),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        info = _wait_ready(process, ready)
        assert info["pid"] == process.pid
        url = f"http://127.0.0.1:{info['ports']['api']}"  # type: ignore[index]
        proxy = httpx.get(f"{url}/proxies/issuer").json()
        port = int(proxy["listen"].rsplit(":", 1)[1])
        with connect(port) as sock:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
        httpx.post(f"{url}/proxies/issuer/toxics", json={"type": "latency"})
        listed = _lab("proxy", "list", env={"TOXIPROXY_URL": url})
        assert listed.returncode == 0, listed.stderr
        assert (
            "issuer  127.0.0.1:" in listed.stdout and "latency_downstream: latency" in listed.stdout
        )
        reset = _lab("proxy", "reset", "--url", url)
        assert reset.returncode == 0 and httpx.get(f"{url}/proxies/issuer/toxics").json() == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text('[{"listen": "127.0.0.1:0", "upstream": "x:1"}]')
    result = _lab("proxy", "serve", "--port", "0", "--config", str(config))
    assert result.returncode == 2
    assert "missing required field: name at proxy 1" in result.stderr


def test_list_against_nothing_is_a_clear_error() -> None:
    result = _lab("proxy", "list", "--url", "http://127.0.0.1:1")
    assert result.returncode == 2 and "unreachable" in result.stderr


def test_module_version_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "poslab.proxy", "-version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "2.12.0" in result.stdout


# --- the real toxiproxy-cli against both servers ----------------------------------------


def _toxiproxy_cli(url: str, *args: str) -> str:
    cli = real_cli_binary()
    if cli is None:
        pytest.skip(real_server_missing())
    host = url.removeprefix("http://")
    result = subprocess.run(
        [str(cli), "-h", host, *args], capture_output=True, text=True, timeout=30
    )
    # Ports differ between the servers; everything else must not.
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", result.stdout + result.stderr)


def _cli_session(url: str, upstream: str) -> list[str]:
    steps = [
        ("create", "--listen", "127.0.0.1:0", "--upstream", upstream, "shop"),
        ("list",),
        ("toxic", "add", "-t", "latency", "-a", "latency=100", "-a", "jitter=5", "shop"),
        ("toxic", "add", "-t", "slicer", "-u", "-a", "average_size=1000",
         "-a", "size_variation=1000", "-a", "delay=1000", "shop"),
        ("toxic", "update", "-n", "latency_downstream", "-a", "latency=50", "shop"),
        ("toxic", "add", "-t", "teleport", "shop"),
        ("inspect", "shop"),
        ("toggle", "shop"),
        ("list",),
        ("toxic", "remove", "-n", "latency_downstream", "shop"),
        ("toxic", "remove", "-n", "latency_downstream", "shop"),
        ("inspect", "nope"),
        ("delete", "shop"),
        ("list",),
    ]  # fmt: skip
    return [_toxiproxy_cli(url, *step) for step in steps]


def test_toxiproxy_cli_prints_the_same_against_both_servers(
    tmp_path: Path, echo_server: TcpServer
) -> None:
    if real_server_binary() is None:
        pytest.skip(real_server_missing())
    outputs = {}
    for kind in KINDS:
        server = start_server(kind, tmp_path / kind)
        try:
            outputs[kind] = _cli_session(server.url, echo_server.address)
        finally:
            server.stop()
    assert outputs["embedded"] == outputs["real"]
    assert "latency_downstream" in outputs["real"][6] and "proxy not found" in outputs["real"][11]
