"""The package's shape: one public face, declared names, and an import graph without circles.

The import graph is read from the source with ``ast`` (every import, including those inside
functions and under ``TYPE_CHECKING``), so a circle is caught even where Python would tolerate it
at run time.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
from pathlib import Path

import pytest

import aeutils

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "aeutils"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")

# The rule of aeutils/__init__.py: the top level re-exports these modules' __all__, nothing else.
TOP_LEVEL = (
    "data",
    "loader",
    "models",
    "losses",
    "noise",
    "variational",
    "train",
    "stacked",
    "metrics",
    "dictionary",
    "checkpoints",
)


def _reading_order() -> list[str]:
    """The modules in the order the package docstring lists them."""
    listed = aeutils.__doc__.split("in reading order", 1)[1]
    return list(dict.fromkeys(re.findall(r":mod:`~aeutils\.(\w+)`", listed)))


def _imports(module: str) -> set[tuple[str, str | None]]:
    """(imported aeutils module, imported name or None) for every import in ``module``'s source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[tuple[str, str | None]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("aeutils."):
                    found.add((alias.name.split(".")[1], None))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "aeutils":
                found.update((alias.name, None) for alias in node.names)
            elif node.module.startswith("aeutils."):
                target = node.module.split(".")[1]
                found.update((target, alias.name) for alias in node.names)
    return found


def test_the_docstring_lists_every_module_once() -> None:
    assert sorted(_reading_order()) == MODULES


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_only_modules_before_it_and_no_private_names(module: str) -> None:
    order = _reading_order()
    for target, name in _imports(module):
        assert target in MODULES, f"{module} imports unknown aeutils.{target}"
        assert order.index(target) < order.index(module), f"{module} imports {target} (upward)"
        assert name is None or not name.startswith("_"), f"{module} imports {target}.{name}"


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_all_and_defines_each_name(module: str) -> None:
    mod = importlib.import_module(f"aeutils.{module}")
    names = mod.__all__
    assert len(names) == len(set(names)), f"duplicates in aeutils.{module}.__all__"
    assert all(hasattr(mod, name) for name in names)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == mod.__name__
        and callable(value)
    }
    assert public <= set(names), f"public but not in __all__: {sorted(public - set(names))}"


def test_the_top_level_is_exactly_the_training_modules_names() -> None:
    expected = [
        name
        for module in TOP_LEVEL
        for name in importlib.import_module(f"aeutils.{module}").__all__
    ]
    assert aeutils.__all__ == expected
    assert len(expected) == len(set(expected))  # no name is exported by two modules
    for module in TOP_LEVEL:
        mod = importlib.import_module(f"aeutils.{module}")
        assert all(getattr(aeutils, name) is getattr(mod, name) for name in mod.__all__)
    for other in sorted(set(MODULES) - set(TOP_LEVEL)):
        mod = importlib.import_module(f"aeutils.{other}")
        leaked = [name for name in mod.__all__ if name in vars(aeutils)]
        assert leaked == [], f"aeutils.{other} names at the top level: {leaked}"


def test_the_api_page_documents_every_module() -> None:
    page = (ROOT / "book" / "api.md").read_text()
    documented = re.findall(r"^\.\. automodule:: aeutils\.(\w+)$", page, flags=re.M)
    assert sorted(documented) == MODULES


def _repository_sources() -> list[Path]:
    """Every .py and .ipynb file of the repository, outside virtual environments and builds."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if not d.startswith((".", "_build"))]
        found += [Path(folder) / f for f in files if f.endswith((".py", ".ipynb"))]
    return found


def test_no_file_of_the_repository_edits_sys_path() -> None:
    edit = re.compile(r"sys\.path\.(insert|append|extend)|sys\.path\s*(\+=|=[^=])")
    offenders = [
        str(path.relative_to(ROOT))
        for path in _repository_sources()
        if path != Path(__file__) and edit.search(path.read_text(errors="replace"))
    ]
    assert offenders == []


def test_no_configuration_or_shell_script_extends_the_import_path() -> None:
    """Nor through the environment or pytest: scripts import aeutils as an installed package."""
    edit = re.compile(r"PYTHONPATH\s*=|^\s*pythonpath\s*=", re.MULTILINE)
    configs = [ROOT / "pyproject.toml", *ROOT.glob(".github/workflows/*.yml")]
    configs += [
        p
        for p in ROOT.rglob("*.sh")
        if not any(x.startswith((".", "_build")) for x in p.relative_to(ROOT).parts)
    ]
    offenders = [str(p.relative_to(ROOT)) for p in configs if edit.search(p.read_text())]
    assert len(configs) > 3 and offenders == []
