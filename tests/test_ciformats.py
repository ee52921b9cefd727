"""CI-native output: SARIF 2.1.0 (validated against the OASIS schema) and GitHub annotations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import jsonschema
import pytest
from click.testing import CliRunner

from builder.cli import cli
from builder.lintcodes import CHECKS

from .conftest import EXAMPLE

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def valid_sarif(text: str) -> dict:
    doc = json.loads(text)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    return doc


BAD = "version: 1\ndomain: corp.contoso.com\npolicies:\n  - name: A\n    features: [remote-contorl]\n"
OPEN = (
    "version: 1\ndomain: corp.contoso.com\naddresses: {consoles: [0.0.0.0/0]}\n"
    "acknowledge: {CMFW103: Push until Q3.}\n"
    "policies:\n  - name: A\n    features: [remote-control, {client-push: {from: consoles}}]\n"
)


def test_lint_sarif_of_the_example_validates_and_carries_suppressions() -> None:
    code, out, _ = run("lint", EXAMPLE, "--format", "sarif")
    doc = valid_sarif(out)
    assert code == 0
    [sarif_run] = doc["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["CMFW000", *CHECKS]
    assert all("docs/lint.md" in r["help"]["text"] for r in rules[1:])
    results = sarif_run["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert suppressed and all(s["suppressions"][0]["kind"] == "inSource" and s["suppressions"][0]["justification"] for s in suppressed)
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    region = results[0]["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"].endswith("examples/contoso.yaml") and region["region"]["startLine"] > 0


def test_open_findings_and_input_problems_in_sarif(write: Callable[..., Path]) -> None:
    code, out, _ = run("lint", write(OPEN), "--format", "sarif")
    results = valid_sarif(out)["runs"][0]["results"]
    levels = {(r["ruleId"], r["level"], bool(r.get("suppressions"))) for r in results}
    assert ("CMFW101", "warning", False) in levels and ("CMFW103", "warning", True) in levels
    code, out, _ = run("validate", write(BAD, "bad.yaml"), "--format", "sarif")
    [result] = valid_sarif(out)["runs"][0]["results"]
    assert code == 2 and result["ruleId"] == "CMFW000" and result["level"] == "error"
    assert "'remote-contorl' is not a known feature" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 5, "startColumn": 16}


def test_build_strict_reports_in_sarif_and_writes_nothing(write: Callable[..., Path], tmp_path: Path) -> None:
    code, out, err = run("build", write(OPEN), "-o", tmp_path / "out", "--strict", "--format", "sarif")
    results = valid_sarif(out)["runs"][0]["results"]
    assert code == 1 and {r["ruleId"] for r in results} == {"CMFW101"} and not (tmp_path / "out").exists()
    assert "open lint warning" in err
    code, out, err = run("build", EXAMPLE, "-o", tmp_path / "ok", "--format", "sarif")
    assert code == 0 and valid_sarif(out)["runs"][0]["results"] and err.startswith("built ")


GITHUB = re.compile(r"^::(error|warning|notice) file=[^,:]+(,line=\d+(,col=\d+)?)?,title=[^:]+::[^\r\n]+$")


def test_github_annotations_follow_the_workflow_command_format(write: Callable[..., Path]) -> None:
    code, out, _ = run("lint", write(OPEN), "--format", "github")
    lines = out.splitlines()
    assert lines and all(GITHUB.match(line) for line in lines), lines
    [line] = [x for x in lines if "RemoteControl" in x]
    assert line.startswith("::warning file=") and ",line=7,col=16," in line and ",title=CMFW101 inbound-any::" in line
    assert not any("CMFW103" in x for x in lines)  # acknowledged: no annotation
    code, out, _ = run("validate", write(BAD, "bad.yaml"), "--format", "github")
    assert code == 2 and out.startswith("::error file=") and ",line=5,col=16,title=cmfw%3A invalid input::" in out


def test_github_escapes_what_would_break_a_command() -> None:
    from builder.ciformats import _command

    assert _command("error", "a,b:c.yaml", 1, 2, "T: x, y", "50% done\nnext") == (
        "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=T%3A x%2C y::50%25 done%0Anext"
    )


@pytest.mark.parametrize("command", [["lint"], ["validate"]])
def test_formats_are_listed_in_help(command: list[str]) -> None:
    assert "sarif" in run(*command, "--help")[1] and "github" in run(*command, "--help")[1]
