"""The Windows Firewall decision model: precedence, defaults, keywords, and the codec agreeing with it."""

from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from builder.firewall import ALLOWED, BLOCKED, UNDECIDED, Connection, Environment, decide, match, normalise_program
from builder.model import ProfileSetting, Rule
from builder.registry.rulestring import encode_rule, parse_rule

SVCHOST = r"%SystemRoot%\system32\svchost.exe"
SUBNET = Environment(local_subnets=(ipaddress.ip_network("192.168.5.0/24"),))


def rule(**fields: object) -> Rule:
    base: dict[str, object] = {"id": "R", "name": "R", "direction": "In", "protocol": 6, "local_ports": ("2701",),
                               "remote_addresses": ("10.20.0.0/24",), "profiles": ("Domain",)}
    base.update(fields)
    return Rule(**base)  # type: ignore[arg-type]


def conn(**fields: object) -> Connection:
    base: dict[str, object] = {"direction": "In", "protocol": 6, "remote_address": "10.20.0.5", "local_port": 2701}
    base.update(fields)
    return Connection(**base)  # type: ignore[arg-type]


def test_an_allow_rule_allows_and_the_default_action_blocks_the_rest() -> None:
    assert decide(conn(), [rule()]).verdict == ALLOWED
    other = decide(conn(remote_address="10.99.0.1"), [rule()])
    assert other.verdict == BLOCKED and "default inbound action is Block" in other.reason
    assert [m.rule.id for m in other.near] == ["R"] and "10.99.0.1 is not in 10.20.0.0/24" in other.near[0].why


def test_a_block_rule_beats_any_allow_rule() -> None:
    decision = decide(conn(), [rule(), rule(id="B", action="Block", remote_addresses=())])
    assert decision.verdict == BLOCKED and [m.rule.id for m in decision.rules] == ["B"]


def test_disabled_rules_and_other_profiles_do_not_count() -> None:
    assert decide(conn(), [rule(enabled=False)]).verdict == BLOCKED
    assert decide(conn(profile="Public"), [rule()]).verdict == BLOCKED


def test_profile_settings_decide_when_no_rule_does() -> None:
    out = conn(direction="Out", local_port=None, remote_port=443)
    assert decide(out, []).verdict == ALLOWED  # outbound is allowed unless the policy says otherwise
    assert decide(out, [], [ProfileSetting("Domain", "DefaultOutboundAction", 1)]).verdict == BLOCKED
    assert decide(conn(), [], [ProfileSetting("Domain", "DefaultInboundAction", 0)]).verdict == ALLOWED
    off = decide(conn(), [rule(id="B", action="Block")], [ProfileSetting("Domain", "EnableFirewall", 0)])
    assert off.verdict == ALLOWED and "firewall is off" in off.reason


def test_loopback_is_not_filtered() -> None:
    assert decide(conn(remote_address="127.0.0.1"), [rule(id="B", action="Block", remote_addresses=())]).verdict == ALLOWED


def test_local_rules_count_unless_local_merge_is_off() -> None:
    local = rule(id="L", remote_addresses=())
    env = Environment(local_rules=(local,))
    stranger = conn(remote_address="203.0.113.1")
    assert decide(stranger, [rule()], (), env).verdict == ALLOWED
    merged_off = decide(stranger, [rule()], [ProfileSetting("Domain", "AllowLocalPolicyMerge", 0)], env)
    assert merged_off.verdict == BLOCKED and "local rules are ignored" in merged_off.reason


def test_local_subnet_needs_the_machines_subnet() -> None:
    scoped = rule(remote_addresses=("LocalSubnet",))
    peer = conn(remote_address="192.168.5.9")
    undecided = decide(peer, [scoped])
    assert undecided.verdict == UNDECIDED and "LocalSubnet" in undecided.unknown[0]
    assert decide(peer, [scoped], (), SUBNET).verdict == ALLOWED
    assert decide(conn(remote_address="192.168.6.9"), [scoped], (), SUBNET).verdict == BLOCKED


def test_rpc_keywords() -> None:
    epmap = rule(local_ports=("RPC-EPMap",), remote_addresses=(), program=SVCHOST, service="RpcSs")
    dynamic = rule(local_ports=("RPC",), remote_addresses=(), program=SVCHOST, service="Eventlog")
    at_135 = conn(local_port=135, program=r"C:\Windows\System32\svchost.exe", service="rpcss")
    assert decide(at_135, [epmap]).verdict == ALLOWED
    endpoint = conn(local_port="RPC", program=r"C:\WINDOWS\system32\svchost.exe", service="EventLog")
    assert decide(endpoint, [dynamic]).verdict == ALLOWED
    assert decide(conn(local_port=49700, program=SVCHOST, service="Eventlog"), [dynamic]).verdict == UNDECIDED
    assert decide(conn(local_port=445, program=SVCHOST, service="Eventlog"), [dynamic]).verdict == BLOCKED
    wide = rule(local_ports=("49152-65535",), remote_addresses=())
    assert decide(conn(local_port="RPC"), [wide]).verdict == ALLOWED  # the whole dynamic range covers any endpoint


