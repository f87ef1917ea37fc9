"""poslab.scenario stays light to import.

Its public names and their lists: tests/common/test_lazy_exports.py.
"""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_loads_nothing_else() -> None:
    code = (
        "import sys, poslab.scenario\n"
        "print(sorted(m for m in sys.modules if m.startswith('poslab.scenario.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
