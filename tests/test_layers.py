"""The package's layers: each module imports only its own layer and the layers below it.

The order (docs/explanation/architecture.md draws it): the sans-I/O core, in its own order
(errors first, the ``Verifier`` facade last), then ``node``, ``store/``, ``aws/``,
``startup/``, ``testing/`` and the ``cli/`` on top. Imports are read from the source (AST),
lazy ones inside functions included; ``if TYPE_CHECKING:`` imports are types, not imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "license_token"

#: Module (or package) -> layer rank. A module may import ranks <= its own.
# "" is license_token/__init__.py, the core's curated surface.
CORE = ["_errors", "_log", "_files", "_clock", "_jws", "_key_forms", "_keys", "_claims",
        "_response", "_policy", "_verify", ""]
RANKS = {name: rank / 100 for rank, name in enumerate(CORE)}
RANKS.update({"node": 1, "store": 2, "aws": 3, "startup": 4, "testing": 5, "cli": 6,
              "__main__": 6})


def layer(module: str) -> float:
    """The rank of ``license_token.<module>`` (a dotted name below the package)."""
    top = module.split(".")[0]
    if top not in RANKS:
        raise AssertionError(f"license_token.{module} is in no layer: add it to RANKS and to "
                             "docs/explanation/architecture.md")
    return RANKS[top]


def module_name(path: Path) -> str:
    """``store/_lifecycle.py`` -> ``store._lifecycle``; ``aws/__init__.py`` -> ``aws``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under ``if TYPE_CHECKING:``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in {
                "TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            for child in node.body:
                lines.update(n.lineno for n in ast.walk(child) if isinstance(n, ast.stmt))
    return lines


MODULES = {module_name(path) for path in PACKAGE.rglob("*.py")}


def imported_modules(module: str, source: str, *, is_package: bool) -> list[tuple[int, str]]:
    """Every ``license_token`` module a source imports, as (line, dotted name below it)."""
    tree = ast.parse(source)
    skip = _type_checking_only(tree)
    here = module.split(".") if module else []
    base = here if is_package else here[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.removeprefix("license_token").lstrip("."))
                      for alias in node.names if alias.name.split(".")[0] == "license_token"]
            continue
        if node.level == 0:
            if node.module is None or node.module.split(".")[0] != "license_token":
                continue
            target = node.module.removeprefix("license_token").lstrip(".")
        else:
            anchor = base[:len(base) - (node.level - 1)]
            target = ".".join([*anchor, *([node.module] if node.module else [])])
        for alias in node.names:  # ``from .. import aws`` imports a module, not a name
            submodule = f"{target}.{alias.name}".strip(".")
            found.append((node.lineno, submodule if submodule in MODULES else target))
    return found


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """The imports of ``module`` that reach a layer above its own."""
    own = layer(module)
    return [f"license_token.{module or '__init__'}:{line} imports license_token.{target}"
            for line, target in imported_modules(module, source, is_package=is_package)
            if target and layer(target) > own]


def test_no_module_imports_a_layer_above_its_own() -> None:
    found: list[str] = []
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 30, "the package was not found"
    for path in modules:
        found += violations(module_name(path), path.read_text(encoding="utf-8"),
                            is_package=path.name == "__init__.py")
    assert found == []


@pytest.mark.parametrize(("module", "source"), [
    ("_verify", "from .store import LicenseStore\n"),
    ("_claims", "def f():\n    from .aws import LicenseManager\n"),  # a lazy import counts
    ("_jws", "import license_token.startup\n"),
    ("store", "from ..aws import LicenseManager\n"),
    ("_errors", "from ._verify import Verifier\n"),  # inside the core, the order holds too
])
def test_the_layer_check_catches_an_import_from_above(module: str, source: str) -> None:
    assert len(violations(module, source, is_package=module == "store")) == 1


def test_type_only_imports_and_imports_from_below_are_allowed() -> None:
    source = ("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
              "from .._verify import Verifier\nfrom .. import _errors\n"
              "if TYPE_CHECKING:\n    from ..aws import LicenseManager\n")
    assert violations("startup", source, is_package=True) == []


def test_every_module_is_in_the_architecture_page() -> None:
    page = (PACKAGE.parents[1] / "docs" / "explanation" / "architecture.md").read_text()
    missing = [name for path in sorted(PACKAGE.rglob("*.py"))
               if (name := module_name(path)) and f"`{name}`" not in page]
    assert missing == []


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in conftest.py; a test module is never a library of another."""
    tests = Path(__file__).resolve().parent
    names = {path.stem for path in tests.glob("test_*.py")}
    found = []
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in names:
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
            elif isinstance(node, ast.Import):
                found += [f"{path.name}:{node.lineno} imports {a.name}"
                          for a in node.names if a.name in names]
    assert found == []


@pytest.mark.parametrize("module", ["_jws", "_clock", "_claims", "_response", "_policy",
                                    "_verify"])
def test_each_fast_path_listed_in_a_core_docstring_names_a_test_that_holds_it(
        module: str) -> None:
    """A core module lists its fast paths, each with the differential test that holds it
    equal to its full check; a renamed or deleted test leaves no stale name behind."""
    import importlib
    import re

    doc = importlib.import_module(f"license_token.{module}").__doc__ or ""
    named = set(re.findall(r"``(test_\w+)``", doc))
    assert "Fast path" in doc and named, f"{module} lists no fast path"
    suite = (PACKAGE.parents[1] / "tests" / "test_fast_paths.py").read_text(encoding="utf-8")
    defined = set(re.findall(r"^def (test_\w+)\(", suite, re.M))
    assert named <= defined, f"{module} names tests that do not exist: {named - defined}"
