"""Per-terminal working-key sessions: issued at sign-on, checked on every MAC.

A session holds the PIN key, MAC key and (mode 004) track-data key a terminal
received in its last 0810, with an expiry. The ledger keeps the field 62 block
(keys under the terminal's TMK, exactly what went on the wire) rather than
clear keys, as an HSM-backed host keeps keys only under a master key; a
restarted host decrypts them again with the TMK.

``expire`` and ``rotate`` are the admin faults of docs/faults.md: both leave
the terminal holding keys the host no longer accepts, so its next MAC'd
request gets A0 with header nibble 3 and the sign-on storm follows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from poslab.iso8583 import (
    Iso8583Error,
    KeyLayout,
    KeyMode,
    WorkingKeys,
    build_field62,
    generate_working_keys,
    parse_field62,
)

__all__ = ["Keystore", "Session"]

log = logging.getLogger("acquirer.keys")


@dataclasses.dataclass(slots=True)
class Session:
    tid: str
    mode: KeyMode
    keys: WorkingKeys = dataclasses.field(repr=False)
    issued_at: float
    expires_at: float
    revoked: bool = False  # expired by the admin fault

    def valid(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclasses.dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as the ledger keeps it (keys under the TMK)."""

    tid: str
    mode: KeyMode
    block: bytes
    issued_at: float
    expires_at: float
    revoked: bool


class Keystore:
    def __init__(self, layouts: dict[str, KeyLayout], lifetime_s: float) -> None:
        self._layouts = layouts
        self._lifetime = lifetime_s
        self._sessions: dict[str, Session] = {}

    def layout(self, mode: KeyMode) -> KeyLayout:
        return self._layouts[mode]

    def restore(self, stored: Iterable[StoredSession], tmks: dict[str, bytes]) -> int:
        """Decrypt sessions saved by an earlier run; returns how many came back."""
        restored = 0
        for item in stored:
            tmk = tmks.get(item.tid)
            if tmk is None:
                continue
            try:
                keys = parse_field62(item.block, tmk, self._layouts[item.mode])
            except Iso8583Error as exc:
                log.warning(
                    "stored keys of terminal %s unusable (%s): it must sign on", item.tid, exc
                )
                continue
            self._sessions[item.tid] = Session(
                item.tid, item.mode, keys, item.issued_at, item.expires_at, item.revoked
            )
            restored += 1
        return restored

    def issue(self, tid: str, mode: KeyMode, tmk: bytes, now: float) -> tuple[Session, bytes]:
        """Fresh keys for ``tid`` and the field 62 block carrying them under ``tmk``."""
        keys = generate_working_keys(mode)
        block = build_field62(keys, tmk, self._layouts[mode])
        session = Session(tid, mode, keys, now, now + self._lifetime)
        self._sessions[tid] = session
        return session, block

    def get(self, tid: str) -> Session | None:
        return self._sessions.get(tid)

    def drop(self, tid: str) -> None:
        """Sign-off or retirement: the terminal must sign on again."""
        self._sessions.pop(tid, None)

    def expire(self, tids: Iterable[str]) -> list[str]:
        """Revoke the sessions of ``tids``; the TIDs that had one."""
        hit: list[str] = []
        for tid in tids:
            session = self._sessions.get(tid)
            if session is not None and not session.revoked:
                session.revoked = True
                hit.append(tid)
        return hit

    def rotate(
        self, tids: Iterable[str], tmks: dict[str, bytes], now: float
    ) -> list[tuple[Session, bytes]]:
        """New keys host-side for ``tids`` with a session; the terminals keep the old ones."""
        rotated: list[tuple[Session, bytes]] = []
        for tid in tids:
            session = self._sessions.get(tid)
            tmk = tmks.get(tid)
            if session is None or tmk is None:
                continue
            rotated.append(self.issue(tid, session.mode, tmk, now))
        return rotated

    def __len__(self) -> int:
        return len(self._sessions)
