"""Rule strings (MS-GPFAS 2.2.2.19): encoding, strict parsing, and Windows' own output."""

import glob
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.registry.rulestring import RuleStringError, encode_rule, parse_rule, rule_version
from builder.model import PROFILES, Rule


def test_remote_control_rule_string() -> None:
    rule = Rule("CMFW-W-RemoteControl-TCP-In", "ConfigMgr remote control (TCP-In)", "In", protocol=6,
                local_ports=("2701",), remote_addresses=("10.20.0.0/24",), profiles=("Domain",),
                description="From the consoles.", group="ConfigMgr Remote control")
    assert encode_rule(rule) == (
        "v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|LPort=2701|RA4=10.20.0.0/24|"
        "Name=ConfigMgr remote control (TCP-In)|Desc=From the consoles.|EmbedCtxt=ConfigMgr Remote control|"
    )


def test_ports_go_to_the_tokens_windows_uses() -> None:
    rule = Rule("R", "n", "In", protocol=6, local_ports=("445", "49152-65535", "RPC", "RPC-EPMap", "IPHTTPSIn"),
                remote_ports=("135", "5000-5100"))
    text = encode_rule(rule)
    assert "|LPort=445|LPort=RPC|LPort=RPC-EPMap|LPort2_10=49152-65535|LPort2_10=IPHTTPSIn|RPort=135|RPort2_10=5000-5100|" in text


def test_versions() -> None:
    plain = Rule("R", "n", "Out", protocol=6, remote_ports=("80",))
    assert rule_version(plain) == (2, 10)  # the floor: no supported Windows is older
    intranet = Rule("R", "n", "In", protocol=6, local_ports=("80",), remote_addresses=("Intranet",))
    assert encode_rule(intranet).startswith("v2.20|") and "|RA42=IntrAnet|RA62=IntrAnet|" in encode_rule(intranet)
    mdns = Rule("R", "n", "In", protocol=17, local_ports=("mDNS",))
    assert encode_rule(mdns).startswith("v2.25|") and "|LPort2_20=mDNS|" in encode_rule(mdns)


def test_keywords_only_for_the_families_a_rule_can_match() -> None:
    icmp4 = Rule("R", "n", "In", protocol=1, icmp_types=("8:*",), remote_addresses=("LocalSubnet",))
    assert "|RA4=LocalSubnet|" in encode_rule(icmp4) and "RA6" not in encode_rule(icmp4)
    tcp = Rule("R", "n", "In", protocol=6, local_ports=("1",), remote_addresses=("LocalSubnet", "10.0.0.1", "fe80::/64"))
    assert "|RA4=10.0.0.1|RA4=LocalSubnet|RA6=fe80::/64|RA6=LocalSubnet|" in encode_rule(tcp)


def test_all_profiles_means_no_profile_token_and_disabled_rules_say_so() -> None:
    text = encode_rule(Rule("R", "n", "Out", enabled=False))
    assert text == "v2.10|Action=Allow|Active=FALSE|Dir=Out|Name=n|"


def test_edge_traversal() -> None:
    rule = Rule("R", "n", "In", protocol=6, program="x.exe", edge_traversal="DeferToApp")
    assert encode_rule(rule).endswith("|App=x.exe|Name=n|Edge=TRUE|Defer=App|")
    assert parse_rule(encode_rule(rule), "R").rule == rule


