"""The GPO backup a build writes: layout, encodings, identity, and reading it back."""

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest

from builder.build import build, render
from builder.check import check_path
from builder.gpo.backup import MACHINE_EXTENSIONS
from builder.inspect import inspect
from builder.syntax.xml import parse_xml

from .conftest import EXAMPLE, MINIMAL, snapshot


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("example") / "out"
    build(EXAMPLE, out)
    return out


def folders(out: Path) -> list[Path]:
    return sorted(p for p in (out / "gpo").iterdir() if p.is_dir())


def test_one_backup_per_policy_and_check_passes(example: Path) -> None:
    report = check_path(example)
    assert report.ok, report.problems
    assert len(folders(example)) == 6
    for folder in folders(example):
        backup = (folder / "Backup.xml").read_text(encoding="utf-8")
        assert f"<MachineExtensionGuids><![CDATA[{MACHINE_EXTENSIONS}]]></MachineExtensionGuids>" in backup
        assert MACHINE_EXTENSIONS == "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{B05566AC-FE9C-4368-BE01-7A4CBB6CBA11}]"
    assert check_path(example / "gpo").ok
    assert check_path(folders(example)[0]).ok


def test_encodings_are_gpmc_s(example: Path) -> None:
    folder = folders(example)[0]
    backup = (folder / "Backup.xml").read_bytes()
    assert backup.startswith(b'<?xml version="1.0" encoding="utf-8"?>') and not backup.endswith(b"\n")
    assert b"\r\n" in backup and b"\n" not in backup.replace(b"\r\n", b"")
    info = (folder / "bkupInfo.xml").read_bytes()
    assert info.startswith(b"<BackupInst ") and info.endswith(b"</BackupInst>\r\n") and info.count(b"\n") == 1
    manifest = (example / "gpo" / "manifest.xml").read_bytes()
    assert manifest.startswith(b"<Backups ") and manifest.endswith(b"</Backups>") and b"\n" not in manifest
    report = (folder / "gpreport.xml").read_bytes()
    assert report.startswith(b"\xff\xfe") and report.decode("utf-16-le").startswith('\ufeff<?xml version="1.0" encoding="utf-16"?>\r\n')
    assert report.decode("utf-16").endswith("</GPO>")
    pol = (folder / "DomainSysvol" / "GPO" / "Machine" / "registry.pol").read_bytes()
    assert pol[:8] == b"PReg\x01\x00\x00\x00"
    assert not (folder / "DomainSysvol" / "GPO" / "GPT.INI").exists()


def test_identities(example: Path) -> None:
    manifest = parse_xml((example / "gpo" / "manifest.xml").read_bytes(), "manifest.xml").getroot()
    ns = "{http://www.microsoft.com/GroupPolicy/GPOOperations/Manifest}"
    listed = {i.findtext(ns + "ID"): i.findtext(ns + "GPODisplayName") for i in manifest}
    assert set(listed) == {f.name for f in folders(example)}
    built = json.loads((example / "build.json").read_text())
    assert {p["gpo_guid"] for p in built["policies"]} == {i.findtext(ns + "GPOGuid") for i in manifest}
    assert all(i.findtext(ns + "BackupTime") == "2020-01-01T00:00:00" for i in manifest)


