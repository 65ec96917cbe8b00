"""The core never imports Qt; nothing outside ``dentsend.gui`` imports the GUI.

So the command line, the tests and a headless server share one engine that starts fast and runs
without a display (DESIGN.md, "One pipeline").
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import dentsend

PACKAGE = Path(dentsend.__file__).resolve().parent
#: The only places outside gui/ that may open the GUI, and only inside a function (lazily).
GUI_ENTRY_POINTS = {"cli/__init__.py", "selftest.py"}


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="dentsend."):
        if info.name == "dentsend.gui" or info.name.startswith("dentsend.gui."):
            continue
        if info.name == "dentsend.__main__":
            continue  # runs the command line on import
        names.append(info.name)
    return sorted(names)


def test_importing_every_core_module_loads_no_qt():
    modules = core_modules()
    assert "dentsend.pipeline" in modules and "dentsend.cli" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('PySide6', 'shiboken6') or m.startswith('dentsend.gui'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _gui_imports(tree: ast.AST) -> list[tuple[int, bool]]:
    """(line, at module level) of every import of dentsend.gui or PySide6 in a module."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module:
                names = [child.module]
            if any(n.startswith(("dentsend.gui", "PySide6", "shiboken6")) for n in names):
                found.append((child.lineno, not in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def test_only_the_launchers_reach_the_gui_and_only_lazily():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("gui/"):
            continue
        for line, module_level in _gui_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module_level or relative not in GUI_ENTRY_POINTS:
                offenders.append(f"{relative}:{line}")
    assert offenders == []


def test_the_gui_holds_no_copy_of_the_core():
    """gui/ calls the core for every decision: it imports no cryptography, archive, DICOM or
    database library itself, so it cannot make (or leak) a package on its own."""
    forbidden = ("cryptography", "pysequoia", "zipfile", "zlib", "pydicom", "sqlite3", "PIL")
    offenders = []
    for path in sorted((PACKAGE / "gui").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in forbidden
            ]
    assert offenders == []
