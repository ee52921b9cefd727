"""`cmfw diff` and `cmfw build --check`: what a change to the matrix changes."""

from __future__ import annotations

import json
import shutil
import sys
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.build import build, check_build
from builder.cli import cli
from builder.diff import diff_paths

from .conftest import EXAMPLE, snapshot


def run(runner: CliRunner, *args: object):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """The example and a copy with one port edited (client notification 10124 → 10125)."""
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    shutil.copy(EXAMPLE, old)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("client_notification: 10124") == 1
    new.write_text(text.replace("client_notification: 10124", "client_notification: 10125"), encoding="utf-8")
    return old, new


def test_one_port_edit_is_exactly_one_field_per_affected_rule(pair: tuple[Path, Path], runner: CliRunner) -> None:
    old, new = pair
    result = diff_paths(old, new)
    changed = {(p.name, c.id): [(ch.field, ch.a, ch.b) for ch in c.changes] for p in result.policies for c in p.changed}
    assert changed == {
        ("ConfigMgr Clients - Laptops", "CMFW-Laptops-ClientNotification-TCP-Out"): [("remote_ports", ["10124"], ["10125"])],
        ("ConfigMgr Clients - Workstations", "CMFW-Workstations-ClientNotification-TCP-Out"): [("remote_ports", ["10124"], ["10125"])],
    }
    assert all(not p.added and not p.removed and not p.settings and not p.links for p in result.policies)
    cli_result = run(runner, "diff", old, new)
    assert cli_result.exit_code == 1
    assert cli_result.output.splitlines()[2:] == [
        "~ ConfigMgr Clients - Laptops",
        "    ~ CMFW-Laptops-ClientNotification-TCP-Out",
        "        remote_ports: 10124 -> 10125",
        "~ ConfigMgr Clients - Workstations",
        "    ~ CMFW-Workstations-ClientNotification-TCP-Out",
        "        remote_ports: 10124 -> 10125",
        "2 GPOs changed, 2 rules changed",
    ]


def test_check_names_stale_files_and_passes_after_rebuild(pair: tuple[Path, Path], tmp_path: Path, runner: CliRunner) -> None:
    old, new = pair
    out = tmp_path / "out"
    build(old, out)
    before = snapshot(out)
    result = run(runner, "build", new, "-o", out, "--check")
    assert result.exit_code == 1
    stale = [line.split(": ")[0] for line in result.stdout.splitlines()]
    assert f"{out}/rules.json" in stale and f"{out}/build.json" in stale and f"{out}/SHA256SUMS" in stale
    assert f"{out}/dsc/Laptops/localhost.mof" in stale and f"{out}/dsc/Workstations/Workstations.ps1" in stale
    assert not any("/dsc/Kiosks/" in s or "/dsc/Servers/" in s for s in stale)
    # the two changed GPOs get new backup IDs: their old folders go, new ones come
    assert sum(s.endswith("/registry.pol") for s in stale) == 4
    assert "would be removed" in result.stdout and "missing" in result.stdout
    assert "is stale: " in result.stderr and f"rebuild with: cmfw build {new} -o {out}" in result.stderr
    assert snapshot(out) == before  # --check writes nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.yaml", "old.yaml", "out"]
    # diff of the build against the new matrix shows the same change
    assert diff_paths(out, new).policies == diff_paths(old, new).policies
    build(new, out)
    result = run(runner, "build", new, "-o", out, "--check")
    assert result.exit_code == 0 and result.stdout == f"{out} is up to date with {new}\n"


def test_check_sees_edits_removals_and_ignores_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    (out / "notes.txt").write_text("mine")
    assert check_build(EXAMPLE, out) == []
    (out / "rules.json").write_text("{}")
    (out / "deploy-samba.sh").unlink()
    assert [(s.path, s.reason) for s in check_build(EXAMPLE, out)] == [("deploy-samba.sh", "missing"), ("rules.json", "differs")]
    build(EXAMPLE, out, zip=True, force=True)
    assert check_build(EXAMPLE, out) == [] and check_build(EXAMPLE, out, zip=True) == []  # as recorded
    # Without the zip, build.json records other options: it changes too.
    assert [(s.path, s.reason) for s in check_build(EXAMPLE, out, zip=False)] == [
        ("SHA256SUMS", "differs"), ("build.json", "differs"), ("package.zip", "obsolete"),
    ]


