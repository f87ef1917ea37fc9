"""poslab.stack's public names: one list, each resolving to its module's object, loaded lazily."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import poslab.stack as package


def _type_checking_names(init: Path) -> set[str]:
    """The names the ``if TYPE_CHECKING:`` block imports (what type checkers see)."""
    tree = ast.parse(init.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                names.update(alias.asname or alias.name for alias in imp.names)
    return names


def test_the_three_lists_of_names_agree() -> None:
    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n))
    assert set(package.__all__) == set(package._MODULE_OF)
    assert _type_checking_names(Path(package.__file__)) == set(package.__all__)


def test_every_name_is_its_module_object() -> None:
    for name, module in package._MODULE_OF.items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name


def test_no_name_shadows_a_submodule() -> None:
    # `import poslab.stack.<x>` sets the package attribute <x> to the module,
    # which would hide an exported name <x> depending on import order.
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert not submodules & set(package.__all__)


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