@pytest.mark.parametrize("field", ["name", "description", "program", "service", "group"])
def test_pipe_and_nul_cannot_be_written(field: str) -> None:
    for bad in ("a|b", "a\x00b"):
        fields = {"id": "R", "name": "n", "direction": "In", "protocol": 6, field: bad}
        rule = Rule(**fields)
        with pytest.raises(RuleStringError):
            encode_rule(rule)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("Action=Allow|Dir=In|", "must start with a schema version"),
        ("v3.0|Dir=In|", "unsupported schema version"),
        ("v2.10|Dir=In", "must end with '|'"),
        ("v2.10|", "has no fields"),
        ("v2.10|Dir=In||Name=x|", "field 2 '' is not 'Token=value'"),
        ("v2.10|Dir|", "field 1 'Dir' is not 'Token=value'"),
        ("v2.10|Action=Allow|", "has no Dir="),
        ("v2.10|Dir=Sideways|", "Dir=Sideways: expected one of In, Out"),
        ("v2.10|Dir=In|Dir=Out|", "Dir= appears 2 times"),
        ("v2.10|Dir=In|Protocol=300|", "Protocol=300: expected a protocol number 0-255"),
        ("v2.10|Dir=In|LPort=80|", "LPort=80: ports need Protocol=6 or 17"),
        ("v2.10|Dir=In|Protocol=6|LPort=70000|", "port 70000 is out of range"),
        ("v2.10|Dir=In|Protocol=6|LPort=80-90|", "expected a single port (ranges use LPort2_10=)"),
        ("v2.10|Dir=In|Protocol=6|LPort2_10=80|", "expected a port range"),
        ("v2.10|Dir=In|Protocol=6|ICMP4=8:*|", "ICMP4=8:*: needs Protocol=1"),
        ("v2.10|Dir=In|Protocol=1|ICMP4=300:*|", "expected type:code"),
        ("v2.10|Dir=In|RA4=::1|", "RA4=::1: not an IPv4 address"),
        ("v2.10|Dir=In|RA4=10.0.0.5/24|", "has host bits set"),
        ("v2.10|Dir=In|RA42=Moon|", "RA42=Moon: expected one of"),
        ("v2.10|Dir=In|Profile=Work|", "Profile=Work: expected Domain, Private or Public"),
        ("v2.10|Dir=In|Active=yes|", "Active=yes: expected one of TRUE, FALSE"),
        ("v2.10|Dir=In|Edge=TRUE|Defer=Maybe|", "Defer=Maybe: expected App or User"),
        ("v2.10|Dir=In|9x=1|", "invalid token name '9x'"),
    ],
)
def test_malformed_strings_are_refused_precisely(text: str, fragment: str) -> None:
    with pytest.raises(RuleStringError) as info:
        parse_rule(text, "R")
    assert fragment in str(info.value)


def test_absent_active_means_disabled_and_unknown_tokens_are_kept() -> None:
    rule = parse_rule("v2.33|Action=Allow|Dir=In|Protocol=6|Security=Authenticate|PFN=Pkg_1|Name=x|", "R").rule
    assert rule.enabled is False
    assert rule.extra == (("PFN", "Pkg_1"), ("Security", "Authenticate"))  # in Windows' token order
    assert parse_rule(encode_rule(rule), "R").rule == rule


def test_empty_description_is_accepted() -> None:
    assert parse_rule("v2.20|Action=Allow|Active=TRUE|Dir=In|Name=x|Desc=|", "R").rule.description == ""


# -- every rule Windows wrote in the reference samples ------------------------------------


def sample_rules(shared: Path) -> list[str]:
    found = []
    for path in sorted(glob.glob(str(shared / "samples/gpo/decoded/*.txt"))):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith("data:  v2."):
                found.append(line[len("data:  "):])
    return found


def kinds(text: str) -> list[str]:
    out: list[str] = []
    for field in text.split("|")[1:-1]:
        kind = field.split("=")[0]
        if not out or out[-1] != kind:
            out.append(kind)
    return out


def test_every_windows_written_rule_parses_and_survives_a_round_trip(shared: Path) -> None:
    texts = sample_rules(shared)
    assert len(texts) == 218  # 217 GPMC-written (SN) + 1 LGPO-written (troennes)
    for text in texts:
        parsed = parse_rule(text, "R")
        again = encode_rule(parsed.rule)
        assert parse_rule(again, "R").rule == parsed.rule, text
        # Windows' token order is kept (for the tokens both strings have).
        mine = kinds(again)
        theirs = [k for k in kinds(text) if k in mine]
        assert [k for k in mine if k in theirs] == theirs, text


