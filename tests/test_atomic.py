"""Builds that fail, are interrupted or are killed leave the previous output exactly as it was;
builds from anywhere, in any locale, time zone or umask, give the same bytes.

These run the real command in a subprocess (``python -m builder``), because signals and
the process environment are what they are about.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.build import check_build

from .conftest import EXAMPLE, MINIMAL, ROOT, snapshot

FEATURES = "client-requests, client-notification, software-updates, {remote-control: {from: consoles}}, wake-up-proxy, remote-desktop"


def big_matrix(policies: int) -> str:
    lines = ["version: 1", "domain: corp.contoso.com", "addresses:", "  consoles: [10.20.0.0/24]", "policies:"]
    for i in range(policies):
        lines += [f"  - name: Policy {i}", f"    id: P{i}", f"    features: [{FEATURES}]"]
    return "\n".join(lines) + "\n"


def cmfw(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None, umask: int | None = None) -> subprocess.Popen[bytes]:
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "builder", *map(str, args)],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: _child_setup(umask),  # noqa: PLW1509 - test only
    )


def _child_setup(umask: int | None) -> None:
    # Ctrl-C as a terminal sends it: a test run started in the background (`cmd &` in a
    # script) inherits SIGINT ignored, and Python keeps an inherited SIG_IGN.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if umask is not None:
        os.umask(umask)


#: What parallel._give_up prints (tests/test_parallel.py proves that path on its own).
STOPPED_BY_WATCHDOG = (
    "cmfw: interrupted; the worker processes did not stop, so cmfw stopped them; the output directory was not changed"
)


def finish(process: subprocess.Popen[bytes]) -> int:
    """Wait for the process, closing its pipes; its exit status (stderr shown on failure)."""
    _, stderr = process.communicate(timeout=300)
    if process.returncode not in (0, 1, 2):
        sys.stderr.write(stderr.decode(errors="replace"))
    return process.returncode


def modes(directory: Path) -> dict[str, int]:
    return {p.relative_to(directory).as_posix(): p.stat().st_mode & 0o777 for p in sorted(directory.rglob("*"))}


def wait_for_staging(parent: Path, name: str, process: subprocess.Popen[bytes], minimum_files: int) -> Path:
    """Poll until the build has written ``minimum_files`` into its staging directory."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        for child in parent.iterdir():
            if child.name.startswith(f".{name}.cmfw-new-"):
                try:
                    if sum(1 for _ in child.rglob("*")) >= minimum_files:
                        return child
                except FileNotFoundError:
                    pass
        time.sleep(0.002)
    raise AssertionError(f"the build never reached its write phase: {process.communicate()}")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    path.write_text(big_matrix(60))
    return path


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_build_stopped_while_writing_leaves_the_previous_output(tmp_path: Path, big: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out"
    assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
    before, before_modes = snapshot(out), modes(out)
    process = cmfw("build", big, "-o", out)
    staging = wait_for_staging(tmp_path, "out", process, minimum_files=50)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    message = stderr.decode().strip()
    if "already replaced" in message:
        # Files are staged while the build renders: on a busy machine the signal can land
        # after the swap, which is one step. The output is then the whole new build, and
        # the message says so; it is never a mixture.
        assert process.returncode == 130 and message == f"cmfw: interrupted; the new build had already replaced {out} (it is complete)"
        assert finish(cmfw("build", big, "-o", out, "--check", "--full")) == 0
        return
    assert snapshot(out) == before and modes(out) == before_modes
    if sig == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        assert staging.exists()  # killed midway: its half-written tree is left next to the output
    elif message == STOPPED_BY_WATCHDOG:
        # multiprocessing's Pool.terminate() can deadlock when a worker dies mid-message;
        # parallel._stop's watchdog then kills the workers and leaves at once (bounded, exit
        # 130, output unchanged), so its staging folder stays for the next build to clear.
        assert process.returncode == 130
    else:
        assert process.returncode == 130
        assert message == "cmfw: interrupted; the output directory was not changed"
        assert not staging.exists()
    # The next build cleans up after the killed one.
    assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_build_killed_at_any_moment_leaves_the_previous_output(tmp_path: Path, big: Path) -> None:
    """Killed while starting, early, midway and late in writing: the moments are states the
    test polls for (files in the staging directory), not guesses at how long a build takes."""
    out = tmp_path / "out"
    assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
    before = snapshot(out)
    reached = 0
    for staged in (None, 1, 200, 500):
        process = cmfw("build", big, "-o", out)
        if staged is not None:
            try:
                wait_for_staging(tmp_path, "out", process, minimum_files=staged)
            except AssertionError:
                finish(process)  # it finished before that state (a very fast machine): nothing to kill
                assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
                continue
        process.kill()
        finish(process)
        reached += 1
        assert snapshot(out) == before, f"killed with {staged} files staged"
    assert reached >= 3


def test_an_invalid_matrix_leaves_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
    before = snapshot(out)
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("client_notification: 10124", "client_notification: 99999"))
    process = cmfw("build", bad, "-o", out)
    _, stderr = process.communicate()
    assert process.returncode == 2
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "99999" in text)
    assert stderr.decode().splitlines() == [f"{bad}:{line}:24: error: ports.client_notification: 99999 is not a port (1-65535)"]
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "out"]


