"""The atomic writer: all or nothing, and never a foreign file lost."""

import json
import os
from pathlib import Path

import pytest

from builder import writer
from builder.errors import OutputError
from builder.writer import write_tree

from .conftest import snapshot


def manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    listing = {path: "x" for path in files}
    return {**files, "build.json": json.dumps({"files": listing}).encode()}


def test_fresh_directory(tmp_path: Path) -> None:
    out = tmp_path / "a" / "out"
    write_tree(out, manifest({"rules.json": b"1", "gpo/x.txt": b"2"}))
    assert snapshot(out) == {"build.json": snapshot(out)["build.json"], "gpo/x.txt": b"2", "rules.json": b"1"}
    assert [p.name for p in tmp_path.joinpath("a").iterdir()] == ["out"]  # no staging left behind


def test_rebuild_replaces_what_cmfw_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, manifest({"old.json": b"old", "rules.json": b"1"}))
    write_tree(out, manifest({"rules.json": b"2"}))
    assert set(snapshot(out)) == {"build.json", "rules.json"}
    assert (out / "rules.json").read_bytes() == b"2"


def test_foreign_files_are_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, manifest({"rules.json": b"1"}))
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(OutputError) as info:
        write_tree(out, manifest({"rules.json": b"2"}))
    assert "holds files cmfw did not write (notes.txt)" in str(info.value)
    assert snapshot(out) == before


def test_a_directory_without_manifest_is_foreign(tmp_path: Path) -> None:
    (tmp_path / "src.py").write_text("print()")
    with pytest.raises(OutputError, match="src.py"):
        write_tree(tmp_path, manifest({"rules.json": b"1"}))
    assert snapshot(tmp_path) == {"src.py": b"print()"}


def test_force_keeps_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, manifest({"rules.json": b"1"}))
    (out / "sub").mkdir()
    (out / "sub" / "notes.txt").write_text("mine")
    write_tree(out, manifest({"rules.json": b"2"}), force=True)
    assert (out / "sub" / "notes.txt").read_text() == "mine"
    assert (out / "rules.json").read_bytes() == b"2"


def test_failure_while_writing_leaves_the_previous_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_tree(out, manifest({"a": b"1", "b": b"1", "c": b"1"}))
    before = snapshot(out)
    calls = []

    def failing(path: Path, data: bytes, mode: int) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        original(path, data, mode)

    original = writer._write_file
    monkeypatch.setattr(writer, "_write_file", failing)
    with pytest.raises(OutputError, match="No space left on device; free some space"):
        write_tree(out, manifest({"a": b"2", "b": b"2", "c": b"2"}))
    assert snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_interrupted_swap_is_recovered(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, manifest({"rules.json": b"1"}))
    # Simulate a kill between the two renames: the old tree sits under its hidden name.
    hidden = tmp_path / ".out.cmfw-old-abc"
    out.rename(hidden)
    (tmp_path / ".out.cmfw-new-xyz").mkdir()
    write_tree(out, manifest({"rules.json": b"2"}))
    assert (out / "rules.json").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/../../b", "a\\b", "", "a//b", "./a"])
def test_paths_that_could_escape_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(OutputError, match="not a plain relative path"):
        write_tree(tmp_path / "out", {bad: b"x"})
    assert not (tmp_path / "out").exists()


def test_target_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a directory"):
        write_tree(tmp_path / "out", manifest({"rules.json": b"1"}))


# -- links and special files: never followed, never copied ----------------------------------


def _specials(out: Path, elsewhere: Path) -> dict[str, object]:
    """Ways an output tree can hold something other than files and folders."""
    import os
    import socket
    import stat

    def link_dir() -> None:
        (out / "gpo").rename(out / "gpo-was-here") if (out / "gpo").exists() else None
        (out / "gpo").symlink_to(elsewhere, target_is_directory=True)

    def link_file() -> None:
        (out / "rules.json").unlink()
        (out / "rules.json").symlink_to(elsewhere / "victim.txt")

    def fifo() -> None:
        os.mkfifo(out / "gpo" / "pipe")

    def sock() -> None:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(out / "gpo" / "sock"))

    def device() -> None:
        os.mknod(out / "gpo" / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))

    return {"symbolic link": link_dir, "file link": link_file, "FIFO": fifo, "socket": sock, "device node": device}


