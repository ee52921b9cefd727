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


def _documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every `cmfw …` line in a shell block of the README and docs/."""
    import re

    out = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("cmfw "):
                    command = re.sub(r"\s+#.*$", "", line).split(" | ")[0]
                    out.append((page.name, command.replace(" A B", " firewall.yaml output")))
    return out


def test_every_documented_command_runs(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Each `cmfw …` line the docs show runs on the example (as firewall.yaml, built into
    output/): exit 0 or 1 (a verdict), never 2 (bad usage or input), never a traceback."""
    import shlex
    import shutil

    from click.testing import CliRunner

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "contoso.yaml", work / "firewall.yaml")
    runner = CliRunner()
    assert runner.invoke(cli, ["build", str(work / "firewall.yaml"), "-o", str(work / "output")]).exit_code == 0
    commands = _documented_commands()
    assert len(commands) >= 25
    for page, command in commands:
        args = shlex.split(command)[1:]
        where = tmp_path / "empty" if args[:1] == ["init"] else work
        where.mkdir(exist_ok=True)
        monkeypatch.chdir(where)
        result = runner.invoke(cli, args)
        assert result.exit_code in (0, 1), f"{page}: {command} -> {result.exit_code}: {result.output[-500:]}"
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), f"{page}: {command}: {result.exception!r}"
