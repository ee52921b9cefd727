"""Intune policies read back into rules: ours, Graph exports, and the diff across planes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner
from hypothesis import given, strategies as st

from builder.build import build
from builder.cli import cli
from builder.diff import diff_paths
from builder.errors import InputError
from builder.identifiers import gpo_guid
from builder.inspect import inspect
from builder.intune.read import parse
from builder.intune.translate import body, limit, omitted, shown_names
from builder.model import PROFILES, Rule
from builder.read import kind_of, read_path

from .conftest import EXAMPLE, MINIMAL

SAMPLES = "samples/intune"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("intune") / "out"
    return out, build(EXAMPLE, out)


def _plain(rule: Rule) -> Rule:
    """A rule as an artifact carries it: the matrix's feature and source are not in it."""
    return replace(rule, feature="", source="")


def _document(rules: list[Rule], name: str = "P", description: str = "d") -> bytes:
    return json.dumps(body(name, description, rules, shown_names(rules))).encode()


# -- our documents --------------------------------------------------------------------------------


def test_inspect_of_each_example_document_is_the_policy_less_what_was_left_out(built: tuple[Path, Any]) -> None:
    out, result = built
    for policy in result.policyset.policies:
        [content] = inspect(str(out / "intune" / f"{policy.key}.json"))
        left = {r.id for r, _ in omitted(policy)}
        assert content.name == policy.name and content.gpo_guid == policy.gpo_guid
        assert content.rules == [_plain(r) for r in policy.rules if r.id not in left], policy.key
        assert content.problems == []


def test_the_cross_plane_diff_shows_only_what_was_reported(built: tuple[Path, Any]) -> None:
    """GPO backups against the Intune documents of the same matrix: no rule added or changed;
    the rules removed are exactly those left out, the settings exactly the profile settings."""
    out, result = built
    diff = diff_paths(out / "gpo", out / "intune")
    assert (diff.a.kind, diff.b.kind) == ("backup-root", "intune-folder")
    by_name = {p.name: p for p in diff.policies}
    for policy in result.policyset.policies:
        change = by_name.get(policy.name)
        left = sorted(r.id for r, _ in omitted(policy))
        if not left and not policy.profile_settings:
            assert change is None, policy.key
            continue
        assert change is not None and change.status == "changed" and change.renamed_from is None
        assert change.added == () and change.changed == ()
        assert sorted(r.id for r in change.removed) == left
        assert len(change.settings) == len(policy.profile_settings) and all(c.b is None for c in change.settings)
    assert sum(len(p.removed) for p in diff.policies) == 18


def test_the_cli_diffs_a_matrix_against_its_intune_documents(built: tuple[Path, Any], runner: CliRunner) -> None:
    out, _ = built
    done = runner.invoke(cli, ["diff", "--format", "json", str(EXAMPLE), str(out / "intune")])
    assert done.exit_code == 1  # the rules left out and the profile settings
    doc = json.loads(done.output)
    assert doc["b"]["kind"] == "intune-folder"
    assert doc["summary"]["rules_added"] == 0 and doc["summary"]["rules_changed"] == 0 and doc["summary"]["rules_removed"] == 18
    shown = runner.invoke(cli, ["inspect", str(out / "intune" / "Consoles.json")])
    assert shown.exit_code == 0 and "CMFW-Consoles-RemoteControl-TCP-In" in shown.output and "2 rules" in shown.output


def test_a_policy_split_in_two_reads_as_one_from_its_folder(write: Callable[..., Path], tmp_path: Path) -> None:
    rules = "    custom_rules:\n" + "".join(
        f"      - {{id: R{i:03d}, name: 'Rule {i:03d}', direction: In, protocol: TCP, local_ports: [{1000 + i}], from: consoles}}\n"
        for i in range(149)
    )
    text = MINIMAL.replace("policies:\n", "intune: {enabled: true}\npolicies:\n") + rules
    result = build(write(text), tmp_path / "out")
    [policy] = result.policyset.policies
    [whole] = read_path(tmp_path / "out" / "intune")
    assert whole.name == policy.name and whole.rules == [_plain(r) for r in policy.rules] and whole.problems == []
    [part] = read_path(tmp_path / "out" / "intune" / "Workstations-2.json")
    assert part.name == "Workstations (2 of 2)" and len(part.rules) == len(policy.rules) - 150 > 0
    (tmp_path / "out" / "intune" / "Workstations-2.json").unlink()
    [half] = read_path(tmp_path / "out" / "intune")
    assert half.problems == ["document(s) 2 of 2 missing"] and len(half.rules) == 150


