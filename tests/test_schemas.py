"""The hand-written schemas stay in step with the catalog and are valid JSON Schemas."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.catalog import load_catalog
from builder.jsonschemas import ecma_regex, ecma_search, validator_class

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


# -- patterns keep JSON Schema's meaning: "$" is the very end --------------------------------


def _patterns() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    out.append((where, value))
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    for path in sorted((ROOT / "schemas").rglob("*.json")):
        walk(json.loads(path.read_text(encoding="utf-8")), path.relative_to(ROOT).as_posix())
    return out


PATTERNS = _patterns()


def test_there_are_patterns_to_check() -> None:
    assert len(PATTERNS) > 40 and sum(p.endswith("$") for _, p in PATTERNS) > 35


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_schema_pattern_accepts_a_trailing_newline(data: st.DataObject) -> None:
    where, pattern = data.draw(st.sampled_from([p for p in PATTERNS if p[1].endswith("$")]))
    value = data.draw(st.from_regex(re.compile(ecma_regex(pattern)), fullmatch=True), label=where)
    assert ecma_search(pattern, value), (where, value)
    for tail in ("\n", "\r", "\r\n", "\u2028"):
        assert not ecma_search(pattern, value + tail), (where, pattern, value + tail)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string", "pattern": pattern}
    checker = validator_class(schema)(schema)
    assert checker.is_valid(value) and not checker.is_valid(value + "\n")


def test_python_would_have_let_them_through() -> None:
    """Why the above matters: Python's own "$" matches before a final newline."""
    assert re.search(r"^[A-Za-z][A-Za-z0-9]{0,39}$", "Workstations\n") and not ecma_search(r"^[A-Za-z][A-Za-z0-9]{0,39}$", "Workstations\n")


def test_every_code_regex_is_anchored_at_the_very_end() -> None:
    """No regex literal in builder/ ends a match with "$" (Python: or before a final newline),
    unless it is MULTILINE on purpose."""
    import ast

    found = []
    for path in sorted((ROOT / "builder").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)):
                continue
            if node.func.value.id != "re" or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            pattern = node.args[0].value
            multiline = any("MULTILINE" in ast.unparse(a) for a in [*node.args[1:], *(k.value for k in node.keywords)])
            if isinstance(pattern, str) and re.search(r"(?<!\\)\$(?:\)|\||$)", pattern) and not multiline:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {pattern!r}")
    assert found == []


@pytest.mark.parametrize(
    "yaml_text, where",
    [
        ('version: 1\ndomain: "corp.contoso.com\\n"\npolicies:\n  - name: A\n    features: [remote-control]\n', "domain"),
        ('version: 1\ndomain: corp.contoso.com\npolicies:\n  - name: A\n    id: "Work\\n"\n    features: [remote-control]\n', "policies[0].id"),
        ('version: 1\ndomain: corp.contoso.com\npolicies:\n  - name: A\n    features: [remote-control]\n    dsc: {nodes: ["host1\\n"]}\n', "policies[0].dsc.nodes[0]"),
    ],
)
def test_a_trailing_newline_in_the_matrix_is_refused(tmp_path: Path, yaml_text: str, where: str) -> None:
    from click.testing import CliRunner

    from builder.cli import cli

    matrix = tmp_path / "m.yaml"
    matrix.write_text("addresses: {consoles: [10.20.0.0/24]}\n" + yaml_text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["build", str(matrix), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert where in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
