"""Deploy-CmfwIntune.ps1 and its plan: checked like the GPO import script (no PowerShell runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from builder.build import build, render
from builder.check import check_path
from builder.formats import validate_files
from builder.identifiers import INTUNE_MARKER_PATTERN, MARKER_PATTERN, gpo_marker, intune_marker
from builder.intune import deploy, settings as s
from builder.intune.translate import PLAN
from builder.package.manifest import BUILD_FORMAT
from builder.syntax.powershell import _parser, command_problems, literal as ps_literal, parse_errors

from .conftest import EXAMPLE, MINIMAL

SCRIPT = "Deploy-CmfwIntune.ps1"
HOSTILE = "Evil'; Remove-Item C:\\ -Recurse; '$(id) `id` \u2019"


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render(EXAMPLE).files


def _text(files: dict[str, bytes]) -> str:
    return files[SCRIPT].decode("utf-8-sig")


def _calls(text: str) -> list[tuple[str, Any]]:
    tree = _parser().parse(text.encode("utf-8"))
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "command_name":
            out.append(((node.text or b"").decode(), node))
        stack.extend(node.children)
    return out


def _conditions(node: Any) -> list[str]:
    out = []
    parent = node.parent
    while parent is not None:
        if parent.type in ("if_statement", "elseif_clause"):
            out.append(parent.text.decode().split("{", 1)[0].strip())
        parent = parent.parent
    return out


def test_the_script_parses_and_calls_only_known_commands(files: dict[str, bytes]) -> None:
    data = files[SCRIPT]
    assert data.startswith(b"\xef\xbb\xbf") and b"\n" not in data.replace(b"\r\n", b"")
    text = _text(files)
    assert parse_errors(text) == [] and command_problems(text, deploy.COMMANDS) == []
    commands = {name for name, _ in _calls(text)}
    assert {"Invoke-MgGraphRequest", "Connect-MgGraph", "Get-MgContext", "Get-FileHash", "Import-Module"} <= commands
    assert "[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]" in text
    assert f"$MarkerPattern = {ps_literal(INTUNE_MARKER_PATTERN)}" in text
    assert f"$TemplateId = {ps_literal(s.TEMPLATE_ID)}" in text and f"$PlanPath = {ps_literal(PLAN)}" in text
    assert "Import-Module Microsoft.Graph.Authentication -ErrorAction Stop" in text
    assert "settingTemplates" in text and "'?$expand=settingDefinitions'" in text


def test_nothing_changes_the_tenant_before_the_plan_stops(files: dict[str, bytes]) -> None:
    """-Plan and -WhatIf stop at one line; every POST, PUT and DELETE comes after it, behind
    ShouldProcess, and DELETE only under -Prune."""
    text = _text(files)
    lines = text.splitlines()
    stop = next(i for i, line in enumerate(lines) if line == "if ($Plan -or $WhatIfPreference) {")
    changing = []
    for name, node in _calls(text):
        if name != "Invoke-CmfwGraph":
            continue
        call = node.parent.text.decode()
        method = re.search(r"-Method (\w+)", call)
        assert method, call
        if method.group(1) == "GET":
            continue
        changing.append(method.group(1))
        assert node.start_point[0] > stop, f"{call} runs before the plan stops"
        conditions = _conditions(node)
        assert any("$PSCmdlet.ShouldProcess(" in c for c in conditions), call
        if method.group(1) == "DELETE":
            assert "if ($Prune)" in conditions
    assert sorted(changing) == ["DELETE", "POST", "POST", "PUT"]  # create, assign, replace, prune
    [(_, request)] = [(n, node) for n, node in _calls(text) if n == "Invoke-MgGraphRequest"]
    assert _conditions(request) == [] and request.parent.text.decode() == "Invoke-MgGraphRequest @request"


def test_the_tenant_is_asked_about_every_id_before_any_change(files: dict[str, bytes]) -> None:
    text = _text(files)
    check = text.index("$known = Get-CmfwTenantId")
    assert check < text.index("if ($Plan -or $WhatIfPreference) {")
    assert "nothing was deployed" in text[check:text.index("# -- 3. read the tenant, plan")]
    plan = json.loads(files[PLAN])
    allowed = s.written_ids()
    for kind in ("definitions", "templates", "choices"):
        assert plan["uses"][kind] and set(plan["uses"][kind]) <= allowed[kind]


def test_posted_bodies_are_the_files_as_built(files: dict[str, bytes]) -> None:
    """What is posted or put is the document's text, read from the checked package; the one
    body built in the script (the assignment) comes from ConvertTo-Json of data."""
    text = _text(files)
    assert "-Body $row.Text" in text and "$text = Read-CmfwText ([string] $Entry['path'])" in text
    bodies = re.findall(r"-Body (\$\S+)", text)
    assert sorted(bodies) == ["$body", "$row.Text", "$row.Text"]
    assert "$body = ConvertTo-Json -InputObject @{ assignments" in text


@pytest.mark.parametrize(
    "old, new, expected",
    [
        (b"Write-Host 'Some Intune", b"Invoke-Expression 'x'; Write-Host 'Some Intune", "command 'Invoke-Expression' is not one this script may call"),
        (b"Write-Host 'Some Intune", b"& $PackageRoot; Write-Host 'Some Intune", "command called through & or .: only named commands may run"),
        (b"Write-Host 'Some Intune", b"Invoke-RestMethod x; Write-Host 'Some Intune", "command 'Invoke-RestMethod' is not one this script may call"),
    ],
)
def test_planted_faults_are_caught(files: dict[str, bytes], old: bytes, new: bytes, expected: str) -> None:
    problems = validate_files({SCRIPT: files[SCRIPT].replace(old, new, 1)})
    assert [p.message for p in problems if p.file == SCRIPT] == [expected]


def test_a_broken_script_is_caught(files: dict[str, bytes]) -> None:
    broken = files[SCRIPT].replace(b"function Get-CmfwMarker {", b"function Get-CmfwMarker {{", 1)
    problems = [p for p in validate_files({SCRIPT: broken}) if p.file == SCRIPT]
    assert problems and all("syntax error" in p.message for p in problems)


def test_hostile_names_and_groups_stay_data(write: Callable[..., Path], tmp_path: Path) -> None:
    text = MINIMAL.replace("- name: Workstations", f"- name: \"{HOSTILE.replace(chr(92), chr(92) * 2)}\"\n    id: Evil")
    text = text.replace("policies:\n", "intune: {enabled: true, groups: [\"G'; Remove-Item x; '\"]}\npolicies:\n")
    out = tmp_path / "out"
    build(write(text), out)
    script = (out / SCRIPT).read_bytes()
    assert b"Evil'" not in script and b"Remove-Item" not in script
    plan = json.loads((out / PLAN).read_text(encoding="utf-8"))
    assert plan["policies"][0]["name"] == HOSTILE and plan["policies"][0]["groups"] == ["G'; Remove-Item x; '"]
    doc = json.loads((out / "intune" / "Evil.json").read_text(encoding="utf-8"))
    assert doc["name"] == HOSTILE
    assert parse_errors(script.decode("utf-8-sig")) == []


def test_the_script_is_the_same_for_every_matrix_of_a_domain(write: Callable[..., Path]) -> None:
    one = render(write(MINIMAL.replace("policies:\n", "intune: {enabled: true}\npolicies:\n"))).files[SCRIPT]
    assert one == render(EXAMPLE).files[SCRIPT]  # the example's domain is the same


# -- the plan and the marker ---------------------------------------------------------------------


def test_the_plan_lists_every_document_with_its_marker(files: dict[str, bytes]) -> None:
    plan = json.loads(files[PLAN])
    assert plan["format"] == "cmfw-intune-plan/1" and plan["template_id"] == s.TEMPLATE_ID and plan["domain"] == "corp.contoso.com"
    listed = {d["path"] for p in plan["policies"] for d in p["documents"]}
    assert listed == {p for p in files if p.startswith("intune/") and p != PLAN}
    laptops = next(p for p in plan["policies"] if p["key"] == "Laptops")
    assert laptops["groups"] == ["SG-Intune-Laptops", "SG-Intune-Laptops-Pilot"] and laptops["left_out"] == 3
    [document] = laptops["documents"]
    assert document["marker"] == intune_marker("corp.contoso.com", "", "Laptops", 1, 1)
    assert document["marker"] == json.loads(files["intune/Laptops.json"])["description"].splitlines()[0]


def test_a_plan_that_disagrees_with_the_documents_is_caught(files: dict[str, bytes]) -> None:
    mine = {p: d for p, d in files.items() if p.startswith("intune/") or p == SCRIPT}
    plan = json.loads(mine[PLAN])
    plan["policies"][0]["documents"][0]["rules"] += 1
    plan["uses"]["choices"].append(f"{s.PREFIX}_enabled_0")
    broken = dict(mine, **{PLAN: json.dumps(plan).encode()})
    messages = sorted(p.message for p in validate_files(broken) if p.file == PLAN)
    assert messages == [
        "intune/Consoles.json: name, marker or rule count differ from the document",
        "the IDs under 'uses' are not those the documents use",
    ]
    extra = dict(mine, **{"intune/Stray.json": mine["intune/Consoles.json"]})
    assert "does not list intune/Stray.json" in [p.message for p in validate_files(extra) if p.file == PLAN]


@pytest.mark.parametrize("owner", ["", "Team A"])
def test_the_marker_parses_and_is_no_gpo_marker(owner: str) -> None:
    text = intune_marker("Corp.Contoso.com", owner, "Workstations", 2, 3)
    found = re.match(INTUNE_MARKER_PATTERN, text)
    assert found is not None and found.groups() == ("corp.contoso.com", owner or None, "Workstations", "2", "3")
    assert re.match(MARKER_PATTERN, text) is None
    assert re.match(INTUNE_MARKER_PATTERN, gpo_marker("corp.contoso.com", owner, "Workstations")) is None
    assert text.startswith(gpo_marker("corp.contoso.com", owner, "Workstations").split(". Edit")[0] + ", Intune document 2 of 3.")


def test_the_build_format_the_script_checks_is_the_manifests() -> None:
    assert deploy.BUILD_FORMAT == BUILD_FORMAT


def test_check_verifies_the_intune_files_of_a_build_on_disk(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    assert check_path(out).ok
    path = out / "intune" / "PxeDPs.json"
    path.write_text(path.read_text(encoding="utf-8").replace("_direction_out", "_direction_outbound", 1), encoding="utf-8")
    problems = [(Path(p.file).name, p.message) for p in check_path(out).problems]
    assert any(name == "PxeDPs.json" and "direction_outbound' is not one of" in m for name, m in problems)  # the schema
    assert ("PxeDPs.json", "differs from the SHA-256 in build.json (edited after the build?)") in problems  # the manifest
