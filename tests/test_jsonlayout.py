"""The JSON layout: any JSON value survives it, and records stay on one line."""

import json

from hypothesis import given
from hypothesis import strategies as st

from builder.syntax.jsonlayout import dumps

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


@given(json_values)
def test_any_value_round_trips(value: object) -> None:
    data = dumps(value)
    assert json.loads(data) == value
    assert data.endswith(b"\n") and b"\r" not in data


def test_records_stay_on_one_line() -> None:
    text = dumps({"rules": [{"id": "a", "ports": ["1", "2"]}, {"id": "b", "ports": []}], "empty": {}}).decode()
    assert text == '{\n  "rules": [\n    {"id": "a", "ports": ["1", "2"]},\n    {"id": "b", "ports": []}\n  ],\n  "empty": {}\n}\n'
