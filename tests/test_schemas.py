"""The hand-written schemas stay in step with the catalog and are valid JSON Schemas."""

import json
from pathlib import Path

import jsonschema
import pytest

from builder.catalog import load_catalog

from .conftest import ROOT

SCHEMAS = sorted((ROOT / "schemas").glob("*.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_schema_is_valid(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_matrix_schema_knows_every_feature_and_parameter() -> None:
    schema = json.loads((ROOT / "schemas" / "matrix.schema.json").read_text())
    catalog = load_catalog()
    assert schema["$defs"]["feature_name"]["enum"] == sorted(catalog.features)
    ports = set(schema["$defs"]["ports"]["properties"])
    programs = set(schema["$defs"]["programs"]["properties"])
    assert ports == {n for n, p in catalog.parameters.items() if p.section == "ports"}
    assert programs == {n for n, p in catalog.parameters.items() if p.section == "programs"}
    ranges = {n for n, p in catalog.parameters.items() if p.kind == "port-range"}
    for name in ports - {"software_update_points"}:
        expected = "#/$defs/port_or_range" if name in ranges else "#/$defs/port"
        assert schema["$defs"]["ports"]["properties"][name]["$ref"] == expected, name


def test_example_declares_the_schema_for_editors() -> None:
    first = (ROOT / "examples" / "contoso.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/matrix.schema.json"