def test_programs_services_and_icmp() -> None:
    assert normalise_program(r"%windir%\System32\svchost.exe") == normalise_program(r"C:\windows\system32\SVCHOST.EXE")
    system = rule(program="System")
    assert decide(conn(program="System"), [system]).verdict == ALLOWED
    assert decide(conn(program=r"C:\evil.exe"), [system]).verdict == BLOCKED
    any_service = rule(service="*")
    assert decide(conn(program=SVCHOST, service="Dnscache"), [any_service]).verdict == ALLOWED
    assert decide(conn(program=r"C:\app.exe"), [any_service]).verdict == BLOCKED
    echo = rule(protocol=1, local_ports=(), icmp_types=("8:*",))
    assert decide(conn(protocol=1, local_port=None, icmp=(8, 0)), [echo]).verdict == ALLOWED
    assert decide(conn(protocol=1, local_port=None, icmp=(13, 0)), [echo]).verdict == BLOCKED


def test_edge_traversal() -> None:
    teredo = conn(remote_address="2001:0:4136:e378::1", edge=True)
    plain = rule(remote_addresses=())
    assert decide(teredo, [plain]).verdict == BLOCKED
    assert decide(teredo, [rule(remote_addresses=(), edge_traversal="Allow")]).verdict == ALLOWED
    assert decide(teredo, [rule(remote_addresses=(), edge_traversal="DeferToApp")]).verdict == UNDECIDED


def test_tokens_the_model_does_not_know_make_a_rule_undecided() -> None:
    assert decide(conn(), [rule(extra=(("Security", "Authenticate"),))]).verdict == UNDECIDED


# -- the codec and the model agree ----------------------------------------------------------------

PORTS = st.one_of(st.integers(1, 65535).map(str), st.tuples(st.integers(1, 60000), st.integers(0, 5000)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"))
ADDRESSES = st.one_of(
    st.sampled_from(["LocalSubnet", "10.0.0.0/8", "10.20.0.5", "192.168.5.0/24", "2001:db8::/32", "10.0.0.1-10.0.0.9"]),
)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    protocol = draw(st.sampled_from([6, 17, 1, None]))
    ports = draw(st.lists(PORTS, max_size=3)) if protocol in (6, 17) else []
    return Rule(
        id="P",
        name="Property",
        direction=draw(st.sampled_from(["In", "Out"])),
        action=draw(st.sampled_from(["Allow", "Block"])),
        protocol=protocol,
        local_ports=tuple(ports),
        remote_addresses=tuple(draw(st.lists(ADDRESSES, max_size=3))),
        icmp_types=tuple(draw(st.lists(st.sampled_from(["8:*", "0:0", "3:4"]), max_size=2))) if protocol == 1 else (),
        program=draw(st.sampled_from([None, "System", SVCHOST])),
        service=draw(st.sampled_from([None, "DoSvc", "*"])),
        profiles=tuple(draw(st.sets(st.sampled_from(["Domain", "Private", "Public"]), min_size=1))),
        enabled=draw(st.booleans()),
    )


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    protocol = draw(st.sampled_from([6, 17, 1]))
    return Connection(
        direction=draw(st.sampled_from(["In", "Out"])),
        protocol=protocol,
        remote_address=draw(st.sampled_from(["10.20.0.5", "10.0.0.3", "192.168.5.7", "2001:db8::5", "203.0.113.1"])),
        local_port=draw(st.integers(1, 65535)) if protocol != 1 else None,
        icmp=(draw(st.sampled_from([8, 0, 3])), draw(st.sampled_from([0, 4]))) if protocol == 1 else None,
        program=draw(st.sampled_from(["System", r"C:\Windows\System32\svchost.exe", r"C:\app.exe"])),
        service=draw(st.sampled_from([None, "dosvc"])),
        profile=draw(st.sampled_from(["Domain", "Private", "Public"])),
    )


@given(rules(), connections())
def test_a_rule_decides_as_its_rule_string_does(r: Rule, c: Connection) -> None:
    again = parse_rule(encode_rule(r), r.id).rule
    assert match(again, c, SUBNET).matches == match(r, c, SUBNET).matches
    assert decide(c, [again], (), SUBNET).verdict == decide(c, [r], (), SUBNET).verdict
