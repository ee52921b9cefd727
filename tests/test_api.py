"""The Python API as the README documents it: the snippet runs as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import EXAMPLE, ROOT


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_snippet_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLE, tmp_path / "firewall.yaml")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(readme_snippet(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    from builder.model import PolicySet

    assert isinstance(namespace["policies"], PolicySet) and len(namespace["policies"].policies) == 6  # type: ignore[attr-defined]
    assert "build.json" in namespace["result"].files  # type: ignore[attr-defined]
    assert (tmp_path / "output" / "build.json").is_file()
    for name in ("validate", "inspect", "check_path", "check_build", "diff_paths"):
        assert callable(namespace[name]), name


def test_api_names_are_the_functions_even_after_their_modules_load() -> None:
    import importlib

    importlib.import_module("builder.build")
    importlib.import_module("builder.resolve")
    import builder
    from builder import build, render, resolve

    assert callable(build) and build.__module__ == "builder.build"
    assert callable(resolve) and resolve.__module__ == "builder.resolve"
    assert builder.build is build and render.__name__ == "render"


def test_the_package_ships_type_information() -> None:
    assert (ROOT / "builder" / "py.typed").is_file()
