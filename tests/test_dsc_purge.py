"""DSC that converges: what the matrix no longer has leaves the node, and nothing else does.

No PowerShell runs here, so the purge step is checked by what it says: its scripts are
parsed with tree-sitter-powershell, the policy prefix and the list of rules to keep
are read from the parse tree, and the selection they make (``Get-NetFirewallRule
-Name <prefix>*`` minus the kept names) is applied to a simulated local store.
"""

from __future__ import annotations

import fnmatch
import warnings
from pathlib import Path
from typing import Callable

import pytest
import yaml

from builder.build import build, render
from builder.dsc.check import check_mof, script_problems
from builder.dsc.mof import decode_text, parse
from builder.errors import InputError
from builder.syntax.powershell import _parser

from .conftest import ROOT

MATRIX = """\
version: 1
domain: corp.example.com
addresses:
  consoles: [10.20.0.0/24]
  site_servers: [10.0.0.10]
  management_points: [10.0.0.20]
policies:
  - name: A
    id: A
    features: [remote-control, client-notification{extra_feature}]
    custom_rules:
      - {{id: Agent, name: Agent, direction: In, protocol: TCP, local_ports: [9443], from: consoles}}
{extra_rule}
  - name: AB
    id: AB
    features: [remote-control]
"""
EXTRA_RULE = "      - {id: Old, name: Old agent, direction: In, protocol: TCP, local_ports: [9444], from: consoles}"


def script_of(files: dict[str, bytes], path: str, part: str) -> str:
    doc = parse(decode_text(files[path]))
    [script] = [i for i in doc.instances if i.class_name == "MSFT_ScriptResource"]
    value = script.properties[part]
    assert isinstance(value, str)
    return value


def assignments(script: str) -> dict[str, list[str]]:
    """``$name = 'x'`` and ``$name = @('a', 'b')`` assignments, read from the parse tree."""
    tree = _parser().parse(script.encode("utf-8"))
    out: dict[str, list[str]] = {}
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "assignment_expression":
            target = (node.children[0].text or b"").decode()
            value = node.children[-1]
            strings = []
            inner = [value]
            while inner:
                item = inner.pop()
                if item.type == "verbatim_string_characters":
                    strings.append((item.text or b"").decode()[1:-1].replace("''", "'"))
                inner.extend(reversed(item.children))
            out.setdefault(target.strip().lower(), strings)
        stack.extend(node.children)
    return out


def stale(script: str, local_store: list[str]) -> list[str]:
    """The rules the script's own selection removes from ``local_store`` (Windows compares names
    without regard to case, and -Name takes a wildcard)."""
    found = assignments(script)
    [prefix] = found["$prefix"]
    keep = {k.casefold() for k in found["$keep"]}
    return [n for n in local_store if fnmatch.fnmatch(n.casefold(), prefix.casefold() + "*") and n.casefold() not in keep]


