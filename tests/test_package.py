"""The package for domain controllers: build.json, SHA256SUMS, zip, import scripts."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from builder.package import manifest as package
from builder.datafiles import template_path
from builder.build import build, render
from builder.check import check_path
from builder.identifiers import MARKER_PATTERN
from builder.package.scripts import IMPORT_COMMANDS
from builder.syntax.powershell import _parser, command_problems, literal as ps_literal, parse_errors
from builder.formats import Artifacts, validate, validate_files

from .conftest import EXAMPLE, GOLDEN, MINIMAL, snapshot

HOSTILE = "Evil'; touch /tmp/cmfw-pwned; echo '$(id) `id` \u2019; Remove-Item C:\\ -Recurse"
HOSTILE_MATRIX = MINIMAL.replace("- name: Workstations", f'- name: "{HOSTILE.replace(chr(92), chr(92) * 2)}"\n    id: Evil').replace(
    "features: [client-requests, remote-control]",
    "features: [client-requests, remote-control]\n"
    "    links: ['OU=It''s \\, odd $(id),DC=corp,DC=contoso,DC=com', {target: 'DC=corp,DC=contoso,DC=com', enforced: true}]",
)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render(EXAMPLE, out_dir=GOLDEN, zip=True).files


@pytest.fixture
def hostile(write: Callable[..., Path], tmp_path: Path) -> Path:
    out = tmp_path / "out"
    build(write(HOSTILE_MATRIX), out)
    return out


# -- build.json and SHA256SUMS -----------------------------------------------------------------


def test_sha256sum_accepts_the_checksums(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum (coreutils) is not installed")
    out = tmp_path / "out"
    build(EXAMPLE, out)
    done = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK\n") == len(snapshot(out)) - 1  # every file but SHA256SUMS itself
    (out / "rules.json").write_bytes(b"{}")
    done = subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert done.returncode == 1 and "rules.json: FAILED" in done.stdout


def test_build_json_describes_every_policy_and_file(files: dict[str, bytes]) -> None:
    manifest = json.loads(files["build.json"])
    assert manifest["domain"] == "corp.contoso.com" and manifest["format"] == "cmfw-build/1" and manifest["owner"] == ""
    for policy in manifest["policies"]:
        assert policy["marker"] == f"Managed by cmfw: domain corp.contoso.com, policy {policy['key']}. Edit the matrix, not this GPO."
        assert re.match(MARKER_PATTERN, policy["marker"]).group(3) == policy["key"]  # type: ignore[union-attr]
    assert set(manifest["files"]) == set(files) - {"build.json", "SHA256SUMS", "package.zip"}
    assert all(manifest["files"][p] == hashlib.sha256(files[p]).hexdigest() for p in manifest["files"])
    rules = {p["key"]: p for p in json.loads(files["rules.json"])["policies"]}
    manifest_xml = files["gpo/manifest.xml"].decode()
    for policy in manifest["policies"]:
        assert f"gpo/{policy['backup_id']}/Backup.xml" in files
        assert f"<ID><![CDATA[{policy['backup_id']}]]></ID><Comment>" in manifest_xml
        assert policy["rule_ids"] == [r["id"] for r in rules[policy["key"]]["rules"]]
        assert policy["rules"] == len(policy["rule_ids"])
        assert policy["links"] == rules[policy["key"]]["links"]
    laptops = next(p for p in manifest["policies"] if p["key"] == "Laptops")
    assert laptops["links"] == [
        {"target": "OU=Laptops,OU=Clients,DC=corp,DC=contoso,DC=com", "order": None, "enforced": True, "enabled": True}
    ]


def test_checksums_list_everything_but_themselves(files: dict[str, bytes]) -> None:
    sums = package.parse_checksums(files["SHA256SUMS"])
    assert set(sums) == set(files) - {"SHA256SUMS", "package.zip"}
    assert sums["build.json"] == hashlib.sha256(files["build.json"]).hexdigest()
    assert list(sums) == sorted(sums)


@pytest.mark.parametrize(
    "tamper, message",
    [
        (lambda f: f.update({"SHA256SUMS": f["SHA256SUMS"].replace(b"  rules.json\n", b"  rules.jsn\n")}), "does not list rules.json"),
        (lambda f: f.update({"SHA256SUMS": b"x" + f["SHA256SUMS"]}), "line 1 is not '<sha256>  <path>'"),
        (lambda f: f.update({"gpo/{00000000-0000-0000-0000-000000000000}/evil.ps1": b"x"}), "in a backup folder but not in build.json"),
        (lambda f: f.update({"build.json": f["build.json"].replace(b'"format": "cmfw-build/1"', b'"format": "cmfw-build/9"')}), "'cmfw-build/1' was expected"),
        (lambda f: f.update({"package.zip": f["package.zip"][:-40]}), "not a readable zip"),
    ],
)
def test_check_finds_a_tampered_package(files: dict[str, bytes], tamper: Callable[[dict[str, bytes]], None], message: str) -> None:
    broken = dict(files)
    tamper(broken)
    own = {path: data for path, data in broken.items() if path in files}
    # From disk: the build's own files, and every file present (an unlisted one included).
    found = validate(Artifacts(own, thorough=True, present=frozenset(broken)))
    assert validate(Artifacts(files, thorough=True, present=frozenset(files))) == []
    assert any(message in p.message for p in found), found


def test_check_of_a_build_on_disk_sees_a_changed_zip(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out, zip=True)
    assert check_path(out).ok
    data = (out / "package.zip").read_bytes()
    at = data.index(b"v2.10|Action=Allow")
    (out / "package.zip").write_bytes(data[:at] + b"v2.10|Action=Block" + data[at + 18 :])
    problems = [p.message for p in check_path(out).problems]
    assert len(problems) == 1 and re.fullmatch(r"entry 'out/dsc/.*' cannot be read: Bad CRC-32 for file 'out/dsc/.*'", problems[0])
    # A well-formed zip with other content is caught too.
    with zipfile.ZipFile(io.BytesIO(data)) as original:
        entries = {i.filename: original.read(i) for i in original.infolist()}
    entries["out/rules.json"] = b"{}"
    entries["out/extra.txt"] = b"x"
    rebuilt = io.BytesIO()
    with zipfile.ZipFile(rebuilt, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    (out / "package.zip").write_bytes(rebuilt.getvalue())
    assert [p.message for p in check_path(out).problems] == [
        "holds extra.txt, which the build does not", "holds another rules.json than the build"
    ]
    # A zip bomb: one entry that inflates far past anything the build holds.
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("out/build.json", b"\0" * (256 * 1024 * 1024))
    (out / "package.zip").write_bytes(bomb.getvalue())
    [problem] = check_path(out).problems
    assert problem.message.startswith("entry 'out/build.json' declares 268435456 bytes, more than")


# -- the zip ------------------------------------------------------------------------------------


def test_zip_holds_the_package_reproducibly(files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(files["package.zip"])) as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == sorted(f"contoso/{p}" for p in files if p != "package.zip")
        for info in infos:
            assert archive.read(info) == files[info.filename[len("contoso/") :]]
            assert info.date_time == (2020, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_STORED
            assert info.create_system == 3
            mode = 0o755 if info.filename.endswith(".sh") else 0o644
            assert info.external_attr >> 16 == 0o100000 | mode
    again = render(EXAMPLE, out_dir=GOLDEN, zip=True).files["package.zip"]
    assert again == files["package.zip"]
    later = render(EXAMPLE, timestamp="2026-11-26T10:00:00", out_dir=GOLDEN, zip=True).files["package.zip"]
    with zipfile.ZipFile(io.BytesIO(later)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2026, 11, 26, 10, 0, 0)}


def test_zip_is_written_only_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out, zip=True)
    assert (out / "package.zip").is_file()
    build(EXAMPLE, out)  # the zip belongs to cmfw: a build without --zip removes it
    assert not (out / "package.zip").exists()


# -- Import-CmfwGpo.ps1 -------------------------------------------------------------------------

#: Every command the import script may call: a typo or an unexpected cmdlet fails here.
def test_import_script_parses_and_calls_only_known_commands(files: dict[str, bytes]) -> None:
    text = files["Import-CmfwGpo.ps1"].decode("utf-8-sig")
    assert files["Import-CmfwGpo.ps1"].startswith(b"\xef\xbb\xbf") and b"\n" not in files["Import-CmfwGpo.ps1"].replace(b"\r\n", b"")
    assert parse_errors(text) == [] and command_problems(text, IMPORT_COMMANDS) == []
    commands = {name for name, _ in _calls(text)}
    for needed in ("Import-GPO", "Rename-GPO", "Remove-GPO", "Get-GPRegistryValue", "New-GPLink", "Set-GPLink", "Get-FileHash"):
        assert needed in commands
    assert "Get-GPInheritance" not in commands  # links are read from gPLink, not guessed from an exception
    assert "[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]" in text
    assert "[string] $Domain = 'corp.contoso.com'," in text
    assert f"$MarkerPattern = {ps_literal(MARKER_PATTERN)}" in text
    assert re.search(r"Import-GPO -BackupId \$p\['backup_id'\] -Path \$backupRoot -TargetGuid \$row\.Gpo\.Id @target", text)
    assert re.search(r"Import-GPO -BackupId \$p\['backup_id'\] -Path \$backupRoot -TargetName \$name -CreateIfNeeded @target", text)


def _calls(text: str) -> list[tuple[str, Any]]:
    """(command name, its tree-sitter node) for every command the script calls."""
    tree = _parser().parse(text.encode("utf-8"))
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "command_name":
            out.append(((node.text or b"").decode(), node))
        stack.extend(node.children)
    return out


def _enclosing(node: Any, kind: str) -> Any:
    while node is not None and node.type != kind:
        node = node.parent
    return node


def test_nothing_changes_the_domain_before_the_plan_stops(files: dict[str, bytes]) -> None:
    """-Plan and -WhatIf stop at one line; every command that changes AD runs after it
    (directly or from a function only called after it), Remove-GPO only under -Prune."""
    text = files["Import-CmfwGpo.ps1"].decode("utf-8-sig")
    lines = text.splitlines()
    stop = next(i for i, line in enumerate(lines) if line == "if ($Plan -or $WhatIfPreference) {")
    calls = _calls(text)
    changing = ("Import-GPO", "Rename-GPO", "Remove-GPO", "New-GPLink", "Set-GPLink")
    seen = 0
    for name, node in calls:
        if name not in changing:
            continue
        seen += 1
        function = _enclosing(node, "function_statement")
        if function is None:
            assert node.start_point[0] > stop, f"{name} on line {node.start_point[0] + 1} runs before the plan stops"
            continue
        own = next(c for c in function.children if c.type == "function_name").text.decode()
        callers = [n for c, n in calls if c == own]
        assert callers and all(n.start_point[0] > stop for n in callers), f"{own} (calls {name}) is called before the plan stops"
    assert seen >= 6
    [(_, remove)] = [(n, node) for n, node in calls if n == "Remove-GPO"]
    conditions = []
    parent = remove.parent
    while parent is not None:
        if parent.type == "if_statement":
            conditions.append(parent.text.decode().split("{", 1)[0].strip())
        parent = parent.parent
    assert "if ($Prune)" in conditions


def test_planted_faults_in_the_import_script_are_caught(files: dict[str, bytes]) -> None:
    good = files["Import-CmfwGpo.ps1"]
    for old, new, expected in (
        (b"Write-Host 'Some GPOs failed", b"Invoke-Expression 'x'; Write-Host 'Some GPOs failed", "command 'Invoke-Expression' is not one this script may call"),
        (b"Write-Host 'Some GPOs failed", b"& $PackageRoot; Write-Host 'Some GPOs failed", "command called through & or .: only named commands may run"),
        (b"Write-Host 'Some GPOs failed", b"Remove-Item -Recurse C:\\; Write-Host 'Some GPOs failed", "command 'Remove-Item' is not one this script may call"),
    ):
        problems = validate_files({"Import-CmfwGpo.ps1": good.replace(old, new, 1)})
        assert [p.message for p in problems] == [expected], problems


def test_a_broken_import_script_is_caught_before_writing(files: dict[str, bytes]) -> None:
    broken = files["Import-CmfwGpo.ps1"].replace(b"function Read-CmfwXml {", b"function Read-CmfwXml {{", 1)
    problems = validate_files({"Import-CmfwGpo.ps1": broken})
    assert problems and all(p.file == "Import-CmfwGpo.ps1" and "syntax error" in p.message for p in problems)


def test_hostile_names_never_reach_script_code(hostile: Path) -> None:
    script = (hostile / "Import-CmfwGpo.ps1").read_bytes()
    assert b"Evil" not in script and b"cmfw-pwned" not in script  # names are data, read from build.json
    manifest = json.loads((hostile / "build.json").read_text(encoding="utf-8"))
    assert manifest["policies"][0]["name"] == HOSTILE
    assert manifest["policies"][0]["links"][0]["target"] == "OU=It's \\, odd $(id),DC=corp,DC=contoso,DC=com"
    assert parse_errors(script.decode("utf-8-sig")) == []


# -- deploy-samba.sh ----------------------------------------------------------------------------


def _run_script(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(out / "deploy-samba.sh"), *args], capture_output=True, text=True, cwd="/")


def test_deploy_script_passes_bash_and_shellcheck(files: dict[str, bytes], tmp_path: Path) -> None:
    script = tmp_path / "deploy-samba.sh"
    script.write_bytes(files["deploy-samba.sh"])
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it)")
    done = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_samba_program_is_data_free_python(files: dict[str, bytes], hostile: Path) -> None:
    program = files["deploy-samba.py"]
    compile(program, "deploy-samba.py", "exec")
    assert b"ldb.binary_encode(guid)" in program  # the one value in an LDAP filter is escaped
    # Names, links and rules come from build.json at run time: the same bytes in every build.
    assert (hostile / "deploy-samba.py").read_bytes() == program
    assert files["deploy-samba.py"] == template_path("package/deploy-samba.py").read_bytes()


def test_deploy_script_keeps_hostile_names_out_of_code(hostile: Path) -> None:
    for script in ("deploy-samba.sh", "deploy-samba.py"):
        text = (hostile / script).read_text(encoding="utf-8")
        assert "Evil" not in text and "cmfw-pwned" not in text and "odd $(id)" not in text, script
    assert subprocess.run(["bash", "-n", str(hostile / "deploy-samba.sh")]).returncode == 0
    if shutil.which("shellcheck"):
        assert subprocess.run(["shellcheck", str(hostile / "deploy-samba.sh")], capture_output=True).returncode == 0
    Path("/tmp/cmfw-pwned").unlink(missing_ok=True)
    done = _run_script(hostile, "--plan", "--policy", HOSTILE + "x")
    assert done.returncode == 2 and f"--policy: no policy {HOSTILE + 'x'!r} in this package" in done.stderr, done.stderr
    assert not Path("/tmp/cmfw-pwned").exists()


def test_deploy_script_refuses_a_tampered_package(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    pol = next(out.glob("gpo/*/DomainSysvol/GPO/Machine/registry.pol"))
    good = pol.read_bytes()
    pol.write_bytes(good[:-2] + b"\x00\x00")
    done = _run_script(out, "--dry-run")
    assert done.returncode == 1 and "does not match SHA256SUMS: nothing was changed" in done.stderr
    pol.write_bytes(good)
    (pol.parent / "Scripts").mkdir()
    (pol.parent / "Scripts" / "startup.cmd").write_text("evil")
    done = _run_script(out, "--dry-run")
    assert done.returncode == 1 and "Scripts/startup.cmd is not part of the package" in done.stderr


def test_deploy_script_usage_errors(files: dict[str, bytes], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    done = _run_script(out, "--bogus")
    assert done.returncode == 2 and "deploy-samba.sh: unrecognized arguments: --bogus" in done.stderr
    done = _run_script(out, "--plan", "--policy", "Nope")
    assert done.returncode == 2 and "--policy: no policy 'Nope' in this package" in done.stderr
    done = _run_script(out, "--plan", "--policy", "Nope", "--detailed-exitcode")
    assert done.returncode == 1  # under --detailed-exitcode, 2 means "changes"
    done = _run_script(out, "--format", "yaml")
    assert done.returncode == 2 and "invalid choice: 'yaml'" in done.stderr
    helped = _run_script(out, "--help")
    assert helped.returncode == 0 and "--prune" in helped.stdout and "--detailed-exitcode" in helped.stdout


GP_CMDLETS = ("Import-GPO", "Rename-GPO", "Remove-GPO", "Get-GPO", "Get-GPRegistryValue", "New-GPLink", "Set-GPLink")


def test_group_policy_cmdlets_take_data_by_parameter_name_only(files: dict[str, bytes]) -> None:
    """No value reaches a Group Policy cmdlet positionally: each follows its -Name (or is a @splat)."""
    text = files["Import-CmfwGpo.ps1"].decode("utf-8-sig")
    checked = 0
    for name, node in _calls(text):
        if name not in GP_CMDLETS:
            continue
        elements = next((c for c in node.parent.children if c.type == "command_elements"), None)
        parts = [c for c in (elements.children if elements else []) if c.type != "command_argument_sep"]
        previous = None
        for part in parts:
            value = part.text.decode()
            if part.type != "command_parameter" and previous != "command_parameter":
                assert value.startswith("@"), f"{name} on line {node.start_point[0] + 1} takes {value!r} positionally"
            previous = part.type if part.type == "command_parameter" else None
        checked += 1
    assert checked >= 8


def test_a_signed_script_passes_the_integrity_check_only_with_its_own_content(files: dict[str, bytes]) -> None:
    """Get-UnsignedHash hashes up to the CRLF before the Authenticode block: emulate it
    here on the script as built, signed, and signed after a change."""
    text = files["Import-CmfwGpo.ps1"].decode("utf-8-sig")
    assert "function Get-UnsignedHash" in text and "'# SIG # Begin signature block'" in text
    original = files["Import-CmfwGpo.ps1"]
    signed = original + b"# SIG # Begin signature block\r\n# MIIb...\r\n# SIG # End signature block\r\n"

    def unsigned_hash(data: bytes) -> str:
        at = data.decode("latin-1").rfind("\r\n# SIG # Begin signature block")
        return hashlib.sha256(data[: at + 2]).hexdigest() if at >= 0 else ""

    assert original.endswith(b"\r\n") and unsigned_hash(signed) == hashlib.sha256(original).hexdigest()
    tampered = signed.replace(b"Set-StrictMode", b"Set-StrictMode ", 1)
    assert unsigned_hash(tampered) != hashlib.sha256(original).hexdigest()
