"""The packages that export through poslab.common.lazy_exports: one list of public
names, each its module's object, none shadowed by a submodule."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

PACKAGES = ("poslab.scenario", "poslab.stack")


@pytest.fixture(params=PACKAGES)
def package(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


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


def _exported(package: ModuleType) -> dict[str, str]:
    return {name: module for module, names in package._EXPORTS.items() for name in names}


def test_the_three_lists_of_names_agree(package: ModuleType) -> None:
    assert package.__all__ == sorted(package.__all__, key=lambda n: (not n.isupper(), n))
    assert set(package.__all__) == set(_exported(package))
    assert _type_checking_names(Path(str(package.__file__))) == set(package.__all__)


def test_every_name_is_its_module_object(package: ModuleType) -> None:
    for name, module in _exported(package).items():
        assert getattr(package, name) is getattr(importlib.import_module(module), name), name
    assert set(package.__all__) <= set(dir(package))


def test_no_name_shadows_a_submodule(package: ModuleType) -> None:
    # `import <package>.<x>` sets the package attribute <x> to the module, which
    # would hide an exported name <x> depending on import order.
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert not submodules & set(package.__all__)


def test_an_unknown_name_is_an_attribute_error(package: ModuleType) -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018
