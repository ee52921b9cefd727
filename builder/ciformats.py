"""Lint findings and input problems for CI: SARIF 2.1.0 and GitHub workflow commands.

SARIF is what code-scanning services import: one run with cmfw's rules (every lint
code, with its help) and one result per finding or problem, located in the matrix by
file, line and column; an acknowledged finding is a result with an in-source
suppression carrying its reason. GitHub workflow commands (``::warning file=…::…``)
annotate a pull request with no upload step at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import Problem
from .lint import Finding
from .lintcodes import CHECKS, DOCS

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
#: The rule of input problems (schema, meaning, an unreadable file): they have no lint code.
INPUT_RULE = "CMFW000"
_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def sarif_document(findings: Iterable[Finding], problems: Iterable[Problem] = ()) -> dict[str, Any]:
    """A SARIF 2.1.0 log: cmfw's rules, then every problem and finding as a result."""
    rules = [_rule(INPUT_RULE, "invalid-input", "error", "The matrix is not valid input: schema, meaning or a file that cannot be read",
                   "Fix the matrix where the result points; `cmfw validate` lists every problem. See docs/matrix.md.")]
    rules += [
        _rule(c.code, c.name, c.severity, c.title, f"{c.title}. What it means and how to fix it: {DOCS} (code {c.code}).")
        for c in CHECKS.values()
    ]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [_problem_result(p, index[INPUT_RULE]) for p in problems]
    results += [_finding_result(f, index[f.code]) for f in findings]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "cmfw",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def _rule(code: str, name: str, severity: str, title: str, help_text: str) -> dict[str, Any]:
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "help": {"text": help_text, "markdown": help_text.replace(DOCS, f"[{DOCS}]({DOCS})")},
        "defaultConfiguration": {"level": _LEVELS[severity]},
        "properties": {"docs": DOCS},
    }


def _location(file: str, line: int, column: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
    if line > 0:
        region: dict[str, Any] = {"startLine": line}
        if column > 0:
            region["startColumn"] = column
        physical["region"] = region
    return {"physicalLocation": physical}


def _uri(file: str) -> str:
    """A relative path as a URI reference (forward slashes, spaces and the like escaped)."""
    from urllib.parse import quote

    return quote(Path(file).as_posix(), safe="/:._-~")


def _finding_result(finding: Finding, rule_index: int) -> dict[str, Any]:
    subject = finding.policy + (f", rule {finding.rule}" if finding.rule else "")
    text = (f"{subject}: " if subject else "") + f"{finding.message}; hint: {finding.hint}"
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [_location(finding.file, finding.line, finding.column)],
        "properties": {"policy": finding.policy, "rule": finding.rule, "path": finding.path},
    }
    if finding.acknowledged is not None:
        result["suppressions"] = [{"kind": "inSource", "status": "accepted", "justification": finding.acknowledged}]
    return result


def _problem_result(problem: Problem, rule_index: int) -> dict[str, Any]:
    text = (f"{problem.path}: " if problem.path else "") + problem.message
    return {
        "ruleId": INPUT_RULE,
        "ruleIndex": rule_index,
        "level": "error",
        "message": {"text": text},
        "locations": [_location(problem.file, problem.line, problem.column)],
    }


# -- GitHub workflow commands -------------------------------------------------------------------


def github_lines(findings: Iterable[Finding], problems: Iterable[Problem] = ()) -> list[str]:
    """``::error file=…,line=…,col=…,title=…::message`` per problem and open finding
    (acknowledged ones are not annotated), escaped as GitHub's runner requires."""
    out = [_command("error", p.file, p.line, p.column, "cmfw: invalid input", (f"{p.path}: " if p.path else "") + p.message)
           for p in problems]
    for f in findings:
        if f.acknowledged is not None:
            continue
        subject = f.policy + (f", rule {f.rule}" if f.rule else "")
        message = (f"{subject}: " if subject else "") + f"{f.message}; hint: {f.hint}"
        out.append(_command(f.severity if f.severity != "note" else "notice", f.file, f.line, f.column, f"{f.code} {f.check.name}", message))
    return out


def _command(kind: str, file: str, line: int, column: int, title: str, message: str) -> str:
    props = [f"file={_property(Path(file).as_posix())}"]
    if line > 0:
        props.append(f"line={line}")
        if column > 0:
            props.append(f"col={column}")
    props.append(f"title={_property(title)}")
    return f"::{kind} {','.join(props)}::{_data(message)}"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
