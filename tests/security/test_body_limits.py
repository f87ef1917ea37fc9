"""Body limits on every HTTP service: a body over the cap is refused, whether
announced (Content-Length: answered before a byte of it is read) or streamed
(chunked: cut at the cap), and the service's memory does not follow it.

Before: the agent had none — two 100 MB JSON bodies took it to 811 MB, and
uploads were spooled to disk in full before the 4 MiB check.
"""

from __future__ import annotations

import contextlib
import socket
import time

import httpx
import psutil
import pytest

from tests.security.conftest import BEARER, TOKEN, GuardedStack

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024


def _head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Idempotency-Key: body-limit-{time.monotonic_ns()}\r\n{extra}\r\n"
    ).encode()


def _status(sock: socket.socket, timeout: float = 10) -> int:
    sock.settimeout(timeout)
    line = sock.recv(200).split(b"\r\n")[0]
    return int(line.split()[1])


def _stream(
    port: int, path: str, content_type: str, total: int, prefix: bytes = b""
) -> tuple[int, int]:
    """POST ``prefix`` and ``total`` more bytes chunked; (status, bytes the
    socket took before the server answered or closed)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(path, f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n"))
        if prefix:
            sock.sendall(b"%x\r\n" % len(prefix) + prefix + b"\r\n")
        chunk = b"x" * MIB
        with contextlib.suppress(OSError):  # the server may close mid-stream
            while sent < total:
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            sock.sendall(b"0\r\n\r\n")
        return _status(sock), sent


def test_an_announced_oversize_body_is_refused_before_it_is_read(guarded: GuardedStack) -> None:
    for port, path in (
        (guarded.agent.port, "/tickets"),
        (guarded.agent.port, "/onboarding/applications"),
        (guarded.acquirer.admin, "/admin/terminals"),
        (guarded.issuer.admin, "/admin/faults/slow"),
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(
                _head(path, f"Content-Type: application/json\r\nContent-Length: {100 * MIB}\r\n")
            )
            assert _status(sock, 5) == 413, path
            assert time.monotonic() - started < 2, path


def test_a_streamed_oversize_body_is_cut_at_the_cap(guarded: GuardedStack) -> None:
    agent = psutil.Process(guarded.agent.proc.pid)  # type: ignore[union-attr]
    before = agent.memory_info().rss
    status, _ = _stream(guarded.agent.port, "/tickets", "application/json", 24 * MIB)
    assert status == 413
    # an upload: more than the documents an application may carry (9 × 4 MiB)
    boundary = "----lab"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="business_licence"; '
        f'filename="licence.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-'
    ).encode()
    status, _ = _stream(
        guarded.agent.port,
        "/onboarding/applications",
        f"multipart/form-data; boundary={boundary}",
        48 * MIB,
        prefix=part,
    )
    assert status == 413
    grew = (agent.memory_info().rss - before) / MIB
    assert grew < 30, f"the agent grew {grew:.0f} MiB"
    # and it still answers
    reply = httpx.get(f"{guarded.agent.url}/admin/status", headers=BEARER, timeout=10)
    assert reply.status_code == 200