def test_identical_sides(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    result = run(runner, "diff", out, EXAMPLE)
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "no differences: 6 GPOs, 123 rules"
    doc = json.loads(run(runner, "diff", out / "gpo", EXAMPLE, "--format", "json").stdout)
    assert doc["identical"] is True and doc["policies"] == [] and doc["a"]["kind"] == "backup-root"


def test_added_removed_rules_policies_settings_and_links(tmp_path: Path, runner: CliRunner) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    edited = (
        text.replace("      - global-catalog\n", "", 1)  # Workstations loses a feature
        .replace("      - console-queries\n", "      - console-queries\n      - remote-desktop: {from: helpdesk}\n", 1)
        .replace("log_max_size_kb: 16384", "log_max_size_kb: 8192", 1)
        .replace("enforced: true            # wins", "enforced: false           # wins", 1)
    )
    start = edited.index("  - name: ConfigMgr PXE Distribution Points")
    edited = edited[:start]  # the PXE policy is the last one: remove it
    new = tmp_path / "new.yaml"
    new.write_text(edited, encoding="utf-8")
    doc = json.loads(run(runner, "diff", EXAMPLE, new, "--format", "json").stdout)
    assert doc["format"] == "cmfw-diff/1" and doc["identical"] is False
    by_name = {p["name"]: p for p in doc["policies"]}
    assert by_name["ConfigMgr PXE Distribution Points"]["status"] == "removed"
    assert len(by_name["ConfigMgr PXE Distribution Points"]["rules_removed"]) == 6
    consoles = by_name["ConfigMgr Console Workstations"]
    assert consoles["status"] == "changed" and consoles["rules_removed"] == []
    assert [(r["id"], r["remote_addresses"]) for r in consoles["rules_added"]] == [
        (f"CMFW-Consoles-RemoteDesktop-RDP-{rule}-In", ["10.21.0.0/24"]) for rule in ("Shadow", "UserMode-TCP", "UserMode-UDP")
    ]
    workstations = by_name["ConfigMgr Clients - Workstations"]
    assert [r["id"] for r in workstations["rules_removed"]] == ["CMFW-Workstations-GlobalCatalog-GC-LDAP-Out"]
    assert workstations["settings_changed"] == {"Domain/LogFileSize": {"a": 16384, "b": 8192}}
    assert by_name["ConfigMgr Clients - Laptops"]["links_changed"] == {
        "OU=Laptops,OU=Clients,DC=corp,DC=contoso,DC=com": {"a": "enabled, enforced", "b": "enabled"}
    }
    assert doc["summary"]["policies_removed"] == 1 and doc["summary"]["rules_removed"] == 7 and doc["summary"]["rules_added"] == 3
    text_out = run(runner, "diff", EXAMPLE, new).stdout
    assert "- ConfigMgr PXE Distribution Points: GPO removed, with 6 rules" in text_out
    assert "    - CMFW-Workstations-GlobalCatalog-GC-LDAP-Out  Out Allow TCP remote 3268 to 10.0.0.2,10.0.0.3" in text_out
    assert "        Domain/LogFileSize: 16384 -> 8192" in text_out


def test_a_rename_with_a_kept_id_is_a_rename(tmp_path: Path, runner: CliRunner) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("name: ConfigMgr Clients - Workstations\n    id: Workstations") == 1
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(text.replace("name: ConfigMgr Clients - Workstations", "name: ConfigMgr Clients - Desktops"), encoding="utf-8")
    out = tmp_path / "out"
    build(EXAMPLE, out)
    for old in (EXAMPLE, out, out / "gpo"):  # a matrix, a build, a backup root: all pair by GPO GUID
        doc = json.loads(run(runner, "diff", old, renamed, "--format", "json").stdout)
        assert [(p["name"], p["status"], p["renamed_from"]) for p in doc["policies"]] == [
            ("ConfigMgr Clients - Desktops", "changed", "ConfigMgr Clients - Workstations")
        ], old
        [p] = doc["policies"]
        assert p["rules_added"] == p["rules_removed"] == p["rules_changed"] == [] and p["links_changed"] == {}
        assert doc["summary"]["policies_renamed"] == 1 and doc["summary"]["policies_added"] == doc["summary"]["policies_removed"] == 0
    lines = run(runner, "diff", EXAMPLE, renamed).stdout.splitlines()
    assert lines[2:] == [
        "~ ConfigMgr Clients - Desktops (renamed from 'ConfigMgr Clients - Workstations', same GPO GUID)",
        "1 GPO changed, 1 GPO renamed",
    ]
    markdown = run(runner, "diff", EXAMPLE, renamed, "--format", "markdown").stdout
    assert "#### ConfigMgr Clients - Desktops (renamed from ConfigMgr Clients - Workstations)" in markdown
    assert "Only the display name changed" in markdown


def test_without_an_id_a_new_name_is_a_new_policy(tmp_path: Path, runner: CliRunner) -> None:
    """The other side of identity: a policy with no id is keyed on its name."""
    base = "version: 1\ndomain: corp.contoso.com\naddresses: {consoles: [10.20.0.0/24]}\npolicies:\n  - name: %s\n    features: [remote-control]\n"
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(base % "Clients", encoding="utf-8")
    new.write_text(base % "Desktops", encoding="utf-8")
    doc = json.loads(run(runner, "diff", old, new, "--format", "json").stdout)
    assert sorted((p["name"], p["status"]) for p in doc["policies"]) == [("Clients", "removed"), ("Desktops", "added")]


def test_policy_files_pair_up_and_dev_null_is_empty(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    pols = sorted(out.glob("gpo/*/DomainSysvol/GPO/Machine/registry.pol"))
    result = run(runner, "diff", pols[0], pols[1], "--format", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and len(doc["policies"]) == 1 and doc["policies"][0]["status"] == "changed"
    result = run(runner, "diff", "/dev/null", pols[0])
    assert result.exit_code == 1 and "new GPO" in result.stdout
    backup = pols[0].parts[-5]
    [twin] = [t for t in (out / "lgpo").glob("*.txt") if backup in t.read_text(encoding="utf-8").splitlines()[0]]
    assert run(runner, "diff", pols[0], twin).exit_code == 0  # the policy's LGPO-style text says the same


def test_gpmc_samples(shared: Path, runner: CliRunner) -> None:
    root = shared / "samples" / "gpo" / "steveunderscoren-sn-gpo"
    result = run(runner, "diff", root, root)
    assert result.exit_code == 0 and result.stdout.endswith("no differences: 3 GPOs, 217 rules\n")
    folder = sorted(root.glob("{*}"))[0]
    pol = next(folder.rglob("registry.pol"))
    assert run(runner, "diff", folder, pol).exit_code == 0  # one named GPO pairs with one policy file
    other = sorted(root.glob("{*}"))[1]
    assert run(runner, "diff", folder, other).exit_code == 1


def test_bad_arguments(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "diff", tmp_path / "nope", EXAMPLE)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "not found" in result.stderr
    result = run(runner, "diff", EXAMPLE)
    assert result.exit_code == 2 and "expected two paths (A B), got 1" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\n")
    result = run(runner, "diff", broken, EXAMPLE)
    assert result.exit_code == 2 and "broken.yaml" in result.stderr and "Traceback" not in result.output


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_textconv_and_external_diff(tmp_path: Path) -> None:
    cmfw = shutil.which("cmfw")
    if cmfw is None:
        pytest.skip("cmfw is not installed in this environment (pip install -e .)")
    old_out, new_out = tmp_path / "a", tmp_path / "b"
    build(EXAMPLE, old_out)
    edited = tmp_path / "new.yaml"
    edited.write_text(EXAMPLE.read_text().replace("client_notification: 10124", "client_notification: 10125"))
    build(edited, new_out)
    laptops = {json.loads((d / "build.json").read_text())["policies"][2]["backup_id"]: d for d in (old_out, new_out)}
    assert len(laptops) == 2
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / ".gitattributes").write_text("*.pol diff=cmfw\n")
    pol = "DomainSysvol/GPO/Machine/registry.pol"
    old_id, new_id = list(laptops)
    (repo / "registry.pol").write_bytes((old_out / "gpo" / old_id / pol).read_bytes())
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "old"], check=True)
    (repo / "registry.pol").write_bytes((new_out / "gpo" / new_id / pol).read_bytes())
    textconv = subprocess.run([*git, "-c", f"diff.cmfw.textconv={cmfw} inspect --format lines", "diff"], capture_output=True, text=True)
    minus = [line for line in textconv.stdout.splitlines() if line.startswith("-CMFW")]
    plus = [line for line in textconv.stdout.splitlines() if line.startswith("+CMFW")]
    assert len(minus) == len(plus) == 1 and "remote_ports=10124" in minus[0] and "remote_ports=10125" in plus[0]
    external = subprocess.run([*git, "-c", f"diff.cmfw.command={cmfw} diff", "diff"], capture_output=True, text=True)
    assert external.returncode == 0, external.stderr
    assert external.stdout.splitlines()[:2] == ["--- a/registry.pol (registry.pol)", "+++ b/registry.pol (registry.pol)"]
    assert "        remote_ports: 10124 -> 10125" in external.stdout.splitlines()