# -- Graph exports ---------------------------------------------------------------------------------


def test_the_real_export_reads_into_rules(shared: Path) -> None:
    path = shared / SAMPLES / "openintunebaseline" / "Win-OIB-ES-Windows-Firewall-D-Security-Rules-v3.8.json"
    assert kind_of(path) == "intune"
    [content] = read_path(path)
    assert content.name == "Win - OIB - ES - Windows Firewall - D - Security Rules - v3.8" and content.gpo_guid == ""
    assert len(content.rules) == 6 and content.problems == []
    first = content.rules[0]
    assert (first.id, first.name, first.direction, first.action, first.enabled) == (
        "LOLBIN Security - Block 32-bit calc.exe", "LOLBIN Security - Block 32-bit calc.exe", "Out", "Block", True
    )
    assert first.program == "%systemroot%\\SysWOW64\\calc.exe" and first.profiles == PROFILES and first.protocol is None
    assert first.extra == () and first.description == "LOLBIN Security - Block 32-bit calc.exe"


def test_the_accepted_payload_reads_into_rules(shared: Path) -> None:
    [content] = read_path(shared / SAMPLES / "intunefirewallmigration" / "http_payload_2025-06-11-10-58.body.json")
    rules = {r.id: r for r in content.rules}
    assert len(rules) == 7
    mdns = rules["mDNS (UDP-Out) (1)"]
    assert (mdns.protocol, mdns.remote_ports, mdns.service, mdns.profiles) == (17, ("5353",), "dnscache", ("Domain",))  # "17" was text


def test_a_graph_list_and_a_folder_of_exports_read(shared: Path, tmp_path: Path) -> None:
    export = json.loads((shared / SAMPLES / "openintunebaseline" / "Win-OIB-ES-Windows-Firewall-D-Security-Rules-v3.8.json").read_text())
    other = {"name": "Edge", "templateReference": {"templateId": ""}, "settings": []}
    (tmp_path / "list.json").write_text(json.dumps({"value": [other, export]}))
    [content] = read_path(tmp_path / "list.json")
    assert len(content.rules) == 6
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "edge.json").write_text(json.dumps(other))  # a policy of another template: passed over
    (folder / "notes.json").write_text("[1, 2]")  # not meant as a policy: passed over
    (folder / "firewall.json").write_text(json.dumps(export))
    assert kind_of(folder) == "intune-folder"
    [content] = read_path(folder)
    assert content.source == str(folder / "firewall.json")
    (folder / "firewall.json").unlink()
    with pytest.raises(InputError, match="holds no Intune firewall rule policy"):
        read_path(folder)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"settingsDelta": [{"definitionId": "deviceConfiguration--windows10EndpointProtectionConfiguration_firewallRules"}]}, "a legacy endpoint-security intent"),
        ({"name": "x", "templateReference": {"templateId": "6078910e-d808-4a9f-a51d-1b8a7bacb7c0_1"}, "settings": []}, "not a Windows Firewall Rules policy"),
        ({"name": "x", "templateReference": {"templateId": "19c8aa67-f286-4861-9aa0-f23541d31680_1"}}, "has no settings"),
        ([1, 2], "not an Intune policy"),
    ],
)
def test_what_is_no_firewall_rule_policy_is_one_clear_error(tmp_path: Path, doc: Any, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as info:
        read_path(path)
    [line] = info.value.lines()
    assert line.startswith(f"cmfw: error: {path}") or line.startswith(f"{path}: error: ")
    assert message in line


def test_malformed_json_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"name": ')
    with pytest.raises(InputError) as info:
        read_path(path)
    assert info.value.lines() == [f"{path}: error: not JSON: Expecting value at line 1, column 10"]


def test_intune_only_settings_are_kept_and_said(tmp_path: Path) -> None:
    doc = json.loads(_document([Rule(id="R", name="Store app", direction="Out", protocol=6)]))
    prefix = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}"
    doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"][0]["children"].append({
        "@odata.type": "#microsoft.graph.deviceManagementConfigurationSimpleSettingInstance",
        "settingDefinitionId": f"{prefix}_app_packagefamilyname",
        "simpleSettingValue": {"@odata.type": "#microsoft.graph.deviceManagementConfigurationStringSettingValue", "value": "Contoso.App_8wekyb3d8bbwe"},
    })
    [policy] = parse(json.dumps(doc).encode(), "p.json")
    assert policy.rules[0].extra == (("Intune:app_packagefamilyname", "Contoso.App_8wekyb3d8bbwe"),)
    assert policy.problems == ["rule 1 (Store app): app_packagefamilyname App/PackageFamilyName has no GPO rule-string equivalent; kept in extra"]


