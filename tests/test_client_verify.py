"""Client verification: the client view of rules, client-rules.json and Test-CmfwFirewall.ps1."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder import keywords
from builder.build import build, render
from builder.check import check_path
from builder.errors import ArtifactError
from builder.formats import validate_files
from builder.model import PROFILES, Rule, protocol_name
from builder.package import verify
from builder.package.verify import (
    ALLOWED_COMMANDS, CLIENT_RULES, COMPARES, FIELDS, SOURCES, VERIFY_SCRIPT, client_view, expected_values,
)
from builder.registry.rulestring import ORDER, encode_rule, parse_rule
from builder.syntax.powershell import command_problems, parse_errors

from .conftest import EXAMPLE
from .test_package import HOSTILE, HOSTILE_MATRIX

FIELD = {f.name: f for f in FIELDS}


@pytest.fixture(scope="module")
def example() -> Any:
    return render(EXAMPLE)


def script_of(files: dict[str, bytes]) -> str:
    return files[VERIFY_SCRIPT].decode("utf-8-sig")


# -- a model of the script's normalisation (ConvertTo-CmfwText), to check Python's spelling ----

_PROTOCOLS = {"1": "ICMPv4", "6": "TCP", "17": "UDP", "58": "ICMPv6", "ICMPV4": "ICMPv4", "TCP": "TCP", "UDP": "UDP",
              "ICMPV6": "ICMPv6", "ANY": "Any"}


def _address(text: str) -> str:
    head, sep, prefix = text.partition("/")
    if sep and "." in head and prefix.isdigit():
        if prefix == "32":
            return head
        return f"{head}/{ipaddress.ip_network(text).netmask}"
    if ":" not in text:
        return text
    out = []
    for part in text.split("-"):
        address, slash, length = part.partition("/")
        out.append(str(ipaddress.ip_address(address)) + ("" if length == "128" else slash + length))
    return "-".join(out)


def script_text(value: str, compare: str) -> str:
    """What the script makes of a value before it compares (a model of ConvertTo-CmfwText)."""
    if compare in ("exact", "text"):
        return value
    items = [p.strip() for p in value.split(",") if p.strip()]
    if compare == "protocol":
        key = ",".join(items)
        return "Any" if not key else _PROTOCOLS.get(key.upper(), key)
    seen: dict[str, str] = {}
    for item in items:
        item = _address(item) if compare == "address" else item
        seen.setdefault(item.upper(), item)
    found = list(seen.values())
    folded = set(seen)
    if compare == "profile":
        if not found or "ANY" in folded or {"DOMAIN", "PRIVATE", "PUBLIC"} <= folded:
            return "Any"
        return ", ".join([p for p in PROFILES if p.upper() in folded] + [p for p in found if p not in PROFILES])
    if not found or (len(found) == 1 and found[0].upper() == "ANY"):
        return "Any"
    return ", ".join(sorted(found, key=str.upper))


def assert_fixed_point(view: verify.ClientView) -> None:
    """Every expected value is already in the script's spelling: the build and the script
    agree on order and form, not only on content."""
    for name, value in view.expected.items():
        assert script_text(value, FIELD[name].compare) == value, (name, value)


# -- the client view: every rule of the example -----------------------------------------------


def _tokens(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for field in text.split("|")[1:-1]:
        token, _, value = field.partition("=")
        out.setdefault(token, []).append(value)
    return out


def _word(address: str) -> bool:
    """An address keyword: it has neither the dots nor the colons of an address."""
    return "." not in address and ":" not in address


def test_every_example_rule_reads_as_its_rule_string_says(example: Any) -> None:
    """The view against the rule string the GPO carries, read token by token (an oracle that
    shares no code with client_view)."""
    spelled = {"RPC-EPMap": "RPCEPMap", "Ply2Disc": "PlayToDiscovery"}
    checked = 0
    for policy in example.policyset.policies:
        for rule in policy.rules:
            view = client_view(rule)
            tokens = _tokens(encode_rule(rule))
            got = view.expected
            assert got["Direction"] == {"In": "Inbound", "Out": "Outbound"}[tokens["Dir"][0]]
            assert got["Enabled"] == {"TRUE": "True", "FALSE": "False"}[tokens["Active"][0]]
            assert got["Action"] == tokens["Action"][0]
            number = tokens.get("Protocol", [""])[0]
            assert got["Protocol"] == {"": "Any", "1": "ICMPv4", "6": "TCP", "17": "UDP", "58": "ICMPv6"}[number]
            assert got["Profile"] == (", ".join(tokens["Profile"]) if "Profile" in tokens else "Any")
            local = tokens.get("LPort", []) + tokens.get("LPort2_10", []) + tokens.get("LPort2_20", [])
            assert got["LocalPort"] == (", ".join(sorted((spelled.get(p, p) for p in local), key=str.upper)) or "Any")
            remote = tokens.get("RPort", []) + tokens.get("RPort2_10", [])
            assert got["RemotePort"] == (", ".join(sorted(remote, key=str.upper)) or "Any")
            icmp = tokens.get("ICMP4", []) + tokens.get("ICMP6", [])
            assert got["IcmpType"] == (", ".join(sorted((t.replace(":*", "") for t in icmp), key=str.upper)) or "Any")
            assert "RA42" not in tokens and "RA62" not in tokens  # the example names no such keyword
            v4, v6 = tokens.get("RA4", []), tokens.get("RA6", [])
            words4, words6 = {a for a in v4 if _word(a)}, {a for a in v6 if _word(a)}
            # A keyword of both families is one keyword; of one family, it is named with it.
            want = (words4 & words6) | {w + "4" for w in words4 - words6} | {w + "6" for w in words6 - words4}
            for a in v4 + v6:
                if _word(a):
                    continue
                if "/" in a and ":" not in a:
                    net = ipaddress.ip_network(a)
                    want.add(f"{net.network_address}/{net.netmask}")
                else:
                    want.add(a)
            assert set(got["RemoteAddress"].split(", ")) == (want or {"Any"}), rule.id
            assert got["Program"] == tokens.get("App", ["Any"])[0]
            assert got["Service"] == tokens.get("Svc", ["Any"])[0]
            assert got["Group"] == tokens.get("EmbedCtxt", [""])[0]
            edge = "Block" if "Edge" not in tokens else {"App": "DeferToApp", "User": "DeferToUser"}.get(tokens.get("Defer", [""])[0], "Allow")
            assert got["EdgeTraversalPolicy"] == edge
            if tokens["Name"][0].startswith("@"):
                assert "DisplayName" not in got and "resolved and localised" in view.unchecked["DisplayName"]
                assert "Description" not in got and view.unchecked["Description"].startswith("@")
            else:
                assert got["DisplayName"] == tokens["Name"][0] and not view.unchecked
            assert set(got) | set(view.unchecked) == set(FIELD)
            assert_fixed_point(view)
            checked += 1
    assert checked == 123


def test_some_example_rules_exactly(example: Any) -> None:
    rules = {r.id: r for p in example.policyset.policies for r in p.rules}
    echo = client_view(rules["CMFW-Laptops-WakeUpProxy-Echo-ICMPv4-In"]).expected
    assert (echo["Protocol"], echo["IcmpType"], echo["RemoteAddress"]) == ("ICMPv4", "8", "LocalSubnet4")
    rpc = client_view(rules["CMFW-Servers-ClientPush-FPS-RPCSS-In"]).expected
    assert (rpc["LocalPort"], rpc["Profile"], rpc["Service"]) == ("RPCEPMap", "Domain, Private", "Rpcss")
    discovery = client_view(rules["CMFW-Workstations-Branchcache-Discovery-UDP-Out"]).expected
    assert discovery["RemoteAddress"] == "239.255.255.250, ff02::c, LocalSubnet"
    control = client_view(rules["CMFW-Consoles-RemoteControl-TCP-In"]).expected
    assert control["RemoteAddress"] == "10.20.0.0/255.255.255.0, 2001:db8:20::/64"
    shadow = client_view(rules["RemoteDesktop-Shadow-In-TCP"])
    assert shadow.expected["EdgeTraversalPolicy"] == "DeferToApp"
    assert shadow.expected["Group"] == "@FirewallAPI.dll,-28752"  # Group is reported raw: compared
    assert set(shadow.unchecked) == {"DisplayName", "Description"}
    out = client_view(rules["CMFW-Laptops-CloudDistributionPoint-HTTPS-Out"]).expected
    assert (out["Direction"], out["Profile"], out["RemotePort"], out["LocalPort"]) == ("Outbound", "Any", "443", "Any")


def test_client_rules_json_gives_back_every_view(example: Any) -> None:
    doc = json.loads(example.files[CLIENT_RULES])
    assert doc["format"] == "cmfw-client-rules/1" and doc["id_prefix"] == "CMFW-"
    assert [f["name"] for f in doc["fields"]] == [f.name for f in FIELDS]
    rules = {r.id: r for p in example.policyset.policies for r in p.rules}
    seen = 0
    for policy in doc["policies"]:
        assert policy["prefix"] == f"CMFW-{policy['key']}-" and policy["gpo"] == policy["name"]
        for rule_id, entry in policy["rules"].items():
            view = client_view(rules[rule_id])
            assert expected_values(entry, doc["fields"]) == view.expected
            assert entry["unchecked"] == view.unchecked
            # Defaults are left out: a rule states only what differs.
            assert all(entry["expected"][k] != FIELD[k].default for k in entry["expected"])
            seen += 1
    assert seen == 123


# -- the client view: hand-made rules, every field and keyword ---------------------------------


def rule(**fields: Any) -> Rule:
    base: dict[str, Any] = {"id": "R", "name": "n", "direction": "In"}
    base.update(fields)
    return Rule(**base)


@pytest.mark.parametrize("keyword", keywords.PORT_KEYWORDS, ids=lambda k: k.name)
def test_every_port_keyword(keyword: keywords.PortKeyword) -> None:
    side = "local_ports" if keyword.local else "remote_ports"
    field = "LocalPort" if keyword.local else "RemotePort"
    view = client_view(rule(protocol=6, **{side: (keyword.name, "80")}))
    if keyword.netsecurity is None:
        assert field not in view.expected and keyword.name in view.unchecked[field]
    else:
        assert view.expected[field] == ", ".join(sorted(["80", keyword.netsecurity], key=str.upper))
    assert_fixed_point(view)


@pytest.mark.parametrize("keyword", keywords.ADDRESS_KEYWORDS, ids=lambda k: k.name)
@pytest.mark.parametrize("protocol, suffix", [(6, ""), (None, ""), (1, "4"), (58, "6")])
def test_every_address_keyword(keyword: keywords.AddressKeyword, protocol: int | None, suffix: str) -> None:
    view = client_view(rule(protocol=protocol, remote_addresses=(keyword.name,)))
    if not keyword.netsecurity:
        assert "RemoteAddress" not in view.expected and keyword.name in view.unchecked["RemoteAddress"]
    else:
        assert view.expected["RemoteAddress"] == keyword.name + suffix
        # the suffix follows what the GPO carries: one family's token only
        text = encode_rule(rule(protocol=protocol, remote_addresses=(keyword.name,)))
        families = {t.split("=")[0][:3] for t in text.split("|") if t.startswith("RA")}
        assert (len(families) == 1) == bool(suffix)


@pytest.mark.parametrize(
    "given, shown",
    [
        (("10.0.0.0/8",), "10.0.0.0/255.0.0.0"),
        (("10.1.2.0/23",), "10.1.2.0/255.255.254.0"),
        (("0.0.0.0/0",), "0.0.0.0/0.0.0.0"),
        (("10.0.0.7",), "10.0.0.7"),
        (("10.0.0.1-10.0.0.9",), "10.0.0.1-10.0.0.9"),
        (("2001:db8::/48",), "2001:db8::/48"),
        (("fe80::1-fe80::9",), "fe80::1-fe80::9"),
        (("10.0.0.10", "2001:db8::1", "10.0.0.9", "DNS"), "10.0.0.10, 10.0.0.9, 2001:db8::1, DNS"),
        ((), "Any"),
    ],
)
def test_addresses(given: tuple[str, ...], shown: str) -> None:
    view = client_view(rule(protocol=17, local_ports=("53",), remote_addresses=given, local_addresses=given[:1]))
    assert view.expected["RemoteAddress"] == shown
    assert view.expected["LocalAddress"] == (client_view(rule(remote_addresses=given[:1])).expected["RemoteAddress"])
    assert_fixed_point(view)


@pytest.mark.parametrize(
    "profiles, shown",
    [(("Domain",), "Domain"), (("Public", "Domain"), "Domain, Public"), (("Private", "Public"), "Private, Public"),
     (PROFILES, "Any"), ((), "Any")],
)
def test_profiles(profiles: tuple[str, ...], shown: str) -> None:
    assert client_view(rule(profiles=profiles)).expected["Profile"] == shown


def test_every_other_field() -> None:
    plain = client_view(rule(name="Agent (TCP-In)", protocol=6, local_ports=("9443", "135", "49152-65535"),
                             remote_ports=("1-1024",), program="%ProgramFiles%\\A\\a.exe", service="svc",
                             description="why", group="G", enabled=False, action="Block", edge_traversal="DeferToUser"))
    assert plain.expected == {
        "DisplayName": "Agent (TCP-In)", "Description": "why", "Group": "G", "Enabled": "False", "Direction": "Inbound",
        "Action": "Block", "Profile": "Any", "EdgeTraversalPolicy": "DeferToUser", "LooseSourceMapping": "False",
        "LocalOnlyMapping": "False", "Owner": "", "Platform": "Any", "Protocol": "TCP",
        "LocalPort": "135, 49152-65535, 9443", "RemotePort": "1-1024", "IcmpType": "Any", "DynamicTarget": "Any",
        "LocalAddress": "Any", "RemoteAddress": "Any", "Program": "%ProgramFiles%\\A\\a.exe", "Service": "svc",
        "InterfaceType": "Any", "InterfaceAlias": "Any", "Authentication": "NotRequired", "Encryption": "NotRequired",
        "OverrideBlockRules": "False", "LocalUser": "Any", "RemoteUser": "Any", "RemoteMachine": "Any",
    }
    assert plain.unchecked == {}
    assert_fixed_point(plain)
    icmp = client_view(rule(direction="Out", protocol=58, icmp_types=("128:*", "1:4", "135:0")))
    assert (icmp.expected["Direction"], icmp.expected["Protocol"], icmp.expected["IcmpType"]) == ("Outbound", "ICMPv6", "128, 135:0, 1:4")
    assert client_view(rule(protocol=47)).expected["Protocol"] == "47"
    assert client_view(rule(protocol=None)).expected["Protocol"] == "Any"
    assert client_view(rule(edge_traversal="Allow")).expected["EdgeTraversalPolicy"] == "Allow"
    bypass = client_view(rule(action="ByPass")).expected
    assert (bypass["Action"], bypass["OverrideBlockRules"]) == ("Allow", "True")
    worded = client_view(rule(name="@FirewallAPI.dll,-1", description="plain", group="@FirewallAPI.dll,-2"))
    assert worded.expected["Description"] == "plain" and worded.expected["Group"] == "@FirewallAPI.dll,-2"
    assert list(worded.unchecked) == ["DisplayName"]


@pytest.mark.parametrize("token, fields", sorted(verify._TOKEN_FIELDS.items()))
def test_tokens_cmfw_does_not_model_leave_their_fields_out(token: str, fields: tuple[str, ...]) -> None:
    view = client_view(rule(extra=((token, "x"),)))
    for name in fields:
        assert name not in view.expected and f"{token}=x" in view.unchecked[name]
    assert set(view.expected) | set(view.unchecked) == set(FIELD)


def test_a_token_of_no_compared_field_is_listed() -> None:
    view = client_view(rule(extra=(("PFN", "Pkg_1"),)))
    assert view.unchecked == {"token PFN": "PFN=Pkg_1 sets a condition the script does not compare"}
    assert set(view.expected) == set(FIELD)


# -- the rule-string codec does not change the view --------------------------------------------

_v4_net = st.tuples(st.ip_addresses(v=4), st.integers(0, 31)).map(lambda t: str(ipaddress.ip_network(t, strict=False)))
_v6_net = st.tuples(st.ip_addresses(v=6), st.integers(0, 127)).map(lambda t: str(ipaddress.ip_network(t, strict=False)))


def _range(version: int) -> st.SearchStrategy[str]:
    top = 2**32 - 1 if version == 4 else 2**128 - 1
    return st.tuples(st.integers(0, top - 1), st.integers(1, 2**16)).map(
        lambda t: f"{_ip(version, t[0])}-{_ip(version, min(top, t[0] + t[1]))}"
    )


def _ip(version: int, number: int) -> str:
    return str(ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number))


_ips = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str), _v4_net, _v6_net, _range(4), _range(6))
_ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.tuples(st.integers(1, 30000), st.integers(30001, 65535)).map(lambda t: f"{t[0]}-{t[1]}"),
)
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|"), max_size=12)
_EXTRAS = [("Security", "AuthenticateEncrypt"), ("Platform", "2:6:2"), ("IFType", "Lan"), ("LSM", "TRUE"),
           ("PFN", "Pkg_1"), ("TTK", "ProxApp"), ("RUAuth", "O:LSD:(A;;CC;;;S-1-5-21-1)")]


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from([None, 1, 6, 17, 58, 47]))
    ports = protocol in (6, 17)
    extras = draw(st.lists(st.sampled_from(_EXTRAS), max_size=3, unique_by=lambda kv: kv[0]))
    return Rule(
        id="CMFW-P-Custom-X-In",
        name=draw(st.one_of(_text, st.just("@FirewallAPI.dll,-28511"))),
        direction=draw(st.sampled_from(["In", "Out"])),
        action=draw(st.sampled_from(["Allow", "Block", "ByPass"])),
        protocol=protocol,
        local_ports=tuple(draw(st.lists(st.one_of(_ports, st.sampled_from(keywords.LOCAL_PORT_NAMES)), max_size=3))) if ports else (),
        remote_ports=tuple(draw(st.lists(st.one_of(_ports, st.sampled_from(keywords.REMOTE_PORT_NAMES)), max_size=3))) if ports else (),
        local_addresses=tuple(draw(st.lists(_ips, max_size=3))),
        remote_addresses=tuple(draw(st.lists(st.one_of(_ips, st.sampled_from(keywords.ADDRESS_NAMES)), max_size=4))),
        icmp_types=tuple(draw(st.lists(st.sampled_from(["8:*", "0:0", "3:4", "128:*"]), max_size=3))) if protocol in (1, 58) else (),
        program=draw(st.none() | _text),
        service=draw(st.none() | _text),
        profiles=tuple(draw(st.sets(st.sampled_from(PROFILES), min_size=1))),
        enabled=draw(st.booleans()),
        edge_traversal=draw(st.sampled_from([None, "Allow", "DeferToApp", "DeferToUser"])),
        description=draw(st.one_of(_text, st.just("@FirewallAPI.dll,-28514"))),
        group=draw(_text),
        extra=tuple(sorted(extras, key=lambda kv: ORDER.index(kv[0]))),
    )


@given(rules())
def test_the_view_survives_the_rule_string(original: Rule) -> None:
    """Rule → rule string → parsed rule: the client sees the same (the GPO carries the string)."""
    parsed = parse_rule(encode_rule(original), original.id).rule
    assert client_view(parsed) == client_view(original)


@given(rules())
def test_every_view_is_in_the_scripts_spelling(original: Rule) -> None:
    view = client_view(original)
    assert set(view.expected) | set(view.unchecked) >= set(FIELD)
    assert all(isinstance(v, str) for v in view.expected.values())
    assert_fixed_point(view)
    assert view.expected.get("Protocol", protocol_name(original.protocol)) == protocol_name(original.protocol)


# -- the script --------------------------------------------------------------------------------


def test_the_script_parses_and_calls_only_known_commands(example: Any) -> None:
    data = example.files[VERIFY_SCRIPT]
    assert data.startswith(b"\xef\xbb\xbf") and b"\n" not in data.replace(b"\r\n", b"")
    text = script_of(example.files)
    assert parse_errors(text) == []
    assert command_problems(text, ALLOWED_COMMANDS) == []
    assert validate_files({VERIFY_SCRIPT: data}) == []
    for needed in ("Get-NetFirewallRule -PolicyStore RSOP", "Get-FileHash", "Get-NetFirewallPortFilter -AssociatedNetFirewallRule"):
        assert needed in text
    assert "#Requires -Version 5.1" in text and "Set-StrictMode -Version 3.0" in text
    assert "Write-Host" not in text  # it reaches stdout in powershell.exe: -ComplianceOutput would print more than the value
    assert "Invoke-Expression" not in text and "iex " not in text


def test_the_script_handles_every_source_and_comparison(example: Any) -> None:
    text = script_of(example.files)
    for source, cmdlet in SOURCES.items():
        if source != "rule":
            assert text.count(f"'{source}' {{ {cmdlet} -PolicyStore RSOP -ErrorAction Stop }}") == 1, source
            assert text.count(f"'{source}' {{ {cmdlet} -AssociatedNetFirewallRule $Rule -ErrorAction Stop }}") == 1, source
    assert "$Sources = @(" + ", ".join(f"'{s}'" for s in SOURCES) + ")" in text
    assert "$Compares = @(" + ", ".join(f"'{c}'" for c in COMPARES) + ")" in text
    for compare in ("'exact'", "'text'", "'protocol'", "'address'", "'profile'"):
        assert f"$Compare -eq {compare}" in text
    assert set(ALLOWED_COMMANDS) >= {c for c in SOURCES.values() if " " not in c}


def test_the_script_has_its_parameters_and_exit_codes(example: Any) -> None:
    text = script_of(example.files)
    for parameter in ("[string] $Package", "[string[]] $Policy", "[string] $BuildSha256", "[switch] $ComplianceOutput"):
        assert parameter in text
    compliance = text[text.index("if ($ComplianceOutput) {\r\n    foreach ($line in $findings)"):]
    assert compliance.index("Write-Output 'Compliant'") < compliance.index("exit 0")
    assert "exit 2" in text and "exit 1" in text
    assert text.count("Write-Output 'Non-Compliant'") == 2  # a difference, and a check that could not be made


def _planted(example: Any, old: str, new: str) -> dict[str, bytes]:
    text = script_of(example.files)
    assert old in text
    return {VERIFY_SCRIPT: ("\ufeff" + text.replace(old, new, 1)).encode("utf-8")}


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("$rsop = Get-CmfwRsopRule", "$rsop = Get-CmfwRsopRule\r\n    Invoke-Expression $x", "command 'Invoke-Expression' is not one this script may call"),
        ("$rsop = Get-CmfwRsopRule", "$rsop = Get-CmfwRsopRule\r\n    & $cmd", "command called through & or ."),
        ("$rsop = Get-CmfwRsopRule", "$rsop = Get-CmfwRsopRule\r\n    . $other", "command called through & or ."),
        ("$rsop = Get-CmfwRsopRule", "$rsop = Get-CmfwRsopRule\r\n    Remove-NetFirewallRule -Name x", "'Remove-NetFirewallRule' is not one"),
        ("function Compare-CmfwRule {", "function Compare-CmfwRule {{", "PowerShell syntax error"),
    ],
    ids=["unknown-command", "ampersand", "dot-source", "a-writing-cmdlet", "syntax-error"],
)
def test_a_planted_fault_is_caught(example: Any, old: str, new: str, message: str) -> None:
    problems = validate_files(_planted(example, old, new))
    assert problems and all(p.file == VERIFY_SCRIPT for p in problems)
    assert any(message in p.message for p in problems), problems
    assert all(p.line > 0 for p in problems)


def test_a_planted_fault_stops_a_build_and_shows_in_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    build(EXAMPLE, out)
    assert check_path(out).ok
    script = out / VERIFY_SCRIPT
    script.write_bytes(script.read_bytes().replace(b"$rsop = Get-CmfwRsopRule", b"$rsop = Get-CmfwRsopRule; iex $x", 1))
    messages = [p.message for p in check_path(out).problems]
    assert "command 'iex' is not one this script may call" in messages
    # A template that called something unknown would never be written.
    good = verify.render_script()
    monkeypatch.setattr(verify, "render_script", lambda: good.replace(b"Set-StrictMode", b"Set-Whatever", 1))
    with pytest.raises(ArtifactError, match="Set-Whatever"):
        render(EXAMPLE)


# -- data, never code --------------------------------------------------------------------------


def test_a_hostile_policy_name_stays_data(write: Callable[..., Path], tmp_path: Path, example: Any) -> None:
    out = tmp_path / "out"
    build(write(HOSTILE_MATRIX), out)
    script = (out / VERIFY_SCRIPT).read_bytes()
    assert script == example.files[VERIFY_SCRIPT]  # the script holds no policy data at all
    assert b"Evil" not in script and b"cmfw-pwned" not in script
    doc = json.loads((out / CLIENT_RULES).read_text(encoding="utf-8"))
    [policy] = doc["policies"]
    assert policy["name"] == policy["gpo"] == HOSTILE and policy["key"] == "Evil"
    assert json.loads((out / "build.json").read_text(encoding="utf-8"))["policies"][0]["name"] == HOSTILE
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert verify.check_client_rules(files) == [] and parse_errors(script.decode("utf-8-sig")) == []


def test_two_builds_give_the_same_bytes_and_keys_are_sorted(tmp_path: Path, example: Any) -> None:
    build(EXAMPLE, tmp_path / "a")
    build(EXAMPLE, tmp_path / "b")
    for name in (VERIFY_SCRIPT, CLIENT_RULES):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() == example.files[name]

    def sorted_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    json.loads(example.files[CLIENT_RULES], object_pairs_hook=sorted_keys)


def test_the_package_lists_and_sums_the_new_files(example: Any) -> None:
    manifest = json.loads(example.files["build.json"])
    sums = example.files["SHA256SUMS"].decode()
    for name in (VERIFY_SCRIPT, CLIENT_RULES):
        digest = hashlib.sha256(example.files[name]).hexdigest()
        assert manifest["files"][name] == digest
        assert f"{digest}  {name}\n" in sums


# -- client-rules.json is checked --------------------------------------------------------------


def _edited(example: Any, change: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    doc = json.loads(example.files[CLIENT_RULES])
    change(doc)
    return {CLIENT_RULES: json.dumps(doc).encode(), "build.json": example.files["build.json"]}


def _drop_rule(doc: dict[str, Any]) -> None:
    doc["policies"][0]["rules"].pop(next(iter(doc["policies"][0]["rules"])))


def _drop_required(doc: dict[str, Any]) -> None:
    next(iter(doc["policies"][0]["rules"].values()))["expected"].pop("Direction")


def _unknown_field(doc: dict[str, Any]) -> None:
    next(iter(doc["policies"][0]["rules"].values()))["expected"]["Colour"] = "blue"


def _bad_source(doc: dict[str, Any]) -> None:
    doc["fields"][0]["source"] = "registry"


def _twin_ids(doc: dict[str, Any]) -> None:
    rules = doc["policies"][0]["rules"]
    first = next(iter(rules))
    rules[first.upper()] = rules[first]


@pytest.mark.parametrize(
    "change, message",
    [
        (_drop_rule, "its rule IDs are not those of build.json"),
        (_drop_required, "says nothing of Direction, which have no default"),
        (_unknown_field, "expects Colour, which no field names"),
        (_bad_source, "has an unknown source"),
        (_twin_ids, "two rule IDs differ only in case"),
        (lambda doc: doc.update(format="cmfw-client-rules/9"), "is not a cmfw-client-rules/1 document"),
        (lambda doc: doc["policies"].pop(), "has no policy 'Workstations', which build.json lists"),
    ],
    ids=["dropped-rule", "no-direction", "unknown-field", "bad-source", "twin-ids", "format", "dropped-policy"],
)
def test_a_broken_client_rules_json_is_reported(example: Any, change: Callable[[dict[str, Any]], None], message: str) -> None:
    assert verify.check_client_rules({CLIENT_RULES: example.files[CLIENT_RULES], "build.json": example.files["build.json"]}) == []
    problems = verify.check_client_rules(_edited(example, change))
    assert any(message in p.message for p in problems), problems
    assert all(p.file == CLIENT_RULES for p in problems)


# -- the documentation keeps up ----------------------------------------------------------------


def test_docs_name_every_field_source_and_comparison() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "verify.md").read_text(encoding="utf-8")
    assert [f.name for f in FIELDS if f"`{f.name}`" not in doc] == []
    assert [c for c in SOURCES.values() if c.split()[0] not in doc] == []
    assert [c for c in COMPARES if f"**{c}**" not in doc] == []
    for word in ("`Compliant`", "`Non-Compliant`", "-BuildSha256", "-Package", "-Policy", "Script Execution Timeout"):
        assert word in doc
