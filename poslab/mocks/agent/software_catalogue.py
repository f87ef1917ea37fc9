"""Terminal software the TMS serves: the latest version, the minimum the host
accepts, and a downloadable package for each with its SHA-256.

Packages are synthetic but deterministic (a manifest and a body expanded from
the version with SHA-256 in counter mode): the primary and the backup serve
byte-identical packages, so a download that fails over mid-way still verifies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from poslab.mocks.agent.errors import NotFound
from poslab.world import Params

__all__ = ["Package", "SoftwareCatalogue"]

_MAGIC = b"POSPKG\x01\n"


@dataclasses.dataclass(frozen=True, slots=True)
class Package:
    version: str
    body: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.body)


def _build(version: str, size: int) -> Package:
    manifest = json.dumps(
        {"app": "pos-terminal", "version": version, "format": 1}, sort_keys=True
    ).encode()
    head = _MAGIC + len(manifest).to_bytes(4, "big") + manifest
    seed = hashlib.sha256(f"pos-terminal:{version}".encode()).digest()
    blocks = (size - len(head) + 31) // 32
    body = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    data = (head + body)[:size]
    return Package(version, data, hashlib.sha256(data).hexdigest())


class SoftwareCatalogue:
    def __init__(self, params: Params, package_bytes: int = 256 * 1024) -> None:
        self.latest = params.latest_software
        self.minimum = params.min_software
        self._size = package_bytes
        self._packages: dict[str, Package] = {}

    @property
    def versions(self) -> tuple[str, ...]:
        """Downloadable versions, newest first (what the host still accepts)."""
        return tuple(sorted({self.latest, self.minimum}, reverse=True))

    def package(self, version: str) -> Package:
        if version not in self.versions:
            raise NotFound(
                f"no package for software version {version!r}; available: "
                f"{', '.join(self.versions)}"
            )
        found = self._packages.get(version)
        if found is None:
            found = self._packages[version] = _build(version, self._size)
        return found

    def update_required(self, current: str) -> bool:
        return current < self.minimum
