"""The layers: `adapters/` (store URLs, SQLite and PostgreSQL persistence, raw records) is
infrastructure the application `pyengine/` uses, and never the reverse."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ROOT / "adapters"
UPPER = "pyengine"  # the package adapters must not import


def _is_upper(module: str | None) -> bool:
    return module is not None and (module == UPPER or module.startswith(UPPER + "."))


def upward_imports(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` imports the application: `import pyengine...`, `from pyengine... import`,
    and `importlib.import_module("pyengine...")` / `__import__("pyengine...")` with a literal name,
    anywhere in the module (functions included), as "line N: what"."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _is_upper(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_upper(node.module):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            target = node.args[0].value
            if name in ("import_module", "__import__") and isinstance(target, str) and _is_upper(target):
                found.append(f"line {node.lineno}: {name}({target!r})")
    return found


def adapter_modules() -> list[Path]:
    return sorted(ADAPTERS.rglob("*.py"))


def test_there_are_adapter_modules_to_check() -> None:
    names = {p.name for p in adapter_modules()}
    assert {"__init__.py", "store.py", "records.py"} <= names


@pytest.mark.parametrize("path", adapter_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_never_import_the_application(path: Path) -> None:
    found = upward_imports(path.read_text(), str(path))
    assert not found, f"{path.relative_to(ROOT)} imports {UPPER} (adapters sit below it): {'; '.join(found)}"


@pytest.mark.parametrize(
    "source",
    [
        "import pyengine",
        "import pyengine.errors as e",
        "import os, pyengine.store",
        "from pyengine import errors",
        "from pyengine.event_log import EventLog",
        "def f():\n    from pyengine.service import AllocationService\n",
        "import importlib\nimportlib.import_module('pyengine.replay')",
        "__import__('pyengine')",
    ],
)
def test_an_upward_import_is_caught(source: str) -> None:
    assert upward_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "import pyengines",
        "from .store import open_app",
        "from eventsourcing.application import Application",
        "TOPIC_PREFIX = 'pyengine/'",
        "DEFAULT_STORE = 'sqlite:///pyengine.db'",
    ],
)
def test_what_is_not_an_upward_import(source: str) -> None:
    assert not upward_imports(source)


def test_importing_every_adapter_loads_nothing_of_the_application() -> None:
    """The same, at run time: what adapters import (eventsourcing, psycopg, ...) does not pull the
    application in either."""
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in adapter_modules()]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m == {UPPER!r} or m.startswith({UPPER + '.'!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def module_imports(root: Path) -> dict[str, set[str]]:
    """Each module of the package at `root` -> the package modules it imports when it loads
    (module-level imports; those under `if TYPE_CHECKING:` or inside functions do not run then)."""
    pkg = root.name
    mods = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}  # fmt: skip
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name and d.split(".")[0] == pkg}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle."""
    reach = {m: set(deps) for m, deps in graph.items()}
    changed = True
    while changed:
        changed = False
        for m in reach:
            more = set().union(*(reach[d] for d in reach[m])) - reach[m]
            if more:
                reach[m] |= more
                changed = True
    groups = {tuple(sorted({m} | {x for x in reach[m] if m in reach[x]})) for m in reach if m in reach[m]}
    return [list(g) for g in sorted(groups)]


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", ["pyengine", "adapters"])
def test_no_module_imports_one_that_imports_it_back(package: str) -> None:
    graph = module_imports(ROOT / package)
    assert len(graph) > 3 and cycles(graph) == []
