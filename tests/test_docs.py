"""Documentation that cannot fall behind the code."""

import json
from dataclasses import fields

from builder.catalog import load_catalog
from builder.cli import cli
from builder.model import Rule

from .conftest import ROOT

MATRIX_DOC = (ROOT / "docs" / "matrix.md").read_text(encoding="utf-8")


def keys_of(schema: dict, *path: str) -> set[str]:
    node = schema
    for part in path:
        node = node[part]
    return set(node["properties"])


def test_every_matrix_key_is_documented() -> None:
    schema = json.loads((ROOT / "schemas" / "matrix.schema.json").read_text())
    keys = (
        keys_of(schema)
        | keys_of(schema, "$defs", "policy")
        | keys_of(schema, "$defs", "feature_options")
        | keys_of(schema, "$defs", "custom_rule")
        | keys_of(schema, "$defs", "ports")
        | keys_of(schema, "$defs", "programs")
    )
    missing = sorted(k for k in keys if f"`{k}`" not in MATRIX_DOC and f"{k}:" not in MATRIX_DOC)
    assert not missing


def test_every_role_is_documented() -> None:
    missing = sorted(r for r in load_catalog().roles if f"`{r}`" not in MATRIX_DOC)
    assert not missing


def test_every_rule_field_is_documented() -> None:
    doc = (ROOT / "docs" / "rules-json.md").read_text(encoding="utf-8")
    assert not [f.name for f in fields(Rule) if f"`{f.name}`" not in doc]


def test_readme_names_every_command_and_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not [c for c in cli.commands if f"cmfw {c}" not in readme]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest" in readme and "python -m pytest" in ci