# -- build --check: recorded options, and no rendering when the inputs are unchanged ---------


def test_check_uses_the_recorded_options_and_renders_nothing_when_inputs_match(tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    pipeline = sys.modules["builder.build"]
    from builder.catalog import load_catalog

    out = tmp_path / "out"
    assert run(runner, "build", EXAMPLE, "-o", out, "--zip", "--timestamp", "2024-05-05T00:00:00Z").exit_code == 0
    recorded = json.loads((out / "build.json").read_text())["inputs"]["options"]
    assert recorded == {"timestamp": "2024-05-05T00:00:00Z", "zip": True}

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered although the inputs are unchanged")

    monkeypatch.setattr(pipeline, "render", no_render)
    result = run(runner, "build", EXAMPLE, "-o", out, "--check")  # no --zip, no --timestamp: as recorded
    assert result.exit_code == 0 and result.stdout == f"{out} is up to date with {EXAMPLE}\n"
    assert check_build(EXAMPLE, out) == []
    monkeypatch.undo()

    # Anything else means a render and a file-by-file comparison.
    assert check_build(EXAMPLE, out, full=True) == []
    assert [s.path for s in check_build(EXAMPLE, out, timestamp="2024-05-06T00:00:00Z")][:1] == ["SHA256SUMS"]
    assert [(s.path, s.reason) for s in check_build(EXAMPLE, out, zip=False)] == [
        ("SHA256SUMS", "differs"), ("build.json", "differs"), ("package.zip", "obsolete"),
    ]
    other = dataclasses.replace(load_catalog(), digest="0" * 64)
    monkeypatch.setattr(pipeline, "render", no_render)
    with pytest.raises(AssertionError, match="rendered"):
        check_build(EXAMPLE, out, catalog=other)
    monkeypatch.undo()
    (out / "report.md").write_text("edited by hand\n")
    assert [(s.path, s.reason) for s in check_build(EXAMPLE, out)] == [("report.md", "differs")]


def test_check_of_a_missing_output_says_so(tmp_path: Path, runner: CliRunner) -> None:
    result = run(runner, "build", EXAMPLE, "-o", tmp_path / "nowhere", "--check")
    assert result.exit_code == 1
    assert result.stderr == f"cmfw: error: {tmp_path / 'nowhere'}: output directory does not exist; build it with: cmfw build {EXAMPLE} -o {tmp_path / 'nowhere'}\n"
    assert run(runner, "build", EXAMPLE, "-o", tmp_path / "x", "--full").exit_code == 2


def test_foreign_names_cannot_drive_the_terminal_or_break_lines_and_tables() -> None:
    """A rule or GPO name read from someone's backup is shown escaped in text and Markdown."""
    from builder.diff import Side, diff_sides, format_diff, format_markdown
    from builder.model import Rule
    from builder.read import GpoContent

    hostile = "Evil\x1b[2J\nforged line\u202e|cell"
    rule = Rule(id="R1", name=hostile, direction="In", protocol=6, local_ports=("80",))
    a = Side("a\x1b]0;title\x07", "backup", (GpoContent("a", hostile, "{G}", "{B}"),))
    b = Side("b", "backup", (GpoContent("b", hostile, "{G}", "{B}", rules=[rule]),))
    diff = diff_sides(a, b)
    text = format_diff(diff)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert len(text.splitlines()) == 5, text  # head (2), the GPO, its rule, the summary
    assert "Evil\\x1b[2J\\nforged line\\u202e|cell" in text
    markdown = format_markdown(diff)
    # Markdown is read in a browser: control characters are escaped, other text is kept.
    assert "\x1b" not in markdown and "\nforged line" not in markdown and "forged line" in markdown
    row = [line for line in markdown.splitlines() if "R1" in line]
    assert len(row) == 1 and row[0].count("|") - row[0].count("\\|") == 4  # one row, three cells
