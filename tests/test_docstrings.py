"""Every public name is documented the way the API reference renders it (Google style)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

PUBLIC_MODULES = ["license_token", "license_token.store", "license_token.startup",
                  "license_token.aws", "license_token.aws.marketplace",
                  "license_token.aws.credentials", "license_token.node", "license_token.testing"]


def _public_callables() -> Iterator[tuple[str, Any]]:
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj):
                yield f"{module_name}.{name}", obj
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    function = value.fget if isinstance(value, property) else getattr(
                        value, "__func__", value)
                    if inspect.isfunction(function) and function.__qualname__.startswith(
                            obj.__qualname__ + "."):
                        yield f"{module_name}.{name}.{attr}", function


CALLABLES = dict(_public_callables())


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_public_names_have_google_style_docstrings(name: str) -> None:
    obj = CALLABLES[name]
    doc = obj.__doc__
    if name.endswith(".__init__"):  # documented on the class (merged by mkdocstrings)
        owner = CALLABLES[name.rpartition(".")[0]]
        params = [p for p in inspect.signature(obj).parameters if p != "self"]
        section = "Attributes:" if attrs.has(owner) else "Args:"
        if params and not issubclass(owner, Exception):
            assert owner.__doc__ and section in owner.__doc__, f"{name}: {section} on the class"
        return
    assert doc and doc.strip(), f"{name} has no docstring"
    summary = doc.strip().splitlines()[0]
    assert summary.endswith((".", ":")) or len(doc.strip().splitlines()) == 1, name
    if inspect.isclass(obj):
        if attrs.has(obj) and attrs.fields(obj):
            assert "Attributes:" in doc, f"{name}: an attrs class documents its attributes"
        return
    if isinstance(inspect.getattr_static(obj, "__wrapped__", None), property):
        return
    parameters = [p for p in inspect.signature(obj).parameters.values()
                  if p.name not in ("self", "cls")]
    is_property = any(isinstance(v, property) and v.fget is obj
                      for module in PUBLIC_MODULES
                      for v in _class_members(module))
    if parameters and not is_property:
        assert "Args:" in doc, f"{name}: no Args section"


def _class_members(module_name: str) -> Iterator[Any]:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            yield from vars(obj).values()