@pytest.mark.parametrize("kind", ["symbolic link", "file link", "FIFO", "socket", "device node"])
@pytest.mark.parametrize("force", [False, True])
def test_links_and_special_files_are_refused_by_name(tmp_path: Path, kind: str, force: bool) -> None:
    import os

    if kind == "device node" and os.geteuid() != 0:
        pytest.skip("making a device node needs root (CI runs as root)")
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("untouched")
    files = manifest({"gpo/a/Backup.xml": b"<a/>", "rules.json": b"{}"})
    write_tree(out, files)
    _specials(out, elsewhere)[kind]()  # type: ignore[operator]
    before = {p.name for p in out.iterdir()}
    with pytest.raises(OutputError) as caught:
        write_tree(out, files, force=force)
    message = str(caught.value)
    name = {"symbolic link": "gpo (symbolic link)", "file link": "rules.json (symbolic link)"}.get(kind, f"({kind})")
    assert name in message and "which cmfw neither follows nor replaces" in message and "\n" not in message
    assert sorted(p.name for p in elsewhere.iterdir()) == ["victim.txt"] and (elsewhere / "victim.txt").read_text() == "untouched"
    assert {p.name for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []  # no staging left


def test_check_does_not_read_through_a_link(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    files = manifest({"gpo/a/Backup.xml": b"<a/>"})
    write_tree(out, files)
    elsewhere.mkdir()
    (elsewhere / "a").mkdir()
    (elsewhere / "a" / "Backup.xml").write_bytes(b"<a/>")  # the same bytes, but behind a link
    import shutil

    shutil.rmtree(out / "gpo")
    (out / "gpo").symlink_to(elsewhere, target_is_directory=True)
    assert [(s.path, s.reason) for s in writer.stale_files(out, files)] == [("gpo/a/Backup.xml", "missing")]


def test_a_link_named_like_a_leftover_is_not_moved(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    (tmp_path / ".out.cmfw-old-x").symlink_to(elsewhere, target_is_directory=True)
    write_tree(out, manifest({"a.txt": b"a"}))
    assert not (out / "keep.txt").exists() and (elsewhere / "keep.txt").read_text() == "mine"
    assert (out / "a.txt").read_bytes() == b"a"


def test_a_big_previous_output_is_removed_in_threads_without_following_links(tmp_path: Path) -> None:
    from builder.writer import _remove_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    old = tmp_path / ".out.cmfw-old-x"
    for i in range(80):  # enough branches for the threads
        branch = old / "dsc" / f"P{i}"
        branch.mkdir(parents=True)
        (branch / "localhost.mof").write_bytes(b"x" * 100)
    (old / "dsc" / "P0" / "link").symlink_to(outside)
    (old / "gpo").symlink_to(outside)
    (old / "build.json").write_text("{}")
    _remove_tree(old)
    assert not old.exists() and not os.path.lexists(old)
    assert (outside / "keep.txt").read_text() == "mine"


def test_a_staged_tree_tells_what_it_wrote_and_gives_it_back(tmp_path: Path) -> None:
    import hashlib

    from builder.writer import FileMap, StagedTree

    files = {"gpo/a.xml": b"<a/>", "dsc/P/localhost.mof": b"instance", "rules.json": b"{}"}
    with StagedTree(tmp_path / "out") as tree:
        tree.add({k: files[k] for k in ("gpo/a.xml", "dsc/P/localhost.mof")})
        tree.flush()
        assert sorted(tree.written()) == ["dsc/P/localhost.mof", "gpo/a.xml"]
        assert tree.written() == []  # each told once
        assert tree.digests == {k: hashlib.sha256(files[k]).hexdigest() for k in ("gpo/a.xml", "dsc/P/localhost.mof")}
        held: dict[str, bytes | None] = {"gpo/a.xml": None, "dsc/P/localhost.mof": None, "rules.json": files["rules.json"]}
        view = FileMap(held, tree)
        assert dict(view) == files and view.on_disk("gpo/a.xml") and not view.on_disk("rules.json")
        assert "gpo/a.xml" in view and "other" not in view and len(view) == 3
        tree.commit(view, unchanged=view.on_disk)
    assert view["gpo/a.xml"] == b"<a/>"  # now read from the output
    (tmp_path / "out" / "gpo" / "a.xml").write_bytes(b"<changed/>")
    assert view["gpo/a.xml"] == b"<changed/>"  # read back, not kept
    assert {p.name for p in tmp_path.iterdir()} == {"out"}


def test_a_commit_rewrites_a_written_file_whose_bytes_changed(tmp_path: Path) -> None:
    from builder.writer import StagedTree

    with StagedTree(tmp_path / "out") as tree:
        tree.add({"a.txt": b"first", "b.txt": b"same", "gone.txt": b"x"})
        tree.commit({"a.txt": b"second", "b.txt": b"same"})
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"second"
    assert (tmp_path / "out" / "b.txt").read_bytes() == b"same"
    assert not (tmp_path / "out" / "gone.txt").exists()


def test_a_very_big_previous_output_is_removed_by_a_process_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build returns once the new output is in place; rm, started in its own session,
    removes the old one (polled for here, never waited on by cmfw)."""
    import subprocess
    import time

    from builder import writer

    old = tmp_path / ".out.cmfw-old-y"
    for i in range(writer._DETACH_AT):
        (old / "dsc" / f"P{i}").mkdir(parents=True)
        (old / "dsc" / f"P{i}" / "localhost.mof").write_bytes(b"x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (old / "gpo").symlink_to(outside)
    started: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        started.append(command)
        assert kwargs.get("start_new_session") is True and kwargs.get("stdout") == subprocess.DEVNULL
        return real_run(command, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "run", run)
    writer._remove_tree(old)
    assert [c[-1] for c in started] == [str(old)]
    deadline = time.monotonic() + 60
    while os.path.lexists(old) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.lexists(old)
    assert (outside / "keep.txt").read_text() == "mine"


def test_a_file_that_cannot_be_read_back_is_an_output_error(tmp_path: Path) -> None:
    from builder.errors import OutputError
    from builder.writer import StagedTree

    with StagedTree(tmp_path / "out") as tree:
        tree.add({"gpo/a.xml": b"<a/>"})
        tree.flush()
        assert tree.staging is not None
        (tree.staging / "gpo" / "a.xml").unlink()  # gone from under the build
        with pytest.raises(OutputError) as info:
            tree.read("gpo/a.xml")
        assert str(info.value).count("\n") == 0 and "a.xml" in str(info.value)
    assert not (tmp_path / "out").exists()