def test_an_edit_in_intune_is_not_hidden_by_the_trailer() -> None:
    rules = [Rule(id="FPS-SMB-In-TCP", name="@FirewallAPI.dll,-28511", description="@FirewallAPI.dll,-28514", group="@FirewallAPI.dll,-28502", direction="In", protocol=6, local_ports=("445",))]
    doc = json.loads(_document(rules))
    [policy] = parse(json.dumps(doc).encode(), "p.json")
    assert policy.rules == rules and policy.problems == []
    name = doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"][0]["children"][0]["simpleSettingValue"]
    assert name["value"] == "File and Printer Sharing (SMB-In)"
    name["value"] = "SMB for the kiosks"
    [edited] = parse(json.dumps(doc).encode(), "p.json")
    assert edited.rules[0].name == "SMB for the kiosks"
    assert edited.problems == ["rule 1 (SMB for the kiosks): renamed in Intune (cmfw wrote 'File and Printer Sharing (SMB-In)'); read under its Intune name"]


# -- the round trip, for any rule Intune can carry ----------------------------------------------


_text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=30)
    | st.sampled_from(["[cmfw] rule: Other", "[cmfw] group: G", "Dup", "dup"])
).map(str.strip).filter(lambda x: bool(x) and not x.startswith("@"))
_port = st.integers(0, 65535).map(str) | st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(lambda t: f"{min(t)}-{max(t)}")
_address = st.sampled_from(["10.0.0.1", "10.0.0.0/8", "10.1.1.1-10.1.1.9", "fe80::/64", "2001:db8::1"])


@st.composite
def _rules(draw: Any) -> Rule:
    protocol = draw(st.sampled_from([None, 1, 6, 17, 41, 58]))
    ports = protocol in (6, 17)
    direction = draw(st.sampled_from(["In", "Out"]))
    return Rule(
        id=draw(st.from_regex(r"[A-Za-z][A-Za-z0-9.-]{0,30}", fullmatch=True)),
        name=draw(_text),
        description=draw(st.one_of(st.just(""), _text)),
        group=draw(st.one_of(st.just(""), _text)),
        direction=direction,
        action=draw(st.sampled_from(["Allow", "Block"])),
        protocol=protocol,
        local_ports=tuple(draw(st.lists(_port, max_size=3))) if ports else (),
        remote_ports=tuple(draw(st.lists(_port, max_size=3))) if ports else (),
        local_addresses=tuple(draw(st.lists(_address, max_size=2))),
        remote_addresses=tuple(draw(st.lists(_address | st.sampled_from(["LocalSubnet", "DNS", "DefaultGateway"]), max_size=3))),
        program=draw(st.one_of(st.none(), _text)),
        service=draw(st.one_of(st.none(), st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True))),
        profiles=tuple(draw(st.lists(st.sampled_from(PROFILES), min_size=1, unique=True))),
        enabled=draw(st.booleans()),
        edge_traversal=draw(st.sampled_from([None, "Allow"])) if direction == "In" else None,
        extra=tuple(("IFType", v) for v in draw(st.lists(st.sampled_from(["Lan", "Wireless", "RemoteAccess"]), unique=True, max_size=2))),
    )


@given(st.lists(_rules(), min_size=1, max_size=4, unique_by=lambda r: r.id.casefold()))
def test_what_cmfw_writes_it_reads_back(rules: list[Rule]) -> None:
    assert all(limit(r) is None for r in rules)
    [policy] = parse(_document(rules), "p.json")
    ordered = sorted(rules, key=lambda r: r.id.casefold())
    assert sorted(policy.rules, key=lambda r: r.id.casefold()) == ordered
    assert policy.problems == []


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_input_is_read_or_refused_with_a_value_error(data: bytes) -> None:
    try:
        parse(data, "p.json")
    except ValueError:
        pass


def test_the_gpo_guid_of_a_document_is_its_policys(built: tuple[Path, Any]) -> None:
    out, result = built
    laptops = next(p for p in result.policyset.policies if p.key == "Laptops")
    [content] = read_path(out / "intune" / "Laptops.json")
    assert content.gpo_guid == gpo_guid("corp.contoso.com", "Laptops") == laptops.gpo_guid
