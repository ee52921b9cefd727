"""The machine says no: full disk, read-only folder, mount point, long names, no parent.

Each case ends in one line naming the path and the OS's reason, exit code 2, no
traceback, and the previous output as it was. Faults are injected in-process where
that is enough; the real ones (a tiny tmpfs, a read-only mount) run where the tests
may mount file systems (root, as in CI) and are skipped elsewhere.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from builder import writer
from builder.cli import cli

from .conftest import MINIMAL, snapshot


def run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output and not isinstance(result.exception, (OSError, AssertionError)), result.output
    return result.exit_code, result.stderr


@pytest.fixture
def matrix(tmp_path: Path) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


@pytest.fixture
def built(tmp_path: Path, matrix: Path) -> Path:
    out = tmp_path / "out"
    assert run("build", matrix, "-o", out)[0] == 0
    return out


def test_disk_full_while_writing(monkeypatch: pytest.MonkeyPatch, matrix: Path, built: Path) -> None:
    before = snapshot(built)
    written = []
    real = writer._write_file

    def filling(path: Path, data: bytes, mode: int) -> None:
        if len(written) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        real(path, data, mode)

    monkeypatch.setattr(writer, "_write_file", filling)
    code, err = run("build", matrix, "-o", built)
    assert code == 2 and err == f"cmfw: error: {built}: No space left on device; free some space (while writing the build; the previous output is unchanged)\n"
    assert snapshot(built) == before
    assert sorted(p.name for p in built.parent.iterdir()) == ["m.yaml", "out"]  # no staging, no lock left


def test_a_failed_swap_puts_the_previous_output_back(monkeypatch: pytest.MonkeyPatch, matrix: Path, built: Path) -> None:
    before = snapshot(built)
    real = os.rename

    def second_rename_fails(src: object, dst: object) -> None:
        if ".cmfw-new-" in str(src):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.os, "rename", second_rename_fails)
    code, err = run("build", matrix, "-o", built)
    assert code == 2 and "Invalid cross-device link; the output and its parent folder are on different file systems" in err
    assert "cmfw-new" not in err  # the staging folder's random name is not shown
    assert snapshot(built) == before


def test_names_too_long_for_the_file_system(tmp_path: Path, matrix: Path) -> None:
    long = tmp_path / ("x" * 300)
    code, err = run("build", matrix, "-o", long)
    assert code == 2 and err.startswith(f"cmfw: error: {tmp_path}/") and "File name too long; the name is too long for this file system" in err
    code, err = run("init", tmp_path / ("y" * 300 + ".yaml"))
    assert code == 2 and "File name too long" in err and err.count("\n") == 1


def test_a_parent_that_cannot_be_created(tmp_path: Path, matrix: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, err = run("build", matrix, "-o", tmp_path / "file" / "deeper" / "out")
    assert code == 2 and err == f"cmfw: error: {tmp_path / 'file'}: is a file, not a folder; choose another output path\n"
    code, err = run("init", tmp_path / "file" / "m.yaml")
    assert code == 2 and err == f"cmfw: error: {tmp_path / 'file'}: is a file, not a folder\n"
    code, err = run("init", tmp_path / "missing" / "m.yaml")
    assert code == 2 and err == f"cmfw: error: {tmp_path / 'missing'}: directory does not exist\n"


# -- real file systems (tmpfs), where the tests may mount them ----------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:  # a container without CAP_SYS_ADMIN: the injected faults above still ran
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_real_full_disk(tmpfs: Path, matrix: Path) -> None:
    (tmpfs / "filler").write_bytes(b"\0" * (1024 * 1024 - 40_000))
    code, err = run("build", matrix, "-o", tmpfs / "out")
    assert code == 2 and err == f"cmfw: error: {tmpfs / 'out'}: No space left on device; free some space (while writing the build; the previous output is unchanged)\n"
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]


def test_a_real_read_only_folder_and_a_mount_point(tmpfs: Path, matrix: Path) -> None:
    code, err = run("build", matrix, "-o", tmpfs)
    assert code == 2 and err == f"cmfw: error: {tmpfs}: is a mount point; cmfw replaces the output directory as a whole, so build into a folder inside it\n"
    assert run("build", matrix, "-o", tmpfs / "out")[0] == 0
    before = snapshot(tmpfs / "out")
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], capture_output=True).returncode == 0
    code, err = run("build", matrix, "-o", tmpfs / "out", "--force")
    assert code == 2 and "Read-only file system; it is on a read-only file system" in err and err.count("\n") == 1
    code, err = run("init", tmpfs / "m.yaml")
    assert code == 2 and err == f"cmfw: error: {tmpfs / 'm.yaml'}: Read-only file system; it is on a read-only file system (while writing the starter matrix)\n"
    assert snapshot(tmpfs / "out") == before


# -- odd values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp, message",
    [
        ("9999-12-31T23:59:59-01:00", "'9999-12-31T23:59:59-01:00' is outside the years 1980-9999 (UTC)"),
        ("0001-01-01T00:00:00+01:00", "'0001-01-01T00:00:00+01:00' is outside the years 1980-9999 (UTC)"),
        ("\u00b2", "'\u00b2' is not a timestamp"),
        ("\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660", "is not a timestamp"),  # Arabic-Indic digits
    ],
)
def test_odd_timestamps(tmp_path: Path, matrix: Path, stamp: str, message: str) -> None:
    code, err = run("build", matrix, "-o", tmp_path / "o", "--timestamp", stamp)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["\u00b2", "\u0662", "0", "-1", "two", "99999"])
def test_odd_cmfw_jobs(tmp_path: Path, matrix: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CMFW_JOBS", value)
    code, err = run("build", matrix, "-o", tmp_path / "o")
    assert code == 2 and err == f"cmfw: error: CMFW_JOBS: {value!r} is not a number of processes (1 to 1024; 1 turns workers off)\n"


def test_a_node_name_too_long_for_a_file_name_is_refused_at_input(tmp_path: Path) -> None:
    from builder.matrix import MAX_NODE_NAME

    node = ".".join(["a" * 60] * 4)[:MAX_NODE_NAME + 1]  # a valid DNS name, one character too long
    text = MINIMAL.replace("features: [client-requests, remote-control]", f"features: [client-requests, remote-control]\n    dsc: {{nodes: ['{node}']}}")
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    code, err = run("build", path, "-o", tmp_path / "o")
    assert code == 2 and f"a node name is at most {MAX_NODE_NAME} characters here ({MAX_NODE_NAME + 1} given)" in err
    ok = text.replace(node, node[:-1])
    path.write_text(ok, encoding="utf-8")
    assert run("build", path, "-o", tmp_path / "o")[0] == 0


def test_no_isdigit_outside_the_ascii_helper() -> None:
    """str.isdigit accepts superscripts and other scripts' digits: every check goes through
    builder.syntax.numbers.digits."""
    import ast

    from .conftest import ROOT

    found = []
    for path in sorted((ROOT / "builder").rglob("*.py")):
        if path.name == "numbers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("isdigit", "isdecimal", "isnumeric"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
