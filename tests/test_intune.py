"""Intune firewall rule policies: the documents, what Intune cannot carry, the schema."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

from builder.build import build, render
from builder.errors import ArtifactError, InputError
from builder.formats import validate_files
from builder.intune import settings as s
from builder.intune.check import document_problems, schema_problems
from builder.intune.translate import document_paths, limit, omitted, plane, shown_names
from builder.lintcodes import CHECKS
from builder.model import IntuneOptions, Policy, Rule

from .conftest import EXAMPLE, MINIMAL, ROOT

P = s.PREFIX
SAMPLES = (
    "openintunebaseline/Win-OIB-ES-Windows-Firewall-D-Security-Rules-v3.8.json",
    "intunefirewallmigration/http_payload_2025-06-11-10-58.body.json",
    "authored/firewall-rules-policy.create.example.json",
)


@pytest.fixture(scope="module")
def example() -> Any:
    return render(EXAMPLE)


def _doc(files: dict[str, bytes], path: str) -> dict[str, Any]:
    return json.loads(files[path].decode("utf-8"))


def _rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["settings"][0]["settingInstance"]["groupSettingCollectionValue"]


def _child(rule: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(c for c in rule["children"] if c["settingDefinitionId"] == f"{P}_{suffix}")


def _matrix(write: Callable[..., Path], intune: str, rules: str = "", features: str = "[client-requests]") -> Path:
    text = MINIMAL.replace("[client-requests, remote-control]", features)
    text = text.replace("policies:\n", f"intune: {intune}\npolicies:\n") + "    id: P\n" + rules
    return write(text)


# -- the example --------------------------------------------------------------------------------


def test_the_example_writes_every_policy_for_intune_and_every_document_validates(example: Any) -> None:
    files = example.files
    for policy in example.policyset.policies:
        assert policy.intune.enabled
        path = f"intune/{policy.key}.json"
        assert schema_problems(path, _doc(files, path)) == [] and document_problems(path, files[path]) == []
    assert "Deploy-CmfwIntune.ps1" in files and "intune/cmfw-intune-plan.json" in files
    assert sorted(p for p in files if p.startswith("intune/")) == sorted(
        [f"intune/{p.key}.json" for p in example.policyset.policies] + ["intune/cmfw-intune-plan.json"]
    )
    assert validate_files({p: d for p, d in files.items() if p.startswith("intune/") or p == "Deploy-CmfwIntune.ps1"}) == []


def test_a_document_is_a_post_body_for_the_firewall_rules_template(example: Any) -> None:
    doc = _doc(example.files, "intune/Workstations.json")
    assert list(doc) == ["name", "description", "platforms", "technologies", "roleScopeTagIds", "templateReference", "settings"]
    assert (doc["name"], doc["platforms"], doc["technologies"]) == ("ConfigMgr Clients - Workstations", "windows10", "mdm,microsoftSense")
    assert doc["templateReference"] == {"templateId": "19c8aa67-f286-4861-9aa0-f23541d31680_1"}
    assert doc["description"].splitlines()[0] == (
        "Managed by cmfw: domain corp.contoso.com, policy Workstations, Intune document 1 of 1. Edit the matrix, not this Intune policy."
    )
    [setting] = doc["settings"]
    assert setting["settingInstance"]["settingDefinitionId"] == P
    rules = _rules(doc)
    policy = next(p for p in example.policyset.policies if p.key == "Workstations")
    assert len(rules) == len(policy.rules) - len(omitted(policy)) == 50
    for i, rule in enumerate(rules):
        ids = [c["settingDefinitionId"][len(P) + 1:] for c in rule["children"]]
        assert ids[:5] == ["name", "description", "enabled", "direction", "action_type"]  # enabled and direction always
        refs = [c["settingInstanceTemplateReference"] for c in rule["children"]]
        assert all(r is not None for r in refs) if i == 0 else all(r is None for r in refs)
    first = rules[0]
    assert _child(first, "name")["simpleSettingValue"]["settingValueTemplateReference"]["settingValueTemplateId"] == "12994a33-6185-4c3d-a0e8-69316f6293ea"
    assert _child(first, "enabled")["choiceSettingValue"]["value"] == f"{P}_enabled_1"


def test_a_rule_becomes_exactly_its_fields(example: Any) -> None:
    doc = _doc(example.files, "intune/Workstations.json")
    [rule] = [r for r in _rules(doc) if "[cmfw] rule: CMFW-Workstations-Custom-InventoryAgent-In" in _child(r, "description")["simpleSettingValue"]["value"]]
    values = {c["settingDefinitionId"][len(P) + 1:]: c for c in rule["children"]}
    assert values["name"]["simpleSettingValue"]["value"] == "Contoso inventory agent (TCP-In)"
    assert values["description"]["simpleSettingValue"]["value"] == (
        "The inventory agent's listener, polled by the site servers.\n"
        "[cmfw] rule: CMFW-Workstations-Custom-InventoryAgent-In\n[cmfw] group: ConfigMgr custom rules"
    )
    assert values["direction"]["choiceSettingValue"]["value"] == f"{P}_direction_in"
    assert values["action_type"]["choiceSettingValue"]["value"] == f"{P}_action_type_1"
    assert values["protocol"]["simpleSettingValue"]["value"] == 6  # a JSON number
    assert [v["value"] for v in values["localportranges"]["simpleSettingCollectionValue"]] == ["9443"]
    assert [v["value"] for v in values["remoteaddressranges"]["simpleSettingCollectionValue"]] == ["10.0.0.10", "10.0.0.11"]
    assert values["app_filepath"]["simpleSettingValue"]["value"] == "%ProgramFiles%\\Contoso\\Inventory\\agent.exe"
    assert [v["value"] for v in values["profiles"]["choiceSettingCollectionValue"]] == [f"{P}_profiles_1"]
    assert set(values) == {"name", "description", "enabled", "direction", "action_type", "protocol", "localportranges", "remoteaddressranges", "app_filepath", "profiles"}


def test_predefined_rules_become_custom_rules_with_the_same_conditions(example: Any) -> None:
    kiosks = next(p for p in example.policyset.policies if p.key == "Kiosks")
    found = plane(kiosks, "corp.contoso.com", "")
    names = shown_names(found.documents[0].rules)
    assert names["FPS-SMB-In-TCP"] == "File and Printer Sharing (SMB-In)"
    assert names["FPS-SMB-In-TCP-NoScope"] == "File and Printer Sharing (SMB-In) (2)"  # Intune refuses duplicate names
    notes = dict((r.id, note) for r, note in found.translated)
    assert "predefined rule, written as a custom rule" in notes["FPS-SMB-In-TCP"]
    assert "Intune refuses two rules of one name" in notes["FPS-SMB-In-TCP-NoScope"]


# -- what Intune cannot carry ----------------------------------------------------------------------


RULE = Rule(id="CMFW-P-X-In", name="X", direction="In", protocol=6, local_ports=("8080",))


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"local_ports": ("RPC",)}, "the port keyword RPC"),
        ({"local_ports": ("RPC-EPMap",)}, "the port keyword RPC-EPMap"),
        ({"local_ports": ("Teredo",), "protocol": 17}, "the port keyword Teredo"),
        ({"local_ports": ("IPHTTPSIn",)}, "the port keyword IPHTTPSIn"),
        ({"local_ports": ("70000",)}, "not a number or range of 0-65535"),
        ({"protocol": None}, "ports need protocol TCP or UDP"),
        ({"action": "ByPass"}, "action ByPass"),
        ({"remote_addresses": ("Intranet",)}, "the remote address keyword Intranet"),
        ({"remote_addresses": ("CaptivePortal",)}, "the remote address keyword CaptivePortal"),
        ({"local_addresses": ("LocalSubnet",)}, "the local address keyword LocalSubnet"),
        ({"local_ports": (), "protocol": 1, "icmp_types": ("8:*",)}, "the ICMP types 8:*"),
        ({"edge_traversal": "DeferToApp"}, "edge traversal DeferToApp"),
        ({"edge_traversal": "Allow", "direction": "Out"}, "edge traversal on an outbound rule"),
        ({"extra": (("Security", "AuthenticateEncrypt"),)}, "the rule-string tokens Security"),
        ({"name": "@FirewallAPI.dll,-99999"}, "the resource string @FirewallAPI.dll,-99999"),
        ({"name": "two\nlines"}, "its name contains a line break"),
        ({"service": "*"}, "the service * (any service)"),
    ],
)
def test_what_intune_cannot_carry_is_named(change: dict[str, Any], expected: str) -> None:
    reason = limit(replace(RULE, **change))
    assert reason is not None and expected in reason


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"remote_addresses": ("LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "10.0.0.0/8", "fe80::/64", "10.1.1.1-10.1.1.9")},
        {"local_ports": ("1-1024", "49152-65535")},
        {"edge_traversal": "Allow"},
        {"extra": (("IFType", "Lan"),)},
        {"local_ports": (), "protocol": 58},
        {"action": "Block", "enabled": False, "profiles": ("Private",)},
        {"name": "@FirewallAPI.dll,-28511", "description": "@FirewallAPI.dll,-28514", "group": "@FirewallAPI.dll,-28502"},
    ],
)
def test_what_intune_can_carry_is_not_refused(change: dict[str, Any]) -> None:
    assert limit(replace(RULE, **change)) is None


def test_an_rpc_rule_is_refused_at_its_matrix_entry(write: Callable[..., Path]) -> None:
    rpc = (
        "    custom_rules:\n"
        "      - id: Agent\n        name: Agent (RPC-In)\n        direction: In\n        protocol: TCP\n"
        "        local_ports: [RPC]\n        from: consoles\n"
    )
    matrix = _matrix(write, "{enabled: true}", rpc)
    with pytest.raises(InputError) as info:
        render(matrix)
    [line] = info.value.lines()
    assert line.startswith(
        f"{matrix}:12:9: error: policies[0].custom_rules[0]: Intune, policy P: rule CMFW-P-Custom-Agent-In of the custom rules "
        "cannot be carried: the port keyword RPC ("
    )
    assert "cmfw does not rewrite it" in line and line.endswith("set `intune: {unsupported: omit}` to leave it out (lint reports it)")


def test_an_rpc_rule_is_left_out_and_reported_with_omit(write: Callable[..., Path], tmp_path: Path) -> None:
    rpc = (
        "    custom_rules:\n"
        "      - id: Agent\n        name: Agent (RPC-In)\n        direction: In\n        protocol: TCP\n"
        "        local_ports: [RPC]\n        from: consoles\n"
    )
    result = build(_matrix(write, "{enabled: true, unsupported: omit}", rpc), tmp_path / "out")
    [policy] = result.policyset.policies
    [(rule, reason)] = omitted(policy)
    assert rule.id == "CMFW-P-Custom-Agent-In" and reason.startswith("the port keyword RPC (")
    doc = json.loads((tmp_path / "out" / "intune" / "P.json").read_text(encoding="utf-8"))
    assert len(_rules(doc)) == len(policy.rules) - 1
    assert "CMFW-P-Custom-Agent-In" not in json.dumps(doc)
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "1 rule left out (lint CMFW113 below, each with its reason)" in markdown and "`intune/P.json` (2), 1 left out |" in markdown
    assert "CMFW113` Workstations, `CMFW-P-Custom-Agent-In`: left out of the Intune documents\\: the port keyword RPC (" in markdown
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="intune-left-out-P"' in html and "CMFW-P-Custom-Agent-In" in html


def test_omitted_is_empty_unless_the_policy_omits() -> None:
    rpc = replace(RULE, local_ports=("RPC",))
    base = Policy("P", "P", "{X}", rules=(rpc,))
    assert omitted(base) == []  # not written for Intune
    assert omitted(replace(base, intune=IntuneOptions(enabled=True))) == []  # refused, not omitted
    assert [r.id for r, _ in omitted(replace(base, intune=IntuneOptions(enabled=True, unsupported="omit")))] == [rpc.id]
    assert CHECKS["CMFW113"].name == "intune-left-out"


def test_the_configmanager_variant_is_refused_with_a_reason(write: Callable[..., Path]) -> None:
    with pytest.raises(InputError) as info:
        render(_matrix(write, "{enabled: true, technologies: configManager}"))
    [line] = info.value.lines()
    assert "policies[0].intune.technologies: policy P: `technologies: configManager`" in line
    assert "no real policy of it has been published" in line and line.endswith("use `technologies: mdm`")


def test_nothing_is_written_for_intune_unless_a_policy_asks(write: Callable[..., Path]) -> None:
    files = render(write(MINIMAL)).files
    assert not [p for p in files if p.startswith("intune/") or p == "Deploy-CmfwIntune.ps1"]
    manifest = json.loads(files["build.json"])
    assert not [p for p in manifest["files"] if "intune" in p.lower()]


def test_profile_settings_are_reported_not_carried(example: Any) -> None:
    markdown = example.files["report.md"].decode("utf-8")
    assert "18 rules left out (lint CMFW113 below, each with its reason); profile settings are not part of a firewall rule policy." in markdown
    html = example.files["report.html"].decode("utf-8")
    assert "The 7 profile settings are not part of a firewall rule policy." in html


# -- splitting at 150 rules ----------------------------------------------------------------------


def _many(n: int) -> str:
    return "    custom_rules:\n" + "".join(
        f"      - {{id: R{i:03d}, name: 'Rule {i:03d}', direction: In, protocol: TCP, local_ports: [{1000 + i}], from: consoles}}\n"
        for i in range(n)
    )


def test_a_policy_of_151_rules_is_two_documents(write: Callable[..., Path]) -> None:
    files = render(_matrix(write, "{enabled: true}", _many(149))).files  # + the 2 rules of client-requests
    docs = sorted(p for p in files if p.startswith("intune/P"))
    assert docs == ["intune/P-1.json", "intune/P-2.json"]
    first, second = (_doc(files, p) for p in docs)
    assert (len(_rules(first)), len(_rules(second))) == (150, 1)
    assert (first["name"], second["name"]) == ("Workstations (1 of 2)", "Workstations (2 of 2)")
    assert second["description"].startswith("Managed by cmfw: domain corp.contoso.com, policy P, Intune document 2 of 2. ")
    assert all(r is not None for r in (c["settingInstanceTemplateReference"] for c in _rules(second)[0]["children"]))
    plan = json.loads(files["intune/cmfw-intune-plan.json"])
    assert [(d["path"], d["rules"]) for d in plan["policies"][0]["documents"]] == [("intune/P-1.json", 150), ("intune/P-2.json", 1)]
    assert all(document_problems(p, files[p]) == [] for p in docs)


def test_a_policy_of_150_rules_is_one_document(write: Callable[..., Path]) -> None:
    files = render(_matrix(write, "{enabled: true}", _many(148))).files
    assert [p for p in files if p.startswith("intune/P")] == ["intune/P.json"]
    assert len(_rules(_doc(files, "intune/P.json"))) == 150


def test_split_documents_are_named_so_that_they_sort() -> None:
    assert document_paths("P", 1) == ["intune/P.json"]
    assert document_paths("P", 2) == ["intune/P-1.json", "intune/P-2.json"]
    paths = document_paths("P", 12)
    assert paths[0] == "intune/P-01.json" and paths[-1] == "intune/P-12.json" and paths == sorted(paths)


# -- the schema -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES)
def test_the_real_samples_validate(shared: Path, sample: str) -> None:
    doc = json.loads((shared / "samples" / "intune" / sample).read_text(encoding="utf-8"))
    assert schema_problems(sample, doc) == []


def _mutate(doc: dict[str, Any], suffix: str, change: Callable[[dict[str, Any]], None], rule: int = 0) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    change(_child(_rules(out)[rule], suffix))
    return out


@pytest.mark.parametrize(
    "suffix, change, path_end, message",
    [
        ("action_type", lambda c: c["choiceSettingValue"].update(value=f"{P}_action_type_allow"), "choiceSettingValue.value", "is not one of"),
        ("direction", lambda c: c["choiceSettingValue"].update(value="in"), "choiceSettingValue.value", "is not one of"),
        ("profiles", lambda c: c["choiceSettingCollectionValue"][0].update(value=f"{P}_profiles_3"), "value", "is not one of"),
        ("name", lambda c: c["settingInstanceTemplateReference"].update(settingInstanceTemplateId="00000000-0000-0000-0000-000000000000"), "settingInstanceTemplateReference", "is not valid under any of the given schemas"),
        ("name", lambda c: c.update(settingDefinitionId=f"{P}_displayname"), "settingDefinitionId", "is not one of"),
        ("protocol", lambda c: c["simpleSettingValue"].update(value=256), "simpleSettingValue.value", "is not valid under any"),
    ],
)
def test_a_wrong_id_or_value_fails_the_schema(example: Any, suffix: str, change: Callable[[dict[str, Any]], None], path_end: str, message: str) -> None:
    doc = _doc(example.files, "intune/Laptops.json")
    assert schema_problems("d", doc) == []
    problems = schema_problems("d", _mutate(doc, suffix, change))
    assert problems and any(p.path.endswith(path_end) and message in p.message for p in problems), problems


def test_the_schema_knows_the_csp_rules_between_settings(example: Any) -> None:
    doc = _doc(example.files, "intune/Laptops.json")  # its first rule: TCP to a remote port
    udp_less = _mutate(doc, "protocol", lambda c: c["simpleSettingValue"].update(value=1))
    assert [p.message for p in schema_problems("d", udp_less)] == ["breaks: Ports need protocol 6 (TCP) or 17 (UDP)."]
    twice = copy.deepcopy(doc)
    _rules(twice)[0]["children"].append(copy.deepcopy(_rules(twice)[0]["children"][2]))
    assert [p.message for p in schema_problems("d", twice)] == ["the setting enabled appears more than once"]
    without = copy.deepcopy(doc)
    _rules(without)[1]["children"] = [c for c in _rules(without)[1]["children"] if not c["settingDefinitionId"].endswith("_direction")]
    assert [p.message for p in schema_problems("d", without)] == ["the setting direction is missing"]
    many = copy.deepcopy(doc)
    _rules(many).extend([copy.deepcopy(_rules(many)[1])] * 149)
    assert [p.message for p in schema_problems("d", many)] == ["more than 150 items"]


def test_the_parts_of_the_schema_find_what_the_whole_finds(example: Any, shared: Path) -> None:
    """schema_problems applies the schema in memoised parts; on every mutation here, the
    errors are the ones jsonschema finds with the whole schema at once."""
    from builder.jsonschemas import validator

    whole = validator("intune/firewall-rules-policy.schema.json")
    base = json.loads((shared / "samples" / "intune" / SAMPLES[1]).read_text(encoding="utf-8"))
    ours = _doc(example.files, "intune/Laptops.json")
    mutations: list[Callable[[dict[str, Any]], None]] = [
        lambda d: None,
        lambda d: _rules(d)[0]["children"].append(5),
        lambda d: _rules(d)[0]["children"].append({}),
        lambda d: _rules(d).append("rule"),
        lambda d: _rules(d)[1].update(children="x"),
        lambda d: _rules(d)[2]["children"][0].update(settingDefinitionId=7),
        lambda d: _rules(d)[3]["children"].pop(),
        lambda d: d["settings"].append({"settingInstance": {}}),
        lambda d: d.update(platforms="macOS"),
        lambda d: next(c for c in _rules(d)[0]["children"] if "choiceSettingValue" in c)["choiceSettingValue"].update(children=[{}]),
        lambda d: _child(_rules(d)[1], "name")["simpleSettingValue"].update(value=""),
        lambda d: _child(_rules(d)[1], "name")["simpleSettingValue"].update(value=5),
        lambda d: _child(_rules(d)[2], "description")["simpleSettingValue"].update(value=None, extra=1),
        lambda d: _child(_rules(d)[0], "name").update(simpleSettingValue="x"),
    ]
    for doc in (base, ours):
        for mutate in mutations:
            probe = copy.deepcopy(doc)
            mutate(probe)
            assert sorted(p.path for p in schema_problems("d", probe)) == sorted(e.json_path for e in whole.iter_errors(probe))


def test_our_own_form_is_checked_beyond_the_schema(example: Any) -> None:
    doc = _doc(example.files, "intune/Consoles.json")
    exported = dict(doc, id="6f8db2e3-340e-4aad-8e62-6f463ed00014")
    assert schema_problems("intune/Consoles.json", exported) == []  # an export may carry it
    [problem] = document_problems("intune/Consoles.json", json.dumps(exported).encode())
    assert "are not a POST body's" in problem.message
    text = copy.deepcopy(doc)
    _child(_rules(text)[1], "protocol")["simpleSettingValue"]["value"] = "6"
    assert [p.message for p in document_problems("intune/Consoles.json", json.dumps(text).encode())] == ["the protocol is not a JSON number"]
    twin = copy.deepcopy(doc)
    _child(_rules(twin)[1], "name")["simpleSettingValue"]["value"] = _child(_rules(twin)[0], "name")["simpleSettingValue"]["value"].upper()
    assert "Intune refuses duplicates" in document_problems("intune/Consoles.json", json.dumps(twin).encode())[0].message
    moved = document_problems("intune/Laptops.json", json.dumps(doc).encode())
    assert [p.message for p in moved] == ["the marker names document 1 of 1 of policy Consoles, not intune/Laptops.json"]


def test_a_broken_document_stops_the_build(example: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.intune import translate

    real = translate.values

    def wrong(rule: Rule, shown: str) -> dict[str, Any]:
        out = real(rule, shown)
        out["direction"] = "inbound"
        return out

    monkeypatch.setattr(translate, "values", wrong)
    direction = s.CHILDREN["direction"]
    monkeypatch.setitem(s.CHILDREN, "direction", replace(direction, options=direction.options + (s.Option("inbound", "", ""),)))
    with pytest.raises(ArtifactError, match=r"intune/Consoles.json: \$\.settings.*direction_inbound' is not one of"):
        render(EXAMPLE)


def test_the_settings_table_and_the_schema_agree() -> None:
    """settings.py and the schema were each typed from the reference: a typo in either shows."""
    import jsonschema

    schema = json.loads((ROOT / "schemas" / "intune" / "firewall-rules-policy.schema.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    defs = schema["$defs"]
    assert set(schema["$defs"]["ruleSetting"]["properties"]["settingDefinitionId"]["enum"]) == {c.id for c in s.CHILDREN.values()}
    text = json.dumps(schema)
    for child in s.CHILDREN.values():
        for template in (child.instance_template, child.value_template):
            assert template is None or f'"{template}"' in text, (child.suffix, template)
        definition = json.dumps(defs[f"child_{child.suffix}"])
        for option in child.options:
            assert f'"{child.choice(option.suffix)}"' in definition, (child.suffix, option.suffix)
    assert f'"{s.GROUP_TEMPLATE_ID}"' in text and f'"{s.TEMPLATE_ID}"' in text
    assert defs["rules"]["properties"]["groupSettingCollectionValue"]["maxItems"] == s.MAX_RULES


def test_every_id_is_documented_with_its_confidence() -> None:
    doc = (ROOT / "docs" / "intune.md").read_text(encoding="utf-8")
    for child in s.CHILDREN.values():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `_{child.suffix}`")), None)
        assert row is not None, child.suffix
        assert child.confidence in row and child.node in row
        for option in child.options:
            assert f"`_{option.suffix}` {option.confidence}" in row, (child.suffix, option.suffix)


def test_a_policy_intune_can_carry_nothing_of_gets_no_document(write: Callable[..., Path]) -> None:
    rpc = (
        "    custom_rules:\n"
        "      - id: Agent\n        name: Agent (RPC-In)\n        direction: In\n        protocol: TCP\n"
        "        local_ports: [RPC]\n        from: consoles\n"
    )
    text = MINIMAL.replace("    features: [client-requests, remote-control]\n", "")
    text = text.replace("policies:\n", "intune: {enabled: true, unsupported: omit}\npolicies:\n") + "    id: P\n" + rpc
    files = render(write(text)).files
    assert not [p for p in files if p.startswith("intune/P")]
    plan = json.loads(files["intune/cmfw-intune-plan.json"])
    assert plan["policies"] == [{"key": "P", "name": "Workstations", "groups": [], "rules": 0, "left_out": 1, "documents": []}]
    assert "No document: Intune can carry none of the policy" in files["report.html"].decode()


def test_documents_on_disk_are_checked_ours_in_full_others_by_schema(example: Any, shared: Path) -> None:
    from builder.intune.check import check_documents

    files = {f"/x/intune/{Path(p).name}": d for p, d in example.files.items() if p.startswith("intune/")}
    files.update({str(shared / "samples" / "intune" / s_): (shared / "samples" / "intune" / s_).read_bytes() for s_ in SAMPLES})
    assert check_documents(files) == []  # the plan is passed over; the samples are no cmfw documents
    doc = _doc(example.files, "intune/Kiosks.json")
    _child(_rules(doc)[0], "enabled")["choiceSettingValue"]["value"] = f"{P}_enabled_yes"
    files["/x/intune/Kiosks.json"] = json.dumps(doc).encode()
    files["/x/intune/Renamed.json"] = example.files["intune/PxeDPs.json"]
    messages = sorted(p.message for p in check_documents(files))
    assert len(messages) == 2 and "enabled_yes' is not one of" in messages[0]
    assert messages[1] == "the marker names document 1 of 1 of policy PxeDPs, not /x/intune/Renamed.json"