def test_backup_id_follows_content_and_time_follows_source_date_epoch(tmp_path: Path, write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = write(MINIMAL)
    first = render(matrix).files
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    later = render(matrix).files
    ids = lambda files: sorted({p.split("/")[1] for p in files if p.startswith("gpo/{")})  # noqa: E731
    assert ids(first) == ids(later)  # same content, same backup ID
    assert b"2026-01-01T00:00:00" in later["gpo/manifest.xml"]
    assert render(matrix, timestamp="2026-11-26T12:00:00Z").files["gpo/manifest.xml"].count(b"2026-11-26T12:00:00") == 1
    changed = render(write(MINIMAL.replace("10.20.0.0/24", "10.21.0.0/24"), "other.yaml")).files
    assert ids(changed) != ids(first)  # new content, new backup ID


def test_inspect_of_the_build_returns_exactly_the_resolved_rules(example: Path) -> None:
    resolved = render(EXAMPLE).policyset
    gpos = {g.name: g for g in inspect(str(example))}
    assert set(gpos) == {p.name for p in resolved.policies}
    for policy in resolved.policies:
        expected = [replace(r, feature="", source="") for r in policy.rules]
        assert sorted(gpos[policy.name].rules, key=lambda r: r.id) == sorted(expected, key=lambda r: r.id)
        assert tuple(gpos[policy.name].profile_settings) == policy.profile_settings
        assert gpos[policy.name].gpo_guid == policy.gpo_guid


HOSTILE = "Évry ]]> <script>alert('x')</script> & \"q\" ’ $(x) `y` ; Remove-Item"


def test_hostile_names_survive_every_file(tmp_path: Path, write: Callable[..., Path]) -> None:
    text = MINIMAL.replace("- name: Workstations", f"- name: '{HOSTILE.replace(chr(39), chr(39) * 2)}'\n    id: Hostile\n    description: '{HOSTILE.replace(chr(39), chr(39) * 2)}'")
    text += "    custom_rules:\n      - {id: Agent, name: 'Zürich agent ☃', direction: In, protocol: TCP, local_ports: [1], from: consoles}\n"
    out = tmp_path / "out"
    build(write(text), out)
    assert check_path(out).ok
    [gpo] = inspect(str(out))
    assert gpo.name == HOSTILE
    assert [r.name for r in gpo.rules if r.id.endswith("Agent-In")] == ["Zürich agent ☃"]
    for path in (out / "gpo").rglob("*.xml"):
        tree = parse_xml(path.read_bytes(), str(path))
        assert tree.getroot() is not None
    assert HOSTILE in (folders(out)[0] / "gpreport.xml").read_bytes().decode("utf-16").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_profile_settings_reach_registry_pol_and_report(tmp_path: Path, write: Callable[..., Path]) -> None:
    text = MINIMAL + "    profile_settings:\n      Domain: {enabled: true, default_inbound: block, log_max_size_kb: 16384, log_path: '%systemroot%\\fw.log'}\n      Public: {allow_local_rules: false}\n    dsc: {resource: registry-policy}\n"
    out = tmp_path / "out"
    build(write(text), out)
    [gpo] = inspect(str(out))
    assert [(s.profile, s.name, s.value) for s in gpo.profile_settings] == [
        ("Domain", "EnableFirewall", 1), ("Domain", "DefaultInboundAction", 1), ("Domain", "LogFilePath", "%systemroot%\\fw.log"),
        ("Domain", "LogFileSize", 16384), ("Public", "AllowLocalPolicyMerge", 0),
    ]
    twin = next((out / "lgpo").glob("*.txt")).read_bytes().decode("utf-8")
    assert "SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\DomainProfile\\Logging\r\nLogFileSize\r\nDWORD:16384" in twin
    report = next(out.rglob("gpreport.xml")).read_bytes().decode("utf-16")
    assert re.search(r"<q1:DomainProfile>\s*<q1:DefaultInboundAction>\s*<q1:Value>true</q1:Value>", report)
    assert check_path(out).ok


def test_bad_timestamp_is_bad_input(write: Callable[..., Path]) -> None:
    from builder.errors import InputError

    with pytest.raises(InputError, match="'yesterday' is not a timestamp"):
        render(write(MINIMAL), timestamp="yesterday")


def test_build_is_identical_across_runs(tmp_path: Path) -> None:
    build(EXAMPLE, tmp_path / "a")
    shutil.copy(EXAMPLE, tmp_path / "c.yaml")
    build(tmp_path / "c.yaml", tmp_path / "b")
    a, b = snapshot(tmp_path / "a"), snapshot(tmp_path / "b")
    manifests = [json.loads(x.pop("build.json")) for x in (a, b)]
    for name in ("SHA256SUMS", "report.html", "report.md"):
        del a[name], b[name]  # they name the matrix path (or hash build.json, which does)
    assert a == b
    assert manifests[0]["matrix"]["path"] != manifests[1]["matrix"]["path"]
    same = {k: v for k, v in manifests[0]["files"].items() if not k.startswith("report.")}
    assert same == {k: v for k, v in manifests[1]["files"].items() if not k.startswith("report.")}
    assert manifests[0]["policies"] == manifests[1]["policies"]


def test_lines_written_once_are_placed_as_indented_would_write_them() -> None:
    """gpreport.xml writes a rule's lines once for every policy that has the rule: the
    same text as indenting the element in place, and refused anywhere else."""
    from builder.syntax.xml import el, indented, indented_lines, serialize

    rule = el("q1:Rule", el("q1:Name", "a < b & 'c'"), el("q1:Port", "80"))
    whole = el("GPO", el("Computer", rule, el("Name", "x")))
    reused = el("GPO", el("Computer", indented_lines(rule, depth=2), el("Name", "x")))
    assert str(indented(reused)) == str(indented(whole))
    assert "a &lt; b &amp; 'c'" in str(indented(whole))
    with pytest.raises(ValueError, match="lines indented by '  ' for depth 2 placed at depth 1"):
        indented(el("GPO", indented_lines(rule, depth=2)))
    with pytest.raises(ValueError, match="indented by '  ' for depth 2 placed at depth 2 in <Computer>"):
        indented(reused, indent="\t")
    with pytest.raises(ValueError, match="only indented\\(\\) can write it"):
        serialize(reused)
