"""No matrix, however wrong, may crash the loader with anything but InputError."""

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.errors import InputError
from builder.matrix import parse_matrix
from builder.resolve import resolve

KEYS = ["version", "domain", "ports", "programs", "addresses", "policies", "name", "id", "features", "from", "to",
        "profiles", "variant", "exclude", "custom_rules", "direction", "protocol", "local_ports", "http", "https",
        "software_update_points", "consoles", "site_servers", "remote-control", "client-push", "outbound_rules"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["In", "Out", "TCP", "Domain", "any", "10.0.0.0/24", "10.0.0.1-10.0.0.0", "LocalSubnet",
                     "remote-control", "client-push", "seed", "minimal", "FPS-SMB-In", "consoles", "x|y", ""]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5),
    max_leaves=25,
)


def check(text: str) -> None:
    try:
        resolve(parse_matrix(text, "fuzz.yaml"))
    except InputError as exc:
        for line in exc.lines():
            assert "\n" not in line and line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_arbitrary_documents(data: object) -> None:
    check(yaml.safe_dump(data))


base = {
    "version": 1, "domain": "corp.contoso.com",
    "addresses": {"consoles": ["10.0.0.0/24"], "site_servers": ["10.0.0.1"]},
    "policies": [{"name": "P", "features": ["client-requests"]}],
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ports", "addresses", "policies", "programs", "domain", "version"]), values)
def test_one_section_wrong(section: str, value: object) -> None:
    data = json.loads(json.dumps(base))
    data[section] = value
    check(yaml.safe_dump(data))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["client-requests", "remote-control", "wake-up-proxy", "client-push"]),
                          st.dictionaries(st.sampled_from(["remote-control", "client-push", "delivery-optimization"]),
                                          st.one_of(st.none(), values), min_size=1, max_size=1)), max_size=4),
       values)
def test_feature_lists_and_custom_rules(features: list, custom: object) -> None:
    data = json.loads(json.dumps(base))
    data["policies"][0]["features"] = features
    data["policies"][0]["custom_rules"] = custom if isinstance(custom, list) else [custom]
    check(yaml.safe_dump(data))


custom_rule = st.fixed_dictionaries(
    {"id": st.sampled_from(["A", "b.c", "x y", ""]), "name": st.sampled_from(["n", "a|b", "x\ny"]),
     "direction": st.sampled_from(["In", "Out", "in"])},
    optional={
        "protocol": st.sampled_from(["TCP", "UDP", "ICMPv4", "Any", 6, 300, "tcp"]),
        "local_ports": st.lists(st.one_of(st.integers(0, 70000), st.sampled_from(["RPC", "80-70", "1-2", "x"])), max_size=3),
        "remote_ports": st.lists(st.integers(1, 65535), max_size=2),
        "icmp_types": st.lists(st.one_of(st.integers(-1, 300), st.sampled_from(["8:*", "3:4", "8:300", "x"])), max_size=2),
        "from": st.sampled_from(["consoles", "any", "nope", ["consoles", "any"]]),
        "to": st.sampled_from(["consoles", "any"]),
        "action": st.sampled_from(["Allow", "Block", "Deny"]),
        "profiles": st.lists(st.sampled_from(["Domain", "Public", "Work"]), max_size=3),
        "enabled": st.booleans(),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(custom_rule, min_size=1, max_size=3))
def test_custom_rules_reach_the_meaning_checks(rules: list) -> None:
    data = json.loads(json.dumps(base))
    data["policies"][0]["custom_rules"] = rules
    check(yaml.safe_dump(data))


def test_a_feature_with_empty_options_is_fine() -> None:
    [policy] = parse_matrix("version: 1\ndomain: a.b\npolicies:\n  - name: P\n    features:\n      - client-requests:\n").policies
    assert policy.features[0].feature == "client-requests"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    check(text)
