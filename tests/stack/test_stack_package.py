"""poslab.stack stays light to import.

Its public names and their lists: tests/common/test_lazy_exports.py.
"""

from __future__ import annotations

import subprocess
import sys


def test_the_container_healthcheck_stays_on_the_standard_library() -> None:
    # `python -m poslab.stack.healthcheck` runs every few seconds in each
    # container: the package's exports must not drag in the launchers or aiohttp.
    code = (
        "import sys, poslab.stack.healthcheck\n"
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('poslab.stack.', 'aiohttp', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['poslab.stack.healthcheck']"