@pytest.fixture
def builds(write: Callable[..., Path]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    before = render(write(MATRIX.format(extra_feature=", wake-up-proxy", extra_rule=EXTRA_RULE), "before.yaml")).files
    after = render(write(MATRIX.format(extra_feature="", extra_rule=""), "after.yaml")).files
    return before, after


def ids_of(files: dict[str, bytes], key: str) -> list[str]:
    return [i.properties["Name"] for i in parse(decode_text(files[f"dsc/{key}/localhost.mof"])).instances
            if i.class_name == "DSC_Firewall"]  # type: ignore[misc]


def test_a_rebuild_removes_exactly_the_removed_rules(builds: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    before, after = builds
    removed = sorted(set(ids_of(before, "A")) - set(ids_of(after, "A")))
    assert removed and "CMFW-A-Custom-Old-In" in removed and any("WakeUpProxy" in r for r in removed)
    # The node holds everything the old build made, the other policy's rules, and its own.
    local_store = ids_of(before, "A") + ids_of(before, "AB") + ["CoreNet-DHCP-In", "CMFW-Other-Thing-In", "cmfw-a-custom-old-in"]
    for part in ("TestScript", "SetScript", "GetScript"):
        script = script_of(after, "dsc/A/localhost.mof", part)
        assert script_problems({p: script_of(after, "dsc/A/localhost.mof", p) for p in ("GetScript", "TestScript", "SetScript")}) == []
        assert sorted(stale(script, local_store)) == sorted(removed + ["cmfw-a-custom-old-in"])
    # The other policy's purge never touches A's rules (AB's prefix is CMFW-AB-, not CMFW-A-).
    assert stale(script_of(after, "dsc/AB/localhost.mof", "SetScript"), local_store) == []


def test_the_purge_step_is_in_the_script_the_mof_and_the_v3_document(builds: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    _, after = builds
    set_script = script_of(after, "dsc/A/localhost.mof", "SetScript")
    ps1 = after["dsc/A/A.ps1"].decode("utf-8-sig").replace("\r\n", "\n")
    assert "Script 'RemoveStaleRules'" in ps1
    assert "SetScript  = '" + set_script.replace("'", "''") + "'" in ps1
    doc = yaml.safe_load(after["dsc/A/A.dsc.yaml"])
    [step] = [r for r in doc["resources"] if r["type"] == "PSDesiredStateConfiguration/Script"]
    assert step["name"] == "RemoveStaleRules" and step["properties"]["SetScript"] == set_script
    assert "Remove-NetFirewallRule -PolicyStore PersistentStore -Name $name" in set_script
    assert "return ($stale.Count -eq 0" in script_of(after, "dsc/A/localhost.mof", "TestScript")


def test_pywbem_compiles_the_purge_step(shared: Path, builds: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    pywbem_mock = pytest.importorskip("pywbem_mock", reason="pywbem is not installed (pip install -e '.[test]')")
    dsc = shared / "samples" / "dsc"
    _, after = builds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conn = pywbem_mock.FakedWBEMConnection(default_namespace="root/dsc")
        conn.compile_mof_string((dsc / "authored" / "qualifiers.mof").read_text(encoding="utf-8-sig"))
        conn.compile_mof_string((dsc / "psdesiredstateconfiguration" / "BaseResource.schema.mof").read_text(encoding="utf-8-sig"))
        for schema in ("DSC_Firewall", "DSC_FirewallProfile"):
            conn.compile_mof_string((dsc / "networkingdsc" / f"{schema}.schema.mof").read_text(encoding="utf-8-sig"))
        conn.compile_mof_string((ROOT / "schemas" / "dsc" / "psdesiredstateconfiguration.mof").read_text(encoding="utf-8"))
        conn.compile_mof_string(decode_text(after["dsc/A/localhost.mof"]))
        [step] = conn.EnumerateInstances("MSFT_ScriptResource")
    assert step["SetScript"] == script_of(after, "dsc/A/localhost.mof", "SetScript")


def test_registry_policy_mode_purges_its_own_values(write: Callable[..., Path]) -> None:
    text = MATRIX.format(extra_feature="", extra_rule="").replace("    id: A\n", "    id: A\n    dsc: {resource: registry-policy}\n")
    files = render(write(text)).files
    set_script = script_of(files, "dsc/A/localhost.mof", "SetScript")
    found = assignments(set_script)
    assert found["$prefix"] == ["CMFW-A-"] and found["$key"] == [r"SOFTWARE\Policies\Microsoft\WindowsFirewall\FirewallRules"]
    assert sorted(found["$keep"]) == sorted(ids_of_registry(files))
    assert "Remove-GPRegistryPolicyFileEntry -Path $pol -RegistryPolicy $entry" in set_script
    assert "[version] '1.3.1'" in set_script  # the GPRegistryPolicyDsc the configuration imports
    refresh = [i for i in parse(decode_text(files["dsc/A/localhost.mof"])).instances if i.class_name == "MSFT_RefreshRegistryPolicy"]
    assert "[Script]RemoveStaleRules" in refresh[0].properties["DependsOn"]  # type: ignore[operator]


def ids_of_registry(files: dict[str, bytes]) -> list[str]:
    doc = parse(decode_text(files["dsc/A/localhost.mof"]))
    return [i.properties["ValueName"] for i in doc.instances if i.class_name == "MSFT_RegistryPolicyFile"  # type: ignore[misc]
            and str(i.properties["Key"]).endswith("FirewallRules")]


def test_windows_rule_ids_are_recorded_and_handed_back(write: Callable[..., Path]) -> None:
    text = MATRIX.format(extra_feature="", extra_rule="").replace("    id: A\n", "    id: A\n    rule_ids: predefined\n")
    text = text.replace("[remote-control, client-notification]", "[remote-control, client-notification, {client-push: {from: site_servers}}]")
    files = render(write(text)).files
    found = assignments(script_of(files, "dsc/A/localhost.mof", "SetScript"))
    assert "FPS-SMB-In-TCP-NoScope" in found["$managed"] and not any(m.startswith("CMFW-") for m in found["$managed"])
    set_script = script_of(files, "dsc/A/localhost.mof", "SetScript")
    # Windows' defaults for every rule it may have to hand back: disabled, its own profiles and scope.
    assert "'FPS-SMB-In-TCP' = @('Private, Public', 'LocalSubnet')" in set_script
    assert "'FPS-SMB-In-TCP-NoScope' = @('Domain', 'Any')" in set_script
    assert "Set-NetFirewallRule -PolicyStore PersistentStore -Name $id -Enabled False" in set_script
    # Localised names are not compared: no DisplayName or Description with a resource string anywhere.
    for path, data in files.items():
        if path.startswith("dsc/"):
            text_of = decode_text(data) if path.endswith(".mof") else data.decode("utf-8-sig")
            assert "@FirewallAPI" not in "".join(line for line in text_of.splitlines() if "DisplayName" in line or "Description" in line), path


T3 = """\
version: 1
domain: corp.example.com
addresses: {consoles: [10.20.0.0/24]}
policies:
  - name: T3
    id: T3
    profiles: [Domain]
    profile_settings:
      Domain: {enabled: true, default_inbound: block, allow_local_rules: false}
    features: [remote-control]
"""


def test_local_merge_off_is_refused_in_firewall_mode_and_builds_as_registry_policy(write: Callable[..., Path], tmp_path: Path) -> None:
    targeted = T3 + "    dsc: {nodes: [pc1]}\n"  # DSC is meant to apply it: the setting cannot go there
    with pytest.raises(InputError) as info:
        build(write(targeted), tmp_path / "out")
    [line] = info.value.lines()
    assert ":9:" in line and "CMFW112 dsc-local-store-off" in line and "registry-policy" in line
    assert not (tmp_path / "out").exists()
    files = build(write(T3 + "    dsc: {resource: registry-policy, nodes: [pc1]}\n", "t3.yaml"), tmp_path / "out").files
    values = [i.properties.get("ValueName") for i in parse(decode_text(files["dsc/T3/pc1.mof"])).instances]
    assert "AllowLocalPolicyMerge" in values  # written as policy, where it means what the GPO means
    for text in (targeted + "    acknowledge: {CMFW112: GPO only}\n", T3):  # acknowledged, or no nodes named
        files = render(write(text, "ack.yaml")).files
        mof = next(data for path, data in files.items() if path.startswith("dsc/T3/") and path.endswith(".mof"))
        assert "AllowLocalFirewallRules" not in decode_text(mof)  # never written to the local store


def test_a_tampered_purge_step_is_caught(builds: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    _, after = builds
    text = decode_text(after["dsc/A/localhost.mof"])
    for old, new, fragment in (
        ("$prefix = 'CMFW-A-'", "$prefix = 'CMFW-'", "does not limit itself to one policy"),
        ("$keep = @(", "$other = @(", "variable $other found"),
        ("-Name $name", "-Name \\\"$name\\\"", "expandable string literal found"),
    ):
        assert old in text, old
        broken = "\ufeff" + text.replace(old, new)
        problems = check_mof("x.mof", broken.encode("utf-16-le"))
        assert any(fragment in p.message for p in problems), (old, problems)


def test_no_file_under_domainsysvol_that_backup_xml_does_not_list(builds: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    _, after = builds
    golden = {p.relative_to(ROOT / "output" / "contoso").as_posix() for p in (ROOT / "output" / "contoso").rglob("*") if p.is_file()}
    for files in (set(after), golden):
        inside = sorted(p for p in files if "/DomainSysvol/" in p)
        assert inside and all(p.endswith("/DomainSysvol/GPO/Machine/registry.pol") for p in inside)
