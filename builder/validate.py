"""Validators for generated artifacts, one per kind, dispatched on the file name.

``cmfw build`` runs them on everything in memory before a byte reaches the disk;
``cmfw check`` will run them on a build directory. A problem here means cmfw
produced something wrong, so a build stops rather than write it.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any, Callable

from . import rulesjson
from .errors import Problem
from .dsc.check import check_dsc_files
from .dsc.emit import ROOT as DSC_ROOT
from .gpo.backup import ROOT as GPO_ROOT
from .gpo.check import check_backup_root
from .package.scripts import IMPORT_SCRIPT
from .jsonschemas import _validator, load_schema


def validate_artifacts(files: dict[str, bytes], *, canonical: bool = True) -> list[Problem]:
    """Every problem in every artifact that has a validator (cmfw's own output: strict).

    ``canonical`` also checks that each file is in the one form cmfw writes (it reads
    the file and writes it again). That matters for files on disk, which someone may
    have edited; bytes a build has just rendered are canonical by construction (and
    by the property tests), so ``render`` skips it and keeps the schema checks.
    """
    problems: list[Problem] = []
    for path in sorted(files):
        check = _VALIDATORS.get(path.rsplit("/", 1)[-1])
        if check is not None:
            problems.extend(check(path, files[path], canonical))
    if any(path.startswith(GPO_ROOT + "/") for path in files):
        problems.extend(check_backup_root(files, GPO_ROOT, strict=True))
    if any(path.startswith(DSC_ROOT + "/") for path in files):
        problems.extend(check_dsc_files(files, DSC_ROOT))
    return problems


def _rules_json(path: str, data: bytes, canonical: bool = True) -> list[Problem]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem(path, message=f"not valid JSON: {exc}")]
    problems = _rules_schema_problems(path, doc)
    if problems or not canonical:
        return problems
    try:
        again = rulesjson.emit(rulesjson.read(data))[rulesjson.PATH]
    except ValueError as exc:
        return [Problem(path, message=str(exc))]
    if again != data:
        return [Problem(path, message="does not survive a read/write round trip (not canonical)")]
    return []


def _rules_schema_problems(path: str, doc: object) -> list[Problem]:
    """``rules.schema.json`` on a whole document, checking each distinct rule body once.

    A large build repeats the same rule in every policy, differing only in its ID;
    jsonschema costs about a millisecond per rule, which would dominate the build.
    The rule schema has no condition between properties, so validating the rule
    without its ``id`` once per distinct body, plus each ``id`` on its own, finds
    exactly the errors a full validation finds.
    """
    full, body_validator, id_validator = _rules_validators()
    policies = doc.get("policies") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or not isinstance(policies, list) or not all(
        isinstance(p, dict) and isinstance(p.get("rules"), list) for p in policies
    ):
        return [Problem(path, path=e.json_path, message=e.message) for e in full.iter_errors(doc)]
    skeleton = dict(doc, policies=[dict(p, rules=[]) for p in policies])
    problems = [Problem(path, path=e.json_path, message=e.message) for e in full.iter_errors(skeleton)]
    seen: dict[str, list[tuple[str, str]]] = {}
    for i, policy in enumerate(policies):
        for j, rule in enumerate(policy["rules"]):
            where = f"$.policies[{i}].rules[{j}]"
            if not isinstance(rule, dict):
                problems.append(Problem(path, path=where, message=f"{rule!r} is not of type 'object'"))
                continue
            body = {k: v for k, v in rule.items() if k != "id"}
            key = json.dumps(body, sort_keys=True)
            if key not in seen:
                seen[key] = [(e.json_path[1:], e.message) for e in body_validator.iter_errors(body)]
            problems.extend(Problem(path, path=where + sub, message=msg) for sub, msg in seen[key])
            if "id" not in rule:
                problems.append(Problem(path, path=where, message="'id' is a required property"))
            else:
                problems.extend(
                    Problem(path, path=f"{where}.id", message=e.message) for e in id_validator.iter_errors(rule["id"])
                )
    return problems


@functools.cache
def _rules_validators() -> tuple[Any, Any, Any]:
    """Validators for a whole rules.json, a rule without its id, and an id."""
    import jsonschema

    schema = load_schema("rules.schema.json")
    rule = copy.deepcopy(schema["$defs"]["rule"])
    id_schema = rule["properties"].pop("id")
    rule["required"].remove("id")
    cls = jsonschema.validators.validator_for(schema)
    return _validator("rules.schema.json"), cls(rule), cls(id_schema)


def _import_script(path: str, data: bytes, canonical: bool = True) -> list[Problem]:
    """The import script parses as PowerShell (tree-sitter-powershell), with no error node."""
    from .syntax.powershell import parse_errors

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Problem(path, message=f"not UTF-8 (byte offset {exc.start})")]
    return [Problem(path, line, 0, "", message) for line, message in parse_errors(text)]


def _report_html(path: str, data: bytes, canonical: bool = True) -> list[Problem]:
    """The report parses as HTML and can load nothing: no external source, link or style."""
    from lxml import html

    try:
        root = html.document_fromstring(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Problem(path, message=f"not an HTML document: {exc}")]
    problems = []
    policy = root.xpath('//meta[@http-equiv="Content-Security-Policy"]/@content')
    if not policy or not str(policy[0]).startswith("default-src 'none'"):
        problems.append(Problem(path, message="has no Content-Security-Policy forbidding external loads"))
    for element in root.iter():
        for attribute in ("src", "href", "action", "srcset", "data", "formaction", "background"):
            value = element.get(attribute)
            if value is not None and not (attribute == "href" and value.startswith("#")) and not value.startswith("data:"):
                problems.append(Problem(path, element.sourceline or 0, 0, "", f"<{element.tag} {attribute}={value!r}> refers outside the page"))
        if element.tag in ("link", "iframe", "object", "embed", "base"):
            problems.append(Problem(path, element.sourceline or 0, 0, "", f"<{element.tag}> would load something"))
    return problems


_VALIDATORS: dict[str, Callable[[str, bytes, bool], list[Problem]]] = {
    rulesjson.PATH: _rules_json,
    IMPORT_SCRIPT: _import_script,
    "report.html": _report_html,
}
