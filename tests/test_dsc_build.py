"""DSC artifacts of a build: layout, both resource modes, hostile text, reading MOFs back."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
import yaml

from builder.profilesettings import LOCAL_MERGE
from builder.build import build, render
from builder.check import check_path
from builder.dsc.mof import decode_text, parse
from builder.syntax.powershell import _parser
from builder.errors import InputError
from builder.inspect import inspect

from .conftest import EXAMPLE, MINIMAL


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render(EXAMPLE).files


def test_files_per_policy(files: dict[str, bytes]) -> None:
    dsc = sorted(p for p in files if p.startswith("dsc/Workstations/"))
    assert dsc == ["dsc/Workstations/Workstations.dsc.yaml", "dsc/Workstations/Workstations.ps1", "dsc/Workstations/Workstations.psd1",
                   "dsc/Workstations/localhost.mof", "dsc/Workstations/localhost.mof.checksum"]
    assert {p for p in files if p.startswith("dsc/Servers/") and p.endswith(".mof")} == {
        "dsc/Servers/srv01.corp.contoso.com.mof", "dsc/Servers/srv02.corp.contoso.com.mof"}
    for path, data in files.items():
        if path.endswith(".mof"):
            assert files[path + ".checksum"] == hashlib.sha256(data).hexdigest().upper().encode()
            assert data.startswith(b"\xff\xfe")
        if path.endswith((".ps1", ".psd1")):
            assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")


def test_firewall_mode_mof_equals_the_resolved_rules(files: dict[str, bytes], tmp_path: Path) -> None:
    policyset = render(EXAMPLE).policyset
    out = tmp_path / "out"
    build(EXAMPLE, out)
    for policy in policyset.policies:
        for node in policy.dsc.nodes:
            [gpo] = inspect(str(out / "dsc" / policy.key / f"{node}.mof"))
            expected = sorted((replace(r, feature="", source="") for r in policy.rules), key=lambda r: r.id)
            if policy.dsc.resource == "firewall":
                # Under Windows' IDs the name and description stay Windows' own (resource strings that
                # Get-NetFirewallRule returns localised), and local merge switched off is left to the GPO.
                expected = [replace(r, name=r.id, description="") if r.name.startswith("@") else r for r in expected]
                settings = tuple(s for s in policy.profile_settings if not (s.name in LOCAL_MERGE and s.value == 0))
            else:
                settings = policy.profile_settings
            assert sorted(gpo.rules, key=lambda r: r.id) == expected, (policy.key, node)
            assert tuple(gpo.profile_settings) == settings


def test_registry_policy_mode_writes_the_gpo_values(files: dict[str, bytes]) -> None:
    text = decode_text(files["dsc/Servers/srv01.corp.contoso.com.mof"])
    assert "instance of MSFT_RegistryPolicyFile as $MSFT_RegistryPolicyFile1ref" in text
    assert 'ModuleName = "GPRegistryPolicyDsc";' in text and 'ModuleVersion = "1.3.1";' in text
    assert 'Key = "SOFTWARE\\\\Policies\\\\Microsoft\\\\WindowsFirewall\\\\FirewallRules";' in text
    assert "instance of MSFT_RefreshRegistryPolicy" in text and "DependsOn = {" in text
    # The very registry.pol values: the GPO's rule strings, byte for byte.
    from builder.registry.registrypol import decode

    pol = next(v for p, v in files.items() if p.endswith("registry.pol") and "CMFW-Servers-".encode("utf-16-le") in v)
    strings = {e.value: e.text for e in decode(pol) if e.key.endswith("FirewallRules")}
    doc = parse(text)
    mof_strings = {i.properties["ValueName"]: i.properties["ValueData"][0] for i in doc.instances if i.class_name == "MSFT_RegistryPolicyFile" and i.properties["Key"].endswith("FirewallRules")}
    assert mof_strings == strings


def test_v3_documents_keep_strings_strings(files: dict[str, bytes]) -> None:
    doc = yaml.safe_load(files["dsc/Laptops/Laptops.dsc.yaml"])
    assert doc["$schema"] == "https://aka.ms/dsc/schemas/v3/bundled/config/document.json"
    cmg = next(r for r in doc["resources"] if r["properties"]["Name"] == "CMFW-Laptops-CloudManagementGateway-HTTPS-Out")
    assert cmg["name"] == "CMFW Laptops CloudManagementGateway HTTPS Out" and cmg["type"] == "NetworkingDsc/Firewall"
    assert cmg["properties"]["Enabled"] == "True" and cmg["properties"]["RemotePort"] == ["443"]
    assert cmg["properties"]["Profile"] == ["Any"]  # all three profiles, as Windows reports them
    assert cmg["directives"] == {"requireAdapter": "Microsoft.Adapter/WindowsPowerShell"}


HOSTILE_NAME = "Evil 'quote' ’smart’ \"dq\" $(Remove-Item C:\\ -Recurse) `whoami` ; Remove-Item x – Zürich ☃"
HOSTILE_DESCRIPTION = "C:\\x " + HOSTILE_NAME


def hostile_matrix(write: Callable[..., Path], extra: str = "") -> Path:
    q = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731 - YAML single quotes
    text = MINIMAL.replace("- name: Workstations", f"- name: {q(HOSTILE_NAME)}\n    id: Evil\n    description: {q(HOSTILE_NAME + ' (description)')}")
    description = q(HOSTILE_DESCRIPTION)
    text += f"    custom_rules:\n      - {{id: Agent, name: {q(HOSTILE_NAME + ' rule')}, description: {description}, direction: In, protocol: TCP, local_ports: [1], from: consoles}}\n"
    return write(text + extra)


def literals(source: str) -> list[str]:
    """The values of every single-quoted literal in PowerShell source (tree-sitter)."""
    out = []
    stack = [_parser().parse(source.encode("utf-8")).root_node]
    while stack:
        node = stack.pop()
        if node.type == "string_literal":
            text = node.text.decode("utf-8")
            assert text[0] in "'\u2018\u2019\u201a\u201b", text  # never a double-quoted string
            body = text[1:-1]
            for q in "'\u2018\u2019\u201a\u201b":
                body = body.replace(q + q, q)
            out.append(body)
        stack.extend(node.children)
    return out


def test_hostile_text_is_one_literal_everywhere(write: Callable[..., Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(hostile_matrix(write), out)
    assert check_path(out).ok
    script = (out / "dsc" / "Evil" / "Evil.ps1").read_bytes().decode("utf-8-sig")
    data = (out / "dsc" / "Evil" / "Evil.psd1").read_bytes().decode("utf-8-sig")
    assert HOSTILE_NAME + " rule" in literals(script)
    assert HOSTILE_DESCRIPTION in literals(script)
    assert HOSTILE_NAME in literals(data) and HOSTILE_NAME + " (description)" in literals(data)
    doc = parse(decode_text((out / "dsc" / "Evil" / "localhost.mof").read_bytes()))
    agent = next(i for i in doc.instances if i.properties.get("Name") == "CMFW-Evil-Custom-Agent-In")
    assert agent.properties["DisplayName"] == HOSTILE_NAME + " rule"
    v3 = yaml.safe_load((out / "dsc" / "Evil" / "Evil.dsc.yaml").read_bytes())
    assert v3["metadata"]["cmfw"]["policy"] == HOSTILE_NAME
    assert next(r for r in v3["resources"] if r["properties"]["Name"] == "CMFW-Evil-Custom-Agent-In")["properties"]["Description"] == HOSTILE_DESCRIPTION


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ("    dsc: {nodes: [\"web01'; Remove-Item\"]}\n", "is not a computer name"),
        ("    dsc: {nodes: ['$(whoami)']}\n", "is not a computer name"),
        ("    dsc: {nodes: [CON]}\n", "reserved device name"),
        ("    dsc: {nodes: [web01, WEB01]}\n", "repeats nodes[0]"),
    ],
)
def test_node_names_that_cannot_be_made_safe_are_refused(write: Callable[..., Path], extra: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        render(write(MINIMAL + extra))
    [line] = info.value.lines()
    assert "policies[0].dsc.nodes" in line and fragment in line


def test_a_description_with_a_newline_is_refused(write: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match="contains a line break"):
        render(write(MINIMAL.replace("- name: Workstations", '- name: Workstations\n    description: "two\\nlines"')))


def test_rules_networkingdsc_cannot_express_are_refused(write: Callable[..., Path]) -> None:
    text = MINIMAL + "    custom_rules:\n      - {id: Disc, name: Discovery, direction: In, protocol: UDP, local_ports: [mDNS], from: consoles}\n"
    with pytest.raises(InputError, match="the port keyword mDNS cannot be expressed with NetworkingDsc Firewall; use `dsc: {resource: registry-policy}`"):
        render(write(text))
    assert render(write(text + "    dsc: {resource: registry-policy}\n", "ok.yaml")).files


def test_module_versions_come_from_the_matrix(write: Callable[..., Path]) -> None:
    files = render(write("dsc: {networkingdsc_version: 9.0.0}\n" + MINIMAL)).files
    assert "ModuleVersion = \"9.0.0\";" in decode_text(files["dsc/Workstations/localhost.mof"])
    assert b"-ModuleVersion '9.0.0'" in files["dsc/Workstations/Workstations.ps1"]
    assert json.loads(files["rules.json"])["policies"][0]["dsc"]["networkingdsc_version"] == "9.0.0"


def test_broken_mof_is_found_by_check(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    mof = out / "dsc" / "Consoles" / "localhost.mof"
    mof.write_bytes(mof.read_bytes().replace('Ensure = "Present"'.encode("utf-16-le"), 'Ensure = "Maybe"'.encode("utf-16-le")))
    messages = [p.format() for p in check_path(out).problems]
    assert any("localhost.mof.checksum: error: is not the upper-case SHA-256" in m for m in messages)
    assert any("DSC_Firewall.Ensure: 'Maybe' is not one of Present, Absent" in m for m in messages)
