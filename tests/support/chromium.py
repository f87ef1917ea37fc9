"""Debian's Chromium for the browser tests (never a downloaded browser), with the
flags this machine's closed network needs: without the background-networking
ones Chromium's own connections are refused, many at a time."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM: str | None = (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
)
ARGS: list[str] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
