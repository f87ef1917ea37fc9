"""How one agent instance runs: its name, its peer, its upstream, its timings.

The timings are lab-compressed: a real support desk acknowledges a ticket in
hours, the lab's in a fraction of a second, so a scenario of minutes still
shows response-time figures that move when the agent is degraded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from poslab.errors import ConfigError

__all__ = ["INSTANCE_NAMES", "AgentConfig"]

INSTANCE_NAMES = ("primary", "backup")


@dataclasses.dataclass(frozen=True, slots=True)
class AgentConfig:
    name: str  # "primary" or "backup"
    db: Path
    acquirer_admin: str | None = None  # base URL of the acquirer's admin API
    peer_url: str | None = None  # base URL of the other instance (direct, not proxied)
    peer_ready_file: Path | None = None  # or where the peer writes its ready file
    # The stack's admin token: what this instance shows the peer's /sync and
    # the acquirer's admin API (every service of a stack is given the same one).
    admin_token: str | None = None
    # anti-entropy: pull the peer's change log this often
    sync_interval_s: float = 0.5
    sync_batch: int = 200
    peer_timeout_s: float = 1.0
    # the backup takes over processing after the primary has not answered this long
    takeover_after_s: float = 3.0
    acquirer_timeout_s: float = 2.0
    # the support desk and the reviewer (run by the processing instance)
    desk_interval_s: float = 0.1
    review_after_s: float = 0.2
    ack_after_s: float = 0.3
    resolve_after_s: float = 1.5
    # uploads
    max_document_bytes: int = 4 * 1024 * 1024
    max_shop_photos: int = 6

    def __post_init__(self) -> None:
        if self.name not in INSTANCE_NAMES:
            raise ConfigError(f"--name must be primary or backup, got {self.name!r}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_s") and not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"{f.name} must be a positive number of seconds, got {value!r}")
        for url in (self.acquirer_admin, self.peer_url):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ConfigError(f"expected an http(s) URL, got {url!r}")

    @property
    def peer_name(self) -> str:
        return "backup" if self.name == "primary" else "primary"
