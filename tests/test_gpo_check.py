"""`check` finds what is wrong with a backup, and untrusted XML cannot hurt the reader."""

import json
import re
from pathlib import Path

import pytest

from builder.build import build
from builder.check import check_path
from builder.errors import InputError
from builder.syntax.xml import parse_xml

from .conftest import EXAMPLE


@pytest.fixture
def out(tmp_path: Path) -> Path:
    target = tmp_path / "out"
    build(EXAMPLE, target)
    return target


def first_folder(out: Path) -> Path:
    return sorted((out / "gpo").glob("{*}"))[0]


def messages(path: Path) -> list[str]:
    return [p.format() for p in check_path(path).problems]


def test_edited_file_and_broken_registry_pol(out: Path) -> None:
    pol = first_folder(out) / "DomainSysvol" / "GPO" / "Machine" / "registry.pol"
    pol.write_bytes(pol.read_bytes()[:-3])
    found = messages(out)
    assert any("registry.pol: error: differs from the SHA-256 in build.json" in m for m in found)
    assert any(re.search(r"registry.pol: error: byte offset \d+ \(0x[0-9A-F]+\): size \d+ runs past the end", m) for m in found)


def test_twin_that_disagrees(out: Path) -> None:
    twin = sorted((out / "lgpo").glob("*.txt"))[0]
    twin.write_bytes(twin.read_bytes().replace(b"DWORD:522", b"DWORD:523"))
    assert any(re.search(r"lgpo/\w+\.txt: error: does not say the same as gpo/\{[0-9A-F-]+\}/DomainSysvol/GPO/Machine/registry.pol", m)
               for m in messages(out))


def test_a_file_in_a_backup_folder_that_backup_xml_does_not_list(out: Path) -> None:
    stray = first_folder(out) / "DomainSysvol" / "GPO" / "Machine" / "registry.pol.txt"
    stray.write_text("left by an older build")
    # As a build: not one of the build's files; as a GPO backup: not listed by Backup.xml.
    assert any("registry.pol.txt: error: is in a backup folder but not in build.json" in m for m in messages(out))
    assert any("registry.pol.txt: error: is in the backup folder but Backup.xml does not list it" in m for m in messages(out / "gpo"))


def test_identity_mismatches(out: Path) -> None:
    folder = first_folder(out)
    info = folder / "bkupInfo.xml"
    info.write_bytes(re.sub(rb"<ID><!\[CDATA\[\{[0-9A-F-]+\}\]\]></ID>", b"<ID><![CDATA[{00000000-0000-0000-0000-000000000000}]]></ID>", info.read_bytes()))
    found = messages(out / "gpo")
    assert any(f"bkupInfo.xml: error: ID {{00000000-0000-0000-0000-000000000000}} differs from the folder name {folder.name}" in m for m in found)


def test_missing_extension_guid_and_unlisted_folder(out: Path) -> None:
    folder = first_folder(out)
    backup = folder / "Backup.xml"
    backup.write_bytes(backup.read_bytes().replace(b"{B05566AC-FE9C-4368-BE01-7A4CBB6CBA11}", b""))
    manifest = out / "gpo" / "manifest.xml"
    manifest.write_bytes(re.sub(rb"<BackupInst>.*?" + folder.name.encode() + rb".*?</BackupInst>", b"", manifest.read_bytes()))
    found = messages(out / "gpo")
    assert any("lacks the Registry extension with the firewall tool" in m for m in found)
    assert any(f"does not list backup folder {folder.name}" in m for m in found)


def test_xsd_violation_has_a_line(out: Path) -> None:
    backup = first_folder(out) / "Backup.xml"
    backup.write_bytes(backup.read_bytes().replace(b"<Options><![CDATA[1]]></Options>", b"<Options><![CDATA[7]]></Options>"))
    found = messages(out / "gpo")
    assert any(re.search(r"Backup.xml:2(:\d+)?: error: .*Options.*The value '7' is greater than the maximum.*\(XSD backup.xsd\)", m) for m in found), found


ENTITY_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Backups xmlns="http://www.microsoft.com/GroupPolicy/GPOOperations/Manifest">&lol2;</Backups>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Backups xmlns="http://www.microsoft.com/GroupPolicy/GPOOperations/Manifest">&xxe;</Backups>"""


@pytest.mark.parametrize("data", [ENTITY_BOMB, EXTERNAL])
def test_dtds_and_entities_are_refused(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        parse_xml(data, "manifest.xml")
    assert info.value.lines()[0].startswith("manifest.xml:")
    assert b"root:" not in str(info.value).encode()


def test_hostile_manifest_in_check(out: Path) -> None:
    (out / "gpo" / "manifest.xml").write_bytes(EXTERNAL)
    found = messages(out / "gpo")
    assert any("manifest.xml:" in m and ("DOCTYPE" in m or "entity" in m.lower()) for m in found)


def test_paths_that_are_not_gpos(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a cmfw build nor a GPO backup"):
        check_path(tmp_path)
    with pytest.raises(InputError, match="not found"):
        check_path(tmp_path / "nope")


def test_build_json_without_files_list(out: Path) -> None:
    (out / "build.json").write_text(json.dumps({"format": "x"}))
    assert any("not a cmfw build manifest" in m for m in messages(out))
