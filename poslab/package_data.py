"""Where the data files the lab ships (the scenario catalogue, the drill
runbooks) are, found through :mod:`importlib.resources`.

Never ``Path(__file__).parents[n] / "scenarios"``: that points into a source
checkout, and an installed lab (a wheel in a team's virtualenv) has no
checkout — the files are package data beside the code that reads them.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from poslab.errors import ConfigError

__all__ = ["package_dir"]


def package_dir(package: str) -> Path:
    """The directory holding ``package``'s files, as a real path.

    The readers glob, stat and name files in error messages (``file:line:
    field``), which needs a file-system path; every installer (pip, uv, an
    editable install, a source checkout) puts packages on disk. Only a lab
    imported from a zip archive has none, and that is said, not guessed at.
    """
    root = importlib.resources.files(package)
    if isinstance(root, Path):
        return root
    raise ConfigError(
        f"the lab's {package} files are inside an archive ({root}); install the lab "
        "into a directory (pip install pos-resilience-lab) or pass a directory of your own"
    )
