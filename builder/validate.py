"""Validators for generated artifacts, one per kind, dispatched on the file name.

``cmfw build`` runs them on everything in memory before a byte reaches the disk;
``cmfw check`` will run them on a build directory. A problem here means cmfw
produced something wrong, so a build stops rather than write it.
"""

from __future__ import annotations

import json
from typing import Callable

from . import rulesjson
from .errors import Problem
from .schemacheck import _validator


def validate_artifacts(files: dict[str, bytes]) -> list[Problem]:
    """Every problem in every artifact that has a validator."""
    problems: list[Problem] = []
    for path in sorted(files):
        check = _VALIDATORS.get(path.rsplit("/", 1)[-1])
        if check is not None:
            problems.extend(check(path, files[path]))
    return problems


def _json_schema(path: str, data: bytes, schema: str) -> list[Problem]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Problem(path, message=f"not valid JSON: {exc}")]
    return [
        Problem(path, path=error.json_path, message=error.message)
        for error in _validator(schema).iter_errors(doc)
    ]


def _rules_json(path: str, data: bytes) -> list[Problem]:
    problems = _json_schema(path, data, "rules.schema.json")
    if problems:
        return problems
    try:
        again = rulesjson.emit(rulesjson.read(data))[rulesjson.PATH]
    except ValueError as exc:
        return [Problem(path, message=str(exc))]
    if again != data:
        return [Problem(path, message="does not survive a read/write round trip (not canonical)")]
    return []


_VALIDATORS: dict[str, Callable[[str, bytes], list[Problem]]] = {
    rulesjson.PATH: _rules_json,
}
