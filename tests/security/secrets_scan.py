"""Look for a world's secrets in a directory: every file, SQLite databases,
their WAL and journals included (deleted rows linger in free pages and WAL
frames, so a value once written in clear is found even if it was removed).

What counts as a secret, as docs/run-directory.md lists it:

- a card's PAN (Luhn-valid, of the world), as text or packed BCD;
- a card's PIN next to a ``pin`` name, or its ISO 9564 format 0 clear PIN block;
- a terminal master key — the world's, and the ones the agent gives the
  terminals that replace them — as hex or raw bytes.

Masked PANs (first 6, last 4) and hashes are not findings.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from poslab.mocks.agent.terminal_directory import TerminalDirectory, successor_tid
from poslab.world import World

__all__ = ["Finding", "Secrets", "scan"]

# Runs, not tokens: in a SQLite record the columns' bytes touch (a PAN is
# followed by the RRN's digits), so a secret is looked for at every offset
# of every run of digits or hex.
_DIGITS = re.compile(rb"[0-9]{13,}")
_HEX = re.compile(rb"[0-9A-Fa-f]{16,}")
_PIN = re.compile(rb"pin[\"']?\s*[:=]\s*[\"']?([0-9]{4,12})", re.IGNORECASE)
_BINARY = (".sqlite", ".sqlite-wal", ".sqlite-journal", ".db", ".db-wal", "-wal", "-journal")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _clear_pin_block(pin: str, pan: str) -> str:
    block = int(f"0{len(pin):X}{pin}".ljust(16, "F"), 16) ^ int("0000" + pan[-13:-1], 16)
    return f"{block:016X}"


@dataclasses.dataclass(frozen=True)
class Finding:
    path: Path
    kind: str  # "pan", "pin", "pin_block", "key"
    shown: str  # masked: never the secret itself

    def __str__(self) -> str:
        return f"{self.path}: {self.kind} {self.shown}"


class Secrets:
    """The values to look for, from a world (and the agent's replacement keys)."""

    def __init__(self, world: World) -> None:
        self.pans = {c.pan.encode() for c in world.cards if luhn_valid(c.pan)}
        self.pins = {c.pin.encode() for c in world.cards}
        directory = TerminalDirectory(world, None, "primary")  # type: ignore[arg-type]
        keys = {t.tmk.upper() for t in world.terminals}
        keys |= {directory.tmk(successor_tid(t.tid)).upper() for t in world.terminals}
        self.blocks = {_clear_pin_block(c.pin, c.pan).encode() for c in world.cards}
        self.keys = {k.encode() for k in keys}
        # raw forms, for binary files: 16-byte keys and 8-byte BCD PANs
        self.raw = {bytes.fromhex(k) for k in keys}
        self.raw |= {bytes.fromhex(c.pan) for c in world.cards if len(c.pan) % 2 == 0}

    def find(self, path: Path, data: bytes) -> Iterator[Finding]:
        for match in _DIGITS.finditer(data):
            run = match.group()
            for start in range(len(run) - 12):
                for size in range(13, min(19, len(run) - start) + 1):
                    if run[start : start + size] in self.pans:
                        pan = run[start : start + size].decode()
                        yield Finding(path, "pan", f"{pan[:6]}…{pan[-4:]}")
        for match in _PIN.finditer(data):
            if match.group(1) in self.pins:
                yield Finding(path, "pin", "pin=****")
        for match in _HEX.finditer(data):
            value = match.group().upper()
            for size in (16, 32, 48):  # a key or a block inside a longer hex run
                for start in range(len(value) - size + 1):
                    part = value[start : start + size]
                    if part in self.keys:
                        yield Finding(path, "key", f"{part[:4].decode()}…")
                    elif size == 16 and part in self.blocks:
                        yield Finding(path, "pin_block", f"{part[:2].decode()}…")
        if path.name.endswith(_BINARY):
            for size in (8, 16):
                for start in range(len(data) - size + 1):
                    if data[start : start + size] in self.raw:
                        yield Finding(path, "key" if size == 16 else "pan", f"raw@{start}")


def scan(root: Path, secrets: Secrets, *, skip: Iterable[str] = ("world.json",)) -> list[Finding]:
    """Every finding under ``root`` (files named in ``skip`` excepted)."""
    found: list[Finding] = []
    skipped = set(skip)
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name in skipped:
            continue
        found.extend(secrets.find(path, path.read_bytes()))
    return found
