"""The Rule vocabulary: normalisation and its JSON form."""

from hypothesis import given
from hypothesis import strategies as st

from builder.model import PROFILES, Rule, parse_protocol, protocol_name, rule_from_dict, rule_to_dict


def test_rules_normalise_lists_so_order_does_not_matter() -> None:
    a = Rule("R", "r", "In", protocol=6, local_ports=("445", "139", "445", "49152-65535", "RPC"),
             remote_addresses=("LocalSubnet", "fe80::/64", "10.0.0.2", "10.0.0.10"), profiles=("Public", "Domain"))
    b = Rule("R", "r", "In", protocol=6, local_ports=("RPC", "49152-65535", "139", "445"),
             remote_addresses=("10.0.0.10", "LocalSubnet", "10.0.0.2", "fe80::/64"), profiles=("Domain", "Public"))
    assert a == b
    assert a.local_ports == ("139", "445", "49152-65535", "RPC")
    assert a.remote_addresses == ("10.0.0.2", "10.0.0.10", "fe80::/64", "LocalSubnet")
    assert a.profiles == ("Domain", "Public")


def test_empty_profiles_mean_all() -> None:
    assert Rule("R", "r", "Out", profiles=()).profiles == PROFILES


def test_protocol_names() -> None:
    assert [protocol_name(p) for p in (None, 1, 6, 17, 58, 47)] == ["Any", "ICMPv4", "TCP", "UDP", "ICMPv6", "47"]
    assert [parse_protocol(t) for t in ("any", "tcp", "ICMPv6", "47", 17)] == [None, 6, 58, 47, 17]


ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.tuples(st.integers(1, 30000), st.integers(30001, 65535)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.sampled_from(["RPC", "RPC-EPMap"]),
)
addresses = st.one_of(st.ip_addresses().map(str), st.sampled_from(["LocalSubnet", "DNS"]))
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)

rules = st.builds(
    Rule,
    id=st.text(min_size=1, max_size=20),
    name=text,
    direction=st.sampled_from(["In", "Out"]),
    action=st.sampled_from(["Allow", "Block"]),
    protocol=st.sampled_from([None, 1, 6, 17, 58, 47]),
    local_ports=st.lists(ports, max_size=4).map(tuple),
    remote_ports=st.lists(ports, max_size=4).map(tuple),
    remote_addresses=st.lists(addresses, max_size=4).map(tuple),
    icmp_types=st.lists(st.sampled_from(["8:*", "0:0", "128:*"]), max_size=2).map(tuple),
    program=st.none() | text,
    service=st.none() | text,
    profiles=st.sets(st.sampled_from(PROFILES), min_size=1).map(tuple),
    enabled=st.booleans(),
    description=text,
    group=text,
    feature=text,
    source=text,
)


@given(rules)
def test_rule_json_round_trip(rule: Rule) -> None:
    assert rule_from_dict(rule_to_dict(rule)) == rule