# -- properties ------------------------------------------------------------------------

ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.tuples(st.integers(1, 30000), st.integers(30001, 65535)).map(lambda t: f"{t[0]}-{t[1]}"),
)
safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="|"), max_size=20)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).map(str)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from([None, 1, 6, 17, 58, 47]))
    tcpudp = protocol in (6, 17)
    icmp = protocol in (1, 58)
    return Rule(
        id="R",
        name=draw(safe_text),
        direction=draw(st.sampled_from(["In", "Out"])),
        action=draw(st.sampled_from(["Allow", "Block"])),
        protocol=protocol,
        local_ports=tuple(draw(st.lists(st.one_of(ports, st.sampled_from(["RPC", "RPC-EPMap"])), max_size=3))) if tcpudp else (),
        remote_ports=tuple(draw(st.lists(ports, max_size=3))) if tcpudp else (),
        local_addresses=tuple(draw(st.lists(st.one_of(v4, v6), max_size=2))),
        remote_addresses=tuple(draw(st.lists(st.one_of(v4, v6, st.sampled_from(["LocalSubnet", "DNS", "Intranet"])), max_size=3))),
        icmp_types=tuple(draw(st.lists(st.sampled_from(["8:*", "0:0", "3:4"]), max_size=2))) if icmp else (),
        program=draw(st.none() | safe_text),
        service=draw(st.none() | safe_text),
        profiles=tuple(draw(st.sets(st.sampled_from(PROFILES), min_size=1))),
        enabled=draw(st.booleans()),
        edge_traversal=draw(st.sampled_from([None, "Allow", "DeferToApp", "DeferToUser"])),
        description=draw(safe_text),
        group=draw(safe_text),
    )


@given(rules())
def test_parse_inverts_encode(rule: Rule) -> None:
    assert parse_rule(encode_rule(rule), rule.id).rule == rule


@given(st.text(max_size=120))
def test_no_text_crashes_the_parser(text: str) -> None:
    try:
        parse_rule(text, "R")
    except RuleStringError:
        pass


@given(st.lists(st.sampled_from(["v2.10", "Dir=In", "Protocol=6", "LPort=80", "RA4=LocalSubnet", "ICMP4=8:*",
                                 "Edge=TRUE", "Defer=App", "Name=", "=x", "Profile=Domain", "LPort2_10=1-2", ""]), max_size=8))
def test_no_token_soup_crashes_the_parser(parts: list[str]) -> None:
    try:
        parse_rule("|".join(parts) + "|", "R")
    except RuleStringError:
        pass


def test_a_policy_encodes_each_distinct_rule_once_and_each_failure_names_its_rule() -> None:
    """registry.pol's rule strings are kept by what a rule says without its ID (which is
    the value name): the same string for the same rule under another ID, and a rule that
    cannot be written is refused under its own ID every time."""
    from builder.model import Policy
    from builder.registry.policyfile import encode_policy

    def policy(key: str, name: str) -> Policy:
        rule = Rule(id=f"CMFW-{key}-Web", name=name, direction="In", protocol=6, local_ports=("443",))
        return Policy(name=key, key=key, gpo_guid="{00000000-0000-0000-0000-000000000000}", rules=(rule,))

    one, two = encode_policy(policy("A", "Web")), encode_policy(policy("B", "Web"))
    assert [(e.value, e.text) for e in one.entries[1:]] == [("CMFW-A-Web", encode_rule(policy("A", "Web").rules[0]))]
    assert one.entries[1].text == two.entries[1].text and two.entries[1].value == "CMFW-B-Web"
    for key in ("A", "B", "A"):
        with pytest.raises(RuleStringError, match=f"rule CMFW-{key}-Web: Name value 'a|b' contains"):
            encode_policy(policy(key, "a|b"))
