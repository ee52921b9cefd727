"""cmfw: Windows Firewall policy as code for Configuration Manager clients.

The library behind the ``cmfw`` command. Each stage is a function a Python caller
can use on its own::

    from builder import load_matrix, resolve, render, build

    matrix = load_matrix("firewall.yaml")      # checked, typed matrix
    policies = resolve(matrix)                 # PolicySet of concrete Rules
    result = build("firewall.yaml", "output")  # render, validate, write atomically

Heavy dependencies are imported lazily, so ``import builder`` stays cheap.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_matrix": ("builder.matrix", "load_matrix"),
    "parse_matrix": ("builder.matrix", "parse_matrix"),
    "resolve": ("builder.resolve", "resolve"),
    "render": ("builder.build", "render"),
    "validate": ("builder.build", "validate"),
    "build": ("builder.build", "build"),
    "load_catalog": ("builder.catalog", "load_catalog"),
    "starter_matrix": ("builder.starter", "starter_matrix"),
    "Rule": ("builder.model", "Rule"),
    "Policy": ("builder.model", "Policy"),
    "PolicySet": ("builder.model", "PolicySet"),
    "CmfwError": ("builder.errors", "CmfwError"),
    "InputError": ("builder.errors", "InputError"),
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'builder' has no attribute {name!r}")


#: Functions of the API that share their name with a submodule (builder/resolve.py,
#: builder/build.py). Importing such a submodule sets it as an attribute of the
#: package, which would hide the function from ``from builder import resolve``.
_SHADOWED = frozenset({"resolve", "build"})


class _Package(types.ModuleType):
    """The package module, keeping ``builder.resolve`` and ``builder.build`` the functions."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["builder.<name>"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
