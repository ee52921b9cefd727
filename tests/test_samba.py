"""Every registry.pol a build writes, read by Samba's parser (an independent implementation)."""

import json
import subprocess
from pathlib import Path

import pytest

from builder.build import build
from builder.registry.registrypol import REG_DWORD, REG_SZ, decode

from .conftest import EXAMPLE

DEBIAN_PYTHON = "/usr/bin/python3"
ORACLE = Path(__file__).with_name("samba_oracle.py")


@pytest.fixture(scope="module")
def samba() -> None:
    try:
        found = subprocess.run([DEBIAN_PYTHON, "-c", "import samba.dcerpc.preg"], capture_output=True, timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        pytest.skip(f"{DEBIAN_PYTHON} not found (Debian's python3 with python3-samba; .ci/run installs it)")
    if found.returncode != 0:
        pytest.skip("python3-samba is not installed (apt-get install python3-samba; .ci/run installs it)")


def oracle(paths: list[Path]) -> list[dict]:
    done = subprocess.run([DEBIAN_PYTHON, str(ORACLE), *map(str, paths)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_samba_parses_every_generated_registry_pol_byte_for_byte(samba: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    pols = sorted(out.rglob("registry.pol"))
    assert len(pols) == 6
    for path, report in zip(pols, oracle(pols)):
        assert report["signature"] == "PReg" and report["version"] == 1
        assert report["repacked_identical"] is True
        mine = decode(path.read_bytes())
        assert report["num_entries"] == len(mine)
        for (key, value, type_, size, data), entry in zip(report["entries"], mine):
            assert (key, value, type_, size) == (entry.key, entry.value, entry.type, len(entry.data))
            if type_ == REG_SZ:
                assert data == entry.text
            elif type_ == REG_DWORD:
                assert data == entry.number


def test_samba_agrees_on_the_gpmc_samples(samba: None, shared: Path) -> None:
    pols = sorted((shared / "samples" / "gpo").rglob("*.pol"))
    for path, report in zip(pols, oracle(pols)):
        assert report["repacked_identical"] is True
        assert [(k, v, t) for k, v, t, _, _ in report["entries"]] == [(e.key, e.value, e.type) for e in decode(path.read_bytes())]


def test_the_oracle_can_fail(samba: None, tmp_path: Path) -> None:
    # A corrupted file must make the byte-for-byte check fail, or the test above proves nothing.
    good = tmp_path / "good.pol"
    build(EXAMPLE, tmp_path / "out")
    data = next((tmp_path / "out").rglob("registry.pol")).read_bytes()
    bad = tmp_path / "bad.pol"
    bad.write_bytes(data.replace(";\x00".encode(), ":\x00".encode(), 1))
    good.write_bytes(data)
    reports = oracle([good, bad])
    assert reports[0]["repacked_identical"] is True and reports[1]["repacked_identical"] is False
