"""The DSC v3 document writer and its check."""

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from builder.build import render
from builder.dsc.check import check_v3
from builder.syntax.yaml import dumps
from builder.jsonschemas import json_problems

from .conftest import EXAMPLE

keys = st.from_regex(r"\$?[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff\u2028\u2029\x85"), max_size=20)
values = st.recursive(
    st.one_of(text, st.integers(0, 2**31)),
    lambda inner: st.lists(st.one_of(text, st.dictionaries(keys, inner, min_size=1, max_size=3)), max_size=3)
    | st.dictionaries(keys, inner, min_size=1, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(keys, values, min_size=1, max_size=4))
def test_pyyaml_reads_back_what_the_writer_writes(doc: dict) -> None:
    assert yaml.safe_load(dumps(doc)) == doc


def test_strings_that_look_like_other_types_stay_strings() -> None:
    doc = {"a": "True", "b": "80", "c": "no", "d": "~", "e": "it's", "f": "- x: y", "g": "#x"}
    assert yaml.safe_load(dumps(doc)) == doc


def test_keys_yaml_1_1_reads_as_booleans_are_quoted() -> None:
    doc = {"NO": "x", "on": ["y"], "Null": {"True": "z"}, "Enabled": "True"}
    assert yaml.safe_load(dumps(doc)) == doc


def test_unwritable_text_is_refused() -> None:
    with pytest.raises(ValueError):
        dumps({"a": "bell\x07"})
    with pytest.raises(ValueError):
        dumps({"not a key": "x"})


def test_scripts_are_double_quoted_and_read_back_exactly() -> None:
    script = "$keep = @(\n    'CMFW-A-\\x'\n)\r\n\treturn \"$true\"\n"
    text = dumps({"SetScript": script})
    assert b'SetScript: "' in text and yaml.safe_load(text) == {"SetScript": script}


SCHEMA_MUTATIONS = [
    lambda r: r.update(name="has-dash"),
    lambda r: r.update(type="NetworkingDsc\\Firewall"),
    lambda r: r.update(dependsOn=["[resourceId('X', 'bad-name')]"]),
    lambda r: r.update(extra="x"),
    lambda r: r["properties"].update(Profile=[1]),
]


def load_example() -> dict:
    return yaml.safe_load(render(EXAMPLE).files["dsc/Workstations/Workstations.dsc.yaml"])


@pytest.mark.parametrize("mutate", SCHEMA_MUTATIONS)
def test_memoised_check_reports_what_a_full_schema_validation_reports(mutate) -> None:
    doc = load_example()
    for resource in doc["resources"][2:5]:
        mutate(resource)
    fast = {(p.path, p.message) for p in check_v3("w.yaml", yaml.safe_dump(doc).encode())}
    full = {(p.path, p.message) for p in json_problems("w.yaml", doc, "dsc/dsc-v3-subset.schema.json")}
    assert full and full <= fast


@pytest.mark.parametrize(
    "prop, value, fragment",
    [("Enabled", True, "True is not valid under any of the given schemas"), ("LocalPorts", ["1"], "DSC_Firewall has no settable property LocalPorts"),
     ("Direction", "Sideways", "'Sideways' is not one of Inbound, Outbound"), ("Name", 7, "7 is not a string")],
)
def test_properties_are_checked_against_the_class(prop: str, value: object, fragment: str) -> None:
    doc = load_example()
    doc["resources"][3]["properties"][prop] = value
    problems = check_v3("w.yaml", yaml.safe_dump(doc).encode())
    assert any(p.path.startswith("$.resources[3].properties") and fragment in p.message for p in problems), problems


def test_duplicate_names_and_missing_keys() -> None:
    doc = load_example()
    doc["resources"][4]["name"] = doc["resources"][3]["name"]
    del doc["resources"][5]["properties"]["Name"]
    messages = [p.message for p in check_v3("w.yaml", yaml.safe_dump(doc).encode())]
    assert any("is used twice" in m for m in messages) and any("lacks key property Name" in m for m in messages)
