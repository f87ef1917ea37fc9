"""What the launcher needs to know to run one service of the payment world.

Every lab service (the fault proxy, the issuer, the acquirer, the agents) obeys
one contract, so the launcher stays generic:

- it takes ``--host 127.0.0.1`` and one ``--<x>-port`` option per listening
  socket; ``0`` asks the kernel for a free port;
- once listening it atomically writes its *ready file*:
  ``{"pid": 123, "ports": {"main": 40001, "admin": 40002}}``;
- it answers ``GET <health path>`` with 200 on one of its HTTP ports.

A :class:`ServiceSpec` is that contract for one service: the argv without the
port options, which option carries which port, where the ready file goes and
which port/path answers the health check. A service that cannot write a ready
file (an older build) is started on ports the launcher picks itself
(``ready_file=None``) and is ready when its health check answers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from poslab.errors import StackError

LOCALHOST = "127.0.0.1"


class ReadyInfo(BaseModel):
    """The ready file a service writes once every socket of it listens."""

    model_config = ConfigDict(extra="ignore")

    pid: int | None = None
    ports: dict[str, int] = Field(default_factory=dict)


@dataclass(frozen=True)
class ServiceSpec:
    """How to start one service and how to tell that it is ready."""

    name: str
    argv: tuple[str, ...]
    # port name (as the ready file spells it) -> command-line option
    port_flags: Mapping[str, str]
    log_file: Path
    # None: the service cannot announce its ports; the launcher picks them.
    ready_file: Path | None
    health_port: str
    health_path: str = "/health"
    ready_flag: str = "--ready-file"
    host: str = LOCALHOST
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    def __post_init__(self) -> None:
        if self.health_port not in self.port_flags:
            raise ValueError(
                f"{self.name}: health port {self.health_port!r} is not one of "
                f"{sorted(self.port_flags)}"
            )

    def command(self, ports: Mapping[str, int]) -> list[str]:
        """The argv for a start on ``ports`` (0 or missing = any free port)."""
        argv = list(self.argv)
        for port_name, flag in self.port_flags.items():
            argv += [flag, str(ports.get(port_name, 0))]
        if self.ready_file is not None:
            argv += [self.ready_flag, str(self.ready_file)]
        return argv

    def health_url(self, ports: Mapping[str, int]) -> str:
        return f"http://{self.host}:{ports[self.health_port]}{self.health_path}"


def read_ready_file(path: Path) -> ReadyInfo | None:
    """The ready file's content, or None while it is absent.

    Services write it atomically (temp file + rename), so a partial file means
    a service that broke the contract: that is an error, not "not yet".
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return ReadyInfo.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise StackError(f"ready file {path} is not valid: {exc}") from exc


def free_port(host: str = LOCALHOST) -> int:
    """A port that was free a moment ago (only for services that cannot bind 0).

    Racy by nature: another process may take it before the service binds it.
    Services that write a ready file never need this.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 25, max_bytes: int = 16_384) -> str:
    """The last lines of a service log, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        return "(no log written)"
    return log_tail_text(data.decode("utf-8", errors="replace"), lines)


def log_tail_text(text: str, lines: int = 25) -> str:
    """The last ``lines`` lines of a captured output."""
    tail = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"
