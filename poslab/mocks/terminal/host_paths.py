"""Which host path a terminal dials: its region's primary, or the backup.

A terminal counts consecutive link failures on the path it uses. After
``failover_after`` of them on the primary it moves to the backup path (the
acquirer's second address, reached over another network); after
``fail_back_after_s`` on the backup it tries the primary again with the next
request and stays there if that works (fail-back), or returns to the backup
for another interval if it does not. The scenario engine can also pin the
backup path (drill mitigation ``use_backup_path``) until it is released.

The naive policy never fails over: it keeps dialling the primary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ["Address", "HostPaths", "PathName", "parse_address"]

Address = tuple[str, int]


class PathName(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"


def parse_address(text: str) -> Address:
    """``"host:port"`` (``"[::1]:port"`` for IPv6) → ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"host address must be host:port, got {text!r}")
    return host.strip("[]"), int(port)


class HostPaths:
    __slots__ = (
        "_clock",
        "_current",
        "_failures",
        "_on_backup_since",
        "_pinned",
        "addresses",
        "fail_back_after_s",
        "failover",
        "failover_after",
    )

    def __init__(
        self,
        primary: Address,
        backup: Address | None,
        *,
        failover: bool,
        failover_after: int,
        fail_back_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addresses: dict[PathName, Address] = {PathName.PRIMARY: primary}
        if backup is not None:
            self.addresses[PathName.BACKUP] = backup
        self.failover = failover and backup is not None
        self.failover_after = failover_after
        self.fail_back_after_s = fail_back_after_s
        self._clock = clock
        self._current = PathName.PRIMARY
        self._failures = 0
        self._on_backup_since = 0.0
        self._pinned = False

    @property
    def current(self) -> PathName:
        return self._current

    def choose(self) -> PathName:
        """The path for the next connection attempt."""
        if (
            self._current is PathName.BACKUP
            and not self._pinned
            and self._clock() - self._on_backup_since >= self.fail_back_after_s
        ):
            # Probe the primary with real traffic: the request is not yet sent,
            # so a failed connect costs one connect timeout, not a reversal.
            self._current = PathName.PRIMARY
            self._failures = self.failover_after - 1  # one failure sends us back
        return self._current

    def address(self, path: PathName) -> Address:
        return self.addresses[path]

    def succeeded(self, path: PathName) -> None:
        if path is self._current:
            self._failures = 0

    def failed(self, path: PathName) -> None:
        """A link failure on ``path``; may switch the current path."""
        if path is not self._current:
            return
        self._failures += 1
        if not self.failover or self._failures < self.failover_after:
            return
        if self._current is PathName.PRIMARY:
            self._switch(PathName.BACKUP)
        elif not self._pinned:
            # Both paths failing: alternate, so whichever comes back first is found.
            self._switch(PathName.PRIMARY)

    def pin_backup(self, pinned: bool) -> None:
        """Force the backup path (a drill mitigation) or release it. Releasing
        fails back at once; the failure counter decides from there."""
        if PathName.BACKUP not in self.addresses:
            return
        self._pinned = pinned
        self._switch(PathName.BACKUP if pinned else PathName.PRIMARY)

    def reset(self) -> None:
        """A reboot forgets which path worked (a pinned backup path is
        configuration pushed to the device, so it survives)."""
        self._switch(PathName.BACKUP if self._pinned else PathName.PRIMARY)

    def _switch(self, path: PathName) -> None:
        self._current = path
        self._failures = 0
        if path is PathName.BACKUP:
            self._on_backup_since = self._clock()
