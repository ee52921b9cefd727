"""rules.json: schema-valid, canonical, and read back into the same rules."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder import rulesjson
from builder.syntax.jsonlayout import dumps
from builder.model import FeatureChoice, Policy, PolicySet
from builder.matrix import load_matrix
from builder.resolve import resolve
from builder.formats import validate_files

from .conftest import EXAMPLE
from .test_model import rules


@pytest.fixture(scope="module")
def policyset():
    return resolve(load_matrix(EXAMPLE))


def test_round_trip(policyset) -> None:
    data = rulesjson.emit(policyset)["rules.json"]
    assert rulesjson.read(data) == policyset
    assert validate_files({"rules.json": data}) == []


def test_layout_is_stable_json(policyset) -> None:
    data = rulesjson.emit(policyset)["rules.json"]
    text = data.decode("utf-8")
    assert text.endswith("}\n") and "\r" not in text
    doc = json.loads(text)
    assert list(doc) == ["format", "domain", "catalog_version", "policies"]
    assert list(doc["policies"][0]["rules"][0])[:4] == ["id", "name", "direction", "action"]


def test_validator_catches_schema_and_canonical_form_problems(policyset) -> None:
    doc = json.loads(rulesjson.emit(policyset)["rules.json"])
    doc["policies"][0]["rules"][0]["direction"] = "Sideways"
    [problem] = validate_files({"rules.json": dumps(doc)})
    assert problem.path == "$.policies[0].rules[0].direction" and "Sideways" in problem.message
    doc = json.loads(rulesjson.emit(policyset)["rules.json"])
    doc["policies"][0]["rules"][0]["profiles"] = ["Public", "Domain"]
    [problem] = validate_files({"rules.json": dumps(doc)})
    assert "round trip" in problem.message
    [problem] = validate_files({"rules.json": b"{"})
    assert problem.message.startswith("not valid JSON")


def test_read_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="not a cmfw-rules/1 document"):
        rulesjson.read(b'{"format": "something-else"}')
    with pytest.raises(ValueError, match="malformed rules.json"):
        rulesjson.read(b'{"format": "cmfw-rules/1", "domain": "x", "policies": [{"name": 1}]}')


MUTATIONS = [
    ("direction", "Sideways"), ("protocol", "SCTP"), ("local_ports", ["99999x"]), ("profiles", []),
    ("enabled", "yes"), ("id", ""), ("id", 7), ("extra", 1), ("program", 3), ("icmp_types", ["8"]),
]


@pytest.mark.parametrize("field, value", MUTATIONS)
def test_fast_schema_check_reports_what_a_full_validation_reports(policyset, field: str, value: object) -> None:
    from builder.rulesjson import _validators, schema_problems

    doc = json.loads(rulesjson.emit(policyset)["rules.json"])
    for policy in doc["policies"][:3]:
        for rule in policy["rules"][:4]:
            rule[field] = value
    del doc["policies"][1]["rules"][2]["id"]
    fast = {(p.path, p.message) for p in schema_problems("rules.json", doc)}
    full = {(e.json_path, e.message) for e in _validators()[0].iter_errors(doc)}
    assert fast == full and fast


POLICY_MUTATIONS = [
    ("name", ""), ("name", 3), ("key", "two words"), ("key", None), ("gpo_guid", "{not-a-guid}"), ("description", 1),
    ("features", "all"), ("features", [{"id": "x"}]), ("dsc", {}), ("links", [{"target": ""}]), ("colour", "blue"),
]


@pytest.mark.parametrize("field, value", POLICY_MUTATIONS)
def test_fast_schema_check_of_policies_reports_what_a_full_validation_reports(policyset, field: str, value: object) -> None:
    """Policies are checked once per distinct body, name, key and GUID on their own."""
    from builder.rulesjson import _validators, schema_problems

    doc = json.loads(rulesjson.emit(policyset)["rules.json"])
    for policy in doc["policies"][1:3]:
        policy[field] = value
    del doc["policies"][3]["gpo_guid"]
    doc["policies"][4]["name"] = doc["policies"][0]["name"]  # the same body twice: still each one's problems
    fast = sorted((p.path, p.message) for p in schema_problems("rules.json", doc))
    full = sorted((e.json_path, e.message) for e in _validators()[0].iter_errors(doc))
    assert fast == full and len(fast) >= 3


@given(st.lists(rules, max_size=5), st.text(min_size=1, max_size=20), st.text(max_size=10))
def test_read_inverts_emit(rule_list, name: str, domain: str) -> None:
    unique = {r.id: r for r in rule_list}
    policy = Policy(name=name, key="K", gpo_guid="{00000000-0000-0000-0000-000000000000}",
                    features=(FeatureChoice("client-requests", "default", None),), rules=tuple(unique.values()))
    policyset = PolicySet(domain, (policy,), "1")
    assert rulesjson.read(rulesjson.emit(policyset)["rules.json"]) == policyset


def _swap_first_two(items: list) -> None:
    items[0], items[1] = items[1], items[0]


def _reorder_keys(mapping: dict, first: str) -> dict:
    return {first: mapping[first], **{k: v for k, v in mapping.items() if k != first}}


#: Edits the schema accepts that a canonical rules.json does not have (or, the first, does).
CANONICAL_EDITS = {
    "none": lambda doc: None,
    "profiles out of order": lambda doc: doc["policies"][0]["rules"][0].update(profiles=["Public", "Domain"]),
    "ports out of order": lambda doc: doc["policies"][2]["rules"][-1].update(local_ports=["9999", "80"]),
    "rule keys out of order": lambda doc: doc["policies"][1]["rules"].__setitem__(
        0, _reorder_keys(doc["policies"][1]["rules"][0], "name")),
    "rules out of ID order": lambda doc: _swap_first_two(doc["policies"][3]["rules"]),
    "policies out of key order": lambda doc: _swap_first_two(doc["policies"]),
    "policy keys out of order": lambda doc: doc["policies"].__setitem__(1, _reorder_keys(doc["policies"][1], "key")),
    "top keys out of order": lambda doc: doc.update(_reorder_keys(doc, "domain")) or doc.update(
        {k: doc.pop(k) for k in ["format", "catalog_version", "policies"]}),
    "addresses out of order": lambda doc: doc["policies"][4]["rules"][1].update(remote_addresses=["10.0.0.9", "10.0.0.1"]),
}


@pytest.mark.parametrize("edit", sorted(CANONICAL_EDITS))
def test_the_canonical_check_answers_as_a_read_write_round_trip(policyset, edit: str) -> None:
    """`cmfw check` compares rules.json with what cmfw writes once per distinct rule body;
    it says what reading and writing the whole document says."""
    doc = json.loads(rulesjson.emit(policyset)["rules.json"])
    CANONICAL_EDITS[edit](doc)
    for data in (dumps(doc), json.dumps(doc, indent=1).encode("utf-8")):
        long_way = rulesjson.emit(rulesjson.read(data))["rules.json"] == data
        assert long_way == (edit == "none" and data == dumps(doc))
        assert rulesjson._canonical(json.loads(data), data) is long_way
        problems = validate_files({"rules.json": data})
        assert [p.message for p in problems] == ([] if long_way else ["does not survive a read/write round trip (not canonical)"])
