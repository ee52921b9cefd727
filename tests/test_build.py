"""The build pipeline: golden files, determinism, and failures that change nothing."""

import os
import shutil
from pathlib import Path

import pytest

from builder import formats
from builder.build import build, render
from builder.errors import ArtifactError, InputError, Problem

from .conftest import EXAMPLE, GOLDEN, snapshot


def test_committed_output_matches_a_fresh_build() -> None:
    fresh = render(EXAMPLE, out_dir=GOLDEN).files
    committed = snapshot(GOLDEN)
    stale = sorted(p for p in set(fresh) | set(committed) if fresh.get(p) != committed.get(p))
    assert not stale, (
        f"output/contoso is stale ({', '.join(stale)}); rebuild with "
        "`cmfw build examples/contoso.yaml -o output/contoso` and review the diff"
    )


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path / "a")
    build(EXAMPLE, tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_working_directory_does_not_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(EXAMPLE, tmp_path / "contoso.yaml")
    monkeypatch.chdir(tmp_path)
    local = render("contoso.yaml", out_dir="out", zip=True).files
    monkeypatch.chdir("/")
    assert render(os.fspath(tmp_path / "contoso.yaml"), out_dir=tmp_path / "out", zip=True).files == local


def test_build_manifest_lists_every_file_with_its_hash() -> None:
    import hashlib
    import json

    files = render(EXAMPLE, out_dir=GOLDEN).files
    manifest = json.loads(files["build.json"])
    assert manifest["matrix"] == {"path": "../../examples/contoso.yaml", "sha256": hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()}
    assert manifest["files"] == {
        path: hashlib.sha256(data).hexdigest() for path, data in files.items() if path not in ("build.json", "SHA256SUMS")
    }
    assert [p["key"] for p in manifest["policies"]] == ["Consoles", "Kiosks", "Laptops", "PxeDPs", "Servers", "Workstations"]


def test_invalid_matrix_leaves_previous_output(tmp_path: Path) -> None:
    matrix = tmp_path / "fw.yaml"
    shutil.copy(EXAMPLE, matrix)
    out = tmp_path / "out"
    build(matrix, out)
    before = snapshot(out)
    matrix.write_text(matrix.read_text().replace("http: 80\n", "http: 70000\n", 1))
    with pytest.raises(InputError, match="70000 is not a port"):
        build(matrix, out)
    assert snapshot(out) == before


def test_artifact_validation_failure_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "validate", lambda artifacts, found=None, skip=(): [Problem("rules.json", message="broken")])
    with pytest.raises(ArtifactError, match="rules.json: broken"):
        build(EXAMPLE, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_artifact_validation_failure_after_streaming_leaves_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    before = snapshot(out)
    monkeypatch.setattr(formats, "validate", lambda artifacts, found=None, skip=(): [Problem("rules.json", message="broken")])
    with pytest.raises(ArtifactError, match="rules.json: broken"):
        build(EXAMPLE, out)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder, no lock left


def test_files_are_staged_as_they_are_made_and_only_a_commit_publishes_them(tmp_path: Path) -> None:
    from builder.build import render
    from builder.writer import StagedTree

    out = tmp_path / "out"
    with StagedTree(out) as tree:
        result = render(EXAMPLE, out_dir=out, sink=tree)
        tree.flush()
        assert tree.staging is not None
        staged = {str(p.relative_to(tree.staging)) for p in tree.staging.rglob("*") if p.is_file()}
        assert staged == set(result.files) and not out.exists()  # everything written, nothing published
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # left without a commit: staging removed
    with StagedTree(out) as tree:
        result = render(EXAMPLE, out_dir=out, sink=tree)
        tree.commit(result.files)
    assert snapshot(out) == {rel: data for rel, data in result.files.items()}


def test_timestamp_git_takes_the_last_commit_of_the_matrix(tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@example.com", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@example.com", GIT_COMMITTER_DATE="2026-03-04T05:06:07+00:00",
               GIT_AUTHOR_DATE="2026-03-04T05:06:07+00:00")
    matrix = repo / "firewall.yaml"
    shutil.copy(EXAMPLE, matrix)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    with pytest.raises(InputError, match="no commit time for this file"):
        render(matrix, timestamp="git")  # not committed yet: said, not guessed
    git("add", "firewall.yaml")
    git("commit", "-q", "-m", "matrix")
    files = render(matrix, timestamp="git").files
    assert b"<BackupTime><![CDATA[2026-03-04T05:06:07]]></BackupTime>" in files["gpo/manifest.xml"]
    # A later commit that does not touch the matrix changes nothing.
    env["GIT_COMMITTER_DATE"] = "2026-05-01T00:00:00+00:00"
    (repo / "notes.txt").write_text("x")
    git("add", "notes.txt")
    git("commit", "-q", "-m", "notes")
    assert render(matrix, timestamp="git").files == files
