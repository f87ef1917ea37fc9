"""Stdlib-only helpers that both the lab and the mocks need.

``poslab.common`` imports nothing of the lab (an import-linter contract holds
it to that), so every package — the pure ones included — may stand on it.

- :func:`atomic_write` / :func:`atomic_output`: replace a file so that a
  reader sees the old one or the new one, never half of either;
- :func:`paused_gc`: build or parse many acyclic objects without the cyclic
  collector walking the growing heap again and again;
- :func:`write_ready_file`: a started service's ``{"pid", "ports"}`` for its
  launcher (the mocks and the proxy alike);
- :mod:`poslab.common.orphan_guard`: what the lab starts dies with it, even
  on ``kill -9`` (the services, Locust and its workers).
"""

from __future__ import annotations

from poslab.common.atomic_file import PRIVATE, SHARED, atomic_output, atomic_write
from poslab.common.gc_pause import paused_gc
from poslab.common.ready_file import write_ready_file

__all__ = [
    "PRIVATE",
    "SHARED",
    "atomic_output",
    "atomic_write",
    "paused_gc",
    "write_ready_file",
]
