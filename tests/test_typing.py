"""The package type-checks: hints are part of the documented Python API."""

import pytest

from .conftest import ROOT


def test_mypy_finds_no_errors() -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install -e '.[test]')")
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "builder")])
    assert status == 0, stdout + stderr
