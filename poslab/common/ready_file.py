"""The ready file: how a service started by the lab says it is listening.

Once every port listens, the service writes ``{"pid": …, "ports": {role:
port}}`` atomically (``poslab.stack.service.read_ready_file`` polls for it),
so a launcher that asked for port 0 learns the real ports and never reads a
half-written file. Roles: ``main`` (the service's own protocol), ``admin``
(its admin API when separate), ``api`` (the proxy's Toxiproxy API).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from poslab.common.atomic_file import atomic_write

__all__ = ["write_ready_file"]


def write_ready_file(path: Path, ports: Mapping[str, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"pid": os.getpid(), "ports": dict(ports)}))
