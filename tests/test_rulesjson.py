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


@given(st.lists(rules, max_size=5), st.text(min_size=1, max_size=20), st.text(max_size=10))
def test_read_inverts_emit(rule_list, name: str, domain: str) -> None:
    unique = {r.id: r for r in rule_list}
    policy = Policy(name=name, key="K", gpo_guid="{00000000-0000-0000-0000-000000000000}",
                    features=(FeatureChoice("client-requests", "default", None),), rules=tuple(unique.values()))
    policyset = PolicySet(domain, (policy,), "1")
    assert rulesjson.read(rulesjson.emit(policyset)["rules.json"]) == policyset
