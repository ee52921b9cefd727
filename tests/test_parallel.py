"""Big builds render and check DSC documents in worker processes: same bytes, same errors."""

from __future__ import annotations

import os
from typing import Any
from pathlib import Path

import pytest

from builder import parallel
from builder.build import render
from builder.errors import InputError

from .conftest import EXAMPLE, ROOT

def test_workers_make_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMFW_JOBS", "1")
    alone = render(EXAMPLE).files
    monkeypatch.setenv("CMFW_JOBS", "3")
    assert parallel.jobs(6) == 3
    assert render(EXAMPLE).files == alone


def test_parts_of_a_big_build_make_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's six policies seven times over: GPO, DSC and report sections are made in
    several parts (the report's page and its check in a finish of their own), and the build
    is that of one process, byte for byte."""
    matrix = _many(tmp_path)
    monkeypatch.setenv("CMFW_JOBS", "1")
    one = render(matrix)
    alone = one.files
    monkeypatch.setenv("CMFW_JOBS", "2")
    told: list[str] = []
    assert render(matrix, progress=told.append).files == alone
    for name in ("gpo", "dsc", "report"):
        assert len([t for t in told if t.startswith(f"rendering {name} ")]) > 1, (name, told)
    page = alone["report.html"].decode("utf-8")
    sections = [page.index(f'<section class="policy" id="policy-{p.key}">') for p in one.policyset.policies]
    assert sections == sorted(sections) and len(sections) == 42 and page.count('<section class="policy"') == 42


def _many(tmp_path: Path, times: int = 7) -> Path:
    """The example's policies ``times`` over, with new names and ids."""
    import copy

    import yaml

    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["policies"] = [
        dict(copy.deepcopy(p), name=f"{p['name']} {i}", id=f"{p['id']}{i}") for i in range(times) for p in data["policies"]
    ]
    matrix = tmp_path / "many.yaml"
    matrix.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return matrix


def test_problems_found_at_the_end_are_those_of_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package manifest's check runs in a worker while the GPO listing check runs here:
    the problems still come format by format, in registry order."""
    from builder.errors import ArtifactError, Problem
    from builder.gpo import check as gpo_check
    from builder.package import manifest

    monkeypatch.setattr(gpo_check, "check_manifest", lambda *a, **k: [Problem("gpo/manifest.xml", message="planted (gpo)")])
    monkeypatch.setattr(manifest, "check_package", lambda *a, **k: [Problem("build.json", message="planted (package)")])
    matrix = _many(tmp_path)
    messages = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("CMFW_JOBS", jobs)
        with pytest.raises(ArtifactError) as info:
            render(matrix)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert messages[0].index("planted (gpo)") < messages[0].index("planted (package)")


def test_a_big_build_returns_what_it_wrote_by_reading_it_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A streamed build lets go of the bytes the staging tree has written and reads them
    back when asked (build.json sums them from the writer's digests): the same files."""
    from builder import writer
    from builder.build import build

    matrix, out = _many(tmp_path), tmp_path / "out"
    monkeypatch.setenv("CMFW_JOBS", "1")
    expected = render(matrix, out_dir=out).files
    monkeypatch.setenv("CMFW_JOBS", "2")
    # Each batch written before the build goes on: what it lets go does not depend on timing.
    add = writer.StagedTree.add

    def add_and_wait(self: writer.StagedTree, files: dict[str, bytes]) -> None:
        add(self, files)
        self.flush()

    monkeypatch.setattr(writer.StagedTree, "add", add_and_wait)
    result = build(matrix, out)
    assert isinstance(result.files, writer.FileMap)
    let_go = [rel for rel in result.files if result.files.on_disk(rel)]
    for folder in ("gpo/", "dsc/", "rules.json"):  # parts, finished parts, whole formats
        assert any(rel.startswith(folder) for rel in let_go), folder
    assert dict(result.files) == expected
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == set(expected)
    assert all((out / rel).read_bytes() == data for rel, data in expected.items())


def test_an_error_in_a_worker_is_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers are forked (Linux), so they see this stand-in for a DSC emitter that refuses a policy.
    from builder.dsc import emit as dsc_emit
    from builder.errors import Problem

    original = dsc_emit.emit

    def refusing(policyset, moment):  # type: ignore[no-untyped-def]
        if any(p.key == "Laptops" for p in policyset.policies):
            raise InputError([Problem("policy 'ConfigMgr Clients - Laptops'", message="cannot be expressed")])
        return original(policyset, moment)

    monkeypatch.setattr(dsc_emit, "emit", refusing)
    messages = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("CMFW_JOBS", jobs)
        with pytest.raises(InputError) as info:
            render(EXAMPLE)
        messages.append(info.value.lines())
    assert messages[0] == messages[1] == ["policy 'ConfigMgr Clients - Laptops': error: cannot be expressed"]


def test_how_many_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CMFW_JOBS", raising=False)
    assert parallel.jobs(parallel.THRESHOLD - 1) == 1  # small builds never start a process
    monkeypatch.setenv("CMFW_JOBS", "1")
    assert parallel.jobs(1000) == 1
    monkeypatch.setenv("CMFW_JOBS", "many")
    with pytest.raises(InputError, match="CMFW_JOBS: 'many' is not a number of processes"):
        parallel.jobs(5)
    monkeypatch.setenv("CMFW_JOBS", "4")
    assert parallel.jobs(2) == 2  # never more processes than pieces of work


def test_stopping_the_workers_is_bounded_whatever_happens(tmp_path: Path) -> None:
    """A pool whose terminate() never returns (the old deadlock): the watchdog kills the
    workers, then leaves with one line and exit 130, in bounded time."""
    import subprocess
    import sys

    script = tmp_path / "hang.py"
    script.write_text(
        "import subprocess, sys, threading\n"
        "from builder import parallel\n"
        "parallel.STOP_GRACE = 0.5\n"
        "worker = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(worker.pid, flush=True)\n"
        "class Stuck:\n"
        "    _pool = [worker]\n"
        "    def terminate(self):\n"
        "        threading.Event().wait()\n"
        "    def join(self):\n"
        "        pass\n"
        "parallel._stop(Stuck())\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip() == (
        "cmfw: interrupted; the worker processes did not stop, so cmfw stopped them; the output directory was not changed"
    )
    pid = int(done.stdout.split()[0])
    state = Path(f"/proc/{pid}/stat")
    assert not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _lint_seen(ctx: Any, name: str) -> Any:
    from builder.formats import Emitted

    seen = "none" if ctx.lint is None else f"{len(ctx.lint.findings)} findings"
    return Emitted({f"seen/{name}/{p.key}.txt": seen.encode() for p in ctx.policyset.policies})


def _says_lint_without(ctx: Any) -> Any:
    return _lint_seen(ctx, "without")


def _says_lint_with(ctx: Any) -> Any:
    return _lint_seen(ctx, "with")


def test_a_part_gets_the_lint_report_exactly_when_it_requires_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether lint has finished when a part starts depends on timing; what a part sees
    must not: the report when its format requires formats.LINT, never otherwise."""
    from builder import formats

    found = list(formats.emitters())
    extra = [
        formats.Emitter("without", ("seen/without/",), _says_lint_without, per_policy=True, requires=("backups",)),
        formats.Emitter("with", ("seen/with/",), _says_lint_with, per_policy=True, requires=(formats.LINT,)),
    ]
    found[-1:-1] = extra
    matrix = _many(tmp_path)
    results = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("CMFW_JOBS", jobs)
        files = render(matrix, emitters=found).files
        results.append({p: d for p, d in files.items() if p.startswith("seen/")})
    assert results[0] == results[1]
    assert {d for p, d in results[0].items() if p.startswith("seen/without/")} == {b"none"}
    assert {d for p, d in results[0].items() if p.startswith("seen/with/")} != {b"none"}
    assert len(results[0]) == 2 * 42
