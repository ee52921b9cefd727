"""Readers that never go quiet and never give in: every input either reads or is one
InputError; nothing unbounded; nothing read as what it is not."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.cli import cli
from builder.errors import InputError
from builder.read import KNOWN, MAX_DEPTH, read_path, read_tree

from .conftest import EXAMPLE, GOLDEN


def inspect(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["inspect", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    root = tmp_path / "gpo"
    shutil.copytree(GOLDEN / "gpo", root)
    return root


def _first(root: Path) -> Path:
    return sorted(p for p in root.iterdir() if p.is_dir())[0]


# -- what cmfw reads, and what it refuses -----------------------------------------------------


def test_unknown_files_are_refused_not_read_as_lgpo_text(tmp_path: Path) -> None:
    for name in ("report.html", "Import-CmfwGpo.ps1", "build.json", "SHA256SUMS"):
        code, out, err = inspect(GOLDEN / name)
        assert code == 2 and out == "" and err.strip() == f"{GOLDEN / name}: error: not a file cmfw can read (expected {KNOWN})"


def test_matrices_rules_json_and_zips_are_read_as_what_they_are(tmp_path: Path) -> None:
    from builder.build import build

    out = tmp_path / "out"
    build(EXAMPLE, out, zip=True)
    expected = {(g.name, len(g.rules)) for g in read_path(out)}
    for source in (EXAMPLE, out / "rules.json", out / "package.zip"):
        assert {(g.name, len(g.rules)) for g in read_path(source)} == expected, source


def test_devices_fifos_and_links_are_not_read(tmp_path: Path) -> None:
    code, _, err = inspect("/dev/zero")
    assert code == 2 and err.startswith("/dev/zero: error: not a regular file")
    fifo = tmp_path / "pipe.pol"
    os.mkfifo(fifo)
    code, _, err = inspect(fifo)  # would block forever if opened for reading
    assert code == 2 and "not a regular file" in err


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMFW_READ_LIMIT_MB", "1")
    big = tmp_path / "big.mof"
    big.write_bytes(b";" * (2 * 1024 * 1024))
    code, _, err = inspect(big)
    assert code == 2 and err.strip() == f"{big}: error: larger than 1 MiB; set CMFW_READ_LIMIT_MB to read it"


def test_a_mof_beyond_the_mof_limit_is_refused_in_one_line(tmp_path: Path) -> None:
    from builder.dsc.mof import MAX_MOF_CHARS

    big = tmp_path / "big.mof"
    big.write_bytes(b"/" + b"*" * MAX_MOF_CHARS + b"/")  # one comment: valid, but too big
    code, out, err = inspect(big)
    assert code == 2 and out == ""
    assert err.strip() == f"{big}: error: is 16.0 MiB of text; cmfw reads MOF documents up to 16 MiB"


def test_the_mof_parser_stops_at_the_first_error_without_reading_on(tmp_path: Path) -> None:
    """Tokens are read as needed: the first problem is reported, not a later character
    the old tokenizer (which read everything first) would have stopped at."""
    from builder.dsc.mof import MofError, parse

    with pytest.raises(MofError) as error:
        parse(";" * 100_000 + "\x01")
    assert "expected 'instance of' or 'class', found ';'" in error.value.problems[0].message
    with pytest.raises(MofError, match="property A is set twice"):
        parse("instance of X\n{\n a = 1;\n A = 2;\n};\n\x01")


def test_deep_trees_are_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "deep"
    current = folder
    for _ in range(MAX_DEPTH + 3):
        current = current / "d"
    current.mkdir(parents=True)
    (current / "x.txt").write_text("x")
    with pytest.raises(InputError, match=f"nested deeper than {MAX_DEPTH} folders"):
        read_tree(folder)


def test_a_tree_bigger_than_a_build_can_be_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.read as reader

    monkeypatch.setattr(reader, "MAX_FILES", 3)
    for i in range(4):
        (tmp_path / f"f{i}").write_text("x")
    with pytest.raises(InputError, match="holds more than 3 files"):
        read_tree(tmp_path)


# -- readers never report fewer rules than are on disk without saying why -------------------


def test_a_corrupt_or_empty_registry_pol_is_an_error_not_zero_rules(backups: Path) -> None:
    pol = _first(backups) / "DomainSysvol" / "GPO" / "Machine" / "registry.pol"
    pol.write_bytes(b"")
    code, _, err = inspect(backups)
    assert code == 2 and "too short for a registry.pol header" in err
    code, _, err = inspect(pol)  # a .pol file is PReg whatever its bytes: never "LGPO text"
    assert code == 2 and "too short for a registry.pol header" in err
    pol.write_bytes(b"PReg\x01\x00\x00\x00[garbage")
    assert inspect(backups)[0] == 2


def test_a_registry_pol_backup_xml_does_not_list_is_reported(backups: Path) -> None:
    folder = _first(backups)
    backup = folder / "Backup.xml"
    text = backup.read_text(encoding="utf-8")
    start = text.index("<FSObjectFile")
    end = text.index("</FSObjectFile>", start) + len("</FSObjectFile>") if "</FSObjectFile>" in text[start:] else text.index("/>", start) + 2
    backup.write_text(text[:start] + text[end:], encoding="utf-8")
    [gpo] = [g for g in read_path(backups) if g.backup_id == folder.name]
    assert gpo.rules and gpo.problems[0].startswith("registry.pol is present but Backup.xml does not list it")
    assert inspect(backups)[0] == 2


def test_a_manifest_listing_a_missing_folder_is_reported(backups: Path) -> None:
    folder = _first(backups)
    shutil.rmtree(folder)
    code, _, err = inspect(backups)
    assert code == 2 and f"manifest.xml lists backup {folder.name}" in err and "its folder is missing" in err


# -- zips -----------------------------------------------------------------------------------------


def test_a_zip_bomb_is_stopped_by_the_declared_size(tmp_path: Path) -> None:
    bomb = tmp_path / "package.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("out/gpo/manifest.xml", b"\0" * (100 * 1024 * 1024))
    assert bomb.stat().st_size < 200_000
    code, _, err = inspect(bomb)
    assert code == 2 and "declares 104857600 bytes, more than 64 MiB" in err


def test_a_zip_that_lies_about_sizes_or_paths_is_refused(tmp_path: Path) -> None:
    from builder.ziparchive import read_zip

    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape.txt", b"x")
    with pytest.raises(InputError, match="is not a plain relative path"):
        read_zip(evil.getvalue(), 1000, 1000, 10, "evil.zip")
    small = io.BytesIO()
    with zipfile.ZipFile(small, "w") as archive:
        archive.writestr("a/b.txt", b"x" * 100)
    data = bytearray(small.getvalue())
    # Shrink the declared size in the central directory: reading must notice.
    at = data.rindex(b"PK\x01\x02")
    data[at + 24 : at + 28] = (10).to_bytes(4, "little")
    with pytest.raises(InputError):
        read_zip(bytes(data), 1000, 1000, 10, "liar.zip")


# -- fuzz: bytes in, rules or one InputError out ---------------------------------------------

SUFFIXES = (".pol", ".mof", ".txt", ".json", ".zip", ".yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES), prefix=st.sampled_from([b"", b"PReg\x01\x00\x00\x00", b"PK\x03\x04", b"Computer\n", b"\xff\xfe", b"instance of MSFT_Firewall\n{\n"]))
def test_any_bytes_read_or_give_one_input_error(tmp_path: Path, data: bytes, suffix: str, prefix: bytes) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(prefix + data)
    try:
        read_path(path)
    except InputError as exc:
        assert exc.lines() and all("\n" not in line for line in exc.lines())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_build_json_and_backup_xml_of_any_content_never_crash_check(tmp_path: Path, text: str) -> None:
    from builder.check import check_path

    folder = tmp_path / "b"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(GOLDEN / "gpo", folder)
    (_first(folder) / "Backup.xml").write_text(text, encoding="utf-8")
    try:
        check_path(folder)
    except InputError:
        pass


def test_raising_the_read_limit_raises_the_tree_limit_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.read as reader

    monkeypatch.setenv("CMFW_READ_LIMIT_MB", "128")
    assert reader._limit(reader.MAX_FILE) == 128 * 2**20
    assert reader._limit(reader.MAX_TREE) == 2 * reader.MAX_TREE


def test_a_listed_tree_has_the_bounds_of_a_read_one_and_reads_on_demand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cmfw check` lists a build (reader.list_tree) and reads each file when a check asks for
    it: the same files and bytes as read_tree, the same refusals, by the sizes on disk."""
    import builder.read as reader

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_bytes(b"1" * 10)
    (tmp_path / "two.txt").write_bytes(b"2" * 20)
    os.mkfifo(tmp_path / "pipe")
    tree = reader.list_tree(tmp_path)
    assert list(tree) == ["a/one.txt", "two.txt"] and "pipe" not in tree
    (tmp_path / "two.txt").write_bytes(b"3" * 20)  # not read yet: what a check reads is what is there
    assert dict(tree) == read_tree(tmp_path) == {"a/one.txt": b"1" * 10, "two.txt": b"3" * 20}
    view = tree.only(lambda rel: rel.startswith("a/"))
    assert list(view) == ["a/one.txt"] and view["a/one.txt"] == b"1" * 10 and "two.txt" not in view
    monkeypatch.setattr(reader, "MAX_TREE", 25)
    with pytest.raises(InputError, match="holds more than 0 MiB"):
        reader.list_tree(tmp_path)
    monkeypatch.setattr(reader, "MAX_TREE", 2**30)
    monkeypatch.setattr(reader, "MAX_FILE", 15)
    with pytest.raises(InputError) as info:
        reader.list_tree(tmp_path)
    assert info.value.lines() == [f"{tmp_path / 'two.txt'}: error: larger than 0 MiB; set CMFW_READ_LIMIT_MB to read it"]
