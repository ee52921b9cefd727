from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner
from hypothesis import settings

# Timing belongs to benchmarks/, not to tests: a slow CI machine must not fail a property.
settings.register_profile("cmfw", deadline=None)
settings.load_profile("cmfw")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "contoso.yaml"
GOLDEN = ROOT / "output" / "contoso"
SHARED = Path(os.environ.get("CMFW_SHARED", ROOT.parent / "shared")) / "reference"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def shared() -> Path:
    """The reference material next to the repository; a user's clone has none."""
    if not SHARED.is_dir():
        pytest.skip(f"reference material not found at {SHARED} (set CMFW_SHARED); runs in CI")
    return SHARED


MINIMAL = """\
version: 1
domain: corp.contoso.com
addresses:
  site_servers: [10.0.0.10]
  consoles: [10.20.0.0/24]
policies:
  - name: Workstations
    features: [client-requests, remote-control]
"""


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write a (dedented) matrix into a temporary file and return its path."""

    def _write(text: str, name: str = "firewall.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file below ``directory`` with its bytes (for "nothing changed" checks)."""
    if not directory.exists():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


#: Names of the GPO XML files that both XSD engines validated in this session
#: (tests/test_xsd_engines.py), for the line the terminal summary prints.
BOTH_ENGINES = pytest.StashKey[set[str]]()


@pytest.fixture(scope="session")
def both_engines_tally(request: pytest.FixtureRequest) -> set[str]:
    """Where tests record each file both XSD engines accepted; CI's log shows the count."""
    return request.config.stash.setdefault(BOTH_ENGINES, set())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(BOTH_ENGINES, set())
    if tally:
        terminalreporter.write_line(f"{len(tally)} files validated by both XSD engines (lxml and xmlschema)")
