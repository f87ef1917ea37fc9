"""Software updates from the agent's TMS, when the host asks (header nibble 6).

The host answers an outdated terminal's sale normally but sets the
processing-requirement nibble to 6; the terminal then asks its agent's TMS
which version to run and downloads it. When no agent answers, the terminal
keeps selling on the old version and tries again later — the "outdated
software" story of failure-modes.md row 12.

The agent client belongs to the agent backend (``poslab/mocks/terminal/agent_client.py``);
the terminal depends only on :class:`TmsClient`, so it runs with the real
client, a test double, or :class:`NoAgent` (no agent configured: every
download fails cleanly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["NoAgent", "TmsClient", "target_version"]


class TmsClient(Protocol):
    """What the terminal calls on its agent. Any exception means "no update
    now" — the terminal records it and retries after ``tms_retry_s``."""

    def poll_tms(self, tid: str) -> Any:
        """This terminal's TMS record: parameters and software versions."""

    def download_software(self, tid: str, version: str) -> Any:
        """The package for ``version``, checksum-verified by the client."""


class NoAgent:
    """Stand-in when the fleet has no agent address: fails like an agent
    that never answers."""

    last_path = "primary"

    def poll_tms(self, tid: str) -> Any:
        raise ConnectionError(f"no agent backend configured for terminal {tid}")

    def download_software(self, tid: str, version: str) -> Any:
        raise ConnectionError(f"no agent backend configured for terminal {tid}")


def _version(value: object) -> str | None:
    if isinstance(value, str) and len(value) == 6 and value.isdigit():
        return value
    return None


def target_version(record: object, fallback: str) -> str:
    """The version a TMS record tells the terminal to run: its ``latest``
    software (also accepted nested under ``software``), else ``fallback``."""
    if isinstance(record, Mapping):
        for key in ("latest_software", "latest", "latest_version", "software_version"):
            found = _version(record.get(key))
            if found is not None:
                return found
        nested = record.get("software")
        if isinstance(nested, Mapping):
            return target_version(nested, fallback)
    found = _version(getattr(record, "latest", None))
    return found if found is not None else fallback
