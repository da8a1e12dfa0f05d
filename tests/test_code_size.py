"""The library stays readable in an hour: no module over 400 lines, no function over 50.

Lines are counted as a reader sees them (docstrings and comments included); a function's
lines run from its ``def`` (decorators excluded) to its last line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "license_token"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 50


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def long_functions(source: str) -> list[tuple[str, int]]:
    """``(qualified name, lines)`` of every function of ``source`` longer than allowed."""
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    lines = (child.end_lineno or child.lineno) - child.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found.append((name, lines))
                walk(child, f"{name}.")

    walk(ast.parse(source), "")
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_longer_than_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)}: {lines} lines; split it by concern"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_function_is_longer_than_50_lines(path: Path) -> None:
    assert long_functions(path.read_text(encoding="utf-8")) == []


def test_the_size_checks_find_what_they_look_for() -> None:
    """The checks themselves: a 51-line method is found (nested names included), 50 is not."""
    body = "".join(f"        x = {n}\n" for n in range(49))
    source = (f"class A:\n    def ok(self):\n{body}\n"
              f"    def long(self):\n{body}        x = 49\n")
    assert long_functions(source) == [("A.long", 51)]
    assert len(MODULES) > 60  # the walk found the package (its sub-packages too)