def test_builds_are_identical_across_directories_time_zones_locales_and_umasks(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE.parent, tmp_path / "one" / "examples")
    shutil.copytree(EXAMPLE.parent, tmp_path / "two" / "deeper" / "examples")
    a = cmfw("build", "examples/contoso.yaml", "-o", "output/contoso", "--zip", cwd=tmp_path / "one",
             env={"TZ": "Pacific/Kiritimati", "LANG": "C", "LC_ALL": "C"}, umask=0o077)
    b = cmfw("build", tmp_path / "two" / "deeper" / "examples" / "contoso.yaml", "-o", tmp_path / "two" / "deeper" / "output" / "contoso", "--zip",
             cwd=Path("/"), env={"TZ": "America/St_Johns", "LANG": "de_DE.UTF-8", "LC_ALL": "tr_TR.UTF-8"}, umask=0o002)
    assert finish(a) == 0 and finish(b) == 0
    one, two = tmp_path / "one" / "output" / "contoso", tmp_path / "two" / "deeper" / "output" / "contoso"
    assert snapshot(one) == snapshot(two)
    assert "package.zip" in snapshot(one)
    assert modes(one) == modes(two)
    assert modes(one)["deploy-samba.sh"] == 0o755 and modes(one)["rules.json"] == 0o644 and modes(one)["gpo"] == 0o755


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add(child)
            stack.append(child)
    return out


def _alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to watch the worker processes")
def test_sigterm_is_handled_like_ctrl_c_with_workers_running(tmp_path: Path, big: Path) -> None:
    out = tmp_path / "out"
    assert finish(cmfw("build", EXAMPLE, "-o", out)) == 0
    before = snapshot(out)
    process = cmfw("build", big, "-o", out, env={"CMFW_JOBS": "2"})
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None and len(workers) < 2:
        workers = _descendants(process.pid)  # the pool's workers exist: the build is rendering
        time.sleep(0.005)
    if process.poll() is not None:
        pytest.fail(f"the build ended before its workers could be seen: {process.communicate()}")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.decode().strip() == "cmfw: terminated; the output directory was not changed"
    assert "Traceback" not in stderr.decode() and "BrokenPipeError" not in stderr.decode()
    deadline = time.monotonic() + 30
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _alive(workers) == set()
    assert snapshot(out) == before


def test_two_builds_into_one_output_never_crash(tmp_path: Path) -> None:
    """20 races of two builds into the same directory: each either builds or says that
    another build is writing; no traceback; the result is one complete build."""
    out = tmp_path / "out"
    matrix = tmp_path / "small.yaml"
    matrix.write_text(MINIMAL, encoding="utf-8")
    outcomes: list[int] = []
    for race in range(20):
        first, second = cmfw("build", matrix, "-o", out), cmfw("build", matrix, "-o", out)
        for process in (first, second):
            _, stderr = process.communicate(timeout=300)
            text = stderr.decode()
            assert "Traceback" not in text, text
            assert process.returncode in (0, 2), text
            if process.returncode == 2:
                assert text.strip() == f"cmfw: error: another build is writing {out}; wait for it to finish (lock {tmp_path / '.out.cmfw-lock'})", text
            outcomes.append(process.returncode)
        assert 0 in outcomes[-2:], f"race {race}: neither build finished"
        assert check_build(matrix, out) == []  # one complete build, nothing stale
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "small.yaml"]


def test_an_interruption_after_the_swap_is_told_truthfully(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C that lands after the new build was swapped in (while the old one is being
    removed) must not claim that the output is unchanged; the next build removes the rest."""
    import shutil as real_shutil

    from click.testing import CliRunner

    import builder.writer as writer
    from builder.cli import cli

    out, minimal = tmp_path / "out", tmp_path / "minimal.yaml"
    minimal.write_text(MINIMAL, encoding="utf-8")
    assert CliRunner().invoke(cli, ["build", str(minimal), "-o", str(out)]).exit_code == 0
    remove = real_shutil.rmtree

    def interrupted(path: object, *args: object, **kwargs: object) -> None:
        if ".cmfw-old" in str(path):
            raise KeyboardInterrupt
        remove(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.shutil, "rmtree", interrupted)
    monkeypatch.setattr(writer, "_PUBLISHED", [])
    result = CliRunner().invoke(cli, ["build", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1] == f"cmfw: interrupted; the new build had already replaced {out.resolve()} (it is complete)"
    monkeypatch.setattr(writer.shutil, "rmtree", remove)
    assert check_build(EXAMPLE, out) == []  # the whole new build, not a mixture
    assert any(".cmfw-old" in p.name for p in tmp_path.iterdir())  # the old one, not yet removed
    assert CliRunner().invoke(cli, ["build", str(EXAMPLE), "-o", str(out)]).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minimal.yaml", "out"]
